"""The local runtime: AWS emulated in-process by moto, the warehouse in a DuckDB file."""
