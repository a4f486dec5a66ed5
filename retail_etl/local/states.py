"""An interpreter of Amazon States Language for the states the daily state machine uses, so a
local run executes the definition the CDK app synthesizes rather than a copy of its steps.

What it runs: Pass, Task, Choice (`StringEquals`, `NumericGreaterThanEquals` rules), Map
(inline, `MaxConcurrency` iterations at once), Wait (`Seconds`), Succeed and Fail; Retry
(`ErrorEquals`, `IntervalSeconds`, `MaxAttempts`, `BackoffRate`) and Catch (`ResultPath`) on
Tasks, Catch on Maps; `InputPath`, `Parameters`, `ResultSelector`, `ResultPath`, `OutputPath`;
the `$$` context object (`Execution`, `State`) and the intrinsic `States.MathAdd`. Paths are
JSONPath (jsonpath-ng). Anything else in a definition (another state type, field, Choice rule
or intrinsic) is refused when the machine is built, so a definition that grows a feature fails
loudly instead of running differently: add it here, with its test.

Pure of AWS: each Task's `Resource` is dispatched to a callable the caller supplies, which gets
the state's parameters and returns its result. A callable's exception is the state's error: a
`StatesError` names it (as Lambda's `errorType` or a service's error code would), any other
exception is named by its class. Waits and retry intervals go through `sleep`, scaled by
`wait_scale` (0 locally: a poll loop need not wait in real time). The machine's `TimeoutSeconds`
is not enforced. Every state run (each retry attempt too) is kept in the execution's history.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import operator
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jsonpath_ng import parse as parse_path

Task = Callable[[Any], Any]
OnEnter = Callable[[str, dict, Any], None]

ALL = "States.ALL"
RUNTIME = "States.Runtime"  # a definition or data error: never retried or caught
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"

_COMMON = {"Type", "Comment", "InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
FIELDS = {
    "Pass": _COMMON | _FLOW | {"Parameters", "ResultPath"},
    "Task": _COMMON
    | _FLOW
    | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Choice": _COMMON | {"Choices", "Default"},
    "Map": _COMMON
    | _FLOW
    | {"ItemsPath", "ItemProcessor", "MaxConcurrency", "ResultPath", "Catch"},
    "Wait": _COMMON | _FLOW | {"Seconds"},
    "Succeed": _COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause"},
}
MACHINE_FIELDS = {"StartAt", "States", "Comment", "TimeoutSeconds", "ProcessorConfig"}
RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate"}
CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Choice rules: operator -> (the variable's type check, comparison)
RULES: dict[str, tuple[Callable[[Any], bool], Callable[[Any, Any], bool]]] = {
    "StringEquals": (lambda v: isinstance(v, str), operator.eq),
    "NumericGreaterThanEquals": (_is_number, operator.ge),
}
INTRINSICS: dict[str, Callable[..., Any]] = {"MathAdd": operator.add}
_INTRINSIC = re.compile(r"^States\.(\w+)\((.*)\)$")


class StatesError(Exception):
    """An error as Retry and Catch see it: a name (`error`) and a `cause`."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error, self.cause = error, cause


class DefinitionError(ValueError):
    """The definition uses something this interpreter does not run."""


@dataclass(frozen=True)
class Step:
    """One run of one state, as an execution history records it."""

    state: str
    type: str
    started: float  # time.perf_counter()
    ended: float
    resource: str | None = None
    result: Any = None  # a Task's result, before ResultSelector
    error: str | None = None


@dataclass
class Execution:
    """One execution: its status, its output or its error and cause, and its history."""

    status: str  # SUCCEEDED or FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    started: float = 0.0
    history: list[Step] = field(default_factory=list)

    def steps(self, state: str) -> list[Step]:
        return [s for s in self.history if s.state == state]


# JSONPath --------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _compiled(path: str):
    return parse_path(path)


def select(value: Any, path: str) -> Any:
    """The value at a JSONPath; a path that matches nothing is a runtime error."""
    matches = _compiled(path).find(value)
    if not matches:
        raise StatesError(RUNTIME, f"the JSONPath {path} matches nothing in the input")
    if len(matches) == 1 and not re.search(r"\*|\.\.|\[\?|:", path):
        return matches[0].value
    return [m.value for m in matches]


def _put(target: Any, path: str | None, result: Any) -> Any:
    """ResultPath: `result` placed into (a copy of) the state's input."""
    if path is None:
        return target
    if path == "$":
        return result
    if not isinstance(target, dict):
        raise StatesError(RUNTIME, f"ResultPath {path} needs an object input")
    return _compiled(path).update_or_create(copy.deepcopy(target), result)


def _expression(text: str, value: Any, context: dict) -> Any:
    """A path (`$$` reads the context object) or an intrinsic over paths and numbers."""
    if text.startswith("$$"):
        return select(context, text[1:])
    if text.startswith("$"):
        return select(value, text)
    name, args = _INTRINSIC.match(text).groups()
    values = [
        _expression(a, value, context) if a.startswith("$") else json.loads(a)
        for a in (a.strip() for a in args.split(","))
    ]
    return INTRINSICS[name](*values)


def _template(template: Any, value: Any, context: dict) -> Any:
    """Parameters / ResultSelector: keys ending in `.$` take a path's or intrinsic's value."""
    if isinstance(template, dict):
        return {
            k.removesuffix(".$"): _expression(v, value, context)
            if k.endswith(".$")
            else _template(v, value, context)
            for k, v in template.items()
        }
    if isinstance(template, list):
        return [_template(v, value, context) for v in template]
    return template


# validation ------------------------------------------------------------------------------------


def _supported(expression: Any) -> bool:
    """A path, or an intrinsic this interpreter has whose arguments hold no other call."""
    if not isinstance(expression, str):
        return False
    call = _INTRINSIC.match(expression)
    if call:
        return call.group(1) in INTRINSICS and "(" not in call.group(2)
    return expression.startswith("$")


def _check_template(where: str, template: Any) -> None:
    if isinstance(template, dict):
        for k, v in template.items():
            if k.endswith(".$"):
                if not _supported(v):
                    raise DefinitionError(f"{where}: unsupported expression {k}: {v!r}")
            else:
                _check_template(where, v)
    elif isinstance(template, list):
        for v in template:
            _check_template(where, v)


def _check_machine(machine: dict, where: str, resources: set[str]) -> None:
    extra = set(machine) - MACHINE_FIELDS
    if extra:
        raise DefinitionError(f"{where}: unsupported fields {sorted(extra)}")
    if machine.get("ProcessorConfig", {"Mode": "INLINE"}).get("Mode") != "INLINE":
        raise DefinitionError(f"{where}: only inline Map processors run locally")
    for name, state in machine["States"].items():
        kind = state.get("Type")
        if kind not in FIELDS:
            raise DefinitionError(f"{name}: unsupported state type {kind}")
        extra = set(state) - FIELDS[kind]
        if extra:
            raise DefinitionError(f"{name}: unsupported fields {sorted(extra)}")
        for part in ("Parameters", "ResultSelector"):
            _check_template(f"{name}.{part}", state.get(part))
        for retrier in state.get("Retry", []):
            if set(retrier) - RETRIER_FIELDS:
                raise DefinitionError(f"{name}: unsupported Retry fields {sorted(retrier)}")
        for catcher in state.get("Catch", []):
            if set(catcher) - CATCHER_FIELDS:
                raise DefinitionError(f"{name}: unsupported Catch fields {sorted(catcher)}")
        for rule in state.get("Choices", []):
            ops = set(rule) - {"Variable", "Next"}
            if "Variable" not in rule or len(ops) != 1 or not ops <= set(RULES):
                raise DefinitionError(f"{name}: unsupported Choice rule {rule}")
        if kind == "Task":
            resources.add(state["Resource"])
        if kind == "Map":
            _check_machine(state["ItemProcessor"], f"{name}.ItemProcessor", resources)


# the interpreter -------------------------------------------------------------------------------


class StateMachine:
    """A definition, with a callable for each of its Task resources."""

    def __init__(
        self,
        definition: dict,
        tasks: Mapping[str, Task],
        *,
        name: str = "local",
        sleep: Callable[[float], None] = time.sleep,
        wait_scale: float = 1.0,
        on_enter: OnEnter | None = None,
    ) -> None:
        resources: set[str] = set()
        _check_machine(definition, name, resources)
        missing = resources - set(tasks)
        if missing:
            raise DefinitionError(f"no local task for {sorted(missing)}")
        self.definition, self.tasks, self.name = definition, tasks, name
        self._sleep, self._scale = sleep, wait_scale
        self._on_enter = on_enter or (lambda name, state, value: None)
        self._lock = threading.Lock()

    def execute(self, value: Any, execution: str | None = None) -> Execution:
        """Run the machine on `value`; a failure is the execution's status, never raised."""
        execution = execution or uuid.uuid4().hex
        run = Execution("RUNNING", started=time.perf_counter())
        context = {
            "Execution": {
                "Id": f"arn:aws:states:local:000000000000:execution:{self.name}:{execution}",
                "Name": execution,
                "Input": value,
                "StartTime": dt.datetime.now(dt.UTC).isoformat(),
            },
            "StateMachine": {"Name": self.name},
        }
        try:
            run.output = self._run(self.definition, value, context, run)
            run.status = SUCCEEDED
        except StatesError as exc:
            run.status, run.error, run.cause = FAILED, exc.error, exc.cause
        return run

    def _wait(self, seconds: float) -> None:
        if seconds * self._scale > 0:
            self._sleep(seconds * self._scale)

    def _record(self, run: Execution, step: Step) -> None:
        with self._lock:
            run.history.append(step)

    def _run(self, machine: dict, value: Any, context: dict, run: Execution) -> Any:
        """Run a machine (or a Map's item processor) from its StartAt; its output."""
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            kind = state["Type"]
            self._on_enter(name, state, value)
            started = time.perf_counter()
            try:
                if kind == "Fail":
                    raise StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
                effective = select(value, state.get("InputPath", "$"))
                if kind == "Choice":
                    following, output = self._choose(name, state, effective), effective
                else:
                    here = {**context, "State": {"Name": name}}
                    output = self._state(name, state, value, effective, here, run)
                    following = None if kind == "Succeed" or state.get("End") else state["Next"]
                output = select(output, state.get("OutputPath", "$"))
            except StatesError as exc:
                if kind != "Task":  # a Task records each attempt itself
                    self._record(
                        run, Step(name, kind, started, time.perf_counter(), error=exc.error)
                    )
                catcher = None if kind == "Fail" else self._catcher(state, exc)
                if catcher is None:
                    raise
                value = _put(value, catcher.get("ResultPath", "$"), _error(exc))
                name = catcher["Next"]
                continue
            if kind != "Task":
                self._record(run, Step(name, kind, started, time.perf_counter()))
            if following is None:
                return output
            value, name = output, following

    def _state(
        self, name: str, state: dict, value: Any, effective: Any, context: dict, run: Execution
    ) -> Any:
        """A state's output before OutputPath."""
        kind = state["Type"]
        if kind == "Succeed":
            return effective
        if kind == "Wait":
            self._wait(state["Seconds"])
            return effective
        if "Parameters" in state:
            effective = _template(state["Parameters"], effective, context)
        if kind == "Pass":
            result = effective
        elif kind == "Task":
            result = self._retried(state, lambda: self._task(name, state, effective, run))
        else:  # Map
            result = self._map(state, effective, context, run)
        if "ResultSelector" in state:
            result = _template(state["ResultSelector"], result, context)
        return _put(value, state.get("ResultPath", "$"), result)

    def _task(self, name: str, state: dict, parameters: Any, run: Execution) -> Any:
        resource = state["Resource"]
        started = time.perf_counter()
        try:
            result = self.tasks[resource](copy.deepcopy(parameters))
        except StatesError as exc:
            self._record(
                run, Step(name, "Task", started, time.perf_counter(), resource, None, exc.error)
            )
            raise
        except Exception as exc:
            error = type(exc).__name__
            self._record(
                run, Step(name, "Task", started, time.perf_counter(), resource, None, error)
            )
            raise StatesError(error, str(exc)) from exc
        self._record(run, Step(name, "Task", started, time.perf_counter(), resource, result))
        return result

    def _map(self, state: dict, value: Any, context: dict, run: Execution) -> list:
        items = select(value, state.get("ItemsPath", "$"))
        if not isinstance(items, list):
            raise StatesError(RUNTIME, f"ItemsPath {state.get('ItemsPath', '$')} is no array")
        processor = state["ItemProcessor"]
        workers = state.get("MaxConcurrency") or len(items) or 1
        futures: list[Future] = []
        with ThreadPoolExecutor(workers, thread_name_prefix="map") as pool:
            running: set[Future] = set()
            for item in items:  # started as slots free up; none after a failure
                if len(running) >= workers:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    if any(f.exception() for f in done):
                        break
                futures.append(pool.submit(self._run, processor, item, context, run))
                running.add(futures[-1])
        failed = next((f for f in futures if f.exception()), None)
        if failed is not None:
            raise failed.exception()
        return [f.result() for f in futures]

    def _retried(self, state: dict, attempt: Callable[[], Any]) -> Any:
        """Run `attempt`; on an error, the first retrier that names it decides."""
        retriers = state.get("Retry", [])
        attempts = [0] * len(retriers)
        while True:
            try:
                return attempt()
            except StatesError as exc:
                i = _matching(retriers, exc)
                if i is None or attempts[i] >= retriers[i].get("MaxAttempts", 3):
                    raise
                retrier = retriers[i]
                interval = retrier.get("IntervalSeconds", 1)
                self._wait(interval * retrier.get("BackoffRate", 2.0) ** attempts[i])
                attempts[i] += 1

    @staticmethod
    def _catcher(state: dict, exc: StatesError) -> dict | None:
        catchers = state.get("Catch", [])
        i = _matching(catchers, exc)
        return None if i is None else catchers[i]

    @staticmethod
    def _choose(name: str, state: dict, value: Any) -> str:
        for rule in state["Choices"]:
            (op,) = set(rule) - {"Variable", "Next"}
            accepts, compare = RULES[op]
            variable = select(value, rule["Variable"])
            if accepts(variable) and compare(variable, rule[op]):
                return rule["Next"]
        if "Default" not in state:
            raise StatesError("States.NoChoiceMatched", f"{name}: no rule matched")
        return state["Default"]


def _matching(handlers: list[dict], exc: StatesError) -> int | None:
    """The first retrier or catcher whose ErrorEquals names the error (States.ALL: any but
    States.Runtime)."""
    if exc.error == RUNTIME:
        return None
    for i, handler in enumerate(handlers):
        names = handler["ErrorEquals"]
        if exc.error in names or ALL in names:
            return i
    return None


def _error(exc: StatesError) -> dict:
    return {"Error": exc.error, "Cause": exc.cause}
