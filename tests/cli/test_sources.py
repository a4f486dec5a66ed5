"""`sources infer`, `sources check` and `run --sources` from the command line (no AWS)."""

from __future__ import annotations

import json
from pathlib import Path

from retail_etl.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "domain" / "samples"


def test_infer_prints_a_profile_that_check_then_runs(tmp_path, capsys):
    assert main(["sources", "infer", str(SAMPLES / "rees46.csv"), "--name", "rees46"]) == 0
    proposal = capsys.readouterr().out
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "rees46.yaml").write_text(proposal)
    out = tmp_path / "check.json"
    args = ["sources", "check", "--sources", str(folder), str(SAMPLES / "rees46.csv")]
    assert main([*args, "--name", "rees46", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["rows_in"], result["rows_curated"], result["rows_excluded"]) == (15, 11, 1)
    assert result["reconciles"] and result["unknown_values"] == {"unit_price": [["29x.65", 1]]}


def test_check_lists_unused_columns_and_top_rejected_values(tmp_path, capsys):
    out = tmp_path / "check.json"
    args = ["sources", "check", "--sources", str(REPO / "sources"), str(SAMPLES / "ga4.jsonl")]
    assert main([*args, "--name", "ga4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["unused_columns"] == ["event_date", "platform"]
    assert result["unknown_values"]["event_type"] == [["select_promotion", 1]]
    assert result["unknown_values"]["event_timestamp"] == [["not a time", 1]]
    assert "columns no mapping uses: event_date, platform" in capsys.readouterr().out


def test_check_without_a_profile_name_or_with_an_unknown_one_is_a_usage_error(capsys):
    sample = str(SAMPLES / "rees46.csv")
    assert main(["sources", "check", "--sources", str(REPO / "sources"), sample]) == 2
    assert "--name" in capsys.readouterr().err
    args = ["sources", "check", "--sources", str(REPO / "sources"), sample, "--name", "x"]
    assert main(args) == 2
    assert "no profile 'x'" in capsys.readouterr().err


def test_run_rejects_an_invalid_sources_folder_before_starting(tmp_path, capsys):
    bad = tmp_path / "sources"
    bad.mkdir()
    (bad / "shop.yaml").write_text("name: shop\nevents: {columns: {user: u}}\n")
    (tmp_path / "in").mkdir()
    args = ["run", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    assert main([*args, "--sources", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid source profiles" in err and f"{bad / 'shop.yaml'}: events" in err
