"""CloudWatch Logs: compact log storage, embedded metric format, Lambda log streams."""
