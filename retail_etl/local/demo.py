"""`make demo`: generate messy days, run them through the emulated pipeline, then show the two
guarantees a rerun tests: nothing is processed twice, and a late file re-aggregates only the
dates its events belong to."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc

from retail_etl.adapters.files import local_writer
from retail_etl.domain import lake
from retail_etl.generator import generate_dataset
from retail_etl.generator.late import late_events_file
from retail_etl.local.run import RunReport, run_folder
from retail_etl.local.runtime import LocalPipeline, Progress


@dataclass
class DemoReport:
    input_dir: Path
    out_dir: Path
    manifest: dict
    first: RunReport
    second: RunReport
    redelivered: int
    reprocessed_on_redelivery: int
    late_key: str
    late_dates: list[str]
    late: RunReport
    timings: dict[str, float]


def run_demo(
    root: Path,
    days: int,
    events_per_day: int,
    seed: int = 0,
    workers: int = 2,
    progress: Progress | None = None,
) -> DemoReport:
    say = progress or (lambda message: None)
    input_dir, out_dir = root / "input", root / "output"
    started = time.perf_counter()
    say(f"generating {days} day(s) x {events_per_day} events into {input_dir}")
    manifest = generate_dataset(
        local_writer(input_dir), days=days, events_per_day=events_per_day, seed=seed
    )
    timings = {"generate_s": time.perf_counter() - started}
    with LocalPipeline(out_dir, workers=workers, progress=progress) as pipeline:
        first = run_folder(pipeline, input_dir)
        second = run_folder(pipeline, input_dir)
        attempts = _attempts(pipeline)
        redelivered = pipeline.redeliver()
        reprocessed = sum(1 for k, n in _attempts(pipeline).items() if attempts.get(k) != n)
        first_day = dt.date.fromisoformat(manifest["start_date"])
        late_dates = [first_day + dt.timedelta(days=i) for i in range(min(2, days))]
        drop_day = first_day + dt.timedelta(days=days)
        late_key = f"events/dt={drop_day.isoformat()}/late-events.jsonl"
        products = _products_known_on(pipeline, late_dates[0])
        path = input_dir / late_key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(late_events_file(late_dates, products))
        late = run_folder(pipeline, input_dir)
    timings["total_s"] = time.perf_counter() - started
    return DemoReport(
        input_dir,
        out_dir,
        manifest,
        first,
        second,
        redelivered,
        reprocessed,
        late_key,
        [d.isoformat() for d in late_dates],
        late,
        timings,
    )


def _attempts(pipeline: LocalPipeline) -> dict[str, int]:
    return {f"{r.key}#{r.version}": r.attempts for r in pipeline.ledger.files()}


def _products_known_on(pipeline: LocalPipeline, day: dt.date, limit: int = 50) -> list[str]:
    history = pipeline.lake.read(lake.PRODUCT_HISTORY)
    if not history.num_rows:
        raise RuntimeError("no product history: the first products file did not land")
    known = history.filter(pc.less_equal(history["effective_date"], day))
    return sorted(set(known["product_id"].to_pylist()))[:limit]
