"""Glue Data Catalog tables over the curated zone, defined from the contract's schemas.

Partitions are found by Athena partition projection (event dates as a date range, quarantine
kinds as an enum), so files never need registering and a new date is queryable the moment its
first Parquet object lands. The same definitions serve the local runtime (moto) and the CDK
stack, so the catalog cannot drift from the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from retail_etl.domain import contract as c


def athena_type(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    raise TypeError(f"no Athena type for {t}")


@dataclass(frozen=True)
class TableSpec:
    name: str
    prefix: str  # under its bucket, ending with '/'
    schema: pa.Schema
    partition: str | None = None
    projection: dict[str, str] | None = None  # Athena projection settings of the partition
    zone: str = "curated"  # which bucket: "curated" or "analytics"

    def columns(self) -> dict[str, str]:
        return {f.name: athena_type(f.type) for f in self.schema if f.name != self.partition}

    def partitions(self) -> dict[str, str]:
        if self.partition is None:
            return {}
        field = self.schema.field(self.partition) if self.partition in self.schema.names else None
        return {self.partition: athena_type(field.type) if field else "string"}


_DATES = {"type": "date", "range": "2000-01-01,NOW", "format": "yyyy-MM-dd"}

TABLES = (
    TableSpec(
        "curated_events",
        "curated/events/",
        c.CURATED_EVENTS,
        partition="event_date",
        projection=_DATES,
    ),
    TableSpec(
        "quarantine",
        "quarantine/",
        c.QUARANTINE,
        partition="kind",
        projection={"type": "enum", "values": "events,products"},
    ),
    TableSpec("product_history", "curated/products/", c.PRODUCT_HISTORY),
    *(
        TableSpec(
            name,
            f"aggregates/{name}/",
            schema,
            partition="event_date",
            projection=_DATES,
            zone="analytics",
        )
        for name, schema in c.AGGREGATES.items()
    ),
)


def ensure_tables(
    database: str, curated_bucket: str, analytics_bucket: str, session=None
) -> list[str]:
    """Create or update the database and its tables; returns the table names."""
    buckets = {"curated": curated_bucket, "analytics": analytics_bucket}
    import awswrangler as wr

    wr.catalog.create_database(database, exist_ok=True, boto3_session=session)
    for spec in TABLES:
        settings = None
        if spec.partition and spec.projection:
            p = spec.partition
            settings = {
                "projection_enabled": True,
                "projection_types": {p: spec.projection["type"]},
                "projection_ranges": {p: spec.projection["range"]}
                if "range" in spec.projection
                else None,
                "projection_values": {p: spec.projection["values"]}
                if "values" in spec.projection
                else None,
                "projection_formats": {p: spec.projection["format"]}
                if "format" in spec.projection
                else None,
            }
            settings = {k: v for k, v in settings.items() if v is not None}
        wr.catalog.create_parquet_table(
            database=database,
            table=spec.name,
            path=f"s3://{buckets[spec.zone]}/{spec.prefix}",
            columns_types=spec.columns(),
            partitions_types=spec.partitions(),
            compression="snappy",
            mode="overwrite",
            athena_partition_projection_settings=settings,
            boto3_session=session,
        )
    return [spec.name for spec in TABLES]
