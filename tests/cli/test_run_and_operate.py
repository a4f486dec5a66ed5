"""`run`, `query`, `status`, `replay-quarantine` and `backfill` on a local run's folder."""

import datetime as dt
import json
import shutil

import duckdb
import pytest

from retail_etl import daily
from retail_etl.cli import main
from tests.cli.conftest import EVENTS

ONE_DAY = dt.timedelta(days=1)


def test_run_lands_the_good_files_reports_the_bad_ones_and_exits_1(first_run):
    code, report, _ = first_run
    assert code == 1 and not report["ok"]
    status = {f["key"]: (f["status"], f["error_code"]) for f in report["files"]}
    assert status == {
        "products/dt=2026-11-01/products.csv": ("DONE", None),
        "events/dt=2026-11-01/events.csv": ("DONE", None),
        "events/dt=2026-11-01/empty.csv": ("FAILED_PERMANENT", "empty_file"),
        "events/dt=2026-11-01/junk.csv": ("FAILED_PERMANENT", "invalid_encoding"),
        "events/dt=2026-11-01/truncated.csv.gz": ("FAILED_PERMANENT", "corrupt_compression"),
        "events/dt=2026-11-01/table.parquet": ("FAILED_PERMANENT", "unsupported_format"),
    }
    assert report["ignored"] == ["notes/readme.txt"]
    assert report["quarantine"] == {"events/invalid_timestamp": 1, "events/missing_user_id": 1}
    assert all(f["reconciles"] for f in report["files"])
    assert report["daily"]["marked_clean"] == ["2026-11-01"]


def test_run_takes_yesterday_as_its_run_date_like_the_schedule_and_lists_the_dates_with_rows(
    first_run,
):
    """No run date: the state machine's plan takes yesterday, as deployed; that empty date is
    planned and loaded but only the date with events is listed."""
    _, report, _ = first_run
    yesterday = daily.default_run_date()
    # the run may have started before midnight UTC
    assert report["daily"]["run_date"] in {yesterday.isoformat(), str(yesterday - ONE_DAY)}
    assert [d["date"] for d in report["daily"]["dates"]] == ["2026-11-01"]


def test_query_reads_the_warehouse_the_run_loaded(first_run, capsys):
    _, _, root = first_run
    capsys.readouterr()
    sql = "SELECT category, revenue, purchases FROM retail.daily_category_revenue ORDER BY 1"
    assert main(["query", "--warehouse", str(root / "out" / "warehouse.duckdb"), sql]) == 0
    out = capsys.readouterr().out
    assert "Home" in out and "19.98" in out and "Office" in out and "1.50" in out


def test_running_the_same_folder_again_processes_nothing(first_run, tmp_path):
    _, _, root = first_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    code = main(
        ["run", "--input", str(root / "in"), "--out", str(out), "--json", str(tmp_path / "r.json")]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert {f["status"] for f in report["files"]} == {"UNCHANGED"}
    assert report["daily"] is None
    assert code == 1  # the bad files are still bad: they stay reported


def test_status_lists_the_files_that_did_not_land_and_exits_1(first_run, tmp_path, capsys):
    _, _, root = first_run
    capsys.readouterr()
    code = main(["status", "--out", str(root / "out"), "--json", str(tmp_path / "s.json")])
    status = json.loads((tmp_path / "s.json").read_text())
    assert code == 1
    assert status["files_by_status"] == {"DONE": 2, "FAILED_PERMANENT": 4}
    assert {p["error_code"] for p in status["problems"]} == {
        "empty_file", "invalid_encoding", "corrupt_compression", "unsupported_format"
    }  # fmt: skip
    assert status["dirty_dates"] == [] and status["dead_letters"] == 0


def test_replay_sends_chosen_quarantined_rows_through_once(first_run, tmp_path):
    _, _, root = first_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    argv = ["replay-quarantine", "--out", str(out), "--reason", "missing_user_id"]
    assert main([*argv, "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    [replayed] = report["files"]
    assert replayed["key"].startswith("events/dt=2026-11-01/replay/events-")
    assert replayed["key"].endswith(".csv")  # with the source's header
    assert (replayed["rows_in"], replayed["rows_quarantined"]["missing_user_id"]) == (1, 1)
    raw = (out / "raw" / replayed["key"]).read_text().splitlines()
    assert raw == [EVENTS.splitlines()[0], EVENTS.splitlines()[5]]
    assert main([*argv, "--json", str(tmp_path / "again.json")]) == 0
    assert not (tmp_path / "again.json").exists()  # nothing left to replay


def test_backfill_reloads_dates_and_leaves_the_warehouse_equal(first_run, tmp_path):
    _, _, root = first_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)

    def snapshot():
        with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(
                "SELECT * FROM retail.daily_category_revenue ORDER BY ALL"
            ).fetchall(), con.execute("SELECT count(*) FROM retail.fact_events").fetchone()

    before = snapshot()
    assert main(["backfill", "--out", str(out), "--from", "2026-10-31", "--to", "2026-11-01"]) == 0
    assert snapshot() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--input", "/no/such/folder", "--out", "{tmp}/out"], "input folder not found"),
        (["query", "--warehouse", "{tmp}/none.duckdb", "SELECT 1"], "no warehouse at"),
        (["status", "--out", "{tmp}"], "no local run state in"),
        (["backfill", "--out", "{tmp}", "--from", "2026-11-02", "--to", "2026-11-01"], "before"),
    ],
)
def test_a_wrong_path_or_range_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bad_sql_is_one_line_and_exit_2(first_run, capsys):
    _, _, root = first_run
    warehouse = str(root / "out" / "warehouse.duckdb")
    capsys.readouterr()
    assert main(["query", "--warehouse", warehouse, "SELEC nothing FROM nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: query failed: Parser Error") and err.count("\n") == 1


def test_run_on_a_folder_without_the_layout_exits_2_naming_it(tmp_path, capsys):
    (tmp_path / "in" / "2026-11-01").mkdir(parents=True)
    (tmp_path / "in" / "2026-11-01" / "events.csv").write_text(EVENTS)
    code = main(["run", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "/events/" in err and "/products/" in err and "dt=2026-11-01" in err
    assert not (tmp_path / "out").exists()  # it made nothing, and claims nothing


def test_a_failed_file_is_never_ok_and_the_run_ends_with_the_totals(first_run):
    _, report, _ = first_run
    ok = {f["key"].rpartition("/")[2]: f["ok"] for f in report["files"]}
    assert ok == {
        "products.csv": True, "events.csv": True, "empty.csv": False, "junk.csv": False,
        "truncated.csv.gz": False, "table.parquet": False,
    }  # fmt: skip
    assert report["totals"] == {
        "files_ok": 2, "files_failed": 4, "rows_in": 7, "curated": 5, "quarantined": 2,
        "duplicate": 0, "excluded": 0, "dates_loaded": 1,
    }  # fmt: skip
    [offending] = [o for o in report["offending_values"] if o["reason"] == "invalid_timestamp"]
    assert (offending["value"], offending["rows"]) == ("not-a-time", 1)


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_query_writes_csv_json_or_a_right_aligned_table(first_run, capsys, fmt):
    _, _, root = first_run
    capsys.readouterr()
    sql = "SELECT category, revenue, purchases FROM retail.daily_category_revenue ORDER BY 1"
    warehouse = str(root / "out" / "warehouse.duckdb")
    assert main(["query", "--warehouse", warehouse, "--format", fmt, sql]) == 0
    out = capsys.readouterr().out
    if fmt == "csv":
        assert out.splitlines() == ["category,revenue,purchases", "Home,19.98,1", "Office,1.50,1"]
    elif fmt == "json":
        assert json.loads(out) == [
            {"category": "Home", "revenue": "19.98", "purchases": 1},
            {"category": "Office", "revenue": "1.50", "purchases": 1},
        ]
    else:
        [home] = [line for line in out.splitlines() if "Home" in line]
        cells = [c for c in home.split("│") if c.strip()]
        assert cells[1].endswith("19.98 ") and cells[1].startswith("  ")  # right-aligned


def test_query_lake_reads_the_quarantine_as_the_run_left_it(first_run, capsys):
    _, _, root = first_run
    capsys.readouterr()
    sql = "SELECT reason, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY 1"
    argv = ["query", "--lake", "--out", str(root / "out"), "--format", "csv", sql]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "reason,n", "invalid_timestamp,1", "missing_user_id,1"
    ]  # nothing but the result on stdout  # fmt: skip
