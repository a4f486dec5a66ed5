"""Scenario: days of generated files through `python -m retail_etl run` (the real handlers on
emulated AWS, the daily workflow, the DuckDB warehouse), beside the core alone on the same
input (`local.direct.run_direct`: the same ingest and daily steps on local resources, no
emulated AWS), each in a fresh process.

    python -m benchmarks.end_to_end_scenario --days 3 --events-per-day 1000000 --repeats 3

Both throughputs are event rows in / wall time of the whole command (start-up, emulator, the
final write-down of the state included for `run`), from each command's median run of
`--repeats` interleaved pairs; the target is end to end >= 50 % of the core's rows/s. Peak
RSS is the process tree's: `run` holds every emulated object in memory and its Lambda
containers are separate processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.stage import median_run
from retail_etl.adapters.files import local_writer

REPO = Path(__file__).resolve().parents[1]
CORE = (
    "import sys, json; from pathlib import Path; from retail_etl.local.direct import run_direct; "
    "from retail_etl.memory import configure_memory; configure_memory(); "
    "run = run_direct(Path(sys.argv[1]), Path(sys.argv[2])); "
    "print(json.dumps({'rows_in': sum(r.rows_in for r in run.reports if r.kind == 'events')}))"
)


def _measure(cmd: list[str]) -> dict:
    """Wall time and the peak summed RSS of the process and its children."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0.0]

    def sample() -> None:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree) / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} failed:\n{err.decode()[-3000:]}")
    return {"wall_s": wall, "peak_rss_mb": peak[0], "stdout": out.decode()}


def scenario(
    workdir: Path, days: int, events_per_day: int, seed: int = 0, repeats: int = 1
) -> dict:
    """`repeats` interleaved pairs (the core, then `run`), each into fresh output folders;
    each command's figures are its median run's (`median_run`, which keeps every wall time)."""
    from retail_etl.generator import generate_dataset

    input_dir = workdir / "input"
    manifest = generate_dataset(
        local_writer(input_dir), days=days, events_per_day=events_per_day, seed=seed
    )
    rows = manifest["totals"]["events"]["rows_in"]
    runs: dict[str, list[dict]] = {"core": [], "end_to_end": []}
    for repeat in range(repeats):
        core_out, run_out = workdir / f"out-core-{repeat}", workdir / f"out-run-{repeat}"
        report_file = workdir / f"run-{repeat}.json"
        core = _measure([sys.executable, "-c", CORE, str(input_dir), str(core_out)])
        run_cmd = [
            sys.executable, "-m", "retail_etl", "run", "--input", str(input_dir),
            "--out", str(run_out), "--json", str(report_file),
        ]  # fmt: skip
        run = _measure(run_cmd)
        report = json.loads(report_file.read_text())
        run |= {"run_ok": report["ok"], "stages_s": report["timings"]}
        for name, measured in (("core", core), ("end_to_end", run)):
            measured.pop("stdout")
            runs[name].append(measured)
        if repeat < repeats - 1:  # the last run's output stays, to look at
            for folder in (core_out, run_out):
                shutil.rmtree(folder, ignore_errors=True)
    result = {"days": days, "events_per_day": events_per_day, "event_rows": rows}
    result["repeats"] = repeats
    for name, reports in runs.items():
        result[name] = median_run(reports)
        result[name]["rows_per_s"] = rows / result[name]["wall_s"]
    result["end_to_end"]["run_ok"] = all(r["run_ok"] for r in runs["end_to_end"])
    result["throughput_ratio"] = result["end_to_end"]["rows_per_s"] / result["core"]["rows_per_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--events-per-day", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="retail-etl-e2e-bench-"))
    print(
        json.dumps(
            scenario(workdir, args.days, args.events_per_day, repeats=args.repeats), indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
