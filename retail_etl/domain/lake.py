"""The lake layout, defined once: every table the pipeline writes, its schema and its place.

All of them are Apache Iceberg tables in one catalog namespace (the Glue database), on the
curated or the analytics bucket. Publishing a file and replacing a date are single Iceberg
commits, so a reader (Athena, the Glue job, a Redshift COPY manifest) sees a file's rows all
or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from retail_etl.domain import contract as c


@dataclass(frozen=True)
class LakeTable:
    name: str
    zone: str  # which bucket: "curated" or "analytics"
    prefix: str  # the table's location under its bucket
    schema: pa.Schema
    partition: str | None = None  # an identity partition column, if any
    # columns holding a new value on (nearly) every row: written without a Parquet
    # dictionary, which they would outgrow after it was built (13 % of a curated file's
    # encoding time)
    distinct_per_row: tuple[str, ...] = ()

    def location(self, root: str) -> str:
        """The table's location under a zone root such as `s3://bucket`."""
        return f"{root.rstrip('/')}/{self.prefix}"


_EVENT_UNIQUE = ("event_id", "event_ts", "session_id")
CURATED_EVENTS = LakeTable(
    "curated_events",
    "curated",
    "curated/events",
    c.CURATED_EVENTS,
    "event_date",
    (*_EVENT_UNIQUE, c.EVENT_ID_HASH),
)
# Cleaned events whose product has no version yet (reason unknown_product): enriched by the
# daily refresh of their date once a products file defines the product.
PARKED_EVENTS = LakeTable(
    "parked_events",
    "curated",
    "curated/parked_events",
    c.PARKED_EVENTS,
    "event_date",
    _EVENT_UNIQUE,
)
QUARANTINE = LakeTable(
    "quarantine", "curated", "curated/quarantine", c.QUARANTINE, None, ("line_number", "raw_record")
)
PRODUCT_HISTORY = LakeTable(
    "product_history", "curated", "curated/product_history", c.PRODUCT_HISTORY
)
AGGREGATES = {
    name: LakeTable(name, "analytics", f"aggregates/{name}", schema, "event_date")
    for name, schema in c.AGGREGATES.items()
}
# the tables dropped files are ingested into; the daily step writes the aggregates
INGESTED: dict[str, LakeTable] = {
    t.name: t for t in (CURATED_EVENTS, PARKED_EVENTS, QUARANTINE, PRODUCT_HISTORY)
}
TABLES: dict[str, LakeTable] = INGESTED | AGGREGATES
# Manifests listing a date's data files for Redshift COPY, and the Glue job's output before
# the following step commits it.
MANIFESTS_PREFIX = "_manifests"
GLUE_OUTPUT_PREFIX = "_glue_output"
