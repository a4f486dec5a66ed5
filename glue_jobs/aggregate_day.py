"""The daily aggregates on Spark, for days too large for a Lambda (docs/data-contract.md §4).

Pure DataFrame functions first (tested on a local SparkSession against the pandas path, row
for row); `main()` holds the only Glue-specific calls. Money stays decimal end to end and
strings compare as bytes, as in the pandas and SQL versions.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, LongType

MONEY_SUM = DecimalType(18, 2)
# the curated columns the aggregates read (retail_etl.domain.aggregate.COLUMNS but the ids'
# stored hash: Spark deduplicates on the ids themselves, by a window)
COLUMNS = (
    "event_id",
    "event_type",
    "event_date",
    "user_id",
    "product_id",
    "product_name",
    "category",
    "quantity",
    "revenue",
    "source_file",
)
TOP_VIEWED_LIMIT = 3


def drop_cross_file_duplicates(events: DataFrame) -> DataFrame:
    """One row per event_id: the copy from the first source file in key order."""
    first = Window.partitionBy("event_id").orderBy("source_file")
    return events.withColumn("_n", F.row_number().over(first)).filter("_n = 1").drop("_n")


def daily_category_revenue(events: DataFrame) -> DataFrame:
    return (
        events.filter(F.col("event_type") == "purchase")
        .groupBy("event_date", "category")
        .agg(
            F.sum("revenue").cast(MONEY_SUM).alias("revenue"),
            F.count(F.lit(1)).cast(LongType()).alias("purchases"),
            F.sum("quantity").cast(LongType()).alias("units"),
        )
        .orderBy("event_date", "category")
    )


def daily_top_viewed_products(events: DataFrame) -> DataFrame:
    views = (
        events.filter(F.col("event_type") == "view")
        .groupBy("event_date", "product_id")
        .agg(
            F.count(F.lit(1)).cast(LongType()).alias("views"),
            F.max("product_name").alias("product_name"),
            F.max("category").alias("category"),
        )
    )
    order = Window.partitionBy("event_date").orderBy(F.desc("views"), F.asc("product_id"))
    return (
        views.withColumn("rank", F.row_number().over(order).cast(IntegerType()))
        .filter(F.col("rank") <= TOP_VIEWED_LIMIT)
        .select("event_date", "rank", "product_id", "product_name", "category", "views")
        .orderBy("event_date", "rank")
    )


def daily_multi_purchase_users(events: DataFrame) -> DataFrame:
    return (
        events.filter(F.col("event_type") == "purchase")
        .groupBy("event_date", "user_id")
        .agg(
            F.count(F.lit(1)).cast(LongType()).alias("purchases"),
            F.sum("revenue").cast(MONEY_SUM).alias("total_spend"),
        )
        .filter(F.col("purchases") >= 2)
        .orderBy("event_date", "user_id")
    )


def compute_aggregates(events: DataFrame) -> dict[str, DataFrame]:
    events = drop_cross_file_duplicates(events).cache()
    return {
        "daily_category_revenue": daily_category_revenue(events),
        "daily_top_viewed_products": daily_top_viewed_products(events),
        "daily_multi_purchase_users": daily_multi_purchase_users(events),
    }


def run(spark: SparkSession, files: list[str], output_path: str, event_date: str) -> None:
    """Aggregate one date from its current curated data files (the Iceberg table's, read as
    plain Parquet) into one folder per aggregate; the state machine's next step commits them
    to the aggregate tables. The event_date column is kept in the files, as the tables have it.
    """
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    events = spark.read.parquet(*files).select(*COLUMNS)
    for name, table in compute_aggregates(events).items():
        target = f"{output_path.rstrip('/')}/{name}/event_date={event_date}/"
        table.coalesce(1).write.mode("overwrite").parquet(target)


def main() -> None:  # pragma: no cover - runs only inside AWS Glue
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "manifest", "output_path", "event_date"])
    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(args["JOB_NAME"], args)
    manifest = json.loads(glue.spark_session.read.text(args["manifest"], wholetext=True).first()[0])
    files = [entry["url"] for entry in manifest["entries"]]
    run(glue.spark_session, files, args["output_path"], args["event_date"])
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main()
