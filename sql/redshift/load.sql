-- Replace the rows of the loaded dates, for one date-partitioned table, in the caller's transaction.
-- Placeholders: {table}, {stage} (filled by stage.sql), {dates} (quoted ISO dates).
DELETE FROM retail.{table} WHERE event_date IN ({dates});
INSERT INTO retail.{table} SELECT * FROM {stage};
DROP TABLE {stage};
