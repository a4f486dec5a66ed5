from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_etl.domain.contract import PRICE, REVENUE
from retail_etl.domain.money import cents_to_decimal, decimal_to_cents, price_to_cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("19.99", 1999),
        ("19.995", 2000),  # half-up, where binary floats would give 19.99
        ("0.005", 1),
        ("0.004999", 0),
        ("2.675", 268),  # float(2.675) rounds to 2.67
        ("7", 700),
        ("7.5", 750),
        ("0", 0),
        ("9999999999.99", 999_999_999_999),
    ],
)
def test_prices_round_half_up_to_cents(text, cents):
    assert price_to_cents(text) == cents


@pytest.mark.parametrize("text", ["-1", "abc", "1e3", "1.", ".5", "1,5", "12345678901", "", None])
def test_text_that_is_not_a_contract_price_is_rejected(text):
    assert price_to_cents(text) is None


@given(st.lists(st.integers(min_value=-(10**15), max_value=10**15), max_size=50))
def test_cents_become_exact_decimals_and_back(values):
    cents = np.array(values, dtype=np.int64)
    decimals = cents_to_decimal(cents, REVENUE)
    assert decimals.to_pylist() == [Decimal(v).scaleb(-2) for v in values]
    assert decimal_to_cents(decimals).tolist() == values


def test_cents_to_decimal_marks_nulls_where_invalid():
    decimals = cents_to_decimal(
        np.array([100, 200, 300]), PRICE, valid=np.array([True, False, True])
    )
    assert decimals.to_pylist() == [Decimal("1.00"), None, Decimal("3.00")]
    assert decimal_to_cents(decimals.slice(1)).tolist() == [0, 300]


def test_decimal_to_cents_reads_sliced_arrays():
    arr = pa.array([Decimal("1.00"), Decimal("2.50"), Decimal("-3.25")], type=PRICE)
    assert decimal_to_cents(arr.slice(1)).tolist() == [250, -325]
