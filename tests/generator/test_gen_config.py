"""MessConfig controls the mess; a clean dataset is curated entirely; bad arguments fail early."""

from __future__ import annotations

import dataclasses

import pytest

from retail_etl.adapters.files import local_writer
from retail_etl.generator import MessConfig, generate_dataset


def test_clean_config_sets_every_kind_to_zero():
    assert all(v == 0 for v in dataclasses.asdict(MessConfig.clean()).values())


def test_default_event_rates_are_small_fractions():
    defaults = MessConfig()
    for name in ("missing_user_id", "invalid_timestamp", "unknown_product", "malformed_row"):
        assert 0.001 <= getattr(defaults, name) <= 0.005


def test_clean_dataset_has_no_quarantine_duplicates_or_late_events(clean_dataset):
    for key, entry in clean_dataset.manifest["files"].items():
        assert entry["rows_duplicate"] == 0 and entry["late_events"] == 0, key
        assert not any(entry["rows_quarantined"].values()), key
        assert entry["rows_curated"] == entry["rows_in"], key
        counts = clean_dataset.outcomes[key].counts
        assert set(counts) == {"curated"}, (key, counts)


def test_clean_dataset_has_exactly_events_per_day_curated_events(clean_dataset):
    assert clean_dataset.manifest["curated_by_event_date"] == {
        "2026-11-01": 2000,
        "2026-11-02": 2000,
    }


def test_mess_rates_scale_with_the_file(dataset):
    events = dataset.manifest["totals"]["events"]
    share = events["rows_quarantined"]["invalid_timestamp"] / events["rows_in"]
    assert share == pytest.approx(MessConfig().invalid_timestamp, rel=0.3)


def test_products_mess_counts_are_per_file(dataset):
    for key in dataset.data_keys("products"):
        quarantined = dataset.manifest["files"][key]["rows_quarantined"]
        assert quarantined["invalid_price"] == MessConfig().products_invalid_price


@pytest.mark.parametrize(
    "change",
    [
        {"missing_user_id": -0.1},
        {"late": 1.5},
        {"missing_timestamp": 0.6},
        {"products_duplicate": -1},
    ],
)
def test_impossible_mess_settings_are_rejected(change):
    with pytest.raises(ValueError):
        MessConfig(**change)


@pytest.mark.parametrize(
    "kwargs",
    [{"days": 0}, {"events_per_day": 10}, {"products": 3}, {"seed": -1}],
)
def test_impossible_sizes_are_rejected(kwargs):
    args = {"days": 1, "events_per_day": 200, "products": 50, "seed": 0} | kwargs
    with pytest.raises(ValueError):
        generate_dataset(lambda key, data: None, **args)


def test_local_writer_stores_keys_as_relative_paths(tmp_path):
    manifest = generate_dataset(local_writer(tmp_path), days=1, events_per_day=200, products=20)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {*manifest["files"], "manifest.json"}


def test_the_smallest_dataset_gives_every_events_file_records():
    for seed in range(10):
        files: dict[str, bytes] = {}
        manifest = generate_dataset(files.__setitem__, days=2, events_per_day=200, seed=seed)
        for key, entry in manifest["files"].items():
            assert entry["rows_in"] > 0, (seed, key)
