"""A local run's folder as a `Pipeline`: what the operator commands' tests (tests/cli) do not
reach through the CLI."""

from pathlib import Path
from types import SimpleNamespace

from retail_etl.local.operated import LocalRun


def test_a_local_runs_report_is_titled_and_written_into_its_folder():
    run = LocalRun(SimpleNamespace(out_dir=Path("runs/today")))
    assert run.description == "local run in runs/today"
    assert run.report_path == Path("runs/today/report.html")
