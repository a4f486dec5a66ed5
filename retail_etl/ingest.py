"""Ingest one dropped S3 object: claim it in the ledger, run the core, publish, record.

The flow for every file version, whatever delivered it:
1. claim it in the ledger (a duplicate or concurrent delivery stops here);
2. stream it through the core, writing its rows as Parquet data files into the tables' data
   folders (not yet part of any table, so invisible to every reader);
3. publish, under a per-key lock: if the raw bucket's current object is another version, this
   one is SUPERSEDED and publishes nothing. Otherwise mark dirty every date the publish can
   change (this version's and the rows it replaces), then replace the key's rows in each table
   with one Iceberg commit per table (delete where source_file = key, add the new files), then
   mark the dates dirty again, so a daily run that read the tables before the commit re-runs;
4. record DONE with its counts in the ledger.
A key `events/source=NAME/…` or `products/source=NAME/…` is read through source profile NAME
(`domain/profile.py`, loaded from `Settings.sources_dir`); an unknown NAME rejects the file
(`unknown_source`). Events whose profile maps a price carry their product: each row is
enriched with its own price, and the products seen on the file's rows (the last row of each
product per event date) become that key's versions in the product history, effective on the
event date, published and marked dirty exactly as a products file's are.
A products file changes no curated row itself: it replaces its own versions in the product
history and marks dirty exactly the known dates whose enrichment that can change; the daily
refresh of each date re-enriches it against the whole history (`retail_etl.daily`).
A bad file (`FileRejected`) is recorded FAILED_PERMANENT and not retried; any other error
gives the claim back and propagates, so the message is retried and ends in the DLQ after N
tries. A crash anywhere is repaired by the retry: the dirty marks came first, and every
commit replaces the key's rows rather than adding to them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote_plus

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent

from retail_etl.adapters.ledger import DONE, FINISHED, FileVersion, Ledger
from retail_etl.adapters.objects import Store
from retail_etl.adapters.sources import load_profiles, salt_source
from retail_etl.adapters.tables import Lake, Part, from_source
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.domain.catalog import ProductHistory, versions_on_event_rows
from retail_etl.domain.contract import FileError, Reason, drop_date
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.events import clean_events_file
from retail_etl.domain.products import clean_products_file
from retail_etl.domain.profile import Profile, source_of
from retail_etl.domain.report import FileReport, FileStatus

_UPLOADS_AHEAD = 2
KINDS = ("events", "products")


class FileBusy(Exception):
    """Another delivery holds the file's lease: retry the message later."""


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    version: str | None = None


def object_refs(body: dict) -> Iterator[ObjectRef]:
    """The objects named by an SQS message body: an EventBridge "Object Created" event or an
    S3 event notification with Records, read through Powertools' typed event classes (the
    EventBridge class decodes the URL-encoded key; a notification's key is decoded here)."""
    if body.get("source") == "aws.s3" and "detail" in body:
        detail = S3EventBridgeNotificationEvent(body).detail
        # `version-id` is absent for an unversioned bucket (the class's property requires it)
        yield ObjectRef(detail.bucket.name, detail.object.key, detail.object.get("version-id"))
        return
    if "Records" not in body:
        raise ValueError("message is neither an EventBridge S3 event nor an S3 notification")
    for record in S3Event(body).records:
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        obj = record.s3.get_object
        yield ObjectRef(record.s3.bucket.name, unquote_plus(obj.key), obj.version_id)


def file_id(key: str) -> str:
    """A short, stable name for an object key, used in its data files' names."""
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def kind_of(key: str) -> str:
    kind = key.split("/", 1)[0]
    if kind not in KINDS:
        raise FileRejected(
            FileError.UNKNOWN_PREFIX, f"{key}: keys must start with events/ or products/"
        )
    return kind


class Ingestor:
    """Everything one ingest Lambda container keeps between invocations."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        ledger: Ledger,
        tables: Lake,
        profiles: Mapping[str, Profile] | None = None,
        salt: Callable[[], bytes | None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.lake = tables
        self.profiles = (
            load_profiles(settings.sources_dir or None) if profiles is None else profiles
        )
        self.salt = salt or salt_source(settings.hash_salt_parameter)

    def profile_for(self, key: str) -> Profile | None:
        """The source profile of a `source=NAME` key; None for the contract's own keys."""
        name = source_of(key)
        if name is None:
            return None
        profile = self.profiles.get(name)
        if profile is None:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise FileRejected(
                FileError.UNKNOWN_SOURCE, f"{key}: no source profile {name!r} (known: {known})"
            )
        return profile

    def ingest(self, ref: ObjectRef) -> FileReport | None:
        """Process one object version; None when the ledger says it was already handled."""
        version = ref.version or self.store.version_of(ref.bucket, ref.key)
        file = FileVersion(ref.bucket, ref.key, version)
        claim = self.ledger.claim(file)
        if not claim.owned:
            if claim.status in FINISHED:
                return None
            raise FileBusy(f"{ref.key} is being processed by another delivery")
        report = FileReport(key=ref.key, kind="events")
        started = time.perf_counter()
        try:
            report.kind = kind_of(ref.key)
            profile = self.profile_for(ref.key)
            report.source = profile.name if profile else None
            stream = self.store.open(ref.bucket, ref.key, ref.version)
            if report.kind == "events":
                published = self._events(file, stream, report, profile)
            else:
                published = self._products(file, stream, report, profile)
        except FileRejected as exc:
            rejected = FileReport.rejected(ref.key, report.kind, exc)
            rejected.source = source_of(ref.key)
            rejected.duration_s = time.perf_counter() - started
            self.ledger.fail_permanently(file, claim, rejected)
            return rejected
        except BaseException as exc:
            self.ledger.release(file, claim, f"{type(exc).__name__}: {exc}")
            raise
        report.duration_s = time.perf_counter() - started
        if published:
            self.ledger.complete(file, claim, report)
        else:
            report.status = FileStatus.SUPERSEDED
            self.ledger.supersede(file, claim, report)
        return report

    def _superseded(self, file: FileVersion) -> bool:
        """Whether the raw bucket's current object is another version (or gone)."""
        return self.store.current_version(file.bucket, file.key) != file.version

    def _history(self) -> ProductHistory:
        return ProductHistory(self.lake.read(lake.PRODUCT_HISTORY))

    # events ---------------------------------------------------------------------------------

    def _events(
        self, file: FileVersion, stream, report: FileReport, profile: Profile | None
    ) -> bool:
        """Clean the file block by block, gathering each table's rows of a date into large
        data files (`_Parts`) written while the next block is cleaned. Events are enriched
        with the history as it is now; the daily refresh of their dates makes that final.
        Returns False when a newer version superseded this one."""
        history_rows = self.lake.read(lake.PRODUCT_HISTORY)
        history = ProductHistory(history_rows)
        # this key's own product versions (rows with their own prices), earlier and now
        carries = bool(profile and profile.events and profile.events.own_prices)
        carried = carries or pc.any(pc.equal(history_rows["source_file"], file.key)).as_py()
        products: list[pa.Table] = []
        now_us = time.time_ns() // 1000
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parts") as uploads:
            parts = _Parts(self.lake, uploads, file_id(file.key), self.settings.part_bytes)
            batches = clean_events_file(
                stream,
                file.key,
                history,
                now_us,
                report,
                self.settings.block_bytes,
                self.settings.read_limits,
                profile,
                self.salt() if profile and profile.hash_user_ids else None,
            )
            for batch in batches:
                if batch.products is not None and batch.products.num_rows:
                    products.append(batch.products)
                for rows in _by_date(batch.curated):
                    parts.add(lake.CURATED_EVENTS, rows)
                for rows in _by_date(batch.parked):
                    parts.add(lake.PARKED_EVENTS, rows)
                quarantine = batch.quarantine.filter(
                    pc.not_equal(batch.quarantine["reason"], Reason.UNKNOWN_PRODUCT)
                )
                if quarantine.num_rows:
                    parts.add(lake.QUARANTINE, quarantine)
                report.event_dates |= _dates(batch.parked)
            written = parts.finish()
        seen = seen_products(products, file.key, now_us) if carried else None
        return self._publish(file, report, written, seen)

    def _publish(
        self,
        file: FileVersion,
        report: FileReport,
        parts: dict[str, list[Part]],
        seen: ProductHistory | None = None,
    ) -> bool:
        """Replace the key's rows in each table, intent first; False (nothing published)
        when a newer version of the key is already in the raw bucket. A per-key lock keeps
        two versions of one key from publishing at once. `seen`: the product versions the
        file's rows carry (None: it carries none, now or before), which replace the key's
        versions in the product history."""
        started = time.perf_counter()
        with self._key_lock(file):
            if self._superseded(file):
                return False
            dates = report.event_dates | self._dates_of(file.key)
            changed: list = []
            others = None
            if seen is not None:
                changed, others = self._changed_versions(file.key, seen)
                dates |= others.dates_affected(changed, self.ledger.known_dates())
            report.event_dates = dates
            self.ledger.mark_dirty(dates)
            for spec in _EVENT_TABLES:
                self.lake.replace(spec, from_source(file.key), parts.get(spec.name, ()))
            if seen is not None:
                self.lake.replace(lake.PRODUCT_HISTORY, from_source(file.key), rows=seen.to_table())
                dates |= others.dates_affected(changed, self.ledger.known_dates())
                report.event_dates = dates
            self.ledger.mark_dirty(dates)
            report.publish_s = time.perf_counter() - started
            self._supersede_earlier(file)
            return True

    def _changed_versions(self, key: str, mine: ProductHistory):
        """The (product, effective date) pairs a key's new and earlier versions define, and
        the history of every other key (what dirty dates are computed against)."""
        rows = self.lake.read(lake.PRODUCT_HISTORY)
        own = pc.equal(rows["source_file"], key)
        earlier = rows.filter(own)
        others = ProductHistory(rows.filter(pc.invert(own)))
        new = mine.to_table()
        changed = list(
            zip(new["product_id"].to_pylist(), new["effective_date"].to_pylist(), strict=True)
        )
        changed += zip(
            earlier["product_id"].to_pylist(), earlier["effective_date"].to_pylist(), strict=True
        )
        return changed, others

    def _dates_of(self, key: str) -> set[dt.date]:
        """The dates that rows of `key` (an earlier version, or this one's crashed attempt)
        occupy now: replacing them changes those dates too."""
        out: set[dt.date] = set()
        for spec in (lake.CURATED_EVENTS, lake.PARKED_EVENTS):
            out |= _dates(self.lake.read(spec, from_source(key), ("event_date",)))
        return out

    def _supersede_earlier(self, file: FileVersion) -> None:
        for v in self.ledger.versions(file.bucket, file.key):
            if v.version != file.version and v.status == DONE:
                self.ledger.mark_superseded(v.file)

    def _key_lock(self, file: FileVersion):
        return _Lock(self.ledger, f"key#{file.bucket}/{file.key}")

    # products -------------------------------------------------------------------------------

    def _products(
        self, file: FileVersion, stream, report: FileReport, profile: Profile | None
    ) -> bool:
        """Replace this key's versions in the product history and its quarantined rows.

        Dirty dates: for every product this version defines, and every product the key's
        earlier version defined (a correction may remove one), the known dates whose
        enrichment its version can change, computed against the history of the other keys,
        so a retry after a crash at any point marks the same dates again.
        """
        with self._key_lock(file):
            if self._superseded(file):  # an older version must not overwrite a newer one
                return False
            now_us = time.time_ns() // 1000
            result = clean_products_file(
                stream,
                file.key,
                now_us,
                report,
                self.settings.block_bytes,
                self.settings.read_limits,
                profile,
            )
            effective = drop_date(file.key) or self.store.modified_date(
                file.bucket, file.key, file.version
            )
            mine = ProductHistory()
            mine.upsert(result.versions, effective, file.key, now_us)
            rows = self.lake.read(lake.PRODUCT_HISTORY)
            own = pc.equal(rows["source_file"], file.key)
            earlier = rows.filter(own)
            others = ProductHistory(rows.filter(pc.invert(own)))
            changed = [(p, effective) for p in result.versions["product_id"]]
            changed += zip(
                earlier["product_id"].to_pylist(),
                earlier["effective_date"].to_pylist(),
                strict=True,
            )
            dates = others.dates_affected(changed, self.ledger.known_dates())
            published = time.perf_counter()
            self.ledger.mark_dirty(dates)
            self.lake.replace(lake.QUARANTINE, from_source(file.key), rows=result.quarantine)
            self.lake.replace(lake.PRODUCT_HISTORY, from_source(file.key), rows=mine.to_table())
            # dates whose first events landed while this file was processed
            dates |= others.dates_affected(changed, self.ledger.known_dates())
            self.ledger.mark_dirty(dates)
            report.publish_s = time.perf_counter() - published
            report.event_dates = dates
            self._supersede_earlier(file)
            return True


_EVENT_TABLES = (lake.QUARANTINE, lake.PARKED_EVENTS, lake.CURATED_EVENTS)


class _Parts:
    """An events file's rows on their way to data files: per table and date, rows wait until
    they fill a part (`part_bytes` of Arrow data), and the largest waiting group is written
    whenever all waiting rows pass twice that. Parts are encoded and uploaded by a worker
    thread (Parquet encoding and the upload release the GIL) while the next block is
    cleaned, at most `_UPLOADS_AHEAD` at a time."""

    def __init__(
        self, tables: Lake, uploads: ThreadPoolExecutor, stem: str, part_bytes: int
    ) -> None:
        self.lake, self.uploads, self.stem, self.part_bytes = tables, uploads, stem, part_bytes
        self.waiting: dict[tuple[str, object], list[pa.Table]] = {}
        self.sizes: dict[tuple[str, object], int] = {}  # bytes waiting per group
        self.specs: dict[str, lake.LakeTable] = {}
        self.pending: list[tuple[str, Future]] = []
        self.written: dict[str, list[Part]] = {}
        self.count = 0

    def add(self, spec: lake.LakeTable, rows: pa.Table) -> None:
        group = (spec.name, rows[spec.partition][0].as_py() if spec.partition else None)
        self.specs[spec.name] = spec
        self.waiting.setdefault(group, []).append(rows)
        self.sizes[group] = self.sizes.get(group, 0) + rows.nbytes
        if self.sizes[group] >= self.part_bytes:
            self._write(group)
        while sum(self.sizes.values()) > 2 * self.part_bytes:
            self._write(max(self.sizes, key=self.sizes.__getitem__))

    def finish(self) -> dict[str, list[Part]]:
        """Write what still waits; the parts written, by table name."""
        for group in list(self.waiting):
            self._write(group)
        for future in self.pending:
            self._done(future)
        self.pending = []
        return self.written

    def _write(self, group: tuple[str, object]) -> None:
        rows = pa.concat_tables(self.waiting.pop(group))
        del self.sizes[group]
        name = f"{self.stem}-c{self.count:05d}"
        self.count += 1
        future = self.uploads.submit(self.lake.write_part, self.specs[group[0]], rows, name)
        self.pending.append((group[0], future))
        while len(self.pending) > _UPLOADS_AHEAD:  # bound memory
            self._done(self.pending.pop(0))

    def _done(self, pending: tuple[str, Future]) -> None:
        table, future = pending
        self.written.setdefault(table, []).append(future.result())


class _Lock:
    """A ledger lock as a context manager; FileBusy when another holder has it."""

    def __init__(self, ledger: Ledger, name: str) -> None:
        self.ledger, self.name, self.token = ledger, name, None

    def __enter__(self) -> _Lock:
        self.token = self.ledger.acquire_lock(self.name)
        if self.token is None:
            raise FileBusy(f"{self.name} is held by another delivery")
        return self

    def __exit__(self, *exc_info) -> None:
        self.ledger.release_lock(self.name, self.token)


def seen_products(batches: list[pa.Table], key: str, ingested_at_us: int) -> ProductHistory:
    """The product versions an events file's rows carry (`catalog.versions_on_event_rows`)."""
    history = ProductHistory()
    for day, versions in versions_on_event_rows(batches):
        history.upsert(versions, day, key, ingested_at_us)
    return history


def _by_date(table: pa.Table) -> Iterator[pa.Table]:
    """The table's rows per run of one event date. The cleaner gives them grouped by date,
    so each date is one run: the largest is a slice of the table (no copy) and only the
    others (late events, a few) are copied, so a small date's rows waiting for their part do
    not keep the whole batch in memory."""
    if not table.num_rows:
        return
    days = table["event_date"].cast(pa.int32()).to_numpy()
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    largest = int(np.argmax(np.diff(bounds)))
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        rows = table.slice(start, end - start)
        yield rows if i == largest else rows.take(pa.array(np.arange(end - start)))


def _dates(table: pa.Table) -> set[dt.date]:
    return set(pc.unique(table["event_date"]).to_pylist()) if table.num_rows else set()
