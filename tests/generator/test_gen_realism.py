"""The data behaves like a shop: a funnel, skewed popularity, heavy users, realistic products."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from contract_reader import read_records

from retail_etl.generator import catalogue


def _events(dataset) -> list[dict]:
    return [e for k in dataset.data_keys("events") for e in dataset.outcomes[k].curated]


def test_funnel_narrows_from_views_to_carts_to_purchases(dataset):
    types = Counter(e["event_type"] for e in _events(dataset))
    assert types["view"] > types["add_to_cart"] > types["purchase"] > 0
    assert types["add_to_cart"] > types["wishlist"] > 0
    assert 0.2 < types["add_to_cart"] / types["view"] < 0.4
    assert 0.3 < types["purchase"] / types["add_to_cart"] < 0.5


def test_purchases_follow_a_cart_of_the_same_product_in_the_same_session(dataset):
    events = [e for e in _events(dataset) if e["session_id"]]
    carts = {(e["session_id"], e["product_id"]) for e in events if e["event_type"] == "add_to_cart"}
    purchases = [
        (e["session_id"], e["product_id"]) for e in events if e["event_type"] == "purchase"
    ]
    assert sum(p in carts for p in purchases) / len(purchases) > 0.95


def test_product_popularity_is_skewed(dataset):
    views = Counter(e["product_id"] for e in _events(dataset) if e["event_type"] == "view")
    counts = sorted(views.values(), reverse=True)
    assert counts[0] >= 10 * counts[len(counts) // 2]


def test_heavy_users_buy_several_times_a_day(dataset):
    per_day = Counter(
        (e["event_ts"].date(), e["user_id"])
        for e in _events(dataset)
        if e["event_type"] == "purchase"
    )
    days = {d for (d, _), n in per_day.items() if n >= 2}
    assert {dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)} <= days


def test_quantities_are_mostly_one_with_some_larger_purchases(dataset):
    quantities = Counter(e["quantity"] for e in _events(dataset) if e["event_type"] == "purchase")
    assert quantities[1] > 0.7 * sum(quantities.values())
    assert any(q in quantities for q in range(2, 6))
    assert all(1 <= q <= 5 for q in quantities)


def test_no_two_curated_events_share_content(dataset):
    """Files without event_id rely on content-derived ids: equal content would be a duplicate."""
    content = Counter(
        (
            e["user_id"],
            e["product_id"],
            e["event_type"],
            e["event_ts"],
            e["quantity"],
            e["session_id"],
        )
        for e in _events(dataset)
    )
    assert content.most_common(1)[0][1] == 1


def test_no_two_events_of_a_day_share_user_product_type_and_session(dataset):
    seen = Counter()
    for key in dataset.data_keys("events"):
        day = dataset.manifest["files"][key]["dt"]
        for e in dataset.outcomes[key].curated:
            seen[(day, e["user_id"], e["product_id"], e["event_type"], e["session_id"])] += 1
    assert seen.most_common(1)[0][1] == 1


def test_some_events_have_no_session_and_some_users_are_integers(dataset):
    events = _events(dataset)
    assert any(e["session_id"] is None for e in events)
    assert any(e["user_id"].isdigit() for e in events)
    assert any(e["user_id"].startswith("U") for e in events)


def test_products_have_categories_with_their_own_price_ranges(dataset):
    key = dataset.data_keys("products")[0]
    prices: dict[str, list[float]] = {}
    for product in dataset.outcomes[key].curated:
        prices.setdefault(product["category"], []).append(float(product["price"]))
    assert set(prices) == {c.name for c in catalogue.CATEGORIES}
    for category in catalogue.CATEGORIES:
        values = prices[category.name]
        assert min(values) >= category.low * 0.79 and max(values) <= category.high * 1.21


def test_some_prices_have_three_decimals_and_some_names_are_missing(dataset):
    key = dataset.data_keys("products")[0]
    prices = [p["price"] for p in dataset.outcomes[key].curated]
    assert any(len(p.partition(".")[2]) == 3 and p.endswith("5") for p in prices)
    _, records = read_records(key, dataset.files[key])
    assert any(r.values and r.values.get("product_name") is None for r in records)


def test_a_superseded_product_row_carries_a_stale_price(dataset):
    for key in dataset.data_keys("products"):
        outcome = dataset.outcomes[key]
        prices: dict[str, list[str]] = {}
        for row in outcome.accepted:
            prices.setdefault(row["product_id"], []).append(row["price"])
        superseded = {pid: seen for pid, seen in prices.items() if len(seen) > 1}
        assert len(superseded) == dataset.manifest["files"][key]["rows_duplicate"] > 0, key
        last = {p["product_id"]: p["price"] for p in outcome.curated}
        for pid, seen in superseded.items():
            assert seen[-1] == last[pid] and last[pid] not in seen[:-1], (key, pid)


def test_later_days_change_some_prices_and_add_products(dataset):
    first, *later = dataset.data_keys("products")
    known = {p["product_id"] for p in dataset.outcomes[first].curated}
    for key in later:
        ids = {p["product_id"] for p in dataset.outcomes[key].curated}
        changed, new = ids & known, ids - known
        assert 0.03 * len(known) <= len(changed) <= 0.07 * len(known)
        assert new
        known |= ids
