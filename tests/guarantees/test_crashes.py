"""A crash at every distinct AWS call of ingest and of each daily step, before and after the
call takes effect, followed by the normal retry (SQS redelivery, the task's Retry), gives the
clean run's result.

The calls are found by a dry run of the upload sequence. For ingest, each distinct (file kind,
call, before/after) is tried once, at its last occurrence: the corrected versions, which
replace earlier rows, take the longest path. Every daily step's calls are tried at their first
occurrence.
"""

from __future__ import annotations

from functools import cache

import pytest

from tests.guarantees import scenario as sc
from tests.guarantees.harness import CrashPoint, Faults, Pipeline, differences, emulated_account

DAILY_STEPS = ("plan", "aggregate_day", "load", "mark_loaded")


def _run(pipeline: Pipeline) -> None:
    for key, body in sc.UPLOADS:
        pipeline.deliver(pipeline.upload(key, body))
    pipeline.settle()


@cache
def crash_points() -> tuple[CrashPoint, ...]:
    import tempfile
    from pathlib import Path

    faults = Faults()
    with emulated_account(), tempfile.TemporaryDirectory() as root:
        _run(Pipeline(Path(root), faults))
    chosen: dict[tuple, CrashPoint] = {}
    for step, calls in faults.calls.items():
        if step.startswith("ingest:"):
            role = step.split(":", 1)[1].split("/", 1)[0]  # events or products
        elif step in DAILY_STEPS:
            role = step
        else:
            continue
        for call in dict.fromkeys(calls):
            for when in ("before", "after"):
                point = CrashPoint(step, call, when)
                if role in DAILY_STEPS:
                    chosen.setdefault((role, call, when), point)
                else:
                    chosen[(role, call, when)] = point  # the last delivery that makes it
    return tuple(chosen.values())


def _id(point: CrashPoint) -> str:
    step = point.step.split("#")[0].replace("ingest:", "")
    return f"{point.when} {point.call} in {step}"


def test_the_crash_points_cover_every_kind_of_call():
    calls = {(p.step.split(":")[0], p.call) for p in crash_points()}
    for needed in (
        ("ingest", "s3.GetObject"),
        ("ingest", "s3.HeadObject"),
        ("ingest", "dynamodb.UpdateItem"),
        ("ingest", "dynamodb.TransactWriteItems"),
        ("ingest", "dynamodb.PutItem"),
        ("ingest", "dynamodb.DeleteItem"),
        ("ingest", "iceberg.commit:curated_events"),
        ("ingest", "iceberg.commit:parked_events"),
        ("ingest", "iceberg.commit:product_history"),
        ("ingest", "iceberg.commit:quarantine"),
        ("plan", "dynamodb.Query"),
        ("aggregate_day", "iceberg.commit:curated_events"),
        ("aggregate_day", "iceberg.commit:daily_category_revenue"),
        ("load", "s3.PutObject"),
        ("mark_loaded", "dynamodb.UpdateItem"),
    ):
        assert needed in calls, needed
    assert len(crash_points()) >= 40


@pytest.mark.parametrize("point", crash_points(), ids=_id)
def test_a_crash_then_the_retry_gives_the_clean_runs_result(aws, clean, tmp_path, point):
    faults = Faults(armed=point)
    pipeline = Pipeline(tmp_path, faults)
    _run(pipeline)
    assert faults.fired, point
    assert differences(pipeline.outcome(), clean) == {}
