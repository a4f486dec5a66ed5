"""retail-etl: batch ETL for retail user events, on AWS or on one laptop."""
