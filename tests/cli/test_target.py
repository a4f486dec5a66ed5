"""The operator commands take whatever `Pipeline` the target gives them: driven here by a fake
one, with `--out` and with `--stack` alike, so no command still asks which kind it has (one
that did would reach for a stack at an address that refuses, and fail)."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pytest

from retail_etl.adapters.ledger import FileVersion
from retail_etl.adapters.memory_ledger import MemoryLedger
from retail_etl.adapters.objects import FolderStore
from retail_etl.adapters.tables import Lake, from_source
from retail_etl.cli import main, operate, report
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.domain.contract import QUARANTINE
from retail_etl.domain.report import FileReport, FileStatus
from retail_etl.local.run import RunReport
from retail_etl.operations.pipeline import SUCCEEDED, DailyOutcome, Replayed
from retail_etl.operations.replay import ReplayFile
from retail_etl.operations.report import DuckDBOverLake

TARGETS = {"out": ["--out", "{tmp}"], "stack": ["--stack", "RetailEtl-fake"]}
SOURCE = "events/dt=2026-11-01/part-1.jsonl"
BAD_LINE = '{"event_id": "e9", "event_timestamp": "yesterday"}'


class FakePipeline:
    """A `Pipeline` on local resources (a folder as the raw bucket, the in-memory ledger, a
    lake on disk) that records what the commands ask of it."""

    description = "fake pipeline"

    def __init__(self, root: Path) -> None:
        self.settings = Settings.for_prefix("fake")
        self.report_path = root / "fake-report.html"
        self.ledger = MemoryLedger()
        self.store = FolderStore({self.settings.raw_bucket: root / "raw"})
        self.lake = Lake.on_disk(root / "lake", self.settings.glue_database)
        self.lake.ensure(specs=())  # the namespace; each table when first read
        self.waiting = 0  # messages in its dead-letter queue
        self.run: RunReport | None = None  # what its replays report
        self.failing: set[dt.date] = set()  # run dates whose daily run fails
        self.daily: list[tuple[dt.date, bool]] = []
        self.engines = {"opened": 0, "closed": 0}

    def dead_letters(self) -> int:
        return self.waiting

    @contextmanager
    def sql_engine(self):
        engine = DuckDBOverLake(self.lake)
        self.engines["opened"] += 1
        try:
            yield engine
        finally:
            engine.close()
            self.engines["closed"] += 1

    def replay(self, files: list[ReplayFile]) -> Replayed:
        for f in files:
            self.store.put_object(self.settings.raw_bucket, f.key, f.data)
        return Replayed(files, self.run)

    def run_daily(self, run_date: dt.date, wait: bool = True) -> DailyOutcome:
        self.daily.append((run_date, wait))
        status = "FAILED" if run_date in self.failing else SUCCEEDED
        return DailyOutcome(run_date, status, [run_date.isoformat()])


@pytest.fixture(params=list(TARGETS.values()), ids=list(TARGETS))
def target(request, tmp_path) -> list[str]:
    return [a.replace("{tmp}", str(tmp_path)) for a in request.param]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The fake, given to every command whatever the target arguments say."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: offline
    pipeline = FakePipeline(tmp_path)
    pipeline.opened = []  # read_only of each open

    @contextmanager
    def open_pipeline(args, read_only=False):
        pipeline.opened.append(read_only)
        yield pipeline

    for module in (operate, report):
        monkeypatch.setattr(module, "open_pipeline", open_pipeline)
    return pipeline


def test_status_reports_the_pipelines_failed_files_and_dead_letters(fake, target, tmp_path):
    file = FileVersion(fake.settings.raw_bucket, "events/dt=2026-11-01/empty.csv", "v1")
    failure = FileReport(
        key=file.key,
        kind="events",
        status=FileStatus.FAILED_PERMANENT,
        error_code="empty_file",
        error_message="no rows",
    )
    fake.ledger.fail_permanently(file, fake.ledger.claim(file), failure)
    fake.waiting = 2
    assert main(["status", *target, "--json", str(tmp_path / "s.json")]) == 1
    status = json.loads((tmp_path / "s.json").read_text())
    assert status["files_by_status"] == {"FAILED_PERMANENT": 1} and status["dead_letters"] == 2
    assert [p["error_code"] for p in status["problems"]] == ["empty_file"]
    assert fake.opened == [True]  # status only reads


@pytest.mark.parametrize("ingested", [False, True], ids=["on-its-own", "with-a-failed-run"])
def test_replay_hands_the_files_to_the_pipeline_once_and_exits_by_its_run(
    fake, target, tmp_path, capsys, ingested
):
    rows = pa.Table.from_pylist(
        [
            {
                "source_file": SOURCE,
                "line_number": 9,
                "reason": "invalid_timestamp",
                "raw_record": BAD_LINE,
                "product_id": None,
                "event_date": None,
                "quarantined_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            }
        ],
        schema=QUARANTINE,
    )
    fake.lake.replace(lake.QUARANTINE, from_source(SOURCE), rows=rows)
    if ingested:  # its files landed, but a message waits in the DLQ
        fake.run = RunReport([], [], 1, None, {"ingest_s": 0.0, "total_s": 0.1})
    argv = ["replay-quarantine", *target, "--json", str(tmp_path / "r.json")]
    assert main(argv) == (1 if ingested else 0)
    out = capsys.readouterr().out
    replayed = json.loads((tmp_path / "r.json").read_text())
    [dropped] = replayed["replayed"]
    assert dropped["source_file"] == SOURCE and dropped["rows"] == 1
    assert f"dropped {dropped['key']} (1 rows of {SOURCE})" in out
    assert replayed["ok"] is not ingested
    assert ("1 replay file(s) dropped" in out) is not ingested
    assert ("Replayed quarantine" in out) is ingested
    [key] = fake.store.list(fake.settings.raw_bucket, "events/dt=2026-11-01/replay/")
    assert key == dropped["key"]
    (tmp_path / "r.json").unlink()
    assert main(argv) == 0  # already in the raw bucket: nothing left to replay
    assert "nothing to replay" in capsys.readouterr().out
    assert not (tmp_path / "r.json").exists()


def test_backfill_runs_each_date_oldest_first_and_exits_1_when_one_fails(fake, target, capsys):
    fake.failing = {dt.date(2026, 11, 2)}
    argv = ["backfill", *target, "--from", "2026-11-01", "--to", "2026-11-03"]
    assert main([*argv, "--no-wait"]) == 1
    days = [dt.date(2026, 11, d) for d in (1, 2, 3)]
    assert fake.daily == [(d, False) for d in days]
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "2026-11-01: SUCCEEDED, aggregated and loaded 2026-11-01",
        "2026-11-02: FAILED, aggregated and loaded 2026-11-02",
        "2026-11-03: SUCCEEDED, aggregated and loaded 2026-11-03",
    ]
    fake.failing, fake.daily = set(), []
    assert main(argv) == 0
    assert fake.daily == [(d, True) for d in days]


def test_report_is_titled_and_placed_by_the_pipeline_and_closes_its_engine(fake, target, capsys):
    assert main(["report", *target]) == 0
    assert "fake pipeline" in fake.report_path.read_text()
    assert f"report written to {fake.report_path}:" in " ".join(capsys.readouterr().out.split())
    assert fake.engines == {"opened": 1, "closed": 1} and fake.opened == [True]
