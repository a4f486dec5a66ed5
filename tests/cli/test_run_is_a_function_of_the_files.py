"""`retail-etl run` through the command line: the warehouse depends only on the final files.

`run S1` then `run S2` on the same folder equals `run S2` fresh, and so does `run S2` killed
with SIGKILL part-way (the whole process group) and run again. S2 is the campaign scenario's
final inputs (a late products file for an earlier date, a corrected products file with a new
price and a removed product, a corrected events file, late events); S1 its first versions.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from retail_etl.cli import main
from tests.guarantees import scenario as sc
from tests.guarantees.harness import PROCESSING_TIME, WAREHOUSE_TABLES

REPO = Path(__file__).resolve().parents[2]
S1 = [(sc.BASE, sc.BASE_V1), (sc.A, sc.A_V1), (sc.B, sc.B_V1), (sc.C, sc.C_V1)]


def write(folder: Path, files) -> Path:
    for key, body in files:
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(body)
    return folder


def warehouse(out: Path) -> dict[str, list]:
    """Every warehouse table's rows, sorted, without processing times."""
    tables = {}
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        for table in WAREHOUSE_TABLES:
            names = [r[0] for r in con.execute(f"DESCRIBE retail.{table}").fetchall()]
            keep = ", ".join(n for n in names if n not in PROCESSING_TIME)
            tables[table] = con.execute(
                f"SELECT {keep} FROM retail.{table} ORDER BY ALL"
            ).fetchall()
    return tables


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inputs")
    return write(root / "s1", S1), write(root / "s2", sc.final_inputs())


@pytest.fixture(scope="module")
def fresh(inputs, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fresh")
    assert main(["run", "--input", str(inputs[1]), "--out", str(out)]) == 0
    tables = warehouse(out)
    assert tables["daily_category_revenue"] and tables["fact_events"]
    return tables


@pytest.fixture(scope="module")
def after_s1(inputs, tmp_path_factory) -> Path:
    """The folder `run S1` leaves; each test continues from its own copy."""
    out = tmp_path_factory.mktemp("s1")
    assert main(["run", "--input", str(inputs[0]), "--out", str(out)]) == 0
    return out


@pytest.fixture
def continued(after_s1, tmp_path) -> Path:
    return Path(shutil.copytree(after_s1, tmp_path / "out"))


def test_run_s1_then_s2_equals_s2_fresh(inputs, fresh, continued):
    first = warehouse(continued)
    assert first != fresh  # S1's prices and rows differ: the second run must change them
    assert main(["run", "--input", str(inputs[1]), "--out", str(continued)]) == 0
    assert warehouse(continued) == fresh


def _run_command(input_dir: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "retail_etl", "run", "--input", str(input_dir), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the Lambda workers die with it
    )


def test_run_s2_killed_part_way_then_run_again_equals_s2_fresh(inputs, fresh, continued):
    """Killed after nine progress lines: with files ingested and the daily run under way
    (crashes at every AWS call of each step are the campaign's, tests/guarantees)."""
    after_lines = 9
    process = _run_command(inputs[1], continued)
    seen = 0
    deadline = time.monotonic() + 120
    while seen < after_lines and time.monotonic() < deadline:
        if not process.stdout.readline():
            break
        seen += 1
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert main(["run", "--input", str(inputs[1]), "--out", str(continued)]) == 0
    assert warehouse(continued) == fresh
