"""The crash points of the campaign: every distinct AWS call of ingest and of each daily step,
before and after the call takes effect (before only, for calls that change nothing).

The calls are found by a dry run of the upload sequence. For ingest, each distinct (file kind,
call, before/after) is tried once, at its last occurrence: the corrected versions, which
replace earlier rows, take the longest path. Every daily step's calls are tried at their first
occurrence.
"""

from __future__ import annotations

from functools import cache

from tests.guarantees import scenario as sc
from tests.guarantees.harness import CrashPoint, Faults, Pipeline, differences, emulated_account

DAILY_STEPS = ("plan", "aggregate_day", "load", "mark_loaded")
# calls that change nothing: a crash after one is the crash before the next call
READS = {"s3.GetObject", "s3.HeadObject", "s3.ListObjectsV2", "dynamodb.Query", "dynamodb.GetItem"}


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
            for when in ("before",) if call in READS else ("before", "after"):
                point = CrashPoint(step, call, when)
                if role in DAILY_STEPS:
                    chosen.setdefault((role, call, when), point)
                else:
                    chosen[(role, call, when)] = point  # the last delivery that makes it
    return tuple(chosen.values())


def point_id(point: CrashPoint) -> str:
    step = point.step.split("#")[0].replace("ingest:", "")
    return f"{point.when} {point.call} in {step}"


def ingest_points() -> tuple[CrashPoint, ...]:
    return tuple(p for p in crash_points() if p.step.startswith("ingest:"))


def daily_points() -> tuple[CrashPoint, ...]:
    return tuple(p for p in crash_points() if p.step in DAILY_STEPS)


def crash_then_retry(point: CrashPoint, root, clean) -> None:
    """The upload sequence with a crash at `point` and the normal retry, then the daily runs:
    the outcome must be the clean run's."""
    faults = Faults(armed=point)
    pipeline = Pipeline(root, faults)
    _run(pipeline)
    assert faults.fired, point
    assert differences(pipeline.outcome(), clean) == {}
