"""The end-to-end benchmark scenario on a tiny input: both commands run and are compared."""

from benchmarks.end_to_end_scenario import scenario


def test_the_scenario_runs_the_core_and_run_on_the_same_input_and_compares(tmp_path):
    result = scenario(tmp_path, days=1, events_per_day=500)
    assert result["end_to_end"]["run_ok"]
    assert result["event_rows"] >= 500
    for name in ("core", "end_to_end"):
        assert result[name]["wall_s"] > 0 and result[name]["peak_rss_mb"] > 0
    assert result["throughput_ratio"] == (
        result["end_to_end"]["rows_per_s"] / result["core"]["rows_per_s"]
    )
    assert set(result["end_to_end"]["stages_s"]) >= {
        "ingest_s",
        "aggregate_s",
        "mirror_s",
        "load_s",
    }
    assert (tmp_path / "out-run-0" / "warehouse.duckdb").is_file()
