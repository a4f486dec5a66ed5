import io

import pytest

from retail_etl.domain.products import clean_products_file
from retail_etl.domain.report import FileReport

HEADER = "product_id,product_name,category,price,stock_level\n"


def clean(text: str, key: str = "products/dt=2026-11-01/p.csv"):
    report = FileReport(key=key, kind="products")
    result = clean_products_file(io.BytesIO(text.encode()), key, 0, report)
    assert report.reconciles()
    return report, result


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",Phone,electronics,1.00,1", "missing_product_id"),
        ("P1,Phone,,1.00,1", "missing_category"),
        ("P1,Phone,electronics,,1", "missing_price"),
        ("P1,Phone,electronics,-1.00,1", "invalid_price"),
        ("P1,Phone,electronics,abc,1", "invalid_price"),
        ("P1,Phone,electronics,10000000000.00,1", "amount_out_of_range"),
        ("P1,Phone,electronics,9999999999.995,1", "amount_out_of_range"),
        ("P1,Phone,electronics," + "9" * 30 + ",1", "amount_out_of_range"),
        ("P1,Phone,electronics," + "9" * 31 + ",1", "invalid_price"),
        ("P1,Phone,electronics,1.00,-3", "invalid_stock_level"),
        ("P1,Phone,electronics,1.00,many", "invalid_stock_level"),
        ("P1,Phone,electronics", "malformed_row"),
        (",Phone,,abc,x", "missing_product_id"),
    ],
)
def test_each_products_rule_quarantines_with_one_reason(row, reason):
    report, result = clean(HEADER + row + "\n")
    assert dict(report.rows_quarantined) == {reason: 1}
    assert result.quarantine["reason"].to_pylist() == [reason]
    assert result.quarantine["raw_record"].to_pylist() == [row]
    assert len(result.versions) == 0


def test_last_valid_row_per_product_wins_and_earlier_rows_are_duplicates():
    text = (
        HEADER
        + "P1,Old,electronics,10.00,1\nP2,Book,books,5,\n"
        + "P1,New,phones,12.345,2\nP1,Bad,phones,x,2\n"
    )
    report, result = clean(text)
    assert (report.rows_in, report.rows_curated, report.rows_duplicate) == (4, 2, 1)
    assert dict(report.rows_quarantined) == {"invalid_price": 1}
    got = result.versions.set_index("product_id")
    assert got.loc["P1", "product_name"] == "New"
    assert got.loc["P1", "price_cents"] == 1235  # 12.345 rounds half-up
    assert got.loc["P1", "stock_level"] == 2
    assert got.loc["P2", "stock_level"] is None or str(got.loc["P2", "stock_level"]) == "<NA>"


def test_products_json_lines_accept_numeric_prices_and_ids():
    text = '{"product_id": 7, "category": "toys", "price": 19.99, "product_name": null}\n'
    report, result = clean(text, key="products/dt=2026-11-01/p.jsonl")
    assert report.rows_curated == 1
    row = result.versions.iloc[0]
    assert (row["product_id"], row["price_cents"], row["product_name"]) == ("7", 1999, None)


def test_the_largest_price_decimal_12_2_holds_is_accepted():
    _, result = clean(HEADER + "P1,Phone,electronics,9999999999.99,1\n")
    assert result.versions["price_cents"].tolist() == [999_999_999_999]
