"""The manifest states what a correct pipeline must count; an independent re-reading agrees."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from conftest import START
from contract_reader import as_manifest_counts

from retail_etl.domain.contract import EVENT_REASONS, PRODUCT_REASONS
from retail_etl.generator import MANIFEST_KEY


def test_every_file_reconciles_rows_in_with_its_outcomes(dataset):
    for key, entry in dataset.manifest["files"].items():
        accounted = (
            entry["rows_curated"]
            + entry["rows_duplicate"]
            + sum(entry["rows_quarantined"].values())
        )
        assert entry["rows_in"] == accounted, key


def test_every_file_lists_every_reason_of_its_kind(dataset):
    for entry in dataset.manifest["files"].values():
        reasons = EVENT_REASONS if entry["kind"] == "events" else PRODUCT_REASONS
        assert list(entry["rows_quarantined"]) == list(reasons)


def test_counts_match_a_row_by_row_reading_of_the_contract(dataset):
    for key, entry in dataset.manifest["files"].items():
        expected = {k: entry[k] for k in ("rows_in", "rows_curated", "rows_duplicate")}
        expected["rows_quarantined"] = entry["rows_quarantined"]
        assert as_manifest_counts(dataset.outcomes[key], entry["kind"]) == expected, key


def test_curated_by_event_date_matches_a_reading_of_the_files(dataset):
    dates: Counter[dt.date] = Counter()
    for outcome in dataset.outcomes.values():
        dates.update(outcome.dates)
    expected = {d.isoformat(): n for d, n in sorted(dates.items())}
    assert dataset.manifest["curated_by_event_date"] == expected
    total = dataset.manifest["totals"]["events"]["rows_curated"]
    assert sum(expected.values()) == total


def test_totals_are_the_sums_of_the_files(dataset):
    files = dataset.manifest["files"].values()
    for kind in ("events", "products"):
        totals = dataset.manifest["totals"][kind]
        chosen = [f for f in files if f["kind"] == kind]
        assert totals["files"] == len(chosen)
        for field in ("rows_in", "rows_curated", "rows_duplicate"):
            assert totals[field] == sum(f[field] for f in chosen)
        for reason, count in totals["rows_quarantined"].items():
            assert count == sum(f["rows_quarantined"][reason] for f in chosen)


def test_messy_dataset_has_every_reason_and_duplicates(dataset):
    """amount_out_of_range is hostile input, not realistic mess: tests/domain and
    tests/lambdas/test_hostile_input.py cover it."""
    for kind in ("events", "products"):
        totals = dataset.manifest["totals"][kind]
        realistic = {
            k: v for k, v in totals["rows_quarantined"].items() if k != "amount_out_of_range"
        }
        assert all(realistic.values()), totals
        assert totals["rows_duplicate"] > 0


def test_late_events_land_one_to_three_days_before_their_file_and_not_before_start(dataset):
    late = 0
    for key, entry in dataset.manifest["files"].items():
        if entry["kind"] != "events":
            continue
        file_day = dt.date.fromisoformat(entry["dt"])
        earlier = {d: n for d, n in dataset.outcomes[key].dates.items() if d != file_day}
        assert all(1 <= (file_day - d).days <= 3 for d in earlier), key
        assert sum(earlier.values()) == entry["late_events"]
        late += entry["late_events"]
    assert late > 0
    first = min(dt.date.fromisoformat(d) for d in dataset.manifest["curated_by_event_date"])
    assert first >= START - dt.timedelta(days=3)


def test_manifest_is_written_as_indented_json_equal_to_the_returned_dict(dataset):
    written = dataset.files[MANIFEST_KEY].decode()
    assert json.loads(written) == dataset.manifest
    assert written.startswith('{\n  "seed": 0,')


def test_manifest_records_the_arguments(dataset):
    m = dataset.manifest
    assert (m["seed"], m["start_date"], m["days"]) == (0, START.isoformat(), 3)
    assert (m["events_per_day"], m["products"]) == (4000, 300)
    assert m["mess"]["duplicate"] > 0


def test_manifest_lists_files_in_processing_order(dataset):
    keys = list(dataset.manifest["files"])
    dts = [dataset.manifest["files"][k]["dt"] for k in keys]
    assert dts == sorted(dts)
    for day in sorted(set(dts)):
        of_day = [k for k, d in zip(keys, dts, strict=True) if d == day]
        assert of_day[0].startswith("products/")
        events = of_day[1:]
        assert events == sorted(events) and all(k.startswith("events/") for k in events)
