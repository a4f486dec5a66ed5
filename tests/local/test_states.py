"""The States Language interpreter, one small hand-written machine per behaviour: every state
type the daily definition uses, Retry and Catch, the paths, the intrinsic and the context."""

from __future__ import annotations

import threading
import time

import pytest

from retail_etl.local.states import (
    FAILED,
    SUCCEEDED,
    DefinitionError,
    StateMachine,
    StatesError,
)

TASK = "arn:test:task"
OTHER = "arn:test:other"


def machine(states: dict, start: str | None = None) -> dict:
    return {"StartAt": start or next(iter(states)), "States": states}


class Flaky:
    """A task that raises `error` its first `failures` calls, then returns its parameters."""

    def __init__(self, failures: int, error: str = "Lambda.ServiceException") -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, parameters):
        self.calls += 1
        if self.calls <= self.failures:
            raise StatesError(self.error, f"call {self.calls}")
        return parameters


def test_pass_applies_input_path_parameters_result_path_and_output_path():
    definition = machine(
        {
            "P": {
                "Type": "Pass",
                "InputPath": "$.inner",
                "Parameters": {"copied.$": "$.values[1]", "fixed": {"k": [1]}},
                "ResultPath": "$.inner.placed",
                "OutputPath": "$.inner",
                "End": True,
            }
        }
    )
    run = StateMachine(definition, {}).execute({"inner": {"values": [5, 6]}, "dropped": 1})
    assert run.status == SUCCEEDED
    assert run.output == {"values": [5, 6], "placed": {"copied": 6, "fixed": {"k": [1]}}}


def test_a_task_gets_its_parameters_and_its_selected_result_is_placed_or_discarded():
    seen = []

    def describe(parameters):
        seen.append(parameters)
        return {"Status": "FINISHED", "Noise": "x"}

    definition = machine(
        {
            "Describe": {
                "Type": "Task",
                "Resource": TASK,
                "Parameters": {"Id.$": "$.load.id"},
                "ResultSelector": {"status.$": "$.Status"},
                "ResultPath": "$.statement",
                "Next": "Discard",
            },
            "Discard": {"Type": "Task", "Resource": TASK, "ResultPath": None, "End": True},
        }
    )
    run = StateMachine(definition, {TASK: describe}).execute({"load": {"id": "s1"}})
    assert seen[0] == {"Id": "s1"}
    assert run.output == {"load": {"id": "s1"}, "statement": {"status": "FINISHED"}}
    assert [(s.state, s.resource, s.result["Status"]) for s in run.history] == [
        ("Describe", TASK, "FINISHED"),
        ("Discard", TASK, "FINISHED"),
    ]


def test_retry_backs_off_until_max_attempts_then_the_catch_puts_the_error_at_its_result_path():
    slept = []
    task = Flaky(failures=99)
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": TASK,
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.ServiceException"],
                        "IntervalSeconds": 2,
                        "MaxAttempts": 3,
                        "BackoffRate": 3,
                    }
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Ok"}],
                "End": True,
            },
            "Ok": {"Type": "Succeed"},
        }
    )
    run = StateMachine(definition, {TASK: task}, sleep=slept.append).execute({"date": "d"})
    assert task.calls == 4  # the first try and three retries
    assert slept == [2, 6, 18]
    assert [s.error for s in run.steps("Work")] == ["Lambda.ServiceException"] * 4
    assert run.status == SUCCEEDED
    assert run.output == {
        "date": "d",
        "failure": {"Error": "Lambda.ServiceException", "Cause": "call 4"},
    }


def test_a_retried_task_that_then_succeeds_goes_on_and_waits_are_scaled():
    slept = []
    task = Flaky(failures=2)
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": TASK,
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 4}],
                "End": True,
            }
        }
    )
    states = StateMachine(definition, {TASK: task}, sleep=slept.append, wait_scale=0.5)
    run = states.execute({"n": 1})
    assert (run.status, run.output, task.calls) == (SUCCEEDED, {"n": 1}, 3)
    assert slept == [2.0, 4.0]  # 4 s then 8 s (BackoffRate 2 by default), halved


def test_only_the_first_retrier_naming_the_error_counts_and_an_unnamed_error_is_not_retried():
    named = Flaky(failures=5, error="Glue.ConcurrentRunsExceededException")
    retry = [
        {"ErrorEquals": ["Glue.ConcurrentRunsExceededException"], "MaxAttempts": 1},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 10},
    ]
    definition = machine({"W": {"Type": "Task", "Resource": TASK, "Retry": retry, "End": True}})
    run = StateMachine(definition, {TASK: named}, wait_scale=0).execute({})
    assert named.calls == 2  # the first retrier's one retry; the States.ALL one is not consulted
    assert (run.status, run.error) == (FAILED, "Glue.ConcurrentRunsExceededException")

    def broken(parameters):
        raise KeyError("date")

    retry = [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 5}]
    definition = machine({"W": {"Type": "Task", "Resource": TASK, "Retry": retry, "End": True}})
    run = StateMachine(definition, {TASK: broken}, wait_scale=0).execute({})
    assert len(run.steps("W")) == 1
    assert (run.status, run.error, run.cause) == (FAILED, "KeyError", "'date'")


def test_choice_takes_the_first_matching_rule_else_its_default():
    definition = machine(
        {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.engine", "StringEquals": "glue", "Next": "Glue"},
                    {"Variable": "$.polls", "NumericGreaterThanEquals": 3, "Next": "GaveUp"},
                ],
                "Default": "Lambda",
            },
            "Glue": {"Type": "Pass", "Parameters": {"to": "glue"}, "End": True},
            "GaveUp": {"Type": "Pass", "Parameters": {"to": "gave up"}, "End": True},
            "Lambda": {"Type": "Pass", "Parameters": {"to": "lambda"}, "End": True},
        }
    )
    states = StateMachine(definition, {})
    outputs = [
        states.execute(value).output["to"]
        for value in (
            {"engine": "glue", "polls": 5},
            {"engine": "lambda", "polls": 3},
            {"engine": "lambda", "polls": 2},
            {"engine": "lambda", "polls": "3"},  # a string is no number: the rule does not match
        )
    ]
    assert outputs == ["glue", "gave up", "lambda", "lambda"]


def test_a_path_that_matches_nothing_fails_the_run_and_no_catch_takes_it():
    definition = machine(
        {
            "Route": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.missing", "StringEquals": "x", "Next": "End"}],
                "Default": "End",
            },
            "End": {"Type": "Succeed"},
        }
    )
    run = StateMachine(definition, {}).execute({})
    assert (run.status, run.error) == (FAILED, "States.Runtime")
    caught = machine(
        {
            "W": {
                "Type": "Task",
                "Resource": TASK,
                "Parameters": {"x.$": "$.missing"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "End"}],
                "End": True,
            },
            "End": {"Type": "Succeed"},
        }
    )
    run = StateMachine(caught, {TASK: lambda p: p}).execute({})
    assert (run.status, run.error) == (FAILED, "States.Runtime")


def test_map_runs_every_item_at_most_max_concurrency_at_a_time_and_keeps_their_order():
    lock, running, peak = threading.Lock(), [0], [0]

    def work(parameters):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return parameters["n"] * 10

    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "W",
                    "States": {
                        "W": {
                            "Type": "Task",
                            "Resource": TASK,
                            "Parameters": {"n.$": "$.n"},
                            "End": True,
                        }
                    },
                },
                "ResultPath": "$.results",
                "End": True,
            }
        }
    )
    items = [{"n": i} for i in range(6)]
    run = StateMachine(definition, {TASK: work}).execute({"items": items})
    assert run.output == {"items": items, "results": [0, 10, 20, 30, 40, 50]}
    assert peak[0] == 2
    assert len(run.steps("W")) == 6 and len(run.steps("Each")) == 1


def test_a_failing_iteration_fails_the_map_into_its_catch():
    def work(parameters):
        if parameters["n"] == 1:
            raise ValueError("bad item")
        return parameters

    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Task", "Resource": TASK, "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "F"}],
                "End": True,
            },
            "F": {"Type": "Fail", "Error": "RunFailed", "Cause": "see the alert"},
        }
    )
    run = StateMachine(definition, {TASK: work}).execute({"items": [{"n": 0}, {"n": 1}, {"n": 2}]})
    assert (run.status, run.error, run.cause) == (FAILED, "RunFailed", "see the alert")
    assert [s.error for s in run.steps("W")] == [None, "ValueError"]  # the third never started
    assert [s.state for s in run.history][-1] == "F"


def test_a_poll_loop_counts_with_math_add_waits_and_reads_the_context():
    slept = []
    definition = machine(
        {
            "Start": {
                "Type": "Pass",
                "Parameters": {"count": 0},
                "ResultPath": "$.polls",
                "Next": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 15, "Next": "Count"},
            "Count": {
                "Type": "Pass",
                "Parameters": {"count.$": "States.MathAdd($.polls.count, 1)"},
                "ResultPath": "$.polls",
                "Next": "Enough",
            },
            "Enough": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.polls.count", "NumericGreaterThanEquals": 3, "Next": "Tell"}
                ],
                "Default": "Wait",
            },
            "Tell": {
                "Type": "Pass",
                "Parameters": {"execution.$": "$$.Execution.Id", "polls.$": "$.polls.count"},
                "End": True,
            },
        }
    )
    states = StateMachine(definition, {}, name="daily", sleep=slept.append)
    run = states.execute({}, execution="e1")
    assert slept == [15, 15, 15]
    assert run.output == {
        "execution": "arn:aws:states:local:000000000000:execution:daily:e1",
        "polls": 3,
    }
    assert [s.state for s in run.history].count("Count") == 3


def test_succeed_ends_with_its_input_and_fail_with_its_error_and_cause():
    ok = machine({"S": {"Type": "Succeed", "OutputPath": "$.keep"}})
    assert StateMachine(ok, {}).execute({"keep": [1], "drop": 2}).output == [1]
    failed = machine({"F": {"Type": "Fail", "Error": "DailyRunFailed", "Cause": "see the alert"}})
    run = StateMachine(failed, {}).execute({})
    assert (run.status, run.error, run.cause) == (FAILED, "DailyRunFailed", "see the alert")


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"Type": "Parallel", "Branches": [], "End": True}, "unsupported state type"),
        ({"Type": "Task", "Resource": TASK, "TimeoutSeconds": 5, "End": True}, "TimeoutSeconds"),
        (
            {"Type": "Pass", "Parameters": {"s.$": "States.Format('{}', $.a)"}, "End": True},
            "unsupported expression",
        ),
        (
            {
                "Type": "Choice",
                "Choices": [{"And": [], "Next": "X"}],
                "Default": "X",
            },
            "unsupported Choice rule",
        ),
        ({"Type": "Task", "Resource": OTHER, "End": True}, "no local task for"),
    ],
)
def test_what_the_interpreter_does_not_run_is_refused_when_the_machine_is_built(state, message):
    with pytest.raises(DefinitionError, match=message):
        StateMachine(machine({"X": state}), {TASK: lambda p: p})
