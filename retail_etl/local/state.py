"""The local run's state on disk: the emulated buckets mirrored into OUT, the ledger as JSON.

moto keeps everything in memory, so a local run ends by writing its account down: each bucket
is mirrored into the output folder (only objects whose ETag changed are downloaded, deleted
objects are deleted) and the ledger table is exported to `ledger.json`. The next command on
the same folder starts a fresh emulator and uploads it all back, so `run` twice, `status`,
`replay-quarantine` and `backfill` continue where the last command stopped.

The Glue catalog's part of the Iceberg tables (each table's current metadata file) goes to
`catalog.json` and is registered again after the objects are restored.

A command may be killed at any moment, so what a restore reads is one document,
`.state/state.json` (the objects and their ETags, the ledger, the dead letters and the catalog),
written last and atomically (a temporary file renamed over the old one): a restore finds the
previous complete state or the new one, never a mix. An object file whose bytes no longer match
the ETag recorded for it (the raw copy a killed run wrote early) is not restored, so its file is
dropped and processed again. `ledger.json`, `dead-letters.json` and `catalog.json` are the same
data for people to read.

Layout: `raw/…` is the raw bucket; the curated bucket's tables (`curated/…`) and the analytics
bucket's (`aggregates/…`, with `_manifests/`) sit at the top of OUT under their own keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retail_etl.adapters.ledger import DynamoLedger
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings

STATE_JSON = Path(".state") / "state.json"
LEDGER_JSON = "ledger.json"
CATALOG_JSON = "catalog.json"  # each Iceberg table's current metadata file
DEAD_LETTERS_JSON = "dead-letters.json"
_DOWNLOADS = 8


@dataclass(frozen=True)
class Zone:
    """One bucket and the folder of OUT it is mirrored to."""

    name: str
    bucket: str
    folder: Path

    def path(self, key: str) -> Path:
        return self.folder / key


def zones(settings: Settings, out_dir: Path) -> tuple[Zone, ...]:
    return (
        Zone("raw", settings.raw_bucket, out_dir / "raw"),
        Zone("curated", settings.curated_bucket, out_dir),
        Zone("analytics", settings.analytics_bucket, out_dir),
    )


class LocalState:
    """Mirror of an emulated account in `out_dir`, and its restore."""

    def __init__(
        self,
        settings: Settings,
        out_dir: Path,
        s3: Any,
        ledger: DynamoLedger,
        sqs: Any,
        dlq_url: str,
        tables: Lake,
    ) -> None:
        self.out_dir = out_dir
        self.lake = tables
        self.sqs = sqs
        self.dlq_url = dlq_url
        self.zones = {z.name: z for z in zones(settings, out_dir)}
        self.s3 = s3
        self.ledger = ledger
        state_file = out_dir / STATE_JSON
        self.saved: dict[str, Any] = (
            json.loads(state_file.read_text()) if state_file.exists() else {}
        )
        self.index: dict[str, dict[str, str]] = self.saved.get("objects", {})
        # sha256 of each mirrored file as written (S3 ETags of multipart uploads are no digest)
        self.digests: dict[str, dict[str, str]] = self.saved.get("digests", {})

    @property
    def exists(self) -> bool:
        return bool(self.saved)

    def restore(self, objects: bool = True) -> int:
        """Put the ledger, the dead letters and (unless `objects` is false) the mirrored
        objects and the tables back into the (empty) emulated account; returns the objects
        uploaded."""
        self.ledger.put_items(self.saved["ledger"])
        for body in self.saved["dead_letters"]:
            self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=body)
        uploaded = 0
        if not objects:
            return uploaded
        for name, objects in self.index.items():
            zone = self.zones[name]
            digests = self.digests.get(name, {})
            for key in objects:
                path = zone.path(key)
                if not path.is_file():
                    continue
                data = path.read_bytes()
                if _digest(data) != digests.get(key):
                    continue  # written after this state was saved: not part of it
                self.s3.put_object(Bucket=zone.bucket, Key=key, Body=data)
                uploaded += 1
        self.lake.register(self.saved["catalog"])
        return uploaded

    def note(self, zone: str, key: str, data: bytes, etag: str) -> None:
        """Record an object this process just uploaded, from its bytes: no download. (A copy,
        not a link to the input: editing the input later must not edit the zone.)"""
        target = self.zones[zone].path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.index.setdefault(zone, {})[key] = etag
        self.digests.setdefault(zone, {})[key] = _digest(data)

    def mirror(self, *names: str) -> None:
        """Bring the named zones' folders (every zone by default) up to date with the buckets."""
        for name in names or tuple(self.zones):
            self._mirror(self.zones[name])

    def save(self) -> None:
        """Mirror every bucket into OUT, then write the state document (atomically, last) and
        its readable copies."""
        self.mirror()
        state = {
            "objects": self.index,
            "digests": self.digests,
            "ledger": self.ledger.items(),
            "dead_letters": self._dead_letters(),
            "catalog": self.lake.pointers(),
        }
        for name, key in (
            (LEDGER_JSON, "ledger"),
            (DEAD_LETTERS_JSON, "dead_letters"),
            (CATALOG_JSON, "catalog"),
        ):
            _write_atomically(self.out_dir / name, state[key])
        _write_atomically(self.out_dir / STATE_JSON, state)
        self.saved = state

    def _dead_letters(self) -> list[str]:
        """The DLQ's message bodies; each is made visible again after it is read."""
        bodies, handles = [], []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                break
            bodies += [m["Body"] for m in messages]
            handles += [m["ReceiptHandle"] for m in messages]
        for handle in handles:
            self.sqs.change_message_visibility(
                QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return bodies

    def _download(self, zone: Zone, key: str) -> None:
        body = self.s3.get_object(Bucket=zone.bucket, Key=key)["Body"].read()
        zone.path(key).write_bytes(body)
        self.digests[zone.name][key] = _digest(body)

    def _mirror(self, zone: Zone) -> None:
        known = self.index.setdefault(zone.name, {})
        digests = self.digests.setdefault(zone.name, {})
        current: dict[str, str] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=zone.bucket)
        for page in pages:
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):  # folder markers the Arrow S3 client makes
                    current[obj["Key"]] = obj["ETag"]
        stale = [k for k, e in current.items() if known.get(k) != e or not zone.path(k).exists()]
        for key in stale:
            zone.path(key).parent.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(_DOWNLOADS, thread_name_prefix="mirror") as pool:
            # the emulator serves requests concurrently
            list(pool.map(lambda key: self._download(zone, key), stale))
        for key in set(known) - set(current):
            zone.path(key).unlink(missing_ok=True)
            digests.pop(key, None)
        self.index[zone.name] = current


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(temporary, path)
