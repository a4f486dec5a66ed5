"""Benchmark: retail_etl against the tuned DuckDB reference engine, on one generated input.

    python -m benchmarks.run --events 1000000 --json bench-results.json \
        [--days 1] [--seed 0] [--workdir DIR] [--engines retail_etl,duckdb]

One input is generated with `retail_etl.generator.generate_dataset`; then every engine runs
`clean_enrich` and `aggregate`, each stage in its own fresh process (`benchmarks.stage`), so
wall time and peak RSS belong to that stage alone. The harness checks that all engines curate
the same number of rows and write identical aggregates (same Arrow schema, same values), prints
a table and writes a JSON report. The exit status is 1 when the engines disagree and 2 when a
stage failed.

JSON layout: the batch scenario's keys (`events`, `identical_results`, `engines`, `ratios`,
plus `params`, `input`, `checks`) sit at the top level; further scenarios (an ingest-handler
scenario, for example) register a function in `SCENARIOS` and get their own top-level key.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.stage import ENGINE_MODULES, STAGES, median_run
from retail_etl.domain.contract import AGGREGATES

REPO = Path(__file__).resolve().parent.parent
BASELINES = ("duckdb",)


@dataclass
class Context:
    """What a scenario gets: the arguments, the generated input and a folder of its own."""

    args: argparse.Namespace
    workdir: Path
    input_dir: Path
    manifest: dict
    results: dict = field(default_factory=dict)  # the report so far


# Extra scenarios: name -> function(Context) -> JSON-able dict, stored under report[name].
SCENARIOS: dict[str, Callable[[Context], dict]] = {}


def ingest_handler_scenario(ctx: Context) -> dict:
    """One large events file through the ingest Lambda handler against emulated AWS, beside
    the core alone on the same file (issue: handler overhead ≤ 30 %, peak RSS ≤ 1.5 GB)."""
    events = ctx.args.ingest_events
    if not events:
        return {"skipped": "--ingest-events 0"}
    from benchmarks.ingest_scenario import scenario

    print(f"ingest scenario: one ~{events:,}-event file through the handler (emulated AWS) …")
    result = scenario(ctx.workdir / "ingest", events, ctx.args.repeats)
    print(
        f"  core {result['core']['wall_s']:.2f} s {result['core']['peak_rss_mb']:.0f} MiB | "
        f"handler {result['handler']['wall_s']:.2f} s {result['handler']['peak_rss_mb']:.0f} MiB"
        f" | overhead {result['handler_overhead']:+.0%} ({result['rows']:,} rows; median of"
        f" {result['repeats']}: handler {_walls(result['handler'])}, core {_walls(result['core'])})"
    )
    publish = result["handler"].get("publish_s") or {}
    print(
        "  publish (dirty marks + one Iceberg commit per table): "
        + ", ".join(f"{kind} file {s:.2f} s" for kind, s in publish.items() if s is not None)
    )
    return result


SCENARIOS["ingest_handler"] = ingest_handler_scenario


def end_to_end_scenario(ctx: Context) -> dict:
    """Days of files through `python -m retail_etl run` (emulated AWS, the real handlers, the
    daily workflow, the DuckDB warehouse) beside the core alone on the same input (issue:
    end-to-end rows/s >= 50 % of the core's)."""
    days, per_day = ctx.args.e2e_days, ctx.args.e2e_events_per_day
    if not per_day:
        return {"skipped": "--e2e-events-per-day 0"}
    from benchmarks.end_to_end_scenario import scenario

    print(f"end-to-end scenario: {days} day(s) x {per_day:,} events through `run` …")
    result = scenario(ctx.workdir / "end_to_end", days, per_day, ctx.args.seed, ctx.args.repeats)
    core, e2e = result["core"], result["end_to_end"]
    print(
        f"  core {core['wall_s']:.1f} s {core['rows_per_s']:,.0f} rows/s | "
        f"run {e2e['wall_s']:.1f} s {e2e['rows_per_s']:,.0f} rows/s {e2e['peak_rss_mb']:.0f} MiB"
        f" | ratio {result['throughput_ratio']:.2f} (target >= 0.50; median of {result['repeats']}:"
        f" run {_walls(e2e)}, core {_walls(core)})"
    )
    return result


SCENARIOS["end_to_end"] = end_to_end_scenario


def _walls(measured: dict) -> str:
    return ", ".join(f"{w:.1f} s" for w in measured["runs_wall_s"])


def generate_input(input_dir: Path, events: int, days: int, seed: int) -> dict:
    from retail_etl.generator import generate_dataset

    def write(key: str, data: bytes) -> None:
        path = input_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return generate_dataset(write, days=days, events_per_day=max(1, events // days), seed=seed)


def run_stage(engine: str, stage: str, input_dir: Path, out_dir: Path, log_dir: Path) -> dict:
    """Run one stage in a fresh Python process; returns its measurements (or an error)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    result_file = log_dir / f"{engine}-{stage}.json"
    cmd = [
        sys.executable, "-m", "benchmarks.stage", "--engine", engine, "--stage", stage,
        "--input", str(input_dir), "--out", str(out_dir), "--result", str(result_file),
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    process_s = time.perf_counter() - started
    if proc.returncode != 0 or not result_file.exists():
        return {"error": (proc.stderr or proc.stdout).strip()[-4000:], "process_s": process_s}
    report = json.loads(result_file.read_text())
    report["process_s"] = process_s
    return report


def compare_aggregates(outputs: dict[str, Path]) -> dict:
    """Per aggregate: whether every engine's table equals the first one's (schema and values)
    and matches the contract's schema."""
    checks = {}
    for name, schema in AGGREGATES.items():
        tables = {}
        for engine, folder in outputs.items():
            path = folder / f"{name}.parquet"
            tables[engine] = pq.read_table(path) if path.exists() else None
        first_engine = next(iter(tables))
        reference = tables[first_engine]
        detail: dict = {"rows": {e: (t.num_rows if t is not None else None)
                                 for e, t in tables.items()}}  # fmt: skip
        problems = []
        for engine, table in tables.items():
            if table is None:
                problems.append(f"{engine}: missing")
                continue
            if not table.schema.equals(schema, check_metadata=False):
                problems.append(f"{engine}: schema {table.schema} differs from the contract")
            if engine != first_engine and reference is not None and not table.equals(reference):
                problems.append(f"{engine}: values differ from {first_engine}")
                detail.setdefault("first_difference", {})[engine] = _first_difference(
                    reference, table
                )
        detail["identical"] = not problems
        if problems:
            detail["problems"] = problems
        checks[name] = detail
    return checks


def _first_difference(a, b) -> dict:
    rows_a, rows_b = a.to_pylist(), b.to_pylist()
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=False)):
        if ra != rb:
            return {"row": i, "expected": str(ra), "got": str(rb)}
    return {"row": min(len(rows_a), len(rows_b)), "expected_rows": len(rows_a),
            "got_rows": len(rows_b)}  # fmt: skip


def rows_per_s(rows: int | None, wall: float | None) -> float | None:
    return rows / wall if rows is not None and wall else None


def batch_scenario(ctx: Context) -> dict:
    """Every engine, both stages; agreement checks; timings, memory and ratios."""
    engines = ctx.args.engines
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    runs: dict[str, dict[str, list[dict]]] = {e: {s: [] for s in STAGES} for e in engines}
    failed = False
    load = [os.getloadavg()[0]]
    # Interleaved (engine A, engine B, engine A, ...), so a change in the machine's load
    # falls on every engine alike; each figure is then the median of its runs.
    for repeat in range(ctx.args.repeats):
        for engine in engines:
            if failed:
                break
            base = ctx.workdir / engine
            clean_out, agg_out = base / "clean", base / "aggregates"
            for stage, (src, dst) in zip(
                STAGES, [(ctx.input_dir, clean_out), (clean_out, agg_out)], strict=True
            ):
                print(f"  {repeat + 1}  {engine:<11} {stage:<13}", end="", flush=True)
                report = run_stage(engine, stage, src, dst, logs)
                runs[engine][stage].append(report)
                if "error" in report:
                    failed = True
                    print(" FAILED")
                    print("    " + report["error"].replace("\n", "\n    "), file=sys.stderr)
                    break
                print(f" {report['wall_s']:8.2f} s {report['peak_rss_mb']:8.0f} MiB")
        load.append(os.getloadavg()[0])
    stages = {e: {s: median_run(r) for s, r in per.items() if r} for e, per in runs.items()}

    ok_engines = [e for e in engines if all("error" not in stages[e].get(s, {"error": 1})
                                            for s in STAGES)]  # fmt: skip
    curated = {e: stages[e]["clean_enrich"]["result"].get("curated_rows") for e in ok_engines}
    agg_checks = compare_aggregates({e: ctx.workdir / e / "aggregates" for e in ok_engines})
    identical = (
        not failed
        and len(set(curated.values())) <= 1
        and all(c["identical"] for c in agg_checks.values())
    )

    engines_out: dict[str, dict] = {}
    for engine in engines:
        engines_out[engine] = {}
        clean = stages[engine].get("clean_enrich", {})
        result = clean.get("result") or {}
        records = None
        if result:
            records = sum(result.get(k, 0) for k in
                          ("curated_rows", "quarantined_rows", "duplicate_rows"))  # fmt: skip
        stage_rows = {"clean_enrich": records, "aggregate": result.get("curated_rows")}
        for stage in STAGES:
            report = stages[engine].get(stage)
            if report is None:
                continue
            if "error" in report:
                engines_out[engine][stage] = {"error": report["error"]}
                continue
            engines_out[engine][stage] = {
                "wall_s": round(report["wall_s"], 4),
                "peak_rss_mb": round(report["peak_rss_mb"], 1),
                "runs_wall_s": [round(r["wall_s"], 4) for r in runs[engine][stage]],
                "runs_peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in runs[engine][stage]],
                "rows_per_s": _round(rows_per_s(stage_rows[stage], report["wall_s"])),
                "process_s": round(report["process_s"], 4),
                "rows": stage_rows[stage],
                "result": report["result"],
            }

    ratios: dict[str, dict] = {}
    for baseline in BASELINES:
        if baseline not in engines_out:
            continue
        per_engine = {}
        for engine, per_stage in engines_out.items():
            per_engine[engine] = {}
            for stage in STAGES:
                mine, theirs = per_stage.get(stage, {}), engines_out[baseline].get(stage, {})
                if "wall_s" in mine and "wall_s" in theirs:
                    per_engine[engine][stage] = {
                        "wall": _round(mine["wall_s"] / theirs["wall_s"]),
                        "peak_rss": _round(mine["peak_rss_mb"] / theirs["peak_rss_mb"]),
                    }
        ratios[f"vs_{baseline}"] = per_engine

    return {
        "identical_results": identical,
        "repeats": ctx.args.repeats,
        "load_average_1m": [round(x, 2) for x in load],  # before the runs, after each round
        "engines": engines_out,
        "ratios": ratios,
        "checks": {"curated_rows": curated, "aggregates": agg_checks},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def print_table(report: dict) -> None:
    header = f"{'engine':<11} {'stage':<13} {'wall_s':>9} {'peak_rss_mb':>12} {'rows/s':>12}"
    header += "".join(f" {'x' + b:>9}" for b in BASELINES)
    print(header)
    print("-" * len(header))
    for engine, per_stage in report["engines"].items():
        for stage in STAGES:
            m = per_stage.get(stage)
            if m is None:
                continue
            if "error" in m:
                print(f"{engine:<11} {stage:<13} {'FAILED':>9}")
                continue
            line = (f"{engine:<11} {stage:<13} {m['wall_s']:>9.2f} {m['peak_rss_mb']:>12.0f} "
                    f"{(m['rows_per_s'] or 0):>12,.0f}")  # fmt: skip
            for b in BASELINES:
                r = report["ratios"].get(f"vs_{b}", {}).get(engine, {}).get(stage)
                line += f" {r['wall']:>9.2f}" if r else f" {'-':>9}"
            print(line)
    print(f"identical results: {report['identical_results']}")
    if "repeats" in report:
        print(f"median of {report['repeats']} interleaved run(s); load average (1 min) "
              f"{' -> '.join(str(x) for x in report['load_average_1m'])}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, required=True, help="valid events in total")
    parser.add_argument("--json", type=Path, required=True, help="where to write the report")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep inputs and outputs here")
    parser.add_argument(
        "--repeats", type=int, default=1,
        help="runs of every (engine, stage), interleaved; figures are their medians",
    )  # fmt: skip
    parser.add_argument(
        "--ingest-events", type=int, default=0,
        help="also run one file of about this many events through the ingest handler (0: skip)",
    )  # fmt: skip
    parser.add_argument("--e2e-days", type=int, default=3)
    parser.add_argument(
        "--e2e-events-per-day", type=int, default=0,
        help="also run --e2e-days days of this many events through `run` (0: skip)",
    )  # fmt: skip
    parser.add_argument(
        "--engines", default="retail_etl,duckdb",
        help=f"comma-separated, from {', '.join(ENGINE_MODULES)}",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="retail-etl-bench-")
        workdir = Path(temp.name)
    else:
        workdir = args.workdir.resolve()
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
    try:
        input_dir = workdir / "input"
        print(f"generating {args.events:,} events over {args.days} day(s) into {input_dir} …")
        started = time.perf_counter()
        manifest = generate_input(input_dir, args.events, args.days, args.seed)
        gen_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in input_dir.rglob("*") if p.is_file())
        ctx = Context(args, workdir, input_dir, manifest)
        report: dict = {
            "events": args.events,
            "params": {"days": args.days, "seed": args.seed, "engines": args.engines},
            "input": {
                "files": len(manifest.get("files", {})),
                "bytes": size,
                "generate_s": round(gen_s, 3),
            },
        }
        ctx.results = report
        print("running stages (one process each):")
        report.update(batch_scenario(ctx))
        for name, scenario in SCENARIOS.items():
            report[name] = scenario(ctx)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print()
        print_table(report)
        if not report["identical_results"]:
            for name, check in report["checks"]["aggregates"].items():
                if not check["identical"]:
                    print(f"  {name}: {check.get('problems')}", file=sys.stderr)
            print(f"  curated rows: {report['checks']['curated_rows']}", file=sys.stderr)
        failed = any("error" in m for s in report["engines"].values() for m in s.values())
        if failed:
            return 2
        return 0 if report["identical_results"] else 1
    finally:
        if temp is not None:
            temp.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
