"""Lambda containers: a dead worker process fails its own invocation only and is replaced."""

from __future__ import annotations

import pytest

from retail_etl.local.containers import ContainerDied, LambdaContainers


@pytest.fixture
def containers(tmp_path):
    pool = LambdaContainers({}, tmp_path / "lambda.log", workers=2)
    yield pool
    pool.close()


def test_a_dead_container_fails_only_its_invocation_and_is_replaced(containers):
    dying = containers.submit("tests.local.crashing.die", {})
    alive = containers.submit("tests.local.crashing.echo", {"n": 1})
    with pytest.raises(ContainerDied, match="died"):
        dying.result(timeout=60)
    assert alive.result(timeout=60)["n"] == 1
    assert containers.replaced == 1
    answers = [containers.submit("tests.local.crashing.echo", {"n": i}) for i in range(4)]
    assert [f.result(timeout=60)["n"] for f in answers] == [0, 1, 2, 3]


def test_handler_errors_are_raised_as_they_are_not_as_a_death(containers):
    with pytest.raises(ModuleNotFoundError):
        containers.invoke("tests.local.no_such_module.handler", {})
    assert containers.replaced == 0
