"""`sources infer`: the proposal for each sample layout, and the REES46 proposal, unedited,
loading the REES46 sample exactly as the reviewed profile in sources/ does."""

from __future__ import annotations

from pathlib import Path

import yaml

from retail_etl.adapters.sources import load_profiles
from retail_etl.domain.infer import propose, validate
from tests.domain.test_profile_samples import SAMPLES, run_events

REPO = Path(__file__).resolve().parents[2]


def proposal(sample: str, **kw) -> dict:
    return yaml.safe_load(propose((SAMPLES / sample).read_bytes(), sample, **kw))


def test_the_rees46_proposal_unedited_loads_the_rees46_sample_correctly(tmp_path):
    text = propose((SAMPLES / "rees46.csv").read_bytes(), "rees46.csv")
    (tmp_path / "rees46.yaml").write_text(text)
    inferred = load_profiles(tmp_path)["rees46"]
    shipped = load_profiles(REPO / "sources")["rees46"]
    assert inferred.events.event_types == {
        "view": "view",
        "cart": "add_to_cart",
        "purchase": "purchase",
    }
    assert inferred.events.exclude_event_types == ["remove_from_cart"]
    got, got_rows, _ = run_events("rees46", "rees46.csv", profile=inferred)
    want, want_rows, _ = run_events("rees46", "rees46.csv")
    assert shipped.events.columns == inferred.events.columns
    assert got.reconciles()
    assert (got.rows_in, got.rows_curated, got.rows_duplicate, got.rows_excluded) == (15, 11, 1, 1)
    assert dict(got.rows_quarantined) == dict(want.rows_quarantined)
    drop = ["source_file", "ingested_at"]
    assert got_rows.drop_columns(drop).equals(want_rows.drop_columns(drop))


def test_uci_proposal_detects_encoding_format_and_constants():
    p = proposal("uci_online_retail.csv")
    assert p["file"]["encoding"] in ("cp1252", "latin-1")
    assert p["timestamps"]["formats"] == ["%m/%d/%Y %H:%M"]
    assert p["events"]["columns"]["product_id"] == "StockCode"
    assert p["events"]["columns"]["user_id"] == "CustomerID"
    assert p["events"]["columns"]["event_timestamp"] == "InvoiceDate"
    assert p["events"]["constants"]["event_type"] == "purchase"


def test_ga4_proposal_maps_synonyms_and_excludes_the_rest():
    p = proposal("ga4.jsonl")
    assert p["timestamps"]["formats"] == ["epoch_us"]
    assert p["events"]["columns"]["event_type"] == "event_name"
    assert p["events"]["event_types"]["view_item"] == "view"
    assert p["events"]["event_types"]["add_to_wishlist"] == "wishlist"
    assert set(p["events"]["exclude_event_types"]) == {
        "session_start",
        "page_view",
        "select_promotion",
    }


def test_products_proposal_detects_semicolons_and_decimal_commas():
    p = proposal("ga4_items.csv", kind="products", name="Shop Items")
    assert p["name"] == "shop_items"
    assert p["file"] == {"delimiter": ";", "encoding": "utf-8", "decimal_comma": True}
    assert p["products"]["columns"]["price"] == "price"


def test_a_file_without_a_user_column_gets_an_incomplete_proposal_saying_so():
    text = propose(b"sku,action,ts\np1,view,2026-11-01T10:00:00Z\n", "x.csv")
    assert "# user_id: ???  # required" in text
    try:
        validate(text)
    except ValueError as exc:
        assert "user_id" in str(exc)
    else:
        raise AssertionError("an incomplete proposal must not validate")
