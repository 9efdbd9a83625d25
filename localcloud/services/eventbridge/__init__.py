"""EventBridge: event patterns (shared by Lambda FilterCriteria and Pipes filters), connections' secrets."""
