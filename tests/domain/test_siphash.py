"""The vectorized SipHash against pandas' hash_array over the same values (the oracle)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_etl.domain.siphash import siphash

_KEYS = [b"retail-etl-ids-1", b"retail-etl-ids-2", bytes(range(16))]


def _pandas(values: list[str], key: bytes) -> np.ndarray:
    objects = np.array(values, dtype=object)
    return pd.util.hash_array(objects, hash_key=key.decode("latin-1"), categorize=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=40) | st.text("ab\x1f", min_size=250, max_size=270), max_size=30),
    st.integers(0, 3),
)
def test_every_value_hashes_as_pandas_hashes_it_one_by_one(values, cut):
    array = pa.array(["head"] * cut + values, pa.string()).slice(cut)  # offsets not from 0
    hashes = siphash(array, _KEYS)
    for row, key in enumerate(_KEYS):
        assert hashes[row].tolist() == _pandas(values, key).tolist()


def test_null_values_are_refused():
    with pytest.raises(ValueError, match="no null"):
        siphash(pa.array(["a", None]), _KEYS[:1])
