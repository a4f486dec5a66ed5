"""The files dropped in a local input folder, in the order producers would drop them.

Drop order is by `dt=` date, a date's products before its events, then by path. Both local
runs (emulated AWS, and direct on local resources) deliver files in this order.
"""

from __future__ import annotations

import datetime as dt
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
            files.append(DroppedFile(key, kind, drop_date(key)))
    return sorted(files, key=lambda f: f.order)


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
