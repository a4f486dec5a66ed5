"""The core on generated data: every file's outcome equals the generator's manifest."""

import json
from pathlib import Path

import pytest

from retail_etl.adapters.files import local_writer
from retail_etl.domain import lake
from retail_etl.domain.report import FileStatus
from retail_etl.generator import generate_dataset
from retail_etl.local.direct import run_direct


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    manifest = generate_dataset(local_writer(root / "in"), days=3, events_per_day=6000, seed=7)
    run = run_direct(root / "in", root / "out", block_bytes=64 << 10)  # several chunks per file
    return manifest, run, root


def test_every_file_reconciles_exactly_as_the_manifest_says(generated_run):
    manifest, run, _ = generated_run
    assert [r.key for r in run.reports] == list(manifest["files"])
    for report in run.reports:
        expected = manifest["files"][report.key]
        assert report.status == FileStatus.DONE
        assert report.reconciles()
        assert (report.rows_in, report.rows_curated, report.rows_duplicate) == (
            expected["rows_in"],
            expected["rows_curated"],
            expected["rows_duplicate"],
        ), report.key
        assert {k: v for k, v in report.rows_quarantined.items() if v} == {
            k: v for k, v in expected["rows_quarantined"].items() if v
        }, report.key


def test_quarantine_totals_by_reason_equal_the_injected_mess(generated_run):
    manifest, run, _ = generated_run
    for kind in ("events", "products"):
        got: dict[str, int] = {}
        for r in run.reports:
            if r.kind == kind:
                for reason, n in r.rows_quarantined.items():
                    got[reason] = got.get(reason, 0) + n
        expected = {k: v for k, v in manifest["totals"][kind]["rows_quarantined"].items() if v}
        assert {k: v for k, v in got.items() if v} == expected
        assert all(v > 0 for v in expected.values())


def test_curated_rows_per_event_date_include_late_events(generated_run):
    manifest, run, root = generated_run
    curated = run.lake.read(lake.CURATED_EVENTS, columns=("event_date",))
    counts: dict[str, int] = {}
    for day in curated["event_date"].to_pylist():
        counts[day.isoformat()] = counts.get(day.isoformat(), 0) + 1
    assert counts == manifest["curated_by_event_date"]
    assert json.loads((root / "in" / "manifest.json").read_text()) == manifest
    assert any(Path(k).suffix == ".gz" for k in manifest["files"])
