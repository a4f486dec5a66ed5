"""Run the domain core over a folder of dropped files, writing Parquet to a local folder.

This is the engine-free path (no emulated AWS): the benchmark's measure of the core and the
baseline `run` is compared with (`make bench`). Files are taken in drop order (by `dt=` date,
a date's products before its events, then by path); each file's output is staged and only
moved into place once the whole file succeeded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from retail_etl.domain import contract as c
from retail_etl.domain.aggregate import COLUMNS as AGGREGATE_INPUT
from retail_etl.domain.aggregate import DICTIONARY_COLUMNS, compute_aggregates
from retail_etl.domain.catalog import ProductHistory, versions_on_event_rows
from retail_etl.domain.contract import FileError, drop_date
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.events import clean_events_file, release_parked
from retail_etl.domain.products import clean_products_file
from retail_etl.domain.profile import Profile, source_of
from retail_etl.domain.report import FileReport

_WRITES_AHEAD = 2
KINDS = ("products", "events")


@dataclass(frozen=True)
class DroppedFile:
    key: str  # relative to the input folder, with forward slashes
    kind: str
    drop_date: dt.date | None

    @property
    def order(self) -> tuple:
        return (self.drop_date or dt.date.max, KINDS.index(self.kind), self.key)


@dataclass
class CoreRun:
    reports: list[FileReport] = field(default_factory=list)
    dirty_dates: set[dt.date] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)


def discover(input_dir: Path) -> list[DroppedFile]:
    """The events and products files under `input_dir`, in drop order."""
    files = []
    for path in input_dir.rglob("*"):
        if not path.is_file():
            continue
        key = path.relative_to(input_dir).as_posix()
        kind = key.split("/", 1)[0]
        if kind in KINDS:
            files.append(DroppedFile(key, kind, drop_date(key)))
    return sorted(files, key=lambda f: f.order)


def output_name(key: str) -> str:
    """A file name derived from the source key: reprocessing replaces, never duplicates."""
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.parquet"


class _PartitionWriters:
    """One Parquet writer per event_date for the file being processed, in a staging folder.

    Writes run in a worker thread (Parquet encoding releases the GIL), so the next chunk is
    cleaned while this one is written; `close` waits for them and re-raises their errors.
    """

    def __init__(self, staging: Path, name: str) -> None:
        self.staging, self.name = staging, name
        self.writers: dict[dt.date, pq.ParquetWriter] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self.pending: list[Future] = []

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.pending.append(self.pool.submit(self._write, table))
        while len(self.pending) > _WRITES_AHEAD:  # keep memory bounded if writing lags
            self.pending.pop(0).result()

    def _write(self, table: pa.Table) -> None:
        dates = table["event_date"]
        for day in pa.compute.unique(dates).to_pylist():
            part = table.filter(pa.compute.equal(dates, pa.scalar(day, pa.date32())))
            writer = self.writers.get(day)
            if writer is None:
                folder = self.staging / f"event_date={day.isoformat()}"
                folder.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(folder / self.name, c.CURATED_EVENTS)
                self.writers[day] = writer
            writer.write_table(part)

    def close(self) -> None:
        try:
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown()
            for writer in self.writers.values():
                writer.close()


def _publish(staging: Path, target: Path) -> None:
    """Move staged files into place, replacing earlier output of the same source file."""
    for src in staging.rglob("*.parquet"):
        dst = target / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dst)


class LocalCore:
    """The state one local run keeps: product history and output folders."""

    def __init__(
        self, out_dir: Path, block_bytes: int | None = None, profiles: dict | None = None
    ) -> None:
        """`profiles`: source profiles by name (docs/sources.md); by default the repository's
        `sources/`. The salt of hashing profiles is `RETAIL_ETL_HASH_SALT`."""
        from retail_etl.adapters.sources import load_profiles, salt_source

        self.profiles = load_profiles() if profiles is None else profiles
        self.salt = salt_source()
        self.out = out_dir
        self.curated = out_dir / "curated" / "events"
        self.quarantine = out_dir / "quarantine"
        self.parked = out_dir / "parked" / "events"
        self.history_path = out_dir / "curated" / "products" / "product_history.parquet"
        self.history = ProductHistory(
            pq.read_table(self.history_path) if self.history_path.exists() else None
        )
        self.block_kw = {"block_bytes": block_bytes} if block_bytes else {}

    def process(self, input_dir: Path, f: DroppedFile) -> FileReport:
        report = FileReport(key=f.key, kind=f.kind)
        started = time.perf_counter()
        ingested_at_us = time.time_ns() // 1000
        staging = self.out / "_staging" / output_name(f.key)
        shutil.rmtree(staging, ignore_errors=True)
        try:
            profile = self._profile(f.key)
            with open(input_dir / f.key, "rb") as stream:
                if f.kind == "products":
                    self._products(stream, f, ingested_at_us, report, staging, profile)
                else:
                    self._events(stream, f, ingested_at_us, report, staging, profile)
        except FileRejected as exc:
            report = FileReport.rejected(f.key, f.kind, exc)
            shutil.rmtree(staging, ignore_errors=True)
        report.duration_s = time.perf_counter() - started
        return report

    def _profile(self, key: str) -> Profile | None:
        name = source_of(key)
        if name is None:
            return None
        if name not in self.profiles:
            raise FileRejected(FileError.UNKNOWN_SOURCE, f"{key}: no source profile {name!r}")
        return self.profiles[name]

    def _events(self, stream, f, ingested_at_us, report, staging, profile=None) -> None:
        name = output_name(f.key)
        writers = _PartitionWriters(staging / "curated", name)
        quarantine = parked = None
        seen = []
        salt = self.salt() if profile is not None and profile.hash_user_ids else None
        try:
            for batch in clean_events_file(
                stream,
                f.key,
                self.history,
                ingested_at_us,
                report,
                **self.block_kw,
                profile=profile,
                salt=salt,
            ):
                writers.write(batch.curated)
                if batch.products is not None and batch.products.num_rows:
                    seen.append(batch.products)
                if batch.parked.num_rows:
                    if parked is None:
                        (staging / "parked").mkdir(parents=True, exist_ok=True)
                        parked = pq.ParquetWriter(staging / "parked" / name, c.PARKED_EVENTS)
                    parked.write_table(batch.parked)
                if batch.quarantine.num_rows:
                    if quarantine is None:
                        folder = staging / "quarantine" / "kind=events"
                        folder.mkdir(parents=True, exist_ok=True)
                        quarantine = pq.ParquetWriter(folder / name, c.QUARANTINE)
                    quarantine.write_table(batch.quarantine)
        finally:
            writers.close()
            for writer in (quarantine, parked):
                if writer is not None:
                    writer.close()
        _publish(staging / "curated", self.curated)
        _publish(staging / "quarantine", self.quarantine)
        _publish(staging / "parked", self.parked)
        shutil.rmtree(staging, ignore_errors=True)
        if seen:  # products carried on the rows enter the history, as in ingest.py
            for day, versions in versions_on_event_rows(seen):
                self.history.upsert(versions, day, f.key, ingested_at_us)
            self._save_history()
            self._release_parked(f, report)

    def _save_history(self) -> None:
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.history.to_table(), self.history_path)

    def _products(self, stream, f, ingested_at_us, report, staging, profile=None) -> None:
        result = clean_products_file(
            stream, f.key, ingested_at_us, report, **self.block_kw, profile=profile
        )
        effective = f.drop_date or dt.datetime.now(dt.UTC).date()
        self.history.upsert(result.versions, effective, f.key, ingested_at_us)
        self._save_history()
        if result.quarantine.num_rows:
            folder = self.quarantine / "kind=products"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(result.quarantine, folder / output_name(f.key))
        self._release_parked(f, report)

    def _release_parked(self, f: DroppedFile, report: FileReport) -> None:
        """Enrich parked events whose product this file defined; their dates become dirty."""
        for path in sorted(self.parked.glob("*.parquet")) if self.parked.exists() else []:
            released, left = release_parked(pq.read_table(path), self.history)
            if not released.num_rows:
                continue
            name = f"{path.stem}-released-{output_name(f.key)}"
            staging = self.out / "_staging" / name
            writers = _PartitionWriters(staging, name)
            writers.write(released)
            writers.close()
            _publish(staging, self.curated)
            shutil.rmtree(staging, ignore_errors=True)
            if left.num_rows:
                pq.write_table(left, path)
            else:
                path.unlink()
            report.rows_released += released.num_rows
            report.event_dates |= set(pa.compute.unique(released["event_date"]).to_pylist())

    def aggregate(self, dates: set[dt.date]) -> dict[str, pa.Table]:
        """Recompute the aggregates of `dates` and replace those date partitions only."""
        if not dates:
            return {}
        events = read_curated(self.curated, dates, list(AGGREGATE_INPUT), DICTIONARY_COLUMNS)
        aggregates = compute_aggregates(events)
        for table_name, table in aggregates.items():
            for day in dates:
                folder = self.out / "aggregates" / table_name / f"event_date={day.isoformat()}"
                shutil.rmtree(folder, ignore_errors=True)
                part = table.filter(
                    pa.compute.equal(table["event_date"], pa.scalar(day, pa.date32()))
                )
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(part, folder / "part-0.parquet")
        return aggregates


def read_curated(
    curated_dir: Path,
    dates: set[dt.date] | None = None,
    columns: list[str] | None = None,
    dictionary_columns: tuple[str, ...] = (),
) -> pa.Table:
    """Curated events of the given dates (all when None) from a hive-partitioned folder."""
    if not curated_dir.exists():
        return c.CURATED_EVENTS.empty_table()
    schema = c.CURATED_EVENTS
    for name in dictionary_columns:
        index = schema.get_field_index(name)
        schema = schema.set(index, pa.field(name, pa.dictionary(pa.int32(), pa.string())))
    parquet = ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(dictionary_columns=list(dictionary_columns))
    )
    dataset = ds.dataset(curated_dir, format=parquet, partitioning="hive", schema=schema)
    flt = None
    if dates is not None:
        flt = ds.field("event_date").isin(pa.array(sorted(dates), type=pa.date32()))
    return dataset.to_table(columns=columns, filter=flt)


def waves(files: list[DroppedFile]) -> list[list[DroppedFile]]:
    """Split drop order into runs that may be processed concurrently.

    A products file changes the history later events are enriched against, so it runs alone;
    so does an events file of a source (its rows may carry products); the other events files
    between two of those only read the history, as concurrent Lambdas would.
    """
    out: list[list[DroppedFile]] = []

    def reader(f: DroppedFile) -> bool:
        return f.kind == "events" and source_of(f.key) is None

    for f in files:
        if reader(f) and out and reader(out[-1][0]):
            out[-1].append(f)
        else:
            out.append([f])
    return out


def process_all(
    input_dir: Path,
    core: LocalCore,
    progress: Callable[[FileReport], None] | None = None,
    workers: int = 2,
) -> list[FileReport]:
    """Every dropped file under `input_dir`, in drop order, as concurrent as waves allow."""
    reports = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="file") as pool:
        for wave in waves(discover(input_dir)):
            for report in pool.map(lambda f: core.process(input_dir, f), wave):
                reports.append(report)
                if progress:
                    progress(report)
    return reports


def run_core(
    input_dir: Path,
    out_dir: Path,
    block_bytes: int | None = None,
    progress: Callable[[FileReport], None] | None = None,
    workers: int = 2,
) -> CoreRun:
    """Process every dropped file under `input_dir`, then aggregate the dates they touched."""
    run = CoreRun()
    core = LocalCore(out_dir, block_bytes)
    started = time.perf_counter()
    run.reports = process_all(input_dir, core, progress, workers)
    for report in run.reports:
        run.dirty_dates |= report.event_dates
    run.timings["clean_enrich_s"] = time.perf_counter() - started
    started = time.perf_counter()
    core.aggregate(run.dirty_dates)
    run.timings["aggregate_s"] = time.perf_counter() - started
    return run
