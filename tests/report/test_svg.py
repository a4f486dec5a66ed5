"""The report's SVG charts and page, without a browser: bars, axes, escaping."""

from __future__ import annotations

import re
from decimal import Decimal

from retail_etl.operations.counts import FileCounts, Totals
from retail_etl.operations.report import (
    CategoryRevenue,
    Freshness,
    QuarantineDay,
    ReportData,
    TopProduct,
)
from retail_etl.report import svg
from retail_etl.report.html import render


def bars(text: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w[\w-]*)="([^"]*)"', b)) for b in re.findall(r"<rect [^>]*>", text)]


def test_stacked_bars_draw_one_bar_per_non_zero_value_with_heights_in_proportion():
    chart = svg.stacked_bars(["d1", "d2"], {"a": [2, 0], "b": [1, 3]}, "x")
    drawn = bars(chart)
    assert [(b["data-label"], b["data-value"]) for b in drawn] == [
        ("d1 a", "2"), ("d1 b", "1"), ("d2 b", "3"),
    ]  # fmt: skip
    heights = [float(b["height"]) for b in drawn]
    assert abs(heights[0] / heights[1] - 2) < 0.01 and abs(heights[2] / heights[1] - 3) < 0.01


def test_axes_are_round_and_counts_have_whole_steps():
    assert svg._nice_max(3, integer=True) == 4
    assert svg._nice_max(1, integer=True) == 4  # 0, 1, 2, 3, 4: never 0.25 users
    assert svg._nice_max(21.48, integer=False) == 40
    assert svg._nice_max(37_000, integer=False) == 40_000


def test_an_empty_chart_says_so():
    assert "no data yet" in svg.stacked_bars([], {}, "x")
    assert "no data yet" in svg.horizontal_bars([], "x")


def test_the_page_escapes_what_the_data_says():
    data = ReportData(
        source="local run in out",
        revenue=[CategoryRevenue("2026-11-01", "<b>Home</b>", Decimal("1.00"), 1, 1)],
        top_products=[TopProduct("2026-11-01", 1, "P1", "<script>x</script>", "Home", 3)],
        multi_purchase_users=[],
        multi_purchase_per_day={},
        quarantine=[QuarantineDay("2026-11-01", "invalid_timestamp", 2)],
        files=[FileCounts("events/a&b.csv", "events", "v", "DONE", rows_in=1, curated=1)],
        totals=Totals(1, 0, 1, 1, 0, 0, 0, 1),
        freshness=Freshness(None, None, None, [], "2026-11-02T00:00:00+00:00"),
    )
    page = render(data)
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;Home" in page
    assert "events/a&amp;b.csv" in page
    assert page.count('class="bar"') == 1 + 1 + 1  # revenue, top product, quarantine
