"""Concurrent deliveries (two Lambda containers at once) give the clean run's result. These
run on the moto server, whose DynamoDB requests are atomic as DynamoDB's are, with real leases."""

from __future__ import annotations

import threading

import pytest

from retail_etl.local.emulator import emulated_aws
from tests.guarantees import scenario as sc
from tests.guarantees.harness import Pipeline, differences


@pytest.fixture(scope="module")
def server():
    with emulated_aws():
        yield


@pytest.mark.parametrize(
    "together",
    [(sc.B, sc.C), (sc.A, sc.LATE_PRODUCTS), (sc.A, sc.A), (sc.BASE, sc.LATE_PRODUCTS)],
    ids=["two events files", "events and products", "one message twice", "two products files"],
)
def test_concurrent_deliveries_give_the_clean_runs_result(server, clean, tmp_path, together):
    pipeline = Pipeline(tmp_path, lease_seconds=900)
    refs = {key: pipeline.upload(key, body) for key, body in sc.final_inputs()}
    for key in refs:
        if key not in together:
            pipeline.deliver(refs[key])
    barrier = threading.Barrier(len(together))
    errors: list[BaseException] = []

    def deliver(key: str) -> None:
        barrier.wait()
        try:
            pipeline.deliver(refs[key])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(key,)) for key in together]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    pipeline.settle()
    assert differences(pipeline.outcome(), clean) == {}
