"""The key scans of a JSON block against regexes over the same bytes (the oracles)."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_etl.domain.json_text import KEY, keys, literally, only_keys

_KEYS = st.sampled_from(
    ["a", "A", " a ", "b", "other", "x\\", 'q"', "é", "n", "a.b", "a|b", ":", "k" * 64, "k" * 65]
)
_NUMBERS = st.sampled_from(["0", "-1", "12", "1.50", "1e5", "2E-3", "1.", "--1", "9" * 40])
_VALUES = st.one_of(
    st.integers(-5, 10**12).map(str),
    _NUMBERS,
    st.sampled_from(['"a"', '"x\\": 1"', '"\\"a\\": 5}"', '"a\\\\"', "null", "true", "[1, 2]"]),
    st.dictionaries(_KEYS, st.integers(0, 9), max_size=2).map(json.dumps),
)
_SPACE = st.sampled_from(["", " ", "  ", "\t", "     "])


@st.composite
def _blocks(draw) -> bytes:
    """JSON-ish lines (not always valid: numbers like `1.` or `--1` stay bare). Half the
    blocks also have white space before a colon or after a value (RE2 is asked about a
    spaced key); in the other half every `":` must be looked up."""
    rare = draw(st.booleans())
    after_colon = _SPACE if rare else st.sampled_from(["", " ", "  "])
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        members = []
        for _ in range(draw(st.integers(0, 4))):
            key = json.dumps(draw(_KEYS), ensure_ascii=False)
            before = draw(_SPACE) if rare else ""
            tail = draw(st.sampled_from(["", " ", "]"] if rare else ["", "]"]))
            members.append(f"{key}{before}:{draw(after_colon)}{draw(_VALUES)}{tail}")
        lines.append("{" + ",".join(members) + "}")
    if draw(st.booleans()):  # a colon after the block's first quote: no key before it
        lines.insert(0, '": 1')
    return ("\n".join(lines) + "\n").encode("utf-8")


def _only_keys_by_counting(body: bytes, known: list[bytes]) -> bool:
    """The rule counted by RE2: no `"  :`, and as many `"key":` of `known` as `":`."""
    block = pa.array([body], pa.binary())
    if pc.count_substring_regex(block, pattern=r'"[ \t\n\r\x0b\x0c]+:')[0].as_py():
        return False
    if not known:
        return not body.count(b'":')
    ours = pc.count_substring_regex(block, pattern=f'"(?:{literally(known)})":')[0].as_py()
    return ours == pc.count_substring(block, pattern='":')[0].as_py()


@settings(max_examples=300, deadline=None)
@given(_blocks(), st.lists(_KEYS, max_size=6))
def test_a_block_holds_only_known_keys_exactly_when_the_counts_say_so(body, keys):
    known = list(dict.fromkeys(k.encode() for k in keys if '"' not in k and "\\" not in k))
    assert only_keys(body, known) == _only_keys_by_counting(body, known)


@settings(max_examples=300, deadline=None)
@given(_blocks())
def test_the_keys_found_are_the_regexs_in_order_of_first_appearance(body):
    found = keys(body)
    if found is None:  # a form left to the regex: only a spaced key or `":` after `":`
        assert re.search(rb'"\s+:', body) or re.search(rb'":[^"]*":', body)
        return
    assert found == list(dict.fromkeys(KEY.findall(body)))


def test_keys_leave_a_key_after_another_keys_colon_to_the_regex():
    assert keys(b'{"a":":1}\n') is None
    assert keys(b'{"a":"b":1}\n') == list(dict.fromkeys(KEY.findall(b'{"a":"b":1}\n')))


def test_only_keys_finds_a_key_the_regex_key_scan_finds_outside_the_known_ones():
    body = b'{"a": 1, "b": {"c": 2}}\n'
    assert only_keys(body, [b"a", b"b", b"c"])
    assert not only_keys(body, [b"a", b"b"])
    assert set(re.findall(rb'"([^"\\\n]{1,64})"\s*:', body)) == {b"a", b"b", b"c"}


def test_a_colon_after_a_first_quote_of_the_block_is_no_known_key():
    assert not only_keys(b'":1}\n', [b"a"])
    assert only_keys(b'{"a": 1}\n', [b"a"])
