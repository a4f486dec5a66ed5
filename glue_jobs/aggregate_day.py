"""The daily aggregates on Spark, for days too large for a Lambda (docs/data-contract.md §4).

Pure DataFrame functions first (tested on a local SparkSession against the pandas path, row
for row); `main()` holds the only Glue-specific calls. Money stays decimal end to end and
strings compare as bytes, as in the pandas and SQL versions.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, LongType

MONEY_SUM = DecimalType(18, 2)
TOP_VIEWED_LIMIT = 3


def drop_cross_file_duplicates(events: DataFrame) -> DataFrame:
    """One row per event_id: the copy with the smallest (ingested_at, source_file)."""
    first = Window.partitionBy("event_id").orderBy("ingested_at", "source_file")
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


def run(spark: SparkSession, curated_path: str, output_path: str, event_date: str) -> None:
    """Aggregate one date and replace that date's folder of each aggregate only.

    The files keep their event_date column (as the pandas path writes them), because
    Redshift's COPY of Parquet maps columns by position.
    """
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    events = spark.read.parquet(f"{curated_path.rstrip('/')}/event_date={event_date}/")
    for name, table in compute_aggregates(events).items():
        target = f"{output_path.rstrip('/')}/{name}/event_date={event_date}/"
        table.coalesce(1).write.mode("overwrite").parquet(target)


def main() -> None:  # pragma: no cover - runs only inside AWS Glue
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "curated_path", "output_path", "event_date"])
    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(args["JOB_NAME"], args)
    run(glue.spark_session, args["curated_path"], args["output_path"], args["event_date"])
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main()
