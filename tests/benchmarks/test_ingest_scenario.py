"""The ingest-handler benchmark scenario on a tiny file: interleaved pairs, medians reported."""

from benchmarks.ingest_scenario import scenario


def test_the_scenario_reports_each_modes_median_of_interleaved_fresh_runs(tmp_path):
    result = scenario(tmp_path, events=2000, repeats=2)
    assert result["repeats"] == 2 and result["rows"] > 0
    for mode in ("core", "handler"):
        walls = result[mode]["runs_wall_s"]
        assert len(walls) == 2 and result[mode]["wall_s"] == min(walls)  # the lower middle
        assert result[mode]["peak_rss_mb"] > 0
    assert not (tmp_path / "out-core-0").exists()  # each core run starts on a fresh lake
    assert result["handler_overhead"] == result["handler"]["wall_s"] / result["core"]["wall_s"] - 1
