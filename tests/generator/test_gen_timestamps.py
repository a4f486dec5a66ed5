"""Every accepted timestamp form is produced, renders the intended instant, and the invalid
ones are really invalid under the contract."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter

import numpy as np
import pytest
from contract_reader import parse_timestamp, read_records

from retail_etl.generator import textmatrix as tm
from retail_etl.generator import timestamps

# Independent classification of the written forms (by shape, not by the generator's code).
_SHAPES = {
    "iso_z": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    "iso_z_millis": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "iso_z_micros": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
    "iso_z_nanos": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z",
    "iso_z_minutes": r"\d{4}-\d\d-\d\dT\d\d:\d\dZ",
    "iso_space_z": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ",
    "iso_offset_colon": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d",
    "iso_offset_compact": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}",
    "iso_offset_hours": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d",
    "iso_naive": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",
    "space_utc_micros": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC",
    "space_utc": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
    "space_naive": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "us_minutes": r"\d\d/\d\d/\d{4} \d\d:\d\d",
    "us_seconds": r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d",
    "epoch_seconds": r"\d{10}",
    "epoch_millis": r"\d{13}",
}
_TRUNCATE_TO = {  # precision each form keeps, in microseconds
    "iso_z_millis": 1000,
    "iso_z_micros": 1,
    "iso_z_nanos": 1,
    "iso_z_minutes": 60_000_000,
    "iso_offset_colon": 1000,
    "space_utc_micros": 1,
    "us_minutes": 60_000_000,
    "epoch_millis": 1000,
}


def _shape(text: str) -> str | None:
    return next((name for name, p in _SHAPES.items() if re.fullmatch(p, text)), None)


def test_the_classification_covers_exactly_the_generator_forms():
    assert set(_SHAPES) == {form.name for form in timestamps.FORMS}
    for form in timestamps.FORMS:
        assert _shape(form.example) == form.name
        assert parse_timestamp(form.example) is not None


def test_every_timestamp_form_appears_in_a_few_thousand_events(dataset):
    seen: Counter[str] = Counter()
    json_numbers = 0
    for key in dataset.data_keys("events"):
        _, records = read_records(key, dataset.files[key])
        for record in records:
            values = record.values or {}
            text = next(
                (
                    values[n]
                    for n in ("event_timestamp", "event_time", "timestamp")
                    if values.get(n)
                ),
                None,
            )
            if text and parse_timestamp(text):
                seen[_shape(text.strip()) or "unclassified"] += 1
        if key.endswith((".jsonl", ".jsonl.gz")):
            json_numbers += sum(
                isinstance(v, int)
                for line in records
                if line.values is not None
                for v in [_raw_json_timestamp(line.raw)]
            )
    assert set(seen) == set(_SHAPES), seen
    assert seen.most_common(1)[0][0] == "iso_z"
    assert json_numbers > 0


def _raw_json_timestamp(line: str) -> object:
    obj = {k.strip().lower(): v for k, v in json.loads(line).items()}
    return next((obj[n] for n in ("event_timestamp", "event_time", "timestamp") if n in obj), None)


@pytest.mark.parametrize("form", [f.name for f in timestamps.FORMS])
def test_each_form_renders_the_instant_truncated_to_its_precision(form):
    rng = np.random.default_rng(1)
    low = timestamps.day_number(dt.date(2026, 10, 25)) * timestamps.US_PER_DAY
    instants = np.concatenate(
        [
            low + rng.integers(0, 60 * timestamps.US_PER_DAY, 500),
            [low, low + timestamps.US_PER_DAY - 1],  # day edges
            [timestamps.day_number(dt.date(2028, 2, 29)) * timestamps.US_PER_DAY + 1],
        ]
    )
    code = timestamps.FORM_CODE[form]
    variant = rng.integers(0, 1 << 15, len(instants))
    block = timestamps.render(instants, np.full(len(instants), code), variant)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    step = _TRUNCATE_TO.get(form, 1_000_000)
    for row, micros in enumerate(instants):
        text = tm.row_bytes(block, row).decode()
        assert _shape(text) == form, text
        expected = epoch + dt.timedelta(microseconds=int(micros) // step * step)
        assert parse_timestamp(text) == expected, text


def test_offset_forms_keep_the_utc_date_of_the_instant():
    day = timestamps.day_number(dt.date(2026, 11, 3)) * timestamps.US_PER_DAY
    instants = np.array([day + 30 * 60 * 1_000_000, day + timestamps.US_PER_DAY - 1_000_000])
    for name in ("iso_offset_colon", "iso_offset_compact", "iso_offset_hours"):
        for variant in range(12):
            block = timestamps.render(
                instants, np.full(2, timestamps.FORM_CODE[name]), np.full(2, variant)
            )
            for row in range(2):
                parsed = parse_timestamp(tm.row_bytes(block, row).decode())
                assert parsed.date() == dt.date(2026, 11, 3)


@pytest.mark.parametrize("day", [dt.date(2026, 11, 1), dt.date(2026, 12, 31), dt.date(2028, 2, 28)])
def test_invalid_timestamps_are_rejected_by_the_contract(day):
    for text in timestamps.invalid_texts(day):
        assert parse_timestamp(text) is None, text
    for number in timestamps.INVALID_EPOCH_NUMBERS:
        assert parse_timestamp(str(number)) is None, number
