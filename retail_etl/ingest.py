"""Ingest one dropped S3 object: claim it in the ledger, run the core, publish, record.

The flow for every file version, whatever delivered it:
1. claim it in the ledger (a duplicate or concurrent delivery stops here);
2. stream it through the core, writing its curated, quarantine and parked parts to a staging
   prefix of its own;
3. publish, under a per-key lock: if the raw bucket's current object is another version, this
   one is SUPERSEDED and publishes nothing; otherwise copy the parts to their final keys (names
   derived from the object key, so a retry, a replay or a corrected version of the file
   overwrites the same names and never adds a second copy), then delete parts that an earlier
   attempt or an earlier version left and this one did not write (their dates become dirty);
4. record DONE with its counts and dirty dates in one ledger transaction.
A bad file (`FileRejected`) is recorded FAILED_PERMANENT and not retried; any other error
gives the claim back and propagates, so the message is retried and ends in the DLQ after N
tries. Nothing is visible under the curated prefix before step 3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError

from retail_etl.adapters.ledger import DONE, FINISHED, Claim, DynamoLedger, FileVersion
from retail_etl.adapters.objects import ObjectStore
from retail_etl.config import Settings
from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.contract import FileError, drop_date
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.events import clean_events_file, release_parked
from retail_etl.domain.products import clean_products_file
from retail_etl.domain.report import FileReport, FileStatus

CURATED_EVENTS = "curated/events"
PRODUCT_HISTORY = "curated/products/product_history.parquet"
QUARANTINE = "quarantine"
PARKED = "parked/events"
STAGING = "_staging"
_UPLOADS_AHEAD = 4
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
    S3 event notification with Records. Keys arrive URL-encoded in both."""
    if body.get("source") == "aws.s3" and "detail" in body:
        detail = body["detail"]
        yield ObjectRef(
            detail["bucket"]["name"],
            unquote_plus(detail["object"]["key"]),
            detail["object"].get("version-id"),
        )
        return
    records = body.get("Records")
    if records is None:
        raise ValueError("message is neither an EventBridge S3 event nor an S3 notification")
    for record in records:
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        yield ObjectRef(
            s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), s3["object"].get("versionId")
        )


def file_id(file: FileVersion) -> str:
    """A short, stable name for an object key, used in every output object's key. Every
    version of a key writes the same names, so a newer version (a corrected file) replaces
    the older one's output, and a retry or a replay overwrites its own."""
    stem = file.key.rsplit("/", 1)[-1].split(".", 1)[0]
    digest = hashlib.sha256(f"{file.bucket}/{file.key}".encode()).hexdigest()
    return f"{stem}-{digest[:16]}"


def staging_prefix(file: FileVersion) -> str:
    """Where one version stages its parts (two versions of a key never share it)."""
    version = hashlib.sha256(file.version.encode()).hexdigest()[:12]
    return f"{STAGING}/{file_id(file)}-{version}/"


def kind_of(key: str) -> str:
    kind = key.split("/", 1)[0]
    if kind not in KINDS:
        raise FileRejected(
            FileError.UNKNOWN_PREFIX, f"{key}: keys must start with events/ or products/"
        )
    return kind


class Ingestor:
    """Everything one ingest Lambda container keeps between invocations."""

    def __init__(self, settings: Settings, store: ObjectStore, ledger: DynamoLedger) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger

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
            stream = self.store.open(ref.bucket, ref.key, ref.version)
            if report.kind == "events":
                published = self._events(file, claim, stream, report)
            else:
                published = self._products(file, stream, report)
        except FileRejected as exc:
            rejected = FileReport.rejected(ref.key, report.kind, exc)
            rejected.duration_s = time.perf_counter() - started
            self._discard_staging(file)
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
        try:
            return self.store.version_of(file.bucket, file.key) != file.version
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return True
            raise

    # events ---------------------------------------------------------------------------------

    def _history(self) -> ProductHistory:
        table = self.store.read_parquet(self.settings.curated_bucket, PRODUCT_HISTORY)
        return ProductHistory(table)

    def _events(self, file: FileVersion, claim: Claim, stream, report: FileReport) -> bool:
        """Clean the file chunk by chunk; each chunk's parts are staged by a worker thread
        (Parquet encoding and the upload release the GIL) while the next chunk is cleaned.
        Returns False when a newer version of the key superseded this one."""
        fid = file_id(file)
        history = self._history()
        now_us = time.time_ns() // 1000
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage") as uploads:
            pending: list = []
            staged: list[tuple[str, str]] = []
            batches = clean_events_file(
                stream,
                file.key,
                history,
                now_us,
                report,
                self.settings.block_bytes,
                self.settings.read_limits,
            )
            for n, batch in enumerate(batches):
                part = f"{fid}-c{n:05d}.parquet"
                outputs = [
                    (f"{CURATED_EVENTS}/event_date={day}/{part}", table)
                    for day, table in _by_date(batch.curated)
                ]
                if batch.quarantine.num_rows:
                    outputs.append((f"{QUARANTINE}/kind=events/{part}", batch.quarantine))
                if batch.parked.num_rows:
                    outputs.append((f"{PARKED}/{part}", batch.parked))
                pending += [uploads.submit(self._stage, file, key, t) for key, t in outputs]
                while len(pending) - len(staged) > _UPLOADS_AHEAD:  # bound memory
                    staged.append(pending[len(staged)].result())
            staged += [f.result() for f in pending[len(staged) :]]
        if not self._publish(file, claim, staged, report):
            return False
        if report.rows_quarantined.get("unknown_product"):
            # A products file may have updated the history while this file was read.
            self._release_parked(self._history(), file_id(file), report, only=file_id(file))
        return True

    def _stage(self, file: FileVersion, final_key: str, table: pa.Table) -> tuple[str, str]:
        staging_key = staging_prefix(file) + final_key
        self.store.put_parquet(self.settings.curated_bucket, staging_key, table)
        return staging_key, final_key

    def _publish(
        self, file: FileVersion, claim: Claim, staged: list[tuple[str, str]], report: FileReport
    ) -> bool:
        """Move staged parts to their final keys and remove what an earlier attempt, or an
        earlier version of the key, left; False (nothing published) when a newer version of
        the key is already in the raw bucket. A per-key lock keeps two versions from
        publishing at once."""
        lock = f"key#{file.bucket}/{file.key}"
        token = self.ledger.acquire_lock(lock)
        if token is None:
            raise FileBusy(f"another version of {file.key} is being published")
        try:
            if self._superseded(file):
                self._discard_staging(file)
                return False
            bucket = self.settings.curated_bucket
            finals = {final for _, final in staged}
            versions = self.ledger.versions(file.bucket, file.key)
            earlier = {key for v in versions for key in v.get("outputs", [])}
            replaced = [v for v in versions if v["version_id"] != file.version]
            replaced = [v for v in replaced if v.get("status") == DONE]
            if replaced:  # their rows leave these dates
                released = self._released_parts(file)
                earlier |= set(released)
                report.event_dates |= {
                    dt.date.fromisoformat(day) for v in replaced for day in v.get("event_dates", [])
                } | {_partition_date(key) for key in released}
            self.ledger.record_outputs(file, claim, sorted(finals | earlier))
            for staging_key, final_key in staged:
                self.store.copy(bucket, staging_key, final_key)
            self.store.delete(bucket, sorted(earlier - finals))
            self._discard_staging(file)
            for v in replaced:
                self.ledger.mark_superseded(FileVersion(file.bucket, file.key, v["version_id"]))
            return True
        finally:
            self.ledger.release_lock(lock, token)

    def _released_parts(self, file: FileVersion) -> list[str]:
        """Curated parts that products files released from this key's parked events."""
        fid = file_id(file)
        return [
            key
            for key in self.store.list(self.settings.curated_bucket, CURATED_EVENTS + "/")
            if key.rsplit("/", 1)[-1].startswith(f"{fid}-c") and "-released-" in key
        ]

    def _discard_staging(self, file: FileVersion) -> None:
        bucket = self.settings.curated_bucket
        self.store.delete(bucket, self.store.list(bucket, staging_prefix(file)))

    # products -------------------------------------------------------------------------------

    def _products(self, file: FileVersion, stream, report: FileReport) -> bool:
        """Upsert the product history, then release the parked events it now defines.

        The history is one object: a ledger lock keeps two products files from racing on it
        (the loser's message is retried). The history is written before parked events are
        released, and released dates are marked dirty before their parked rows are removed,
        so a crash at any point is repaired by the retry.
        """
        token = self.ledger.acquire_lock("product-history")
        if token is None:
            raise FileBusy("another products file is updating the product history")
        try:
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
            )
            history = self._history()
            effective = drop_date(file.key) or dt.datetime.now(dt.UTC).date()
            history.upsert(result.versions, effective, file.key, now_us)
            bucket = self.settings.curated_bucket
            self.store.put_parquet(bucket, PRODUCT_HISTORY, history.to_table())
            key = f"{QUARANTINE}/kind=products/{file_id(file)}.parquet"
            if result.quarantine.num_rows:
                self.store.put_parquet(bucket, key, result.quarantine)
            else:  # an earlier version's rejected rows are no longer this key's
                self.store.delete(bucket, [key])
            self._release_parked(history, file_id(file), report)
            return True
        finally:
            self.ledger.release_lock("product-history", token)

    def _release_parked(
        self, history: ProductHistory, releaser: str, report: FileReport, only: str = ""
    ) -> None:
        """Enrich parked events (those whose part name starts with `only`) now known."""
        bucket = self.settings.curated_bucket
        for key in self.store.list(bucket, f"{PARKED}/{only}"):
            parked = self.store.read_parquet(bucket, key)
            if parked is None:
                continue
            released, left = release_parked(parked, history)
            if not released.num_rows:
                continue
            stem = key.rsplit("/", 1)[-1].removesuffix(".parquet")
            for day, table in _by_date(released):
                out = f"{CURATED_EVENTS}/event_date={day}/{stem}-released-{releaser}.parquet"
                self.store.put_parquet(bucket, out, table)
            dates = _released_dates(released)
            self.ledger.mark_dirty(dates)
            if left.num_rows:
                self.store.put_parquet(bucket, key, left)
            else:
                self.store.delete(bucket, [key])
            report.rows_released += released.num_rows
            report.event_dates |= dates


def _by_date(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    if not table.num_rows:
        return
    dates = table["event_date"]
    for day in pc.unique(dates).to_pylist():
        yield day.isoformat(), table.filter(pc.equal(dates, pa.scalar(day, pa.date32())))


def _partition_date(key: str) -> dt.date:
    return dt.date.fromisoformat(key.split("event_date=", 1)[1].split("/", 1)[0])


def _released_dates(table: pa.Table) -> set[dt.date]:
    return set(pc.unique(table["event_date"]).to_pylist()) if table.num_rows else set()
