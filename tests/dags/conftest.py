"""The DAG tests run in their own virtualenv (`.venv-airflow`), with the Airflow release the
CDK config deploys installed from MWAA's constraint file, against moto's Step Functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFINITION = REPO / "build" / "state_machine.dev.json"


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow-home")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__RETAIL_ETL__RETRIES": "0",
            "AIRFLOW__RETAIL_ETL__POKE_INTERVAL_SECONDS": "1",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )
    return home


@pytest.fixture(scope="session")
def synthesized_definition() -> dict:
    return json.loads(DEFINITION.read_text())
