"""Fixtures of the fault campaign: the clean run every scenario is compared with."""

from __future__ import annotations

import pytest

from tests.guarantees import scenario as sc
from tests.guarantees.harness import Pipeline, emulated_account


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> dict:
    """One clean run: the final version of every file, in drop order, then the daily run."""
    with emulated_account():
        pipeline = Pipeline(tmp_path_factory.mktemp("clean"))
        for key, body in sc.final_inputs():
            pipeline.deliver(pipeline.upload(key, body))
        pipeline.settle()
        outcome = pipeline.outcome()
    assert outcome["warehouse.daily_category_revenue"], "the clean run aggregated nothing"
    return outcome


@pytest.fixture
def aws():
    """In-process moto: sequential scenarios, one fresh account each."""
    with emulated_account():
        yield
