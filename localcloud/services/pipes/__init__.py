"""EventBridge Pipes: source pollers, filter, enrichment, targets."""
