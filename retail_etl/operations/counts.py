"""True row counts: where every input row is now, not where ingest first put it.

The ledger records what ingest did to a file version (`rows_curated`, `rows_quarantined`). Two
later steps move rows without touching that record:

* a products file releases parked `unknown_product` events: the daily refresh curates them,
  still under their own events file's `source_file`;
* `replay-quarantine` sends quarantined rows through again in a replay file
  (`…/replay/STEM-DIGEST.ext`): the rows that land there are curated under the replay file's
  key, while the original quarantine row stays as the record of what happened at ingest.

So the counts an operator sees come from the tables: curated rows and parked rows by
`source_file`, quarantine rows by `source_file` and reason; a replay file's outcome is folded
back into the file its rows came from (the replayed rows leave that file's quarantine and
count where they landed), so `rows_in = curated + quarantined + duplicate` holds per file and
in total, and no input row is counted twice. A version that failed is never `ok`; a failed
or superseded version whose key has a newer version that landed is history, not a problem.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import In

from retail_etl.adapters.ledger import DONE, SUPERSEDED, FileRecord, Ledger
from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import Lake
from retail_etl.domain import lake
from retail_etl.domain.contract import Reason
from retail_etl.operations.replay import REPLAY_FOLDER

LANDED = (DONE, SUPERSEDED)


@dataclass(frozen=True)
class FileCounts:
    """One file version's rows as they are now (its own, plus what its replays did)."""

    key: str
    kind: str
    version: str
    status: str
    rows_in: int = 0
    curated: int = 0
    duplicate: int = 0
    excluded: int = 0  # rows its source profile excludes on purpose
    quarantined: dict[str, int] = field(default_factory=dict)  # by reason, no zeros
    released: int = 0  # parked at ingest, curated since its product arrived
    replayed: int = 0  # quarantined at ingest, sent through a replay file since
    error_code: str = ""
    error: str = ""
    attempts: int = 0
    started_at: int = 0

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def landed(self) -> bool:
        return self.status in LANDED

    def reconciles(self) -> bool:
        return self.rows_in == (
            self.curated + self.quarantined_total + self.duplicate + self.excluded
        )

    @property
    def ok(self) -> bool:
        """Landed and reconciled: a failed file is never ok."""
        return self.landed and self.reconciles()


@dataclass(frozen=True)
class Totals:
    """The whole pipeline (or one run) in one line, like dbt's closing summary."""

    files_ok: int
    files_failed: int
    rows_in: int
    curated: int
    quarantined: int
    duplicate: int
    excluded: int  # rows a source profile excludes on purpose
    dates_loaded: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PipelineCounts:
    """Every key's current version, and the files that were replaced or are history."""

    files: dict[str, FileCounts]  # by key: its newest version (replay files folded away)
    replays: dict[str, str]  # replay file key -> the source key it was folded into

    def quarantine(self) -> Counter:
        """Rows quarantined now, by `kind/reason`."""
        totals: Counter = Counter()
        for f in self.files.values():
            for reason, rows in f.quarantined.items():
                totals[f"{f.kind}/{reason}"] += rows
        return totals

    def problems(self) -> list[FileCounts]:
        """Keys whose newest version did not land (an older failure now replaced is not)."""
        return [f for f in self.files.values() if not f.landed]

    def totals(self, dates_loaded: int = 0) -> Totals:
        return totals(self.files.values(), dates_loaded)


def totals(files: Iterable[FileCounts], dates_loaded: int = 0) -> Totals:
    files = list(files)
    return Totals(
        files_ok=sum(f.ok for f in files),
        files_failed=sum(not f.ok for f in files),
        rows_in=sum(f.rows_in for f in files),
        curated=sum(f.curated for f in files),
        quarantined=sum(f.quarantined_total for f in files),
        duplicate=sum(f.duplicate for f in files),
        excluded=sum(f.excluded for f in files),
        dates_loaded=dates_loaded,
    )


def is_replay(key: str) -> bool:
    return f"/{REPLAY_FOLDER}/" in key


def replay_source(replay_key: str, keys: Iterable[str]) -> str | None:
    """The file a replay file was built from: same folder, same stem (`replay.py` names it
    `FOLDER/replay/STEM-DIGEST.ext` after `FOLDER/STEM.ext…`)."""
    folder, _, name = replay_key.partition(f"/{REPLAY_FOLDER}/")
    stem = name.rsplit(".", 1)[0].rsplit("-", 1)[0]
    found = [
        k
        for k in keys
        if not is_replay(k)
        and k.rpartition("/")[0] == folder
        and k.rpartition("/")[2].partition(".")[0] == stem
    ]
    return found[0] if len(found) == 1 else None


@dataclass
class _LakeRows:
    """Row counts by source file in the tables that hold a file's rows."""

    curated: Counter
    parked: Counter
    quarantine: dict[str, Counter]  # source file -> reason -> rows
    quarantine_rows: pa.Table  # source_file, reason, raw_record

    def quarantine_records(self, source: str) -> list[tuple[str, str]]:
        """(reason, raw_record) of each quarantine row of one source file."""
        rows = self.quarantine_rows.filter(pc.equal(self.quarantine_rows["source_file"], source))
        return list(zip(rows["reason"].to_pylist(), rows["raw_record"].to_pylist(), strict=True))


def _lake_rows(tables: Lake, keys: list[str]) -> _LakeRows:
    """Only the source files asked for: `source_file` has exact statistics, so the scans
    skip every other file's data, and curated and parked rows are mostly counted from them
    unread (`Lake.count_by`)."""
    where = In("source_file", keys) if keys else None
    curated = tables.count_by(lake.CURATED_EVENTS, "source_file", keys or None)
    parked = tables.count_by(lake.PARKED_EVENTS, "source_file", keys or None)
    quarantine = tables.read(lake.QUARANTINE, where, ("source_file", "reason", "raw_record"))
    by_reason: dict[str, Counter] = defaultdict(Counter)
    grouped = quarantine.group_by(["source_file", "reason"]).aggregate([("reason", "count")])
    for source, reason, rows in zip(
        grouped["source_file"].to_pylist(),
        grouped["reason"].to_pylist(),
        grouped["reason_count"].to_pylist(),
        strict=True,
    ):
        by_reason[source][reason] = rows
    return _LakeRows(curated, parked, by_reason, quarantine)


def _replayed_lines(store: Store, bucket: str, key: str) -> Counter:
    """The raw records a replay file carries (its CSV header aside)."""
    body = store.open(bucket, key)
    try:
        text = body.read().decode("utf-8", errors="surrogateescape")
    finally:
        body.close()
    lines = text.splitlines()
    return Counter(lines[1:] if key.endswith(".csv") else lines)  # a CSV's header first


def _from_ledger(record: FileRecord) -> FileCounts:
    """A version as ingest recorded it (failed, superseded, or replaced since)."""
    return FileCounts(
        key=record.key,
        kind=record.key.split("/", 1)[0],
        version=record.version,
        status=record.status,
        rows_in=record.rows_in,
        curated=record.rows_curated,
        duplicate=record.rows_duplicate,
        excluded=record.rows_excluded,
        quarantined={r: n for r, n in sorted(record.rows_quarantined.items()) if n},
        error_code=record.error_code,
        error=record.error_message or record.last_error,
        attempts=record.attempts,
        started_at=record.started_at,
    )


def _from_lake(record: FileRecord, rows: _LakeRows) -> FileCounts:
    """The version the tables hold (its key's current DONE one): its rows where they are."""
    counts = _from_ledger(record)
    if record.status != DONE or counts.kind != "events":
        return counts  # a products file's rows never move: the ledger's counts stay true
    quarantined = dict(rows.quarantine.get(record.key, {}))
    quarantined[Reason.UNKNOWN_PRODUCT] = rows.parked[record.key]
    parked_at_ingest = record.rows_quarantined.get(Reason.UNKNOWN_PRODUCT, 0)
    return replace(
        counts,
        curated=rows.curated[record.key],
        quarantined={r: n for r, n in sorted(quarantined.items()) if n},
        released=max(parked_at_ingest - rows.parked[record.key], 0),
    )


def _fold(source: FileCounts, replay: FileCounts, lines: Counter, rows: _LakeRows) -> FileCounts:
    """The replayed rows leave the source's quarantine and count where the replay put them."""
    quarantined = Counter(source.quarantined)
    left = Counter(lines)
    moved = 0
    for reason, raw in rows.quarantine_records(source.key):
        if left[raw] > 0:
            left[raw] -= 1
            quarantined[reason] -= 1
            moved += 1
    quarantined.update(replay.quarantined)
    return replace(
        source,
        curated=source.curated + replay.curated,
        duplicate=source.duplicate + replay.duplicate,
        excluded=source.excluded + replay.excluded,
        quarantined={r: n for r, n in sorted(quarantined.items()) if n > 0},
        replayed=source.replayed + moved,
    )


def pipeline_counts(
    ledger: Ledger,
    tables: Lake,
    store: Store,
    raw_bucket: str,
    records: list[FileRecord] | None = None,
) -> PipelineCounts:
    """Every key's newest version with its true counts, replay files folded into their
    sources. `records`: the ledger's file versions when the caller has them already."""
    records = ledger.files() if records is None else records
    newest: dict[str, FileRecord] = {}
    # the newest claim wins, but a version a newer one replaced (SUPERSEDED) never does: with
    # concurrent deliveries the replaced one may have been claimed last
    order = sorted(records, key=lambda r: (r.status != SUPERSEDED, r.started_at, r.status == DONE))
    for record in order:
        newest[record.key] = record
    rows = _lake_rows(tables, sorted(newest))
    files = {key: _from_lake(record, rows) for key, record in newest.items()}
    replays: dict[str, str] = {}
    for key in sorted(k for k in files if is_replay(k)):
        source = replay_source(key, files)
        if source is None or files[key].status != DONE:
            continue  # shown as a file of its own
        lines = _replayed_lines(store, raw_bucket, key)
        files[source] = _fold(files[source], files.pop(key), lines, rows)
        replays[key] = source
    return PipelineCounts(dict(sorted(files.items())), replays)


def version_counts(record: FileRecord, counts: PipelineCounts) -> FileCounts:
    """One version as a run saw it: the current counts when it is its key's current version,
    else the ledger's own record of it."""
    current = counts.files.get(record.key)
    if current is not None and current.version == record.version:
        return current
    return _from_ledger(record)
