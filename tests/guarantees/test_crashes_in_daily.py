"""A crash at every distinct AWS call of each daily step (see `crash_points.py`), then the
task's Retry, gives the clean run's result."""

from __future__ import annotations

import pytest

from tests.guarantees.crash_points import crash_then_retry, daily_points, point_id


@pytest.mark.parametrize("point", daily_points(), ids=point_id)
def test_a_crash_in_a_daily_step_then_the_retry_gives_the_clean_runs_result(
    aws, clean, tmp_path, point
):
    crash_then_retry(point, tmp_path, clean)
