import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from retail_etl.domain.timestamps import parse_timestamps

UTC = dt.UTC


def parse_one(text: str) -> dt.datetime | None:
    micros, valid = parse_timestamps(pa.array([text]))
    if not valid[0]:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=int(micros[0]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T13:45:12Z", dt.datetime(2026, 11, 20, 13, 45, 12, tzinfo=UTC)),
        ("2026-11-20T13:45:12.5Z", dt.datetime(2026, 11, 20, 13, 45, 12, 500000, tzinfo=UTC)),
        (
            "2026-11-20T15:45:12.123456+02:00",
            dt.datetime(2026, 11, 20, 13, 45, 12, 123456, tzinfo=UTC),
        ),
        (
            "2026-11-20T13:45:12.123456789Z",
            dt.datetime(2026, 11, 20, 13, 45, 12, 123456, tzinfo=UTC),
        ),
        ("2026-11-20T08:45:12-0500", dt.datetime(2026, 11, 20, 13, 45, 12, tzinfo=UTC)),
        ("2026-11-20T18:45+05", dt.datetime(2026, 11, 20, 13, 45, tzinfo=UTC)),
        ("2026-11-20T13:45:12", dt.datetime(2026, 11, 20, 13, 45, 12, tzinfo=UTC)),
        ("2026-11-20 13:45:12", dt.datetime(2026, 11, 20, 13, 45, 12, tzinfo=UTC)),
        ("2026-11-20 13:45:12.000001 UTC", dt.datetime(2026, 11, 20, 13, 45, 12, 1, tzinfo=UTC)),
        ("2026-11-20 13:45", dt.datetime(2026, 11, 20, 13, 45, tzinfo=UTC)),
        ("11/20/2026 13:45", dt.datetime(2026, 11, 20, 13, 45, tzinfo=UTC)),
        ("11/20/2026 13:45:12", dt.datetime(2026, 11, 20, 13, 45, 12, tzinfo=UTC)),
        ("1795182312", dt.datetime(2026, 11, 20, 13, 45, 12, tzinfo=UTC)),
        ("1795182312123", dt.datetime(2026, 11, 20, 13, 45, 12, 123000, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", dt.datetime(2024, 2, 29, tzinfo=UTC)),
        ("2000-02-29 00:00:00", dt.datetime(2000, 2, 29, tzinfo=UTC)),
        ("2000-01-01T01:00:00+01:00", dt.datetime(2000, 1, 1, tzinfo=UTC)),
    ],
)
def test_every_accepted_format_parses_to_the_utc_instant(text, expected):
    assert parse_one(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01T00:00:00Z",  # month 13
        "2026-02-29T00:00:00Z",  # not a leap year
        "1900-02-29 00:00:00",  # not a leap year either, and outside the window
        "2026-04-31 10:00:00",  # April has 30 days
        "2026-11-20T24:00:00Z",
        "2026-11-20T13:60:00Z",
        "2026-11-20T13:45:60Z",  # leap seconds are not accepted
        "2026-11-20T13:45:12+24:00",
        "2026-11-20T13:45:12.Z",
        "13/20/2026 10:00",
        "11/31/2026 10:00",
        "2026/11/20 10:00:00",
        "yesterday",
        "",
        "1999-12-31T23:59:59Z",  # before the window
        "2100-01-01T00:00:00Z",  # window end is exclusive
        "2000-01-01T00:30:00+01:00",  # 1999-12-31T23:30Z
        "12345678901234",  # 14 digits
        "-1795182312",
        "1795182312.5",
    ],
)
def test_invalid_or_out_of_window_timestamps_are_rejected(text):
    assert parse_one(text) is None


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 2),
        max_value=dt.datetime(2099, 12, 30),
        timezones=st.just(UTC),
    ),
    st.sampled_from(["iso_z", "offset", "naive", "space_utc", "us", "epoch_s", "epoch_ms"]),
    st.integers(min_value=-14, max_value=14),
)
# a float timestamp renders this as ...002 ms: the text must come from exact arithmetic
@example(dt.datetime(2038, 2, 1, 0, 0, 0, 3000, tzinfo=UTC), "epoch_ms", 0)
def test_rendered_instants_round_trip_in_every_format(instant, form, offset_hours):
    offset = dt.timezone(dt.timedelta(hours=offset_hours))
    local = instant.astimezone(offset)
    since_epoch = instant - dt.datetime(1970, 1, 1, tzinfo=UTC)  # exact, unlike a float
    text, expected = {
        "iso_z": (instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), instant),
        "offset": (local.isoformat(), instant),
        "naive": (instant.strftime("%Y-%m-%dT%H:%M:%S.%f"), instant),
        "space_utc": (instant.strftime("%Y-%m-%d %H:%M:%S UTC"), instant.replace(microsecond=0)),
        "us": (instant.strftime("%m/%d/%Y %H:%M"), instant.replace(second=0, microsecond=0)),
        "epoch_s": (str(since_epoch // dt.timedelta(seconds=1)), instant.replace(microsecond=0)),
        "epoch_ms": (
            str(since_epoch // dt.timedelta(milliseconds=1)),
            instant.replace(microsecond=instant.microsecond // 1000 * 1000),
        ),
    }[form]
    assert parse_one(text) == expected


def test_a_mixed_array_parses_each_row_by_its_own_format():
    texts = [
        "1795182312",
        "2026-11-20T13:45:12Z",
        "bad",
        "11/20/2026 13:45:12",
        "2026-11-20 13:45:12",
    ]
    micros, valid = parse_timestamps(pa.array(texts))
    assert valid.tolist() == [True, True, False, True, True]
    assert len(set(micros[valid].tolist())) == 1
