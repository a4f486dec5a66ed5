-- Fill one table's stage from its COPY statements, before the load replaces any row.
-- Placeholders: {table}, {stage}, {copies} (one COPY per date, or one for dim_product).
-- The stage is built with CREATE TABLE AS so the same text runs on Redshift and DuckDB; only the
-- COPY lines differ (DuckDB reads the same Parquet with read_parquet). A temporary table is the
-- session's own: nobody else sees it, committed or not.
CREATE TEMP TABLE {stage} AS SELECT * FROM retail.{table} WHERE 1 = 0;
{copies}
