-- Warehouse schema `retail` (Amazon Redshift). Run on every load: every statement is idempotent.
-- Column order equals the Parquet files' column order: COPY ... FORMAT AS PARQUET maps by position.
-- Facts and aggregates are sorted by event_date first, since every analyst query and every load
-- works on a date range; facts are distributed by user_id so per-user rollups stay node-local.
-- fact_events.event_id_hash is event_id's 64-bit hash (docs/data-contract.md): not unique.

CREATE SCHEMA IF NOT EXISTS retail;

CREATE TABLE IF NOT EXISTS retail.fact_events (
    event_id      VARCHAR(256)  NOT NULL,
    event_type    VARCHAR(16)   NOT NULL,
    event_ts      TIMESTAMP     NOT NULL,
    event_date    DATE          NOT NULL,
    user_id       VARCHAR(256)  NOT NULL,
    product_id    VARCHAR(256)  NOT NULL,
    session_id    VARCHAR(256),
    quantity      INTEGER       NOT NULL,
    product_name  VARCHAR(1024),
    category      VARCHAR(256)  NOT NULL,
    unit_price    DECIMAL(12,2) NOT NULL,
    revenue       DECIMAL(14,2),
    source_file   VARCHAR(1024) NOT NULL,
    ingested_at   TIMESTAMP     NOT NULL,
    event_id_hash BIGINT
)
DISTSTYLE KEY DISTKEY (user_id)
COMPOUND SORTKEY (event_date, event_type);

CREATE TABLE IF NOT EXISTS retail.dim_product (
    product_id     VARCHAR(256)  NOT NULL,
    product_name   VARCHAR(1024),
    category       VARCHAR(256)  NOT NULL,
    price          DECIMAL(12,2) NOT NULL,
    stock_level    BIGINT,
    effective_date DATE          NOT NULL,
    source_file    VARCHAR(1024) NOT NULL,
    ingested_at    TIMESTAMP     NOT NULL
)
DISTSTYLE ALL
COMPOUND SORTKEY (product_id, effective_date);

CREATE TABLE IF NOT EXISTS retail.daily_category_revenue (
    event_date DATE          NOT NULL,
    category   VARCHAR(256)  NOT NULL,
    revenue    DECIMAL(18,2) NOT NULL,
    purchases  BIGINT        NOT NULL,
    units      BIGINT        NOT NULL
)
DISTSTYLE ALL
COMPOUND SORTKEY (event_date, category);

CREATE TABLE IF NOT EXISTS retail.daily_top_viewed_products (
    event_date   DATE          NOT NULL,
    rank         INTEGER       NOT NULL,
    product_id   VARCHAR(256)  NOT NULL,
    product_name VARCHAR(1024),
    category     VARCHAR(256)  NOT NULL,
    views        BIGINT        NOT NULL
)
DISTSTYLE ALL
COMPOUND SORTKEY (event_date, rank);

CREATE TABLE IF NOT EXISTS retail.daily_multi_purchase_users (
    event_date  DATE          NOT NULL,
    user_id     VARCHAR(256)  NOT NULL,
    purchases   BIGINT        NOT NULL,
    total_spend DECIMAL(18,2) NOT NULL
)
DISTSTYLE ALL
COMPOUND SORTKEY (event_date, user_id);
