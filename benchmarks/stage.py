"""Run one stage of one engine in this process and report its time and peak memory.

    python -m benchmarks.stage --engine duckdb --stage clean_enrich --input IN --out OUT \
        --result result.json

The harness (`benchmarks.run`) starts one fresh process per (engine, stage), so the peak RSS
reported here (`getrusage(RUSAGE_SELF).ru_maxrss`) belongs to that stage alone. `wall_s` is
the stage call itself; interpreter start-up and imports are measured by the harness as
`process_s`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from pathlib import Path

ENGINE_MODULES = {
    "retail_etl": "retail_etl_core",
    "duckdb": "duckdb_ref",
}
STAGES = ("clean_enrich", "aggregate")


def engine_module(name: str):
    """The module of an engine: `benchmarks.engines.<module>`."""
    return importlib.import_module(f"benchmarks.engines.{ENGINE_MODULES.get(name, name)}")


def median_run(reports: list[dict]) -> dict:
    """The run of median wall time (an error, if any run failed), with the largest peak RSS
    of all runs (memory is a bound, so its worst case is reported) and every run's wall time
    (`runs_wall_s`, in run order)."""
    errors = [r for r in reports if "error" in r]
    if errors:
        return errors[0]
    ordered = sorted(reports, key=lambda r: r["wall_s"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["peak_rss_mb"] = max(r["peak_rss_mb"] for r in reports)
    median["runs_wall_s"] = [r["wall_s"] for r in reports]
    return median


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB.

    On Linux it is VmHWM, the high-water mark of this process image: getrusage's ru_maxrss
    survives execve, so a child started by a large parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, B on macOS
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--result", type=Path, help="write the measurements here as JSON")
    args = parser.parse_args(argv)

    module = engine_module(args.engine)
    stage = getattr(module, args.stage)
    started = time.perf_counter()
    result = stage(args.input, args.out)
    wall = time.perf_counter() - started
    report = {
        "engine": args.engine,
        "stage": args.stage,
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(),
        "result": result,
    }
    text = json.dumps(report, default=str)
    if args.result:
        args.result.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
