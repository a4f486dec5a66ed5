"""Small generated datasets shared by the generator tests (each built once per session)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from contract_reader import Outcome, recount

from retail_etl.generator import MessConfig, generate_dataset

START = dt.date(2026, 11, 1)


@dataclass
class Dataset:
    files: dict[str, bytes]
    manifest: dict
    outcomes: dict[str, Outcome]

    def data_keys(self, kind: str) -> list[str]:
        return [k for k, f in self.manifest["files"].items() if f["kind"] == kind]


def build(**kwargs) -> Dataset:
    files: dict[str, bytes] = {}
    manifest = generate_dataset(files.__setitem__, **kwargs)
    return Dataset(files, manifest, recount(files, manifest))


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    """Three messy days, a few thousand events each: every mess kind and form shows up."""
    return build(days=3, events_per_day=4000, products=300, seed=0, start_date=START)


@pytest.fixture(scope="session")
def clean_dataset() -> Dataset:
    return build(days=2, events_per_day=2000, products=200, seed=5, mess=MessConfig.clean())
