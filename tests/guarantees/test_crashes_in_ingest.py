"""A crash at every distinct AWS call of ingest (see `crash_points.py`), then the SQS
redelivery, gives the clean run's result."""

from __future__ import annotations

import pytest

from tests.guarantees.crash_points import crash_points, crash_then_retry, ingest_points, point_id


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
    assert len(crash_points()) >= 30


@pytest.mark.parametrize("point", ingest_points(), ids=point_id)
def test_a_crash_in_ingest_then_the_redelivery_gives_the_clean_runs_result(
    aws, clean, tmp_path, point
):
    crash_then_retry(point, tmp_path, clean)
