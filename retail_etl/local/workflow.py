"""The daily state machine on local resources: the definition the CDK app synthesizes, run by
the interpreter (`states.py`) with each task resource answered locally.

`state_machine.json` is `python -m infra.definition prod`: prod's, because it is the
environment with the warehouse load (dev's state machine has none), and the local run loads
its DuckDB warehouse. `tests/infra` fails when the file differs from what the app synthesizes.

Its task resources, locally:

* a Lambda function (by ARN) → the handler its `Handler` property names, called by `invoke`
  (the Lambda containers), except the two that talk to Redshift: SubmitLoad's and
  ExplainLoadFailure's are answered by the local Data API over DuckDB (`data_api.py`);
* `redshiftdata:describeStatement` → the local Data API;
* `glue:startJobRun.sync` → the Glue job's Spark code on this machine (`glue.py`);
* `sns:publish` → `LocalAlerts`, which keeps the alert.

A handler's exception is the task's error as Lambda reports it: the exception's class names it
and the cause is Lambda's JSON error payload.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_etl.local.containers import ContainerDied
from retail_etl.local.data_api import LocalDataApi
from retail_etl.local.glue import LocalGlueJobs
from retail_etl.local.states import (
    SUCCEEDED,
    Execution,
    OnEnter,
    StateMachine,
    StatesError,
    Task,
    select,
)

DEFINITION = Path(__file__).with_name("state_machine.json")
GLUE_RUN_SYNC = "arn:aws:states:::glue:startJobRun.sync"
DESCRIBE_STATEMENT = "arn:aws:states:::aws-sdk:redshiftdata:describeStatement"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

ALERTS_LOG = Path("logs") / "alerts.log"

Invoke = Callable[[str, dict], Any]  # (handler's dotted name, event) -> its reply


def load_definition(path: Path = DEFINITION) -> dict:
    """The resolved definition, its functions' handlers, topics and Glue jobs."""
    return json.loads(path.read_text())


def handler_name(function: Callable) -> str:
    """A handler's dotted name, as a function's `Handler` property spells it."""
    return f"{function.__module__}.{function.__name__}"


class LocalAlerts:
    """The alert topics: what the state machine publishes is kept, in order."""

    def __init__(self, topics: list[str], on_publish: Callable[[dict], None] | None = None):
        self.topics = set(topics)
        self.published: list[dict] = []
        self._on_publish = on_publish or (lambda message: None)
        self._lock = threading.Lock()

    def publish(self, parameters: dict) -> dict:
        """The `sns:publish` integration."""
        topic = parameters["TopicArn"]
        if topic.rpartition(":")[2] not in self.topics:
            raise StatesError("SNS.NotFoundException", f"no topic {topic}")
        with self._lock:
            self.published.append(parameters)
        self._on_publish(parameters)
        return {"MessageId": str(uuid.uuid4())}


def lambda_task(call: Callable[[dict], Any]) -> Task:
    """A Lambda task (payload response only): the reply, or the error as Lambda reports it."""

    def task(payload: dict) -> Any:
        try:
            return call(payload)
        except StatesError:  # already named
            raise
        except Exception as exc:
            # a dead container is Lambda's Runtime.ExitError
            name = "Runtime.ExitError" if isinstance(exc, ContainerDied) else type(exc).__name__
            cause = json.dumps({"errorMessage": str(exc), "errorType": name})
            raise StatesError(name, cause) from exc

    return task


def local_tasks(
    machine: dict, invoke: Invoke, data_api: LocalDataApi, glue: LocalGlueJobs, alerts: LocalAlerts
) -> dict[str, Task]:
    """A callable for every task resource of `machine` (a `load_definition()` document)."""
    from lambdas.daily import handler as daily

    warehouse = {
        handler_name(daily.submit_load): data_api.submit_load,
        handler_name(daily.explain_load_failure): data_api.explain_load_failure,
    }
    tasks = {
        arn: lambda_task(warehouse.get(handler) or (lambda event, h=handler: invoke(h, event)))
        for arn, handler in machine["handlers"].items()
    }
    tasks[DESCRIBE_STATEMENT] = data_api.describe_statement
    tasks[GLUE_RUN_SYNC] = glue.start_job_run_sync
    tasks[SNS_PUBLISH] = alerts.publish
    return tasks


def daily_state_machine(
    machine: dict,
    invoke: Invoke,
    data_api: LocalDataApi,
    glue: LocalGlueJobs,
    alerts: LocalAlerts,
    on_enter: OnEnter | None = None,
) -> StateMachine:
    """The definition with its local tasks; waits and retry intervals take no time (a local
    poll finds the load finished, and nothing local throttles)."""
    tasks = local_tasks(machine, invoke, data_api, glue, alerts)
    return StateMachine(
        machine["definition"], tasks, name="daily", wait_scale=0.0, on_enter=on_enter
    )


class DailyRunFailed(RuntimeError):
    """The execution failed; the message is its alert's error and cause."""

    def __init__(self, execution: Execution, alert: dict | None) -> None:
        failure = alert["Message"] if alert else {}
        error = failure.get("error") or execution.error
        cause = failure.get("cause") or execution.cause
        super().__init__(f"the daily run failed: {error}: {cause}")
        self.execution, self.alert = execution, alert


@dataclass
class DailyRun:
    """What one run of the daily workflow did, read from its execution's task results."""

    run_date: str
    # the planned dates that had events or a change, with their aggregate row counts (the run
    # date alone, with neither, is planned and loaded empty, as deployed, and not listed)
    dates: list[dict[str, Any]]
    marked_clean: list[str]  # dirty dates whose change this run loaded
    still_dirty: list[str]  # dates that changed again during the run
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def aggregated(self) -> list[str]:
        return [d["date"] for d in self.dates]

    @classmethod
    def of(cls, execution: Execution, handlers: dict[str, str]) -> DailyRun:
        """From the results of the handlers' tasks (`handlers`: function ARN -> handler)."""
        from lambdas.daily import handler as daily

        results: dict[str, list] = {}
        for step in execution.history:
            if step.resource in handlers and step.error is None:
                results.setdefault(handlers[step.resource], []).append(step.result)
        (plan,) = results[handler_name(daily.plan)]
        (marked,) = results[handler_name(daily.mark_loaded)]
        rows = {
            r["date"]: r["rows"]
            for h in (daily.aggregate_day, daily.publish_glue_output)
            for r in results.get(handler_name(h), [])
        }
        dates = [
            {**d, "rows": rows[d["date"]]}
            for d in plan["dates"]
            if d["dirty_seq"] or d["curated_bytes"]
        ]
        aggregated = max(s.ended for s in execution.history if s.type == "Map")
        return cls(
            plan["run_date"],
            dates,
            marked["clean"],
            marked["still_dirty"],
            {"aggregate_s": aggregated - execution.started},
        )


class LocalDailyWorkflow:
    """The committed definition on a local pipeline's resources: Lambda handlers by `invoke`,
    the warehouse load by `load` (the planned dates; returns its timings), S3 by `s3`, alerts
    told to `progress` and kept in OUT/logs/alerts.log."""

    def __init__(
        self,
        machine: dict,
        invoke: Invoke,
        load: Callable[[list[str]], dict[str, float]],
        s3: Any,
        out_dir: Path,
        progress: Callable[[str], None],
    ) -> None:
        self.machine, self.progress = machine, progress
        self._load, self._timings = load, {}
        self._alerts_log = out_dir / ALERTS_LOG
        self.data_api = LocalDataApi(lambda days: self._timings.update(self._load(days)))
        self.glue = LocalGlueJobs(s3, machine["glue_jobs"])
        self.alerts = LocalAlerts(machine["topics"], self._alerted)
        self.states = daily_state_machine(
            machine, invoke, self.data_api, self.glue, self.alerts, on_enter=self._entered
        )

    def run(self, run_date: dt.date | None) -> DailyRun:
        """One execution; raises `DailyRunFailed` when it fails (its alert published)."""
        self._timings = {}
        published = len(self.alerts.published)
        execution = self.states.execute({"run_date": run_date.isoformat() if run_date else None})
        if execution.status != SUCCEEDED:
            alerts = self.alerts.published[published:]
            raise DailyRunFailed(execution, alerts[-1] if alerts else None)
        run = DailyRun.of(execution, self.machine["handlers"])
        run.timings.update(self._timings)
        return run

    def _entered(self, name: str, state: dict, value: Any) -> None:
        """Progress: each Task and Map state as it starts (with its date inside the Map)."""
        if state["Type"] == "Map":
            items = select(value, state.get("ItemsPath", "$"))
            self.progress(f"{name}: {len(items)} date(s)")
        elif state["Type"] == "Task":
            date = value.get("date") if isinstance(value, dict) else None
            self.progress(f"{name} {date}" if isinstance(date, str) else name)

    def _alerted(self, message: dict) -> None:
        self.progress(f"alert: {message.get('Subject', '')}: {message['Message']}")
        self._alerts_log.parent.mkdir(parents=True, exist_ok=True)
        with self._alerts_log.open("a") as f:
            f.write(json.dumps(message, default=str) + "\n")

    def close(self) -> None:
        self.glue.close()
