-- Replace the product history (small: every version of every product), in the caller's transaction.
-- Placeholder: {stage} (filled by stage.sql).
-- DELETE rather than TRUNCATE: TRUNCATE commits on Redshift and would break the load's atomicity.
DELETE FROM retail.dim_product;
INSERT INTO retail.dim_product SELECT * FROM {stage};
DROP TABLE {stage};
