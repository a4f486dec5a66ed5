"""File keys, formats and the file-level variations the contract allows."""

from __future__ import annotations

import gzip
import json
import re

from contract_reader import read_records

from retail_etl.domain.contract import EVENT_TIMESTAMP_ALIASES, PRODUCT_REQUIRED

_EVENTS_KEY = re.compile(r"events/dt=(\d{4}-\d{2}-\d{2})/events-\1-part-\d{3}\.(csv|jsonl)(\.gz)?")
_PRODUCTS_KEY = re.compile(r"products/dt=(\d{4}-\d{2}-\d{2})/products-\1\.(csv|jsonl)(\.gz)?")


def _text(key: str, data: bytes) -> str:
    return (gzip.decompress(data) if key.endswith(".gz") else data).decode("utf-8")


def test_each_day_has_one_products_file_and_three_or_four_events_files(dataset):
    days = {}
    for key, entry in dataset.manifest["files"].items():
        pattern = _PRODUCTS_KEY if entry["kind"] == "products" else _EVENTS_KEY
        match = pattern.fullmatch(key)
        assert match, key
        assert match.group(1) == entry["dt"]
        assert entry["format"] == match.group(2) and entry["gzip"] == bool(match.group(3))
        days.setdefault(entry["dt"], []).append(entry["kind"])
    assert len(days) == 3
    for kinds in days.values():
        assert kinds.count("products") == 1
        assert 3 <= kinds.count("events") <= 4


def test_every_written_file_is_in_the_manifest(dataset):
    assert set(dataset.files) == {*dataset.manifest["files"], "manifest.json"}


def test_gz_files_are_gzip_and_others_are_not(dataset):
    for key in dataset.manifest["files"]:
        data = dataset.files[key]
        assert data.startswith(b"\x1f\x8b") == key.endswith(".gz"), key
        if key.endswith(".gz"):
            assert gzip.decompress(data)


def test_all_four_events_formats_are_used(dataset):
    kinds = {
        (e["format"], e["gzip"])
        for e in dataset.manifest["files"].values()
        if e["kind"] == "events"
    }
    assert kinds == {("csv", False), ("csv", True), ("jsonl", False), ("jsonl", True)}


def test_products_files_alternate_between_csv_and_json_lines(dataset):
    formats = [dataset.manifest["files"][k]["format"] for k in dataset.data_keys("products")]
    assert formats == ["csv", "jsonl", "csv"]


def test_csv_headers_name_the_contract_columns_in_any_case_and_padding(dataset):
    styles = set()
    for key, entry in dataset.manifest["files"].items():
        if entry["format"] != "csv":
            continue
        header, _ = read_records(key, dataset.files[key])
        if entry["kind"] == "events":
            assert {"user_id", "product_id", "event_type", "quantity"} <= set(header)
            assert entry["features"]["timestamp_column"] in header
            assert ("event_id" in header) == entry["has_event_id"]
        else:
            assert set(PRODUCT_REQUIRED) <= set(header)
        first = _text(key, dataset.files[key]).lstrip("\ufeff").split("\n", 1)[0]
        styles.add("upper" if first.isupper() else "padded" if " " in first else "other")
    assert {"padded", "other"} <= styles


def test_json_lines_parse_except_the_malformed_ones(dataset):
    for key, entry in dataset.manifest["files"].items():
        if entry["format"] != "jsonl":
            continue
        broken = 0
        for line in _text(key, dataset.files[key]).splitlines():
            if not line.strip():
                continue
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            broken += not ok
        assert broken == entry["rows_quarantined"]["malformed_row"], key


def test_events_files_show_every_file_level_variation(dataset):
    entries = [dataset.manifest["files"][k] for k in dataset.data_keys("events")]
    features = [e["features"] for e in entries]
    assert sum(f["bom"] for f in features) == 1
    assert any(f["crlf"] for f in features)
    assert any(f["integer_user_ids"] for f in features)
    assert any(f["epoch_numbers"] for f in features)
    assert any(f["blank_lines"] for f in features)
    assert any(not f["final_newline"] for f in features)
    assert any(f["extra_columns"] for f in features)
    assert {f["timestamp_column"] for f in features} == set(EVENT_TIMESTAMP_ALIASES)
    assert {e["has_event_id"] for e in entries} == {True, False}


def test_declared_variations_are_really_in_the_bytes(dataset):
    for key in dataset.data_keys("events"):
        features = dataset.manifest["files"][key]["features"]
        raw = dataset.files[key]
        text = _text(key, raw)
        assert text.startswith("\ufeff") == features["bom"], key
        if dataset.manifest["files"][key]["format"] == "csv":
            assert ("\r\n" in text) == features["crlf"], key
        assert text.endswith("\n") == features["final_newline"], key
        if features["integer_user_ids"]:
            assert re.search(r'"user_id": \d+[,}]', text, re.IGNORECASE), key
        if features["epoch_numbers"]:
            assert re.search(r'"(event_timestamp|event_time|timestamp)": \d{10,13}[,}]', text, re.I)


def test_event_ids_are_unique_across_the_dataset(dataset):
    ids = [
        event["event_id"]
        for outcome in dataset.outcomes.values()
        for event in outcome.curated
        if event.get("event_id")
    ]
    assert ids and len(ids) == len(set(ids))


def test_unknown_products_are_ids_never_defined_anywhere(dataset):
    defined = {
        p["product_id"] for k in dataset.data_keys("products") for p in dataset.outcomes[k].curated
    }
    for key in dataset.data_keys("events"):
        _, records = read_records(key, dataset.files[key])
        ids = {(r.values or {}).get("product_id") for r in records} - {None}
        unknown = {i.strip() for i in ids if i.strip() and i.strip() not in defined}
        assert all(i.startswith("PX") for i in unknown), key
