from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_etl.domain.contract import PRICE, REVENUE
from retail_etl.domain.money import (
    cents_to_decimal,
    decimal_to_cents,
    fits,
    max_cents,
    price_to_cents,
)


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


@pytest.mark.parametrize("text", ["-1", "abc", "1e3", "1.", ".5", "1,5", "1" * 31, "", None])
def test_text_that_is_not_a_contract_price_is_rejected(text):
    assert price_to_cents(text) is None


@given(st.lists(st.integers(min_value=-(10**14) + 1, max_value=10**14 - 1), max_size=50))
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


def test_a_well_formed_price_too_large_for_decimal_12_2_is_a_price_that_does_not_fit():
    """Callers quarantine it as amount_out_of_range rather than invalid_price."""
    assert max_cents(PRICE) == 999_999_999_999
    assert price_to_cents("12345678901") == 1_234_567_890_100
    assert fits(np.array([999_999_999_999, 1_000_000_000_000]), PRICE).tolist() == [True, False]
    # rounding half-up can carry a price over the edge
    assert price_to_cents("9999999999.995") == max_cents(PRICE) + 1


def test_cents_that_do_not_fit_the_type_raise_instead_of_wrapping():
    top = max_cents(REVENUE)
    assert cents_to_decimal(np.array([top, -top]), REVENUE).to_pylist() == [
        Decimal("999999999999.99"),
        Decimal("-999999999999.99"),
    ]
    with pytest.raises(OverflowError, match="do not fit decimal128"):
        cents_to_decimal(np.array([1, top + 1]), REVENUE)
    with pytest.raises(OverflowError):
        cents_to_decimal(np.array([-top - 1]), REVENUE)


def test_a_null_slot_may_hold_any_cents():
    big = np.array([10**16, 5])
    out = cents_to_decimal(big, REVENUE, valid=np.array([False, True]))
    assert out.to_pylist() == [None, Decimal("0.05")]
