"""SQS: AWS error types and messages, FIFO defaults, batch limits."""
