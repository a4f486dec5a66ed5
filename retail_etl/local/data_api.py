"""The warehouse end of the state machine's load, on the local DuckDB warehouse.

Deployed, SubmitLoad starts the load on Redshift through the Data API and returns at once, the
state machine polls `redshiftdata:describeStatement` until FINISHED, FAILED or ABORTED, and
ExplainLoadFailure raises the error of a failed one for the alert. Locally the same three
tasks run against `load`, the DuckDB load of the planned dates: a submitted statement runs to
its end before submit returns (so the first poll sees FINISHED or FAILED), and its error is
kept for describe and explain, as the Data API keeps it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import NoReturn

from retail_etl.adapters.warehouse import LoadFailed
from retail_etl.local.states import StatesError

FINISHED, FAILED = "FINISHED", "FAILED"


class LocalDataApi:
    """Load statements by id, each FINISHED or FAILED with its error."""

    def __init__(self, load: Callable[[list[str]], None]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self.statements: dict[str, dict] = {}

    def submit_load(self, event: dict) -> dict:
        """In place of the SubmitLoad Lambda: same event ({"dates": plans}), same reply."""
        days = [d["date"] for d in event["dates"]]
        statement = {"Id": str(uuid.uuid4()), "Status": FINISHED}
        try:
            self._load(days)
        except Exception as exc:  # the statement failed; the state machine asks why
            statement.update(Status=FAILED, Error=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.statements[statement["Id"]] = statement
        return {"statement_id": statement["Id"], "dates": days}

    def describe_statement(self, parameters: dict) -> dict:
        """The `redshiftdata:describeStatement` SDK integration."""
        with self._lock:
            statement = self.statements.get(parameters["Id"])
        if statement is None:
            raise StatesError(
                "RedshiftData.ResourceNotFoundException", f"no statement {parameters['Id']}"
            )
        return dict(statement)

    def explain_load_failure(self, event: dict) -> NoReturn:
        """In place of the ExplainLoadFailure Lambda: raise the failed statement's error."""
        s = self.describe_statement({"Id": event["statement_id"]})
        raise LoadFailed(f"statement {s['Id']} {s['Status']}: {s.get('Error', 'no error message')}")
