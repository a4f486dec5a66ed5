-- Replace the product history (small: every version of every product), in the caller's transaction.
-- DELETE rather than TRUNCATE: TRUNCATE commits on Redshift and would break the load's atomicity.
CREATE TEMP TABLE {stage} AS SELECT * FROM retail.dim_product WHERE 1 = 0;
{copies}
DELETE FROM retail.dim_product;
INSERT INTO retail.dim_product SELECT * FROM {stage};
DROP TABLE {stage};
