"""True counts from the tables: released rows, replayed rows, superseded failures."""

from __future__ import annotations

import io
from collections import Counter

import pyarrow as pa

from retail_etl.adapters.ledger import DONE, FAILED_PERMANENT, FileRecord
from retail_etl.domain import lake
from retail_etl.operations.counts import pipeline_counts, replay_source
from retail_etl.operations.offending import field_value

EVENTS = "events/dt=2026-11-01/events.csv"
REPLAY = "events/dt=2026-11-01/replay/events-0123456789ab.csv"
HEADER = "event_id,user_id,product_id,event_type,event_timestamp"


class FakeLake:
    """`Lake.read` and `Lake.count_by` over in-memory tables (the filter is not needed: one
    file per key here)."""

    def __init__(self, curated: list[str], parked: list[str], quarantine: list[tuple]) -> None:
        self.tables = {
            lake.CURATED_EVENTS.name: pa.table({"source_file": curated}),
            lake.PARKED_EVENTS.name: pa.table({"source_file": parked}),
            lake.QUARANTINE.name: pa.table(
                {
                    "source_file": [q[0] for q in quarantine],
                    "reason": [q[1] for q in quarantine],
                    "raw_record": [q[2] for q in quarantine],
                },
                schema=pa.schema(
                    [
                        ("source_file", pa.string()),
                        ("reason", pa.string()),
                        ("raw_record", pa.string()),
                    ]
                ),
            ),
        }

    def read(self, spec, where=None, columns=("*",)):
        table = self.tables[spec.name]
        return table.select(list(columns)) if table.num_rows else table

    def count_by(self, spec, column, values=None):
        return Counter(self.tables[spec.name][column].to_pylist())


class FakeLedger:
    def __init__(self, records: list[FileRecord]) -> None:
        self.records = records

    def files(self) -> list[FileRecord]:
        return self.records


class FakeStore:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def open(self, bucket: str, key: str):
        return io.BytesIO(self.objects[key])


def record(key, version, status, started, **rows) -> FileRecord:
    return FileRecord("raw", key, version, status, started_at=started, **rows)


def test_released_rows_count_as_curated_and_leave_the_quarantine():
    ingested = record(
        EVENTS, "v1", DONE, 1, rows_in=6, rows_curated=2,
        rows_quarantined={"unknown_product": 3, "invalid_timestamp": 1},
    )  # fmt: skip
    tables = FakeLake(
        curated=[EVENTS] * 4, parked=[EVENTS], quarantine=[(EVENTS, "invalid_timestamp", "x")]
    )
    counts = pipeline_counts(FakeLedger([ingested]), tables, FakeStore({}), "raw")
    f = counts.files[EVENTS]
    assert (f.curated, f.released, f.quarantined) == (
        4, 2, {"invalid_timestamp": 1, "unknown_product": 1}
    )  # fmt: skip
    assert f.ok and f.reconciles()


def test_a_replayed_row_leaves_the_quarantine_when_it_lands():
    rows = [f"e{i},U1,P1,purchase,bad-{i}" for i in range(3)]
    source = record(
        EVENTS, "v1", DONE, 1, rows_in=5, rows_curated=2,
        rows_quarantined={"invalid_timestamp": 3},
    )  # fmt: skip
    # two of the three replayed rows landed, one is quarantined again (under the replay key)
    replay = record(
        REPLAY, "r1", DONE, 2, rows_in=3, rows_curated=2,
        rows_quarantined={"invalid_timestamp": 1},
    )  # fmt: skip
    tables = FakeLake(
        curated=[EVENTS, EVENTS, REPLAY, REPLAY],
        parked=[],
        quarantine=[(EVENTS, "invalid_timestamp", r) for r in rows]
        + [(REPLAY, "invalid_timestamp", rows[2])],
    )
    store = FakeStore({REPLAY: ("\n".join([HEADER, *rows]) + "\n").encode()})
    counts = pipeline_counts(FakeLedger([source, replay]), tables, store, "raw")
    assert list(counts.files) == [EVENTS]  # the replay file is folded into its source
    f = counts.files[EVENTS]
    assert (f.rows_in, f.curated, f.quarantined, f.replayed) == (
        5, 4, {"invalid_timestamp": 1}, 3
    )  # fmt: skip
    totals = counts.totals()
    assert (totals.rows_in, totals.curated, totals.quarantined) == (5, 4, 1)


def test_a_failed_version_replaced_by_a_good_one_is_not_a_problem():
    failed = record(EVENTS, "v1", FAILED_PERMANENT, 1, error_code="empty_file")
    fixed = record(EVENTS, "v2", DONE, 2, rows_in=1, rows_curated=1)
    broken = record("events/dt=2026-11-01/b.csv", "v1", FAILED_PERMANENT, 1)
    tables = FakeLake(curated=[EVENTS], parked=[], quarantine=[])
    counts = pipeline_counts(FakeLedger([fixed, failed, broken]), tables, FakeStore({}), "raw")
    assert [p.key for p in counts.problems()] == ["events/dt=2026-11-01/b.csv"]
    assert counts.files[EVENTS].ok and not counts.files[broken.key].ok
    t = counts.totals()
    assert (t.files_ok, t.files_failed, t.rows_in, t.curated) == (1, 1, 1, 1)


def test_a_replay_file_is_matched_to_its_source_by_folder_and_stem():
    keys = [EVENTS, "events/dt=2026-11-01/events-late.csv", "events/dt=2026-11-02/events.csv"]
    assert replay_source(REPLAY, keys) == EVENTS
    assert replay_source("events/dt=2026-11-03/replay/x-0123.csv", keys) is None


def test_offending_values_are_read_from_the_raw_record():
    header = ["event_id", "user_id", "product_id", "event_type", "event_timestamp"]
    assert field_value("e1,U1,P1,click,2026", header, ("event_type",)) == "click"
    raw = '{"Event_Type": "tap", "ts": 1}'
    assert field_value(raw, None, ("event_type",)) == "tap"
    assert field_value("not json", None, ("event_type",)) == "not json"


def test_a_version_replaced_by_a_newer_one_is_never_the_current_one():
    from retail_etl.adapters.ledger import SUPERSEDED

    # claimed last (concurrent deliveries), yet replaced: the DONE version is the current one
    replaced = record(EVENTS, "v1", SUPERSEDED, 5, rows_in=9, rows_curated=9)
    current = record(EVENTS, "v2", DONE, 4, rows_in=2, rows_curated=2)
    tables = FakeLake(curated=[EVENTS, EVENTS], parked=[], quarantine=[])
    counts = pipeline_counts(FakeLedger([replaced, current]), tables, FakeStore({}), "raw")
    assert counts.files[EVENTS].version == "v2" and counts.totals().rows_in == 2
