"""The benchmark harness: a tiny generated input through the reference engine."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import run as bench
from benchmarks.stage import ENGINE_MODULES, engine_module
from retail_etl.domain.contract import AGGREGATES


def test_engine_names_map_to_modules():
    assert ENGINE_MODULES == {"retail_etl": "retail_etl_core", "duckdb": "duckdb_ref"}
    module = engine_module("duckdb")
    assert callable(module.clean_enrich) and callable(module.aggregate)


def test_harness_runs_each_stage_in_its_own_process_and_compares(tmp_path, capsys):
    report_path = tmp_path / "bench.json"
    code = bench.main(
        ["--events", "400", "--days", "2", "--seed", "3", "--json", str(report_path),
         "--workdir", str(tmp_path / "work"), "--engines", "duckdb", "--repeats", "3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(report_path.read_text())
    assert report["events"] == 400
    assert report["identical_results"] is True
    assert set(report["engines"]) == {"duckdb"}
    for stage in ("clean_enrich", "aggregate"):
        m = report["engines"]["duckdb"][stage]
        assert m["wall_s"] > 0 and m["peak_rss_mb"] > 10 and m["rows_per_s"] > 0
        assert m["process_s"] >= m["wall_s"]
        # the median of three fresh-process runs, and the largest peak RSS of the three
        assert len(m["runs_wall_s"]) == 3 and m["wall_s"] == sorted(m["runs_wall_s"])[1]
        assert m["peak_rss_mb"] == max(m["runs_peak_rss_mb"])
    assert report["repeats"] == 3 and len(report["load_average_1m"]) == 4
    # the generator's manifest says how many events a correct pipeline curates
    manifest = json.loads((tmp_path / "work" / "input" / "manifest.json").read_text())
    assert report["checks"]["curated_rows"] == {
        "duckdb": manifest["totals"]["events"]["rows_curated"]
    }
    assert all(c["identical"] for c in report["checks"]["aggregates"].values())
    assert report["ratios"]["vs_duckdb"]["duckdb"]["clean_enrich"]["wall"] == 1.0
    assert set(report["ratios"]) == {"vs_duckdb"}
    assert "identical results: True" in out
    for name in AGGREGATES:
        assert (tmp_path / "work" / "duckdb" / "aggregates" / f"{name}.parquet").exists()


def test_differences_are_detected(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    for name, schema in AGGREGATES.items():
        pq.write_table(schema.empty_table(), a / f"{name}.parquet")
    shutil.copytree(a, b)
    assert all(c["identical"] for c in bench.compare_aggregates({"x": a, "y": b}).values())
    schema = AGGREGATES["daily_multi_purchase_users"]
    row = pa.table(
        {"event_date": [None], "user_id": ["U1"], "purchases": [2], "total_spend": [None]},
        schema=schema,
    )
    pq.write_table(row, b / "daily_multi_purchase_users.parquet")
    checks = bench.compare_aggregates({"x": a, "y": b})
    assert not checks["daily_multi_purchase_users"]["identical"]
    assert checks["daily_category_revenue"]["identical"]
    wrong = schema.set(3, pa.field("total_spend", pa.float64()))
    pq.write_table(wrong.empty_table(), b / "daily_multi_purchase_users.parquet")
    problems = bench.compare_aggregates({"x": a, "y": b})["daily_multi_purchase_users"]
    assert any("schema" in p for p in problems["problems"])


def test_exit_status_is_non_zero_when_engines_differ(tmp_path, monkeypatch):
    def differing(ctx):
        return {"identical_results": False, "engines": {}, "ratios": {},
                "checks": {"curated_rows": {"a": 1, "b": 2}, "aggregates": {}}}  # fmt: skip

    monkeypatch.setattr(bench, "batch_scenario", differing)
    monkeypatch.setattr(bench, "generate_input", lambda *a: {"files": {}})
    code = bench.main(["--events", "10", "--json", str(tmp_path / "r.json"),
                       "--workdir", str(tmp_path / "w")])  # fmt: skip
    assert code == 1
    assert json.loads((tmp_path / "r.json").read_text())["identical_results"] is False


def test_extra_scenarios_get_their_own_key(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "batch_scenario", lambda ctx: {
        "identical_results": True, "engines": {}, "ratios": {},
        "checks": {"curated_rows": {}, "aggregates": {}}})  # fmt: skip
    monkeypatch.setattr(bench, "generate_input", lambda *a: {"files": {}})
    monkeypatch.setitem(bench.SCENARIOS, "ingest_handler", lambda ctx: {"p50_ms": 1.0})
    code = bench.main(["--events", "10", "--json", str(tmp_path / "r.json"),
                       "--workdir", str(tmp_path / "w")])  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["ingest_handler"] == {"p50_ms": 1.0}
