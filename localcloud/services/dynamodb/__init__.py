"""DynamoDB: request validation, Scan order, compact stream records."""
