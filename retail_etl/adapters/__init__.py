"""Adapters: the outside world (S3, DynamoDB, Glue, warehouses) behind small interfaces."""
