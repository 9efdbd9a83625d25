"""API Gateway HTTP APIs: the execute-api path and the Lambda proxy response."""
