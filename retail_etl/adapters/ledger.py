"""The processing ledger in DynamoDB: one item per file version, one per event date.

A file version is claimed with a conditional write, so two deliveries of the same S3 event
process it once; a claim is a lease, so a crashed attempt can be taken over once it expires.
A file's dates are marked dirty before its rows become visible and again after (intent
first), so no crash can lose a dirty date; finishing it is then one item. Date items keep two
counters:
`dirty_seq` grows on every change, `loaded_seq` records the change a warehouse load saw; a date
is dirty while `dirty_seq > loaded_seq`, which keeps a date that changed during a load dirty.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Protocol

import boto3
from boto3.dynamodb.table import BatchWriter
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from retail_etl.domain.report import FileReport

IN_PROGRESS = "IN_PROGRESS"
DONE = "DONE"
FAILED_PERMANENT = "FAILED_PERMANENT"
SUPERSEDED = "SUPERSEDED"  # processed, but a newer version of the key replaced it
FINISHED = (DONE, FAILED_PERMANENT, SUPERSEDED)
RELEASED = "RELEASED"  # a transient failure gave the claim back for the next try

DATES_PK = "dates"
# Throttled and failed requests (ProvisionedThroughputExceeded, ThrottlingException, 5xx) are
# retried by botocore with exponential backoff and jitter, not by this module.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]


class LeaseLost(Exception):
    """The claim's lease expired and another attempt took the file over: this attempt's
    results must not be recorded."""


@dataclass(frozen=True)
class FileVersion:
    """One S3 object version; `version` is the VersionId, or the ETag when unversioned."""

    bucket: str
    key: str
    version: str

    @property
    def item_key(self) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"file#{self.bucket}/{self.key}"}, "sk": {"S": f"v#{self.version}"}}


@dataclass(frozen=True)
class FileRecord:
    """One file version as the ledger knows it (what `get`, `versions` and `files` return)."""

    bucket: str
    key: str
    version: str
    status: str
    attempts: int = 0
    started_at: int = 0
    rows_in: int = 0
    rows_curated: int = 0
    rows_duplicate: int = 0
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    rows_excluded: int = 0  # rows its source profile excludes
    unused_columns: list[str] = field(default_factory=list)  # columns nothing read
    source: str = ""  # the source profile of a `source=NAME` key
    event_dates: list[str] = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    last_error: str = ""  # the transient error a released claim gave back
    duration_s: float = 0.0
    publish_s: float = 0.0
    lease_token: str = ""  # the current claim's, while IN_PROGRESS

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FileRecord:
        known = {f.name for f in fields(cls)} - {"bucket", "key", "version"}
        values = {k: v for k, v in item.items() if k in known and v is not None}
        return cls(item["bucket_name"], item["object_key"], item["version_id"], **values)

    @property
    def file(self) -> FileVersion:
        return FileVersion(self.bucket, self.key, self.version)

    @property
    def rows_quarantined_total(self) -> int:
        return sum(self.rows_quarantined.values())

    def reconciles(self) -> bool:
        """rows_in = rows_curated + rows_quarantined + rows_duplicate + rows_excluded (DONE
        files)."""
        return self.rows_in == (
            self.rows_curated
            + self.rows_quarantined_total
            + self.rows_duplicate
            + self.rows_excluded
        )


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: `owned` when this caller must process the file."""

    owned: bool
    status: str
    token: str = ""


class Ledger(Protocol):
    """What the steps need of a ledger: `DynamoLedger` in AWS and on moto, `MemoryLedger`
    (`memory_ledger.py`) for runs on local resources."""

    def claim(self, file: FileVersion, now: float | None = None) -> Claim: ...
    def complete(self, file: FileVersion, claim: Claim, report: FileReport) -> None: ...
    def fail_permanently(self, file: FileVersion, claim: Claim, report: FileReport) -> None: ...
    def supersede(self, file: FileVersion, claim: Claim, report: FileReport) -> None: ...
    def mark_superseded(self, file: FileVersion) -> None: ...
    def release(self, file: FileVersion, claim: Claim, error: str) -> None: ...
    def acquire_lock(self, name: str, now: float | None = None) -> str | None: ...
    def release_lock(self, name: str, token: str) -> None: ...
    def mark_dirty(self, dates: set[dt.date]) -> None: ...
    def known_dates(self) -> set[dt.date]: ...
    def dirty_dates(self) -> dict[dt.date, int]: ...
    def mark_loaded(self, day: dt.date, seq: int) -> bool: ...
    def get(self, file: FileVersion) -> FileRecord | None: ...
    def versions(self, bucket: str, key: str) -> list[FileRecord]: ...
    def files(self) -> list[FileRecord]: ...


def _date_key(day: dt.date) -> dict[str, dict[str, str]]:
    return {"pk": {"S": DATES_PK}, "sk": {"S": day.isoformat()}}


def dynamodb_client(session: boto3.Session | None = None) -> Any:
    """A DynamoDB client for the ledger: its calls retry with backoff (`RETRIES`)."""
    if session is None:
        return boto3.client("dynamodb", config=RETRIES)
    return session.client("dynamodb", config=RETRIES)


class DynamoLedger:
    """The ledger on a DynamoDB table (real, or moto's in tests and local runs). Give it a
    client from `dynamodb_client`, so throttled calls back off and retry."""

    def __init__(self, client: Any, table: str, lease_seconds: int = 900) -> None:
        self.db = client
        self.table = table
        self.lease_seconds = lease_seconds

    def claim(self, file: FileVersion, now: float | None = None) -> Claim:
        """Take the file for processing unless it is done, failed for good, or leased."""
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        try:
            self.db.update_item(
                TableName=self.table,
                Key=file.item_key,
                UpdateExpression=(
                    "SET #st = :ip, lease_until = :lease, #tok = :tok, started_at = :now, "
                    "bucket_name = :b, object_key = :k, version_id = :v ADD attempts :one"
                ),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR #st = :released "
                    "OR (#st = :ip AND lease_until < :now)"
                ),
                ExpressionAttributeNames={"#st": "status", "#tok": "lease_token"},
                ExpressionAttributeValues={
                    ":ip": {"S": IN_PROGRESS},
                    ":released": {"S": RELEASED},
                    ":lease": {"N": str(int(now + self.lease_seconds))},
                    ":now": {"N": str(int(now))},
                    ":tok": {"S": token},
                    ":one": {"N": "1"},
                    ":b": {"S": file.bucket},
                    ":k": {"S": file.key},
                    ":v": {"S": file.version},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            record = self.get(file)
            return Claim(False, record.status if record else IN_PROGRESS)
        return Claim(True, IN_PROGRESS, token)

    def _finish_update(self, file: FileVersion, claim: Claim, status: str, report: FileReport):
        return {
            "Update": {
                "TableName": self.table,
                "Key": file.item_key,
                "UpdateExpression": (
                    "SET #st = :st, rows_in = :in, rows_curated = :cur, rows_duplicate = :dup, "
                    "rows_quarantined = :q, rows_excluded = :exc, unused_columns = :unused, "
                    "#src = :src, event_dates = :dates, finished_at = :now, "
                    "duration_s = :dur, publish_s = :pub, error_code = :ec, error_message = :em "
                    "REMOVE lease_until"
                ),
                "ConditionExpression": "#st = :ip AND #tok = :tok",
                "ExpressionAttributeNames": {
                    "#st": "status",
                    "#tok": "lease_token",
                    "#src": "source",
                },
                "ExpressionAttributeValues": {
                    ":st": {"S": status},
                    ":ip": {"S": IN_PROGRESS},
                    ":tok": {"S": claim.token},
                    ":in": {"N": str(report.rows_in)},
                    ":cur": {"N": str(report.rows_curated)},
                    ":dup": {"N": str(report.rows_duplicate)},
                    ":q": {"M": {k: {"N": str(v)} for k, v in report.rows_quarantined.items()}},
                    ":exc": {"N": str(report.rows_excluded)},
                    ":unused": {"L": [{"S": n} for n in sorted(report.unused_columns)]},
                    ":src": {"S": report.source or ""},
                    ":dates": {"L": [{"S": d.isoformat()} for d in sorted(report.event_dates)]},
                    ":now": {"N": str(int(time.time()))},
                    ":dur": {"N": f"{report.duration_s:.3f}"},
                    ":pub": {"N": f"{report.publish_s:.3f}"},
                    ":ec": {"S": report.error_code or ""},
                    ":em": {"S": (report.error_message or "")[:2000]},
                },
            }
        }

    def _dirty_update(self, day: dt.date) -> dict:
        return {
            "Update": {
                "TableName": self.table,
                "Key": _date_key(day),
                "UpdateExpression": (
                    "SET dirtied_at = :now, loaded_seq = if_not_exists(loaded_seq, :zero) "
                    "ADD dirty_seq :one"
                ),
                "ExpressionAttributeValues": {
                    ":now": {"N": str(int(time.time()))},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
            }
        }

    def complete(self, file: FileVersion, claim: Claim, report: FileReport) -> None:
        """Record the file DONE with its counts: one item, written after its dates were
        marked dirty (before and after its publish), so finishing is never split."""
        self._finish(file, claim, DONE, report)

    def _finish(self, file: FileVersion, claim: Claim, status: str, report: FileReport) -> None:
        try:
            self._transact([self._finish_update(file, claim, status, report)])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise LeaseLost(f"{file.key}: the claim's lease was lost ({exc})") from exc

    def _transact(self, items: list[dict]) -> None:
        for start in range(0, len(items), 100):  # DynamoDB's limit per transaction
            self.db.transact_write_items(TransactItems=items[start : start + 100])

    def fail_permanently(self, file: FileVersion, claim: Claim, report: FileReport) -> None:
        self._finish(file, claim, FAILED_PERMANENT, report)

    def mark_superseded(self, file: FileVersion) -> None:
        """A DONE version whose output a newer version of the key has just replaced."""
        try:
            self.db.update_item(
                TableName=self.table,
                Key=file.item_key,
                UpdateExpression="SET #st = :sup",
                ConditionExpression="#st = :done",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":sup": {"S": SUPERSEDED}, ":done": {"S": DONE}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def supersede(self, file: FileVersion, claim: Claim, report: FileReport) -> None:
        """Record the counts of a version that a newer one replaced; it published nothing."""
        self._finish(file, claim, SUPERSEDED, report)

    def release(self, file: FileVersion, claim: Claim, error: str) -> None:
        """Give the claim back after a transient error, so the retry can take it at once."""
        self._update_claimed(
            file,
            claim,
            "SET #st = :rel, last_error = :err REMOVE lease_until",
            {":rel": {"S": RELEASED}, ":err": {"S": error[:2000]}},
        )

    def _update_claimed(
        self, file: FileVersion, claim: Claim, expression: str, values: dict[str, Any]
    ) -> None:
        """An update that only the holder of the claim's lease may make."""
        try:
            self.db.update_item(
                TableName=self.table,
                Key=file.item_key,
                UpdateExpression=expression,
                ConditionExpression="#st = :ip AND #tok = :tok",
                ExpressionAttributeNames={"#st": "status", "#tok": "lease_token"},
                ExpressionAttributeValues={
                    **values,
                    ":ip": {"S": IN_PROGRESS},
                    ":tok": {"S": claim.token},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise LeaseLost(f"{file.key}: the claim's lease was lost ({exc})") from exc

    def acquire_lock(self, name: str, now: float | None = None) -> str | None:
        """A leased lock (e.g. on the product history); returns its token, or None if held."""
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        try:
            self.db.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"lock#{name}"},
                    "sk": {"S": "lock"},
                    "lease_token": {"S": token},
                    "lease_until": {"N": str(int(now + self.lease_seconds))},
                },
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return token

    def release_lock(self, name: str, token: str) -> None:
        try:
            self.db.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"lock#{name}"}, "sk": {"S": "lock"}},
                ConditionExpression="lease_token = :tok",
                ExpressionAttributeValues={":tok": {"S": token}},
            )
        except ClientError as exc:  # our lease expired and someone else holds it now
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def mark_dirty(self, dates: set[dt.date]) -> None:
        """Record that these dates changed, or are about to: idempotent in effect (a date
        marked twice is aggregated once more, never wrongly), so it may be split into
        several transactions and repeated by a retry."""
        self._transact([self._dirty_update(d) for d in sorted(dates)])

    def known_dates(self) -> set[dt.date]:
        """Every date that ever held data: a products file can only change these."""
        return {dt.date.fromisoformat(item["sk"]) for item in self._partition(DATES_PK)}

    def dirty_dates(self) -> dict[dt.date, int]:
        """Dates changed since their last load, with the change counter a load must record."""
        return {
            dt.date.fromisoformat(item["sk"]): item["dirty_seq"]
            for item in self._partition(DATES_PK)
            if item["dirty_seq"] > item["loaded_seq"]
        }

    def mark_loaded(self, day: dt.date, seq: int) -> bool:
        """Record that a load saw change `seq` of `day`; never moves backwards. Returns whether
        the date is now clean (False when it changed again during the load)."""
        try:
            result = self.db.update_item(
                TableName=self.table,
                Key=_date_key(day),
                UpdateExpression="SET loaded_seq = :seq, loaded_at = :now",
                ConditionExpression="attribute_exists(pk) AND loaded_seq < :seq",
                ExpressionAttributeValues={
                    ":seq": {"N": str(seq)},
                    ":now": {"N": str(int(time.time()))},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return int(result["Attributes"]["dirty_seq"]["N"]) <= seq

    def get(self, file: FileVersion) -> FileRecord | None:
        item = self.db.get_item(TableName=self.table, Key=file.item_key, ConsistentRead=True)
        return FileRecord.from_item(_plain(item["Item"])) if "Item" in item else None

    def versions(self, bucket: str, key: str) -> list[FileRecord]:
        """Every processed version of one object, oldest claim first."""
        items = [FileRecord.from_item(i) for i in self._partition(f"file#{bucket}/{key}")]
        return sorted(items, key=lambda r: r.started_at)

    def files(self) -> list[FileRecord]:
        """Every file version, for `status` and the local runtime."""
        return [FileRecord.from_item(i) for i in self.items() if i["pk"].startswith("file#")]

    def items(self) -> list[dict[str, Any]]:
        """Every item (files, dates, locks) as plain values, sorted by key."""
        return sorted(self._pages("scan", ConsistentRead=True), key=lambda i: (i["pk"], i["sk"]))

    def put_items(self, items: list[dict[str, Any]]) -> None:
        """Write items as `items()` returns them (the local runtime restoring its state).

        boto3's batch writer sends them 25 at a time and resends what DynamoDB leaves
        unprocessed; the client's retry mode backs off on throttling."""
        ser = TypeSerializer()
        with BatchWriter(self.table, self.db) as batch:
            for item in items:
                batch.put_item(Item={k: ser.serialize(_decimal(v)) for k, v in item.items()})

    def _partition(self, pk: str) -> list[dict[str, Any]]:
        return self._pages(
            "query",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )

    def _pages(self, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item a query or scan returns, across pages, as plain values."""
        pages = self.db.get_paginator(operation).paginate(TableName=self.table, **kwargs)
        return [_plain(i) for page in pages for i in page["Items"]]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed attribute values as plain Python values."""
    des = TypeDeserializer()
    return {k: _number(des.deserialize(v)) for k, v in item.items()}


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_number(v) for v in value]
    return value


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal(v) for v in value]
    return value
