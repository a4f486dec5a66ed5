"""The processing ledger in memory: the local implementation of `DynamoLedger`'s interface.

It keeps the same items (plain values, the same keys) under one lock, so its conditional
updates are as atomic as DynamoDB's; `tests/adapters/test_ledger.py` runs every ledger test
against both. It serves runs with no emulated AWS (`retail_etl.local.direct`), where the
ledger lives as long as the process.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

from retail_etl.adapters.ledger import (
    DATES_PK,
    DONE,
    FAILED_PERMANENT,
    IN_PROGRESS,
    RELEASED,
    SUPERSEDED,
    Claim,
    FileRecord,
    FileVersion,
    LeaseLost,
)
from retail_etl.domain.report import FileReport

Key = tuple[str, str]


def _file_key(file: FileVersion) -> Key:
    return (f"file#{file.bucket}/{file.key}", f"v#{file.version}")


class MemoryLedger:
    """The ledger as a dict of items guarded by a lock."""

    def __init__(self, lease_seconds: int = 900) -> None:
        self.lease_seconds = lease_seconds
        self._items: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # files ----------------------------------------------------------------------------------

    def claim(self, file: FileVersion, now: float | None = None) -> Claim:
        now = time.time() if now is None else now
        with self._lock:
            item = self._items.get(_file_key(file))
            free = (
                item is None
                or item["status"] == RELEASED
                or (item["status"] == IN_PROGRESS and item.get("lease_until", 0) < int(now))
            )
            if not free:
                return Claim(False, item["status"])
            token = uuid.uuid4().hex
            pk, sk = _file_key(file)
            self._items[(pk, sk)] = {
                **(item or {"pk": pk, "sk": sk, "attempts": 0}),
                "status": IN_PROGRESS,
                "lease_until": int(now + self.lease_seconds),
                "lease_token": token,
                "started_at": int(now),
                "bucket_name": file.bucket,
                "object_key": file.key,
                "version_id": file.version,
                "attempts": (item or {}).get("attempts", 0) + 1,
            }
            return Claim(True, IN_PROGRESS, token)

    def _claimed(self, file: FileVersion, claim: Claim) -> dict[str, Any]:
        """The file's item, if `claim` still holds its lease (call under the lock)."""
        item = self._items.get(_file_key(file))
        if not item or item["status"] != IN_PROGRESS or item["lease_token"] != claim.token:
            raise LeaseLost(f"{file.key}: the claim's lease was lost to another attempt")
        return item

    def _finish(self, file: FileVersion, claim: Claim, status: str, report: FileReport) -> None:
        with self._lock:
            item = self._claimed(file, claim)
            item.pop("lease_until", None)
            item.update(
                status=status,
                rows_in=report.rows_in,
                rows_curated=report.rows_curated,
                rows_duplicate=report.rows_duplicate,
                rows_quarantined=dict(report.rows_quarantined),
                rows_excluded=report.rows_excluded,
                unused_columns=sorted(report.unused_columns),
                source=report.source or "",
                event_dates=[d.isoformat() for d in sorted(report.event_dates)],
                finished_at=int(time.time()),
                duration_s=round(report.duration_s, 3),
                publish_s=round(report.publish_s, 3),
                error_code=report.error_code or "",
                error_message=(report.error_message or "")[:2000],
            )

    def complete(self, file: FileVersion, claim: Claim, report: FileReport) -> None:
        self._finish(file, claim, DONE, report)

    def fail_permanently(self, file: FileVersion, claim: Claim, report: FileReport) -> None:
        self._finish(file, claim, FAILED_PERMANENT, report)

    def supersede(self, file: FileVersion, claim: Claim, report: FileReport) -> None:
        self._finish(file, claim, SUPERSEDED, report)

    def mark_superseded(self, file: FileVersion) -> None:
        with self._lock:
            item = self._items.get(_file_key(file))
            if item and item["status"] == DONE:
                item["status"] = SUPERSEDED

    def release(self, file: FileVersion, claim: Claim, error: str) -> None:
        with self._lock:
            item = self._claimed(file, claim)
            item.pop("lease_until", None)
            item.update(status=RELEASED, last_error=error[:2000])

    def get(self, file: FileVersion) -> FileRecord | None:
        with self._lock:
            item = self._items.get(_file_key(file))
            return FileRecord.from_item(dict(item)) if item else None

    def versions(self, bucket: str, key: str) -> list[FileRecord]:
        records = [r for r in self.files() if (r.bucket, r.key) == (bucket, key)]
        return sorted(records, key=lambda r: r.started_at)

    def files(self) -> list[FileRecord]:
        return [FileRecord.from_item(i) for i in self.items() if i["pk"].startswith("file#")]

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(self._items[k]) for k in sorted(self._items)]

    # locks ----------------------------------------------------------------------------------

    def acquire_lock(self, name: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        key = (f"lock#{name}", "lock")
        with self._lock:
            held = self._items.get(key)
            if held and held["lease_until"] >= int(now):
                return None
            token = uuid.uuid4().hex
            self._items[key] = {
                "pk": key[0],
                "sk": key[1],
                "lease_token": token,
                "lease_until": int(now + self.lease_seconds),
            }
            return token

    def release_lock(self, name: str, token: str) -> None:
        key = (f"lock#{name}", "lock")
        with self._lock:
            if self._items.get(key, {}).get("lease_token") == token:
                del self._items[key]

    # dates ----------------------------------------------------------------------------------

    def mark_dirty(self, dates: set[dt.date]) -> None:
        with self._lock:
            for day in dates:
                key = (DATES_PK, day.isoformat())
                item = self._items.setdefault(
                    key, {"pk": key[0], "sk": key[1], "dirty_seq": 0, "loaded_seq": 0}
                )
                item["dirty_seq"] += 1
                item["dirtied_at"] = int(time.time())

    def _dates(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for (pk, _), i in sorted(self._items.items()) if pk == DATES_PK]

    def known_dates(self) -> set[dt.date]:
        return {dt.date.fromisoformat(i["sk"]) for i in self._dates()}

    def dirty_dates(self) -> dict[dt.date, int]:
        return {
            dt.date.fromisoformat(i["sk"]): i["dirty_seq"]
            for i in self._dates()
            if i["dirty_seq"] > i["loaded_seq"]
        }

    def mark_loaded(self, day: dt.date, seq: int) -> bool:
        with self._lock:
            item = self._items.get((DATES_PK, day.isoformat()))
            if item is None or item["loaded_seq"] >= seq:
                return False
            item.update(loaded_seq=seq, loaded_at=int(time.time()))
            return item["dirty_seq"] <= seq
