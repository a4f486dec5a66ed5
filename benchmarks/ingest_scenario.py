"""Scenario: one large events file through the ingest Lambda handler against emulated AWS,
beside the same file through the core alone, each in a fresh process.

    python -m benchmarks.ingest_scenario --events 1000000 --repeats 3 --workdir DIR

The handler's extra work is S3 reads and writes (moto, in process), staging and publishing,
and the ledger; the overhead is reported as (handler wall / core wall) - 1, from the median
runs of `--repeats` interleaved pairs (one pair can be 20 % off either way on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.stage import median_run, peak_rss_mb
from retail_etl.adapters.files import local_writer

REPO = Path(__file__).resolve().parents[1]


def prepare(workdir: Path, events: int, seed: int = 0) -> tuple[Path, str, str]:
    """A generated day whose largest events file holds about `events` rows."""
    from retail_etl.generator import generate_dataset

    input_dir = workdir / "input"
    manifest = generate_dataset(
        local_writer(input_dir), days=1, events_per_day=max(events * 3, 1000), seed=seed
    )
    files = manifest["files"]
    products = next(k for k, v in files.items() if v["kind"] == "products")
    biggest = max(
        (k for k, v in files.items() if v["kind"] == "events"), key=lambda k: files[k]["rows_in"]
    )
    return input_dir, products, biggest


def run_core(input_dir: Path, products: str, events: str, out: Path) -> dict:
    """The same ingest path on local resources (`retail_etl.local.direct`)."""
    from retail_etl.ingest import ObjectRef
    from retail_etl.local.direct import DirectPipeline

    pipeline = DirectPipeline(input_dir, out)
    bucket = pipeline.settings.raw_bucket
    pipeline.ingestor.ingest(ObjectRef(bucket, products))
    started = time.perf_counter()
    report = pipeline.ingestor.ingest(ObjectRef(bucket, events))
    return {"wall_s": time.perf_counter() - started, "rows_in": report.rows_in}


def run_handler(input_dir: Path, products: str, events: str) -> dict:
    import boto3

    from lambdas.ingest import handler
    from retail_etl.adapters.ledger import DynamoLedger, FileVersion
    from retail_etl.config import Settings
    from retail_etl.local.account import provision
    from retail_etl.local.delivery import LambdaContext, object_created, sqs_record
    from retail_etl.local.emulator import emulated_aws

    settings = Settings.for_prefix("retail-etl-bench")
    os.environ.update(settings.to_env())
    publish = {}
    with emulated_aws():
        provision(settings)
        s3 = boto3.client("s3")
        ledger = DynamoLedger(boto3.client("dynamodb"), settings.ledger_table)
        for key in (products, events):
            body = (input_dir / key).read_bytes()
            version = s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)["VersionId"]
            event = {"Records": [sqs_record(object_created(settings.raw_bucket, key, version))]}
            started = time.perf_counter()
            reply = handler.handler(event, LambdaContext())
            wall = time.perf_counter() - started
            if reply["batchItemFailures"]:
                raise RuntimeError(f"{key} failed in the handler")
            record = ledger.get(FileVersion(settings.raw_bucket, key, version))
            publish[key.split("/", 1)[0]] = record.publish_s if record else None
    # the publish: dirty marks, one Iceberg commit per table, dirty marks again
    return {"wall_s": wall, "publish_s": publish}


def _child(mode: str, input_dir: Path, products: str, events: str, out: Path) -> dict:
    from retail_etl.memory import configure_memory

    configure_memory()  # both modes, as the handler's module does at import
    result = (
        run_core(input_dir, products, events, out)
        if mode == "core"
        else run_handler(input_dir, products, events)
    )
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def scenario(workdir: Path, events: int, repeats: int = 1) -> dict:
    """`repeats` interleaved pairs of fresh processes (core, then handler); each mode's
    figures are its median run's (`median_run`, which keeps every wall time)."""
    input_dir, products, big = prepare(workdir, events)
    out: dict = {"file": big, "repeats": repeats}
    runs: dict[str, list[dict]] = {"core": [], "handler": []}
    for repeat in range(repeats):
        for mode in runs:
            target = workdir / f"out-{mode}-{repeat}"
            cmd = [
                sys.executable, "-m", "benchmarks.ingest_scenario", "--child", mode,
                "--input", str(input_dir), "--products", products, "--events-key", big,
                "--out", str(target),
            ]  # fmt: skip
            env = dict(os.environ, PYTHONPATH=str(REPO))
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"ingest scenario ({mode}) failed:\n{proc.stderr[-3000:]}")
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            shutil.rmtree(target, ignore_errors=True)
    for mode, reports in runs.items():
        out[mode] = median_run(reports)
    rows = out["core"]["rows_in"]
    out["rows"] = rows
    out["handler_overhead"] = out["handler"]["wall_s"] / out["core"]["wall_s"] - 1
    for mode in runs:
        out[mode]["rows_per_s"] = rows / out[mode]["wall_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", choices=("core", "handler"))
    parser.add_argument("--input", type=Path)
    parser.add_argument("--products")
    parser.add_argument("--events-key")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.input, args.products, args.events_key, args.out)))
        return 0
    import tempfile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="retail-etl-ingest-bench-"))
    print(json.dumps(scenario(workdir, args.events, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
