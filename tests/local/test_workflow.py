"""The committed state machine definition, run locally: its Retry, Catch and load loop with
stand-in handlers, then its paths with the real handlers on an emulated account, and a changed
definition changing the run."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambdas.daily import handler as daily_handler
from lambdas.ingest import handler as ingest_handler
from retail_etl import daily
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake, on_date
from retail_etl.adapters.warehouse import DuckDBWarehouse
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.domain.aggregate import compute_aggregates
from retail_etl.local.account import provision
from retail_etl.local.data_api import LocalDataApi
from retail_etl.local.delivery import LambdaContext
from retail_etl.local.emulator import emulated_aws
from retail_etl.local.glue import LocalGlueJobs
from retail_etl.local.states import FAILED, SUCCEEDED, StatesError
from retail_etl.local.workflow import (
    DailyRun,
    LocalAlerts,
    daily_state_machine,
    handler_name,
    load_definition,
)
from tests.lambdas.conftest import eventbridge_message
from tests.lambdas.conftest import invoke as ingest

MACHINE = load_definition()
HANDLER = {handler: arn for arn, handler in MACHINE["handlers"].items()}
SETTINGS = Settings.for_prefix("retail-etl-workflow")
DAY = "2026-11-01"
LOAD_LOOP = ["SubmitLoad", "StartPollCount", "WaitForLoad", "DescribeLoad", "CountPoll"]


def top_level(run) -> list[str]:
    inner = set(MACHINE["definition"]["States"]["EachDate"]["ItemProcessor"]["States"])
    return [s.state for s in run.history if s.state not in inner]


def inner(run) -> list[str]:
    states = MACHINE["definition"]["States"]["EachDate"]["ItemProcessor"]["States"]
    return [s.state for s in run.history if s.state in states]


# the committed definition with stand-in handlers ----------------------------------------------


class Handlers:
    """Stand-in Lambda handlers: plan returns `dates`, the others what the real ones return."""

    def __init__(self, dates: list[dict], plan_errors: int = 0) -> None:
        self.dates, self.plan_errors, self.calls = dates, plan_errors, []

    def __call__(self, handler: str, event: dict):
        self.calls.append(handler)
        if handler == handler_name(daily_handler.plan):
            if self.plan_errors:
                self.plan_errors -= 1
                raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded")
            return {"run_date": "2026-11-30", "dates": self.dates}
        if handler == handler_name(daily_handler.aggregate_day):
            return {"date": event["date"], "rows": {}}
        if handler == handler_name(daily_handler.mark_loaded):
            return {"clean": [d["date"] for d in event["dates"]], "still_dirty": []}
        raise AssertionError(f"unexpected {handler}")


def stand_in_run(machine: dict, handlers: Handlers, load=lambda days: None):
    alerts = LocalAlerts(machine["topics"])
    states = daily_state_machine(
        machine, handlers, LocalDataApi(load), LocalGlueJobs(None, machine["glue_jobs"]), alerts
    )
    return states.execute({"run_date": None}), alerts


def test_the_plan_retry_of_the_definition_decides_whether_a_throttled_plan_fails_the_run():
    run, alerts = stand_in_run(MACHINE, Handlers([], plan_errors=2))
    assert run.status == SUCCEEDED
    assert [s.error for s in run.steps("PlanDates")] == ["Lambda.TooManyRequestsException"] * 2 + [
        None
    ]
    assert top_level(run)[-3:] == ["LoadStatus", "MarkLoaded", "Done"]
    assert not alerts.published

    no_retry = copy.deepcopy(MACHINE)
    del no_retry["definition"]["States"]["PlanDates"]["Retry"]
    run, alerts = stand_in_run(no_retry, Handlers([], plan_errors=2))
    assert (run.status, run.error) == (FAILED, "DailyRunFailed")
    assert top_level(run) == ["Defaults", "PlanDates", "AlertWithCause", "DailyRunFailed"]
    (alert,) = alerts.published
    assert alert["Message"]["error"] == "Lambda.TooManyRequestsException"
    assert alert["Message"]["execution"].startswith("arn:aws:states:local:")


def test_a_failed_load_is_explained_alerted_and_fails_the_run_before_marking():
    dates = [{"date": DAY, "curated_bytes": 10, "engine": "lambda", "dirty_seq": 2}]
    handlers = Handlers(dates)

    def load(days):
        assert days == [DAY]
        raise RuntimeError("COPY failed: not a Parquet file")

    run, alerts = stand_in_run(MACHINE, handlers, load)
    assert (run.status, run.error) == (FAILED, "DailyRunFailed")
    assert top_level(run) == [
        "Defaults",
        "PlanDates",
        "EachDate",
        *LOAD_LOOP,
        "LoadStatus",
        "ExplainLoadFailure",
        "AlertWithCause",
        "DailyRunFailed",
    ]
    (alert,) = alerts.published
    assert alert["Message"]["error"] == "LoadFailed"
    cause = json.loads(alert["Message"]["cause"])
    assert "FAILED: RuntimeError: COPY failed: not a Parquet file" in cause["errorMessage"]
    assert handler_name(daily_handler.mark_loaded) not in handlers.calls


# the real handlers on an emulated account -----------------------------------------------------


def call_handler(handler: str, event: dict):
    """A handler invoked in this process (the local run's containers do the same)."""
    module, _, function = handler.rpartition(".")
    return getattr(importlib.import_module(module), function)(event, LambdaContext())


def arrow_glue_job(files: list[str], output: str, event_date: str) -> None:
    """The Glue job's output layout from the pandas-free core: Spark's start-up alone would
    take most of this module's time (the Spark job equals the core, tests/glue_jobs)."""
    events = pa.concat_tables([pq.read_table(f) for f in files])
    for name, table in compute_aggregates(events).items():
        folder = Path(output, name, f"event_date={event_date}")
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """One date of events in an emulated account, its ledger marking it dirty."""
    with emulated_aws(), pytest.MonkeyPatch.context() as env:
        provision(SETTINGS)
        for name, value in {**SETTINGS.to_env(), "POWERTOOLS_METRICS_NAMESPACE": "Test"}.items():
            env.setenv(name, value)
        env.setattr(ingest_handler, "_ingestor", None)
        for cached in (daily_handler.settings, daily_handler.store, daily_handler.ledger):
            cached.cache_clear()
        daily_handler.tables.cache_clear()
        s3 = boto3.client("s3")
        files = {
            "products/dt=2026-11-01/p.csv": "product_id,product_name,category,price\n"
            "P1,Phone,electronics,100.00\nP2,Book,books,5\n",
            "events/dt=2026-11-01/e.csv": "event_id,user_id,product_id,event_type,"
            "event_timestamp,quantity\ne1,U1,P1,view,2026-11-01T10:00:00Z,\n"
            "e2,U1,P1,purchase,2026-11-01T10:05:00Z,1\ne3,U1,P2,purchase,2026-11-01T11:00:00Z,2\n"
            "e4,U2,P2,purchase,2026-11-01T12:00:00Z,1\n",
        }
        for key, body in files.items():
            version = s3.put_object(Bucket=SETTINGS.raw_bucket, Key=key, Body=body)["VersionId"]
            assert ingest(eventbridge_message(SETTINGS.raw_bucket, key, version)) == {
                "batchItemFailures": []
            }
        yield s3, tmp_path_factory.mktemp("workflow")


def real_run(account, machine: dict) -> tuple:
    s3, folder = account
    store, tables = ObjectStore(s3), Lake.glue(SETTINGS)

    def download(url: str) -> str:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        path = folder / "mirror" / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
        return str(path)

    def load(days: list[str]) -> None:
        warehouse = DuckDBWarehouse(folder / "warehouse.duckdb", locate=download)
        try:
            warehouse.load(daily.load_request(days, SETTINGS, store, tables))
        finally:
            warehouse.close()

    glue = LocalGlueJobs(s3, machine["glue_jobs"], engine=arrow_glue_job)
    states = daily_state_machine(
        machine, call_handler, LocalDataApi(load), glue, LocalAlerts(machine["topics"])
    )
    return states.execute({"run_date": DAY}), tables


def aggregates(tables: Lake) -> dict[str, list]:
    return {
        name: sorted(map(str, tables.read(spec, on_date(DAY)).to_pylist()))
        for name, spec in lake.AGGREGATES.items()
    }


def test_the_committed_definition_aggregates_on_lambda_then_loads_polls_and_marks(account):
    run, _ = real_run(account, MACHINE)
    assert run.status == SUCCEEDED, run.cause
    assert inner(run) == ["LambdaOrGlue", "AggregateOnLambda"]
    assert top_level(run) == [
        "Defaults",
        "PlanDates",
        "EachDate",
        *LOAD_LOOP,
        "LoadStatus",
        "MarkLoaded",
        "Done",
    ]
    daily_run = DailyRun.of(run, MACHINE["handlers"])
    assert daily_run.aggregated == [DAY]
    assert daily_run.dates[0]["rows"]["daily_category_revenue"] == 2
    assert daily_run.marked_clean == [DAY]
    _, folder = account
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        revenue = con.execute(
            "SELECT category, revenue FROM retail.daily_category_revenue ORDER BY 1"
        ).fetchall()
    assert [(c, str(r)) for c, r in revenue] == [("books", "15.00"), ("electronics", "100.00")]


def test_a_definition_whose_choice_sends_the_date_to_glue_runs_prepare_the_job_and_publish(
    account,
):
    curated = Lake.glue(SETTINGS).read(lake.CURATED_EVENTS, on_date(DAY))
    expected = {
        name: sorted(map(str, t.cast(lake.AGGREGATES[name].schema).to_pylist()))
        for name, t in compute_aggregates(curated).items()
    }
    to_glue = copy.deepcopy(MACHINE)
    choice = to_glue["definition"]["States"]["EachDate"]["ItemProcessor"]["States"]["LambdaOrGlue"]
    choice["Choices"][0]["StringEquals"] = "lambda"  # the planned engine of this small date

    run, tables = real_run(account, to_glue)
    assert run.status == SUCCEEDED, run.cause
    assert inner(run) == ["LambdaOrGlue", "PrepareGlue", "AggregateOnGlue", "PublishGlueOutput"]
    (job,) = run.steps("AggregateOnGlue")
    assert job.result["JobRunState"] == "SUCCEEDED"
    assert HANDLER[handler_name(daily_handler.aggregate_day)] not in {
        s.resource for s in run.history
    }
    assert aggregates(tables) == expected
    assert DailyRun.of(run, to_glue["handlers"]).dates[0]["rows"]["daily_category_revenue"] == 2
