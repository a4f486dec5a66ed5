"""The daily state machine's Lambda tasks: plan, aggregate_day (or prepare_glue and
publish_glue_output around the Glue job), submit_load, explain_load_failure, mark_loaded.

Each parses the state's JSON, calls `retail_etl.daily` and returns JSON for the next state.
Errors propagate, so the state machine's Retry and Catch (with the cause) decide what happens.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import boto3
from aws_lambda_powertools import Logger

from retail_etl import daily
from retail_etl.adapters.ledger import DynamoLedger, dynamodb_client
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake
from retail_etl.adapters.warehouse import RedshiftWarehouse
from retail_etl.config import Settings
from retail_etl.memory import configure_memory

configure_memory()

logger = Logger(service="retail-etl-daily")


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def store() -> ObjectStore:
    return ObjectStore(boto3.client("s3"))


@cache
def ledger() -> DynamoLedger:
    return DynamoLedger(dynamodb_client(), settings().ledger_table)


@cache
def tables() -> Lake:
    return Lake.glue(settings())


def _plans(event: dict) -> list[daily.DayPlan]:
    return [daily.DayPlan(**d) for d in event["dates"]]


@logger.inject_lambda_context(log_event=True)
def plan(event: dict, context) -> dict:
    run_date = (
        dt.date.fromisoformat(event["run_date"])
        if event.get("run_date")
        else daily.default_run_date()
    )
    plans = daily.plan(run_date, settings(), tables(), ledger())
    return {"run_date": run_date.isoformat(), "dates": daily.as_json(plans)}


@logger.inject_lambda_context(log_event=True)
def aggregate_day(event: dict, context) -> dict:
    counts = daily.aggregate_day(event["date"], tables())
    logger.info("aggregated", extra={"date": event["date"], "rows": counts})
    return {"date": event["date"], "rows": counts}


@logger.inject_lambda_context(log_event=True)
def prepare_glue(event: dict, context) -> dict:
    """Refresh a large date and hand the Glue job the manifest of its curated data files."""
    return daily.prepare_glue(event["date"], settings(), store(), tables())


@logger.inject_lambda_context(log_event=True)
def publish_glue_output(event: dict, context) -> dict:
    """Commit what the Glue job wrote for a date to the aggregate tables."""
    counts = daily.publish_glue_output(event["date"], event["output_path"], tables())
    return {"date": event["date"], "rows": counts}


def redshift() -> RedshiftWarehouse:
    s = settings()
    return RedshiftWarehouse(
        boto3.client("redshift-data"), s.redshift_workgroup, s.redshift_database, s.copy_role_arn
    )


@logger.inject_lambda_context(log_event=True)
def submit_load(event: dict, context) -> dict:
    """Start the warehouse load of the planned dates; the state machine polls its status."""
    days = [d.date for d in _plans(event)]
    statement_id = redshift().submit_load(daily.load_request(days, settings(), store(), tables()))
    return {"statement_id": statement_id, "dates": days}


@logger.inject_lambda_context(log_event=True)
def explain_load_failure(event: dict, context) -> dict:
    """Raise the failed load's error with its first load errors, for the state machine's
    Catch to send in the alert."""
    raise redshift().failure(event["statement_id"])


@logger.inject_lambda_context(log_event=True)
def mark_loaded(event: dict, context) -> dict:
    return daily.mark_loaded(_plans(event), ledger())
