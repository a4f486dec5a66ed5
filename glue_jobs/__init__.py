"""PySpark jobs for AWS Glue 5 (Spark 3.5, Python 3.11)."""
