import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from retail_etl.cli import _commands, main
from retail_etl.local.emulator import emulated_aws

REPO = Path(__file__).resolve().parents[2]


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


def test_generate_to_s3_without_credentials_is_one_line_and_exit_2(tmp_path):
    """In a fresh process with no credentials anywhere (no keys, files or instance role)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "PYTHONPATH": str(REPO),
    }
    argv = ["generate", "--out", "s3://drop/x", "--days", "1", "--events-per-day", "300"]
    done = subprocess.run(
        [sys.executable, "-m", "retail_etl", *argv],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: AWS: Unable to locate credentials")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def _options(help_text: str) -> dict[str, str]:
    """Each option's entry in a help text: its flags, then its help (maybe on the next line)."""
    entries: dict[str, str] = {}
    flag = None
    for line in help_text.splitlines():
        if re.match(r"^  -", line):
            flag, _, rest = line.strip().partition("  ")
            entries[flag] = rest.strip()
        elif flag and line.startswith("      "):
            entries[flag] = f"{entries[flag]} {line.strip()}".strip()
        else:
            flag = None
    return entries


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_and_shows_its_default(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    options = _options(capsys.readouterr().out)
    assert options
    for flag, text in options.items():
        assert text, f"{command} {flag} has no help"
    if command in ("generate", "demo"):
        assert options["--days DAYS"].endswith("(default: 3)")
        assert options["--events-per-day EVENTS_PER_DAY"].endswith("(default: 20000)")
    if command == "backfill":
        assert "--from YYYY-MM-DD" in options


def test_the_top_level_help_says_what_the_tool_does(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: retail-etl") and "batch ETL pipeline" in out
