-- Athena views computing the three daily aggregates from the curated events
-- (docs/data-contract.md §4). Deployed as named queries; tested by running them on DuckDB.
-- ${database} is replaced by the Glue database name.

CREATE OR REPLACE VIEW ${database}.v_events_deduplicated AS
SELECT *
FROM (
    SELECT e.*,
           row_number() OVER (PARTITION BY event_id ORDER BY source_file) AS copy_no
    FROM ${database}.curated_events e
)
WHERE copy_no = 1;

CREATE OR REPLACE VIEW ${database}.v_daily_category_revenue AS
SELECT event_date,
       category,
       CAST(sum(revenue) AS DECIMAL(18, 2)) AS revenue,
       count(*) AS purchases,
       CAST(sum(quantity) AS BIGINT) AS units
FROM ${database}.v_events_deduplicated
WHERE event_type = 'purchase'
GROUP BY event_date, category;

CREATE OR REPLACE VIEW ${database}.v_daily_top_viewed_products AS
SELECT event_date, CAST(rnk AS INTEGER) AS rank, product_id, product_name, category, views
FROM (
    SELECT event_date,
           product_id,
           max(product_name) AS product_name,
           max(category) AS category,
           count(*) AS views,
           row_number() OVER (PARTITION BY event_date ORDER BY count(*) DESC, product_id) AS rnk
    FROM ${database}.v_events_deduplicated
    WHERE event_type = 'view'
    GROUP BY event_date, product_id
)
WHERE rnk <= 3;

CREATE OR REPLACE VIEW ${database}.v_daily_multi_purchase_users AS
SELECT event_date,
       user_id,
       count(*) AS purchases,
       CAST(sum(revenue) AS DECIMAL(18, 2)) AS total_spend
FROM ${database}.v_events_deduplicated
WHERE event_type = 'purchase'
GROUP BY event_date, user_id
HAVING count(*) >= 2;
