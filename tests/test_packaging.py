"""The installed project: a `retail-etl` command, the package and the Lambda entry points
only (no tests, infra or benchmarks), built by a pinned backend."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_console_script_is_the_cli_main():
    target = PYPROJECT["project"]["scripts"]["retail-etl"]
    module, _, function = target.partition(":")
    assert getattr(importlib.import_module(module), function).__name__ == "main"


def test_the_build_backend_is_pinned_and_the_packages_exclude_tests():
    build = PYPROJECT["build-system"]
    assert build["build-backend"] == "setuptools.build_meta"
    assert all("==" in r for r in build["requires"])
    found = find_packages(str(REPO), **PYPROJECT["tool"]["setuptools"]["packages"]["find"])
    assert "retail_etl" in found and "retail_etl.cli" in found and "lambdas.ingest" in found
    assert not [p for p in found if p.split(".")[0] in ("tests", "infra", "benchmarks", "dags")]


def test_make_venv_installs_the_project():
    makefile = (REPO / "Makefile").read_text()
    assert "--no-deps -e ." in makefile
