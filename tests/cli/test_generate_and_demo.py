import json

import boto3
import pytest

from retail_etl.cli import main
from retail_etl.local.emulator import emulated_aws


def test_generate_writes_files_and_manifest_to_a_folder(tmp_path, capsys):
    out = tmp_path / "data"
    code = main(["generate", "--out", str(out), "--days", "2", "--events-per-day", "500"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert all((out / key).exists() for key in manifest["files"])
    assert "manifest.json" in capsys.readouterr().out


def test_generate_writes_to_an_s3_prefix():
    with emulated_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(
            Bucket="drop", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        code = main(
            ["generate", "--out", "s3://drop/landing", "--days", "1", "--events-per-day", "300"]
        )
        assert code == 0
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="drop")["Contents"]]
    assert "landing/manifest.json" in keys
    assert any(k.startswith("landing/events/dt=2026-11-01/") for k in keys)
    assert any(k.startswith("landing/products/dt=2026-11-01/") for k in keys)


def test_demo_runs_end_to_end_and_reports_every_step(tmp_path, capsys):
    report = tmp_path / "demo.json"
    code = main(["demo", "--days", "2", "--events-per-day", "1000", "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "retail.daily_top_viewed_products for 2026-11-02" in out
    assert "0 file(s) processed again" in out
    data = json.loads(report.read_text())
    keys = [f["key"] for f in data["first_run"]["files"]]
    assert [k for k in keys if k.startswith("products/")] == [
        "products/dt=2026-11-01/products-2026-11-01.csv",
        "products/dt=2026-11-02/products-2026-11-02.jsonl",
    ]
    assert data["first_run"]["ok"]
    assert data["first_run"]["quarantine"]["events/unknown_product"] > 0
    assert data["second_pass"]["run"]["daily"] is None
    assert data["late_run"]["daily"]["dates"][0]["date"] == "2026-11-01"


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--out", "x", "--days", "0"],
        ["generate", "--out", "x", "--start-date", "yesterday"],
        ["demo", "--events-per-day", "-5"],
        ["replay-quarantine", "--reason", "unknown_product"],  # released, never replayed
        ["backfill", "--from", "2026-11-01"],
        ["nonsense"],
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_generate_rejects_too_few_events_with_a_clear_message(tmp_path, capsys):
    code = main(["generate", "--out", str(tmp_path), "--events-per-day", "10"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")
