"""The files dropped in a local input folder, in the order producers would drop them.

Drop order is by `dt=` date, a date's products before its events, then by path. Both local
runs (emulated AWS, and direct on local resources) deliver files in this order; the files of
one wave (processed concurrently, so their order changes no result) start largest first.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from retail_etl.domain.contract import drop_date
from retail_etl.domain.profile import source_of
from retail_etl.ingest import KINDS

DROP_ORDER = ("products", "events")  # a date's products land before its events


@dataclass(frozen=True)
class DroppedFile:
    key: str  # relative to the input folder, with forward slashes
    kind: str
    drop_date: dt.date | None
    text_bytes: int = 0  # its size once inflated, as the gzip trailer gives it (mod 2**32)

    @property
    def order(self) -> tuple:
        return (self.drop_date or dt.date.max, DROP_ORDER.index(self.kind), self.key)


def discover(input_dir: Path) -> list[DroppedFile]:
    """The events and products files under `input_dir`, in drop order."""
    files = []
    for path in input_dir.rglob("*"):
        key = path.relative_to(input_dir).as_posix()
        kind = key.split("/", 1)[0]
        if path.is_file() and kind in KINDS:
            files.append(DroppedFile(key, kind, drop_date(key), _text_bytes(path)))
    return sorted(files, key=lambda f: f.order)


def _text_bytes(path: Path) -> int:
    """The file's size, inflated where the reader inflates it (a `.gz` key, as
    `FileFormat.from_key` decides): a gzip stream's last 4 bytes hold that size, mod 2**32."""
    size = path.stat().st_size
    if not path.name.lower().endswith(".gz") or size < 18:
        return size
    with path.open("rb") as f:
        f.seek(-4, os.SEEK_END)
        return int.from_bytes(f.read(4), "little")


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


def largest_first(wave: list[DroppedFile]) -> list[DroppedFile]:
    """The order in which to start a wave's files: largest (inflated) first, so that the last
    to finish is a small one rather than a large file left alone on one core."""
    return sorted(wave, key=lambda f: -f.text_bytes)
