-- Replace the rows of the loaded dates, for one date-partitioned table, in the caller's transaction.
-- Placeholders: {table}, {stage}, {copies} (one COPY per date), {dates} (quoted ISO dates).
-- The stage is built with CREATE TABLE AS so the same text runs on Redshift and DuckDB; only the
-- COPY lines differ (DuckDB reads the same Parquet with read_parquet).
CREATE TEMP TABLE {stage} AS SELECT * FROM retail.{table} WHERE 1 = 0;
{copies}
DELETE FROM retail.{table} WHERE event_date IN ({dates});
INSERT INTO retail.{table} SELECT * FROM {stage};
DROP TABLE {stage};
