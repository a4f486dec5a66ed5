"""Any arrival order of the scenario's uploads, with late messages, a message delivered three
more times and daily runs in between, gives the clean run's warehouse, aggregates and lake."""

from __future__ import annotations

import random

import pytest

from tests.guarantees import scenario as sc
from tests.guarantees.harness import Pipeline, differences

ORDERS = 20


def arrival_plan(seed: int) -> list[tuple[str, int]]:
    """A random order of the uploads (a key's versions keep their order, as S3's do), each
    message delivered at once or later, one message delivered three more times, and two
    daily runs at random points."""
    rng = random.Random(seed)
    while True:
        order = list(range(len(sc.UPLOADS)))
        rng.shuffle(order)
        keys = [sc.UPLOADS[i][0] for i in order]
        if all(order[keys.index(k)] <= order[j] for j, k in enumerate(keys)):
            break
    steps: list[tuple[str, int]] = []
    delayed: list[int] = []
    for i in order:
        steps.append(("upload", i))
        if rng.random() < 0.3:
            delayed.append(i)
        else:
            steps.append(("deliver", i))
        if delayed and rng.random() < 0.5:
            steps.append(("deliver", delayed.pop(0)))
    steps += [("deliver", i) for i in delayed]
    again = rng.choice(order)
    first = steps.index(("deliver", again))
    for _ in range(3):
        steps.insert(rng.randint(first + 1, len(steps)), ("deliver", again))
    for _ in range(2):
        steps.insert(rng.randint(1, len(steps)), ("daily", -1))
    return steps


def play(pipeline: Pipeline, steps: list[tuple[str, int]]) -> None:
    refs = {}
    for action, i in steps:
        if action == "upload":
            key, body = sc.UPLOADS[i]
            refs[i] = pipeline.upload(key, body)
        elif action == "deliver":
            pipeline.deliver(refs[i])
        else:
            pipeline.run_daily()


@pytest.mark.parametrize("seed", range(ORDERS))
def test_any_arrival_order_with_redeliveries_gives_the_clean_runs_result(
    aws, clean, tmp_path, seed
):
    pipeline = Pipeline(tmp_path)
    play(pipeline, arrival_plan(seed))
    pipeline.settle()
    assert differences(pipeline.outcome(), clean) == {}


def test_the_orders_tried_include_the_hard_cases():
    """Products after the events they price, an old version's message after the new one's,
    a corrected products file after the events it reprices, and distinct orders throughout."""
    plans = [arrival_plan(seed) for seed in range(ORDERS)]
    assert len({tuple(p) for p in plans}) == ORDERS
    late_products = late_old_version = late_correction = 0
    for steps in plans:
        delivered = [i for a, i in steps if a == "deliver"]
        uploads = [i for a, i in steps if a == "upload"]
        late_products += delivered.index(2) > delivered.index(1)  # late.csv after a.csv v1
        late_correction += delivered.index(6) > delivered.index(3)  # base v2 after b.csv
        late_old_version += any(
            delivered[::-1].index(old) < delivered[::-1].index(new)
            and uploads.index(old) < uploads.index(new)
            for old, new in ((0, 6), (1, 7))
        )
    assert late_products >= 5 and late_correction >= 5 and late_old_version >= 2, (
        late_products,
        late_correction,
        late_old_version,
    )
