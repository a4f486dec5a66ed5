import awswrangler as wr
import boto3

from retail_etl.adapters.catalog import TABLES, ensure_tables
from retail_etl.local.emulator import emulated_aws


def test_tables_are_created_with_contract_columns_and_partition_projection():
    with emulated_aws():
        names = ensure_tables("retail", "curated-bucket", "analytics-bucket")
        assert names == [
            "curated_events",
            "quarantine",
            "product_history",
            "daily_category_revenue",
            "daily_top_viewed_products",
            "daily_multi_purchase_users",
        ]
        glue = boto3.client("glue")
        events = glue.get_table(DatabaseName="retail", Name="curated_events")["Table"]
        columns = {c["Name"]: c["Type"] for c in events["StorageDescriptor"]["Columns"]}
        assert columns["unit_price"] == "decimal(12,2)"
        assert columns["revenue"] == "decimal(14,2)"
        assert columns["event_ts"] == "timestamp"
        assert "event_date" not in columns
        assert [(k["Name"], k["Type"]) for k in events["PartitionKeys"]] == [("event_date", "date")]
        params = events["Parameters"]
        assert params["projection.enabled"] == "true"
        assert params["projection.event_date.type"] == "date"
        assert params["projection.event_date.range"] == "2000-01-01,NOW"
        assert events["StorageDescriptor"]["Location"] == "s3://curated-bucket/curated/events/"
        quarantine = wr.catalog.table("retail", "quarantine")
        assert set(quarantine["Column Name"]) >= {"reason", "raw_record", "line_number", "kind"}
        # idempotent: running again at every deploy or cold start changes nothing
        top = glue.get_table(DatabaseName="retail", Name="daily_top_viewed_products")["Table"]
        assert top["StorageDescriptor"]["Location"] == (
            "s3://analytics-bucket/aggregates/daily_top_viewed_products/"
        )
        assert {c["Name"]: c["Type"] for c in top["StorageDescriptor"]["Columns"]}["rank"] == "int"
        ensure_tables("retail", "curated-bucket", "analytics-bucket")
        assert len(glue.get_tables(DatabaseName="retail")["TableList"]) == len(TABLES)
