"""The DuckDB reference engine against hand-computed results.

One small input covers every rule of docs/data-contract.md: each reason code (amounts out of
range included), each timestamp form and range check, alias and case-varied column names,
BOM/CRLF/gzip/blank lines, truncated gzip, derived ids and duplicates, products history (last
valid row wins, same-date files, price rounding), point-in-time enrichment (price change, late
event, product defined after the event date, waiting events released by a later products
file), cross-file duplicates and the three aggregates (views tie broken by product_id).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from benchmarks.engines import _inputs, duckdb_ref
from retail_etl.domain.contract import AGGREGATES, PRODUCT_HISTORY, QUARANTINE

D = dt.date
UTC = dt.UTC


def ts(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def derived(user, product, event_type, when: dt.datetime, quantity=1, session="") -> str:
    """The engines' content id: md5 of the cleaned fields, event_ts as epoch microseconds."""
    micros = (when - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    text = "\x1f".join([user, product, event_type, str(micros), str(quantity), session])
    return "derived-" + hashlib.md5(text.encode()).hexdigest()


A_CSV = "events/dt=2026-11-01/a.csv"
TS_CSV = "events/dt=2026-11-01/ts.csv"
Z7_JSON = "events/dt=2026-11-01/z7.json"
B_JSONL = "events/dt=2026-11-02/b.jsonl"
C_JSONL_GZ = "events/dt=2026-11-03/c.jsonl.gz"
P1_CSV = "products/dt=2026-11-01/products.csv"
P2_JSONL = "products/dt=2026-11-02/products.jsonl"

FILES: dict[str, bytes | str] = {
    "manifest.json": "{}",
    P1_CSV: (
        "product_id,product_name,category,price,stock_level\n"
        "P2,Case old,accessories,1.00,\n"  # 2 superseded by line 3: duplicate
        "P2,Case,accessories,9.995,\n"  # 3 half-up: 10.00
        "P1,Phone,electronics,100.004,5\n"  # 4
        "P3,Book,books,abc,1\n"  # 5 invalid_price
        ",NoId,books,1.00,1\n"  # 6 missing_product_id
        "P4,Toy,,1.00,1\n"  # 7 missing_category
        "P5,Toy,toys,,1\n"  # 8 missing_price
        "P6,Toy,toys,1.00,x1\n"  # 9 invalid_stock_level
        'P7,"Mug, big",kitchen,2.5\n'  # 10 malformed_row: 4 fields
        'P8,"Mug, ""big""",kitchen,"2.50",\n'  # 11 quoted fields
        "P9,  ,garden,  3.1 ,007\n"  # 12 blank name is missing; trimmed price
        "P12,Yacht,boats,9999999999.995,\n"  # 13 rounds beyond decimal(12,2)
        "P13,Jet,planes,9999999999.99,\n"  # 14 the largest price
    ),
    P2_JSONL: (
        '{"product_id": "P1", "product_name": "Phone v2", "category": "electronics",'
        ' "price": "120"}\n'
        '{"PRODUCT_ID": 9, "Category": "misc", "price": 0.5, "extra": {"nested": true}}\n'
        '{"product_id": "P10", "category": "late", "price": "5", "stock_level": null}\n'
        "not json\n"  # 4 malformed_row
        '{"product_id": "P11", "category": "x", "price": true}\n'  # 5 malformed_row
    ),
    "products/dt=2026-11-03/a.csv": (
        "product_id,product_name,category,price\nP1,Phone v3,phones,150\nP20,Lamp,home,30\n"
    ),
    # Same effective date, processed later: its versions win.
    "products/dt=2026-11-03/b.csv": (
        "product_id,product_name,category,price\nP1,Phone v3b,phones,155.5\nP20,Lamp v2,home,35\n"
    ),
    A_CSV: (
        "\ufeffEVENT_ID, User_Id ,product_id,Event_Type,event_time,quantity,session_id,extra\r\n"
        "e1,U1,P1,purchase,2026-11-01T10:00:00Z,2,s1,x\r\n"  # 2
        "e2,U1,P2,PURCHASE,11/01/2026 11:00,,,x\r\n"  # 3
        "e3,U2,P1,view,1793527200,,,x\r\n"  # 4 epoch seconds
        "e4,U2,P1,view,1793527200000,,,x\r\n"  # 5 epoch milliseconds
        "e5,U3,P2,view,2026-11-01 12:00:00.1234567+02:00,,,x\r\n"  # 6
        "e6,U3,P8,view,2026-11-01 13:00 UTC,, s6 ,x\r\n"  # 7
        "   \r\n"  # 8 blank: not a record
        "e7,,P1,view,2026-11-01T10:00:00Z,,,x\r\n"  # 9
        "e8,U1,,view,2026-11-01T10:00:00Z,,,x\r\n"  # 10
        "e9,U1,P1,,2026-11-01T10:00:00Z,,,x\r\n"  # 11
        "e10,U1,P1,click,2026-11-01T10:00:00Z,,,x\r\n"  # 12
        "e11,U1,P1,view,,,,x\r\n"  # 13
        "e12,U1,P1,view,2026-02-29T10:00:00Z,,,x\r\n"  # 14 not a leap year
        "e13,U1,P1,view,2026-11-01T10:00:00Z,0,,x\r\n"  # 15
        "e14,U1,P1,view,2026-11-01T10:00:00Z,10001,,x\r\n"  # 16
        "e15,U1,P404,view,2026-11-01T10:00:00Z,,,x\r\n"  # 17 never defined
        "e16,U1,P1,view\r\n"  # 18 too few fields
        "e1,U9,P1,view,2026-11-01T11:00:00Z,,,x\r\n"  # 19 duplicate of line 2
        'e17,"U1,x",P1,view,2026-11-01T14:00:00Z,00003,,x\r\n'  # 20
        'e18,U1,P1,view,"2026-11-01T10:00:00Z,,,x\r\n'  # 21 open quote
        "e19,U8,P20,view,2026-11-01T15:00:00Z,,,x\r\n"  # 22 waits for P20 (11-03)
        "e30,U7,P1,view,2026-11-03T08:00:00Z,,,x\r\n"  # 23 dated after its file
        ",U1,P2,view,2026-11-01T16:00:00Z,,,x\r\n"  # 24 derived id
        ",U1,P2,view,1793548800,1,,x"  # 25 same content: duplicate; no final newline
    ),
    TS_CSV: "user_id,product_id,event_type,timestamp\n"
    + "".join(
        f"T{i:02d},P1,view,{value}\n"
        for i, value in enumerate(
            [
                "2026-11-01T10:00:00Z",  # T01
                "2026-11-01T10:00:00",  # T02 no zone: UTC
                "2026-11-01 10:00",  # T03 no seconds
                "2026-11-01T10:00:00.5Z",  # T04
                "2026-11-01T12:00:00+0200",  # T05
                "2026-11-01T05:00:00-05",  # T06
                "2026-11-01T10:00:00.123456789Z",  # T07 truncated to µs
                "11/01/2026 10:00:30",  # T08
                "2024-02-29T10:00:00Z",  # T09 leap day
                "946684800",  # T10 window start
                "946684799",  # T11 before the window
                "4102444800000",  # T12 window end (exclusive), ms
                "4102444799999",  # T13 last ms of the window
                "12345678901234",  # T14 14 digits
                "2026-11-01T24:00:00Z",  # T15
                "2026-11-01T10:60:00Z",  # T16
                "2026-11-01T10:00:60Z",  # T17
                "2026-13-01T10:00:00Z",  # T18
                "2026-04-31T10:00:00Z",  # T19
                "2026-11-01T10:00:00+24:00",  # T20
                "2026-11-01T10:00:00+05:60",  # T21
                "2026-11-01t10:00:00z",  # T22
                "1999-12-31T23:59:59Z",  # T23
                "2000-01-01T01:00:00+02:00",  # T24 = 1999-12-31T23:00Z
                "2099-12-31T23:30:00-01:00",  # T25 = 2100-01-01T00:30Z
                "1/5/2026 10:00",  # T26
                "2026-11-01T10:00:00.1234567890Z",  # T27 ten fraction digits
                "  2026-11-01T10:00:00Z ",  # T28 trimmed
                "2026-11-01T10:00:00 +02:00",  # T29
            ],
            start=1,
        )
    ),
    "events/dt=2026-11-01/z1.txt": "user_id\nU1\n",  # unsupported_format
    "events/dt=2026-11-01/z2.csv": "\n   \n",  # empty_file
    "events/dt=2026-11-01/z3.csv": "user_id,product_id,timestamp\nU1,P1,2026-11-01T10:00:00Z\n",
    "events/dt=2026-11-01/z4.csv": b"user_id,product_id,event_type,timestamp\nU1,P1,view,\xff\n",
    "events/dt=2026-11-01/z5.jsonl.gz": gzip.compress(b'{"user_id": "U1"}\n' * 50)[:30],
    "events/dt=2026-11-01/z6.csv": "user_id,product_id,event_type,event_timestamp\n",
    # invalid_header: a name longer than the csv module reads
    "events/dt=2026-11-01/z8.csv": f"user_id,product_id,event_type,timestamp,{'x' * (130 << 10)}\n",
    Z7_JSON: '{"user_id": "J1", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T20:00:00Z", "event_id": "j7"}',
    B_JSONL: (
        '{"user_id": 42, "product_id": "P1", "event_type": "view",'
        ' "timestamp": "2026-11-02T09:00:00Z", "context": {"a": [1]}}\n'  # 1
        '{"user_id": "42", "product_id": "P1", "event_type": "view",'
        ' "event_timestamp": "2026-11-02 09:00:00Z", "session_id": null}\n'  # 2 duplicate
        '{"event_id": "e20", "user_id": "U4", "product_id": "P1", "event_type": "purchase",'
        ' "event_timestamp": "2026-11-01T23:30:00-01:00", "quantity": 3}\n'  # 3
        '{"event_id": "e21", "user_id": "U4", "product_id": "P1", "event_type": "purchase",'
        ' "event_timestamp": "2026-10-31T12:00:00Z", "quantity": "2"}\n'  # 4 late
        '{"event_id": "e22", "user_id": "U5", "product_id": "P10", "event_type": "purchase",'
        ' "event_timestamp": "2026-11-01T08:00:00Z"}\n'  # 5 product defined after the date
        '{"event_id": "e23", "user_id": true, "product_id": "P1", "event_type": "view",'
        ' "event_timestamp": "2026-11-02T10:00:00Z"}\n'  # 6
        '{"event_id": "e24", "user_id": "U1", "product_id": "P1", "event_type": "view",'
        ' "event_timestamp": "2026-11-02T10:00:00Z", "quantity": [1]}\n'  # 7
        "[1, 2]\n"  # 8
        '{"event_id": "e25", "user_id": "U1", "product_id": "P1", "event_type": "view",'
        ' "event_timestamp": "2026-11-02T10:00:00Z",}\n'  # 9 trailing comma
        '{"event_id": "e1", "user_id": "U1", "product_id": "P1", "event_type": "purchase",'
        ' "event_timestamp": "2026-11-01T10:00:00Z", "quantity": 5}\n'  # 10 copy of a.csv's e1
        "\n"  # 11 blank
        '{"event_id": "e26", "user_id": "U4", "product_id": "P2", "event_type": "purchase",'
        ' "event_timestamp": 1793613600, "quantity": 2, "session_id": "  "}\n'  # 12
        '{"event_id": "e27", "user_id": "U4", "product_id": "P1", "event_type": "purchase",'
        ' "event_timestamp": "2026-11-02T11:00:00Z", "quantity": "1.5"}\n'  # 13
        '{"event_id": "e28", "user_id": "U1", "product_id": "P1", "event_type": "wishlist",'
        ' "event_timestamp": "2026-11-02T12:00:00Z"}\n'  # 14
        '{"event_id": "e29", "user_id": "U1", "product_id": "P1", "event_type": "add_to_cart",'
        ' "event_timestamp": "2026-11-02T12:00:00Z"}\n'  # 15
        # 16 numbers are taken as written: 2.0 is not an integer
        '{"event_id": "e31", "user_id": "U4", "product_id": "P2", "event_type": "purchase",'
        ' "event_timestamp": "2026-11-02T13:00:00Z", "quantity": 2.0}\n'
        # 17 a revenue beyond decimal(14,2); 18 the same as a view has no revenue
        '{"event_id": "e32", "user_id": "U6", "product_id": "P13", "event_type": "purchase",'
        ' "event_timestamp": "2026-11-02T14:00:00Z", "quantity": 10000}\n'
        '{"event_id": "e33", "user_id": "U6", "product_id": "P13", "event_type": "view",'
        ' "event_timestamp": "2026-11-02T14:00:00Z", "quantity": 10000}\n'
    ),
    C_JSONL_GZ: gzip.compress(
        "".join(
            '{{"EVENT_ID": "{}", "User_Id": "{}", "PRODUCT_ID": {}, "event_type": "{}",'
            ' "Event_Timestamp": "{}"{}}}\n'.format(*row)
            for row in [
                ("c1", "V1", '"P2"', "view", "2026-11-03T01:00:00Z", ""),
                ("c2", "V2", '"P2"', "view", "2026-11-03T02:00:00Z", ""),
                ("c3", "V3", '"P2"', "view", "2026-11-03T03:00:00Z", ""),
                ("c4", "V1", '"P1"', "view", "2026-11-03T01:00:00Z", ""),
                ("c5", "V2", "9", "view", "2026-11-03T01:00:00Z", ""),
                ("c6", "V3", "9", "view", "2026-11-03T02:00:00Z", ""),
                ("c7", "V1", '"P8"', "view", "2026-11-03T04:00:00Z", ""),
                ("c8", "V2", '"P8"', "view", "2026-11-03T05:00:00Z", ""),
                ("c9", "V9", '"P20"', "view", "2026-11-01T18:00:00Z", ""),
                ("c10", "V9", '"P20"', "purchase", "2026-11-03T09:00:00Z", ', "quantity": 2'),
                ("c11", "V9", '"P1"', "purchase", "2026-11-03T10:00:00Z", ""),
            ]
        ).encode()
    ),
}

PHONE = ("Phone", "electronics", Decimal("100.00"))
PHONE2 = ("Phone v2", "electronics", Decimal("120.00"))
PHONE3 = ("Phone v3b", "phones", Decimal("155.50"))
CASE = ("Case", "accessories", Decimal("10.00"))

# (event_id, event_type, event_ts, user_id, product_id, session_id, quantity,
#  (product_name, category, unit_price), revenue, source_file)
EXPECTED_CURATED = [
    ("e1", "purchase", ts(2026, 11, 1, 10), "U1", "P1", "s1", 2, PHONE, "200.00", A_CSV),
    ("e2", "purchase", ts(2026, 11, 1, 11), "U1", "P2", None, 1, CASE, "10.00", A_CSV),
    ("e3", "view", ts(2026, 11, 1, 10), "U2", "P1", None, 1, PHONE, None, A_CSV),
    ("e4", "view", ts(2026, 11, 1, 10), "U2", "P1", None, 1, PHONE, None, A_CSV),
    ("e5", "view", ts(2026, 11, 1, 10, 0, 0, 123456), "U3", "P2", None, 1, CASE, None, A_CSV),
    ("e6", "view", ts(2026, 11, 1, 13), "U3", "P8", "s6", 1,
     ('Mug, "big"', "kitchen", Decimal("2.50")), None, A_CSV),
    ("e17", "view", ts(2026, 11, 1, 14), "U1,x", "P1", None, 3, PHONE, None, A_CSV),
    # waited for P20, released by the first products file defining it
    ("e19", "view", ts(2026, 11, 1, 15), "U8", "P20", None, 1,
     ("Lamp", "home", Decimal("30.00")), None, A_CSV),
    # dated after its file: the newest version known then
    ("e30", "view", ts(2026, 11, 3, 8), "U7", "P1", None, 1, PHONE, None, A_CSV),
    (derived("U1", "P2", "view", ts(2026, 11, 1, 16)), "view", ts(2026, 11, 1, 16), "U1", "P2",
     None, 1, CASE, None, A_CSV),
    ("j7", "view", ts(2026, 11, 1, 20), "J1", "P1", None, 1, PHONE, None, Z7_JSON),
    (derived("42", "P1", "view", ts(2026, 11, 2, 9)), "view", ts(2026, 11, 2, 9), "42", "P1",
     None, 1, PHONE2, None, B_JSONL),
    ("e20", "purchase", ts(2026, 11, 2, 0, 30), "U4", "P1", None, 3, PHONE2, "360.00", B_JSONL),
    # late event, before every version: the earliest version
    ("e21", "purchase", ts(2026, 10, 31, 12), "U4", "P1", None, 2, PHONE, "200.00", B_JSONL),
    # product first defined the day after the event
    ("e22", "purchase", ts(2026, 11, 1, 8), "U5", "P10", None, 1,
     (None, "late", Decimal("5.00")), "5.00", B_JSONL),
    ("e1", "purchase", ts(2026, 11, 1, 10), "U1", "P1", None, 5, PHONE, "500.00", B_JSONL),
    ("e26", "purchase", ts(2026, 11, 2, 10), "U4", "P2", None, 2, CASE, "20.00", B_JSONL),
    ("e28", "wishlist", ts(2026, 11, 2, 12), "U1", "P1", None, 1, PHONE2, None, B_JSONL),
    ("e29", "add_to_cart", ts(2026, 11, 2, 12), "U1", "P1", None, 1, PHONE2, None, B_JSONL),
    ("e33", "view", ts(2026, 11, 2, 14), "U6", "P13", None, 10000,
     ("Jet", "planes", Decimal("9999999999.99")), None, B_JSONL),
    ("c1", "view", ts(2026, 11, 3, 1), "V1", "P2", None, 1, CASE, None, C_JSONL_GZ),
    ("c2", "view", ts(2026, 11, 3, 2), "V2", "P2", None, 1, CASE, None, C_JSONL_GZ),
    ("c3", "view", ts(2026, 11, 3, 3), "V3", "P2", None, 1, CASE, None, C_JSONL_GZ),
    ("c4", "view", ts(2026, 11, 3, 1), "V1", "P1", None, 1, PHONE3, None, C_JSONL_GZ),
    ("c5", "view", ts(2026, 11, 3, 1), "V2", "9", None, 1, (None, "misc", Decimal("0.50")),
     None, C_JSONL_GZ),
    ("c6", "view", ts(2026, 11, 3, 2), "V3", "9", None, 1, (None, "misc", Decimal("0.50")),
     None, C_JSONL_GZ),
    ("c7", "view", ts(2026, 11, 3, 4), "V1", "P8", None, 1,
     ('Mug, "big"', "kitchen", Decimal("2.50")), None, C_JSONL_GZ),
    ("c8", "view", ts(2026, 11, 3, 5), "V2", "P8", None, 1,
     ('Mug, "big"', "kitchen", Decimal("2.50")), None, C_JSONL_GZ),
    # before P20's only effective date: the earliest version (the later same-date file's)
    ("c9", "view", ts(2026, 11, 1, 18), "V9", "P20", None, 1,
     ("Lamp v2", "home", Decimal("35.00")), None, C_JSONL_GZ),
    ("c10", "purchase", ts(2026, 11, 3, 9), "V9", "P20", None, 2,
     ("Lamp v2", "home", Decimal("35.00")), "70.00", C_JSONL_GZ),
    ("c11", "purchase", ts(2026, 11, 3, 10), "V9", "P1", None, 1, PHONE3, "155.50", C_JSONL_GZ),
]  # fmt: skip

# ts.csv: user -> event_ts of the rows that are curated (all views of P1)
EXPECTED_TIMESTAMPS = {
    "T01": ts(2026, 11, 1, 10),
    "T02": ts(2026, 11, 1, 10),
    "T03": ts(2026, 11, 1, 10),
    "T04": ts(2026, 11, 1, 10, 0, 0, 500000),
    "T05": ts(2026, 11, 1, 10),
    "T06": ts(2026, 11, 1, 10),
    "T07": ts(2026, 11, 1, 10, 0, 0, 123456),
    "T08": ts(2026, 11, 1, 10, 0, 30),
    "T09": ts(2024, 2, 29, 10),
    "T10": ts(2000, 1, 1),
    "T13": ts(2099, 12, 31, 23, 59, 59, 999000),
    "T28": ts(2026, 11, 1, 10),
}
INVALID_TIMESTAMP_USERS = [11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29]

EXPECTED_QUARANTINE = sorted(
    [
        (A_CSV, 9, "missing_user_id"),
        (A_CSV, 10, "missing_product_id"),
        (A_CSV, 11, "missing_event_type"),
        (A_CSV, 12, "unknown_event_type"),
        (A_CSV, 13, "missing_timestamp"),
        (A_CSV, 14, "invalid_timestamp"),
        (A_CSV, 15, "invalid_quantity"),
        (A_CSV, 16, "invalid_quantity"),
        (A_CSV, 17, "unknown_product"),
        (A_CSV, 18, "malformed_row"),
        (A_CSV, 21, "malformed_row"),
        *[(TS_CSV, n + 1, "invalid_timestamp") for n in INVALID_TIMESTAMP_USERS],
        (B_JSONL, 6, "malformed_row"),
        (B_JSONL, 7, "malformed_row"),
        (B_JSONL, 8, "malformed_row"),
        (B_JSONL, 9, "malformed_row"),
        (B_JSONL, 13, "invalid_quantity"),
        (B_JSONL, 16, "invalid_quantity"),
        (B_JSONL, 17, "amount_out_of_range"),
        # released later, but the quarantine row stays as the record of the ingest
        (A_CSV, 22, "unknown_product"),
    ]
)
EXPECTED_PRODUCTS_QUARANTINE = [
    (P1_CSV, 5, "invalid_price"),
    (P1_CSV, 6, "missing_product_id"),
    (P1_CSV, 7, "missing_category"),
    (P1_CSV, 8, "missing_price"),
    (P1_CSV, 9, "invalid_stock_level"),
    (P1_CSV, 10, "malformed_row"),
    (P1_CSV, 13, "amount_out_of_range"),
    (P2_JSONL, 4, "malformed_row"),
    (P2_JSONL, 5, "malformed_row"),
]

EXPECTED_HISTORY = [
    # product_id, product_name, category, price, stock_level, effective_date, source_file
    ("9", None, "misc", "0.50", None, D(2026, 11, 2), P2_JSONL),
    ("P1", "Phone", "electronics", "100.00", 5, D(2026, 11, 1), P1_CSV),
    ("P1", "Phone v2", "electronics", "120.00", None, D(2026, 11, 2), P2_JSONL),
    ("P1", "Phone v3b", "phones", "155.50", None, D(2026, 11, 3), "products/dt=2026-11-03/b.csv"),
    ("P10", None, "late", "5.00", None, D(2026, 11, 2), P2_JSONL),
    ("P13", "Jet", "planes", "9999999999.99", None, D(2026, 11, 1), P1_CSV),
    ("P2", "Case", "accessories", "10.00", None, D(2026, 11, 1), P1_CSV),
    ("P20", "Lamp v2", "home", "35.00", None, D(2026, 11, 3), "products/dt=2026-11-03/b.csv"),
    ("P8", 'Mug, "big"', "kitchen", "2.50", None, D(2026, 11, 1), P1_CSV),
    ("P9", None, "garden", "3.10", 7, D(2026, 11, 1), P1_CSV),
]

EXPECTED_AGGREGATES = {
    "daily_category_revenue": [
        (D(2026, 10, 31), "electronics", Decimal("200.00"), 1, 2),
        (D(2026, 11, 1), "accessories", Decimal("10.00"), 1, 1),
        # e1 counted once: the copy in b.jsonl (quantity 5) came in a later file
        (D(2026, 11, 1), "electronics", Decimal("200.00"), 1, 2),
        (D(2026, 11, 1), "late", Decimal("5.00"), 1, 1),
        (D(2026, 11, 2), "accessories", Decimal("20.00"), 1, 2),
        (D(2026, 11, 2), "electronics", Decimal("360.00"), 1, 3),
        (D(2026, 11, 3), "home", Decimal("70.00"), 1, 2),
        (D(2026, 11, 3), "phones", Decimal("155.50"), 1, 1),
    ],
    "daily_top_viewed_products": [
        (D(2000, 1, 1), 1, "P1", "Phone", "electronics", 1),
        (D(2024, 2, 29), 1, "P1", "Phone", "electronics", 1),
        (D(2026, 11, 1), 1, "P1", "Phone", "electronics", 13),
        (D(2026, 11, 1), 2, "P2", "Case", "accessories", 2),
        # tie with P2 ("P2" < "P20"); the greatest of "Lamp" and "Lamp v2"
        (D(2026, 11, 1), 3, "P20", "Lamp v2", "home", 2),
        (D(2026, 11, 2), 1, "P1", "Phone v2", "electronics", 1),
        (D(2026, 11, 2), 2, "P13", "Jet", "planes", 1),
        (D(2026, 11, 3), 1, "P2", "Case", "accessories", 3),
        # three products with 2 views: "9" < "P1" < "P8" in byte order
        (D(2026, 11, 3), 2, "9", None, "misc", 2),
        # views enriched with v1 (from a 11-01 file) and v3b: the greatest name and category
        (D(2026, 11, 3), 3, "P1", "Phone v3b", "phones", 2),
        (D(2099, 12, 31), 1, "P1", "Phone", "electronics", 1),
    ],
    "daily_multi_purchase_users": [
        (D(2026, 11, 1), "U1", 2, Decimal("210.00")),
        (D(2026, 11, 2), "U4", 2, Decimal("380.00")),
        (D(2026, 11, 3), "V9", 2, Decimal("225.50")),
    ],
}


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("input")
    for key, content in FILES.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


@pytest.fixture(scope="module")
def run(input_dir, tmp_path_factory):
    """Both stages over the input: (counts, clean_enrich out dir, aggregates dir, rows)."""
    out = tmp_path_factory.mktemp("clean")
    agg = tmp_path_factory.mktemp("agg")
    counts = duckdb_ref.clean_enrich(input_dir, out)
    rows = duckdb_ref.aggregate(out, agg)
    return counts, out, agg, rows


def curated(out: Path):
    partitioning = ds.partitioning(pa.schema([("event_date", pa.date32())]), flavor="hive")
    return ds.dataset(
        out / "curated" / "events", format="parquet", partitioning=partitioning
    ).to_table()


def read(path: Path):
    """One Parquet file, without reading `key=value` folder names as columns."""
    return pq.ParquetFile(path).read()


def test_counts(run):
    counts, *_ = run
    assert counts == {
        "curated_rows": 42,  # at ingest; e19 is released later
        "quarantined_rows": 36,
        "duplicate_rows": 3,
        "released_rows": 1,
        "products": {"curated_rows": 12, "quarantined_rows": 9, "duplicate_rows": 1},
        "rejected_files": 6,
    }


def test_curated_events(run):
    _, out, _, _ = run
    rows = [r for r in curated(out).to_pylist() if r["source_file"] != TS_CSV]
    got = {
        (r["event_id"], r["source_file"]): (
            r["event_id"], r["event_type"], r["event_ts"], r["user_id"], r["product_id"],
            r["session_id"], r["quantity"], (r["product_name"], r["category"], r["unit_price"]),
            None if r["revenue"] is None else str(r["revenue"]), r["source_file"],
        )
        for r in rows
    }  # fmt: skip
    assert len(got) == len(rows)
    assert got == {(e[0], e[-1]): e for e in EXPECTED_CURATED}


def test_curated_partitions_and_types(run):
    _, out, _, _ = run
    table = curated(out)
    dates = {r["event_id"]: r["event_date"] for r in table.to_pylist()}
    assert dates["e21"] == D(2026, 10, 31)  # late events land in their own date
    assert dates["e20"] == D(2026, 11, 2)  # 23:30-01:00 is the next day in UTC
    assert dates["e30"] == D(2026, 11, 3)
    folders = sorted(p.name for p in (out / "curated" / "events").iterdir())
    assert folders == [
        "event_date=2000-01-01", "event_date=2024-02-29", "event_date=2026-10-31",
        "event_date=2026-11-01", "event_date=2026-11-02", "event_date=2026-11-03",
        "event_date=2099-12-31",
    ]  # fmt: skip
    schema = pq.read_schema(next((out / "curated" / "events").rglob("*.parquet")))
    types = {f.name: str(f.type) for f in schema}
    assert types["unit_price"] == "decimal128(12, 2)"
    assert types["revenue"] == "decimal128(14, 2)"
    assert types["quantity"] == "int32"
    assert types["event_ts"] == "timestamp[us, tz=UTC]"


def test_every_timestamp_form(run):
    _, out, _, _ = run
    rows = [r for r in curated(out).to_pylist() if r["source_file"] == TS_CSV]
    assert {r["user_id"]: r["event_ts"] for r in rows} == EXPECTED_TIMESTAMPS
    assert all(r["event_date"] == r["event_ts"].date() for r in rows)
    ids = {r["user_id"]: r["event_id"] for r in rows}
    assert ids["T01"] == derived("T01", "P1", "view", ts(2026, 11, 1, 10))
    # before every version of P1: the earliest one
    assert {r["product_name"] for r in rows} == {"Phone"}


def test_quarantine(run):
    _, out, _, _ = run
    q = read(out / "quarantine" / "kind=events" / "part-0.parquet")
    assert q.schema.equals(QUARANTINE)
    got = sorted(zip(q["source_file"].to_pylist(), q["line_number"].to_pylist(),
                     q["reason"].to_pylist(), strict=True))  # fmt: skip
    assert got == EXPECTED_QUARANTINE
    by_line = {(r["source_file"], r["line_number"]): r for r in q.to_pylist()}
    assert by_line[(A_CSV, 18)]["raw_record"] == "e16,U1,P1,view"
    assert by_line[(A_CSV, 18)]["product_id"] is None
    assert (by_line[(A_CSV, 17)]["product_id"], by_line[(A_CSV, 17)]["event_date"]) == (
        "P404",
        D(2026, 11, 1),
    )
    assert by_line[(A_CSV, 15)]["event_date"] == D(2026, 11, 1)
    assert by_line[(B_JSONL, 8)]["raw_record"] == "[1, 2]"

    p = read(out / "quarantine" / "kind=products" / "part-0.parquet")
    got = sorted(zip(p["source_file"].to_pylist(), p["line_number"].to_pylist(),
                     p["reason"].to_pylist(), strict=True))  # fmt: skip
    assert got == EXPECTED_PRODUCTS_QUARANTINE


def test_product_history(run):
    _, out, _, _ = run
    h = read(out / "curated" / "products" / "history.parquet")
    assert h.schema.equals(PRODUCT_HISTORY)
    got = [
        (r["product_id"], r["product_name"], r["category"], str(r["price"]), r["stock_level"],
         r["effective_date"], r["source_file"])
        for r in h.to_pylist()
    ]  # fmt: skip
    assert got == EXPECTED_HISTORY


@pytest.mark.parametrize("name", sorted(AGGREGATES))
def test_aggregates(run, name):
    _, _, agg, rows = run
    table = pq.read_table(agg / f"{name}.parquet")
    assert table.schema.equals(AGGREGATES[name], check_metadata=False)
    assert [tuple(r.values()) for r in table.to_pylist()] == EXPECTED_AGGREGATES[name]
    assert rows[name] == table.num_rows


def test_empty_input(tmp_path):
    (tmp_path / "in").mkdir()
    counts = duckdb_ref.clean_enrich(tmp_path / "in", tmp_path / "out")
    assert counts["curated_rows"] == 0
    rows = duckdb_ref.aggregate(tmp_path / "out", tmp_path / "agg")
    assert rows == dict.fromkeys(AGGREGATES, 0)
    for a, schema in AGGREGATES.items():
        table = pq.read_table(tmp_path / "agg" / f"{a}.parquet")
        assert table.schema.equals(schema, check_metadata=False)


JSON_EDGES = (
    # 1 the same key twice: the first wins
    '{"event_id": "d1", "user_id": "A", "user_id": "B", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z"}\n'
    # 2 two spellings of a key: the first in the object wins
    '{"event_id": "d2", "USER_ID": "C", "user_id": "D", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z"}\n'
    # 3 a surrogate pair is one character
    '{"event_id": "d3", "user_id": "E\\ud83d\\ude00", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z"}\n'
    # 4 a lone surrogate is not text
    '{"event_id": "d4", "user_id": "F\\ud800", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z"}\n'
    # 5 numbers are taken as written: 2.0 is not an integer
    '{"event_id": "d5", "user_id": "U", "product_id": 12345678901234567890123,'
    ' "event_type": "view", "event_timestamp": "2026-11-01T10:00:00Z", "quantity": 2.0}\n'
    # 6 strings that look like other JSON values are strings
    '{"event_id": "d6", "user_id": "true", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z", "session_id": "{x}"}\n'
    # 7 the first of two keys is null: missing
    '{"event_id": "d7", "user_id": null, "user_id": "G", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z"}\n'
    # 8 NaN is not JSON
    '{"event_id": "d8", "user_id": "H", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z", "quantity": NaN}\n'
    # 9 objects, arrays and booleans in other keys are ignored
    '{"event_id": "d9", "user_id": "I", "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z", "other": [1, {"a": true}]}\n'
    # 10, 11 numbers as written
    '{"event_id": "d10", "user_id": 1e-7, "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": "2026-11-01T10:00:00Z", "quantity": 3}\n'
    '{"event_id": "d11", "user_id": 19.990, "product_id": "P1", "event_type": "view",'
    ' "event_timestamp": 1793527200, "other": {"user_id": 1.5}}\n'
)


# The fast path reads the key spellings of a file's first lines; with a sample of one line the
# second spelling in line 2 is found by the per-line check instead.
@pytest.mark.parametrize("sample_lines", [1, duckdb_ref.JSON_SAMPLE_LINES])
def test_json_edge_cases(sample_lines, tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_ref, "JSON_SAMPLE_LINES", sample_lines)
    (tmp_path / "in/products/dt=2026-11-01").mkdir(parents=True)
    (tmp_path / "in/products/dt=2026-11-01/p.csv").write_text("product_id,category,price\nP1,c,1\n")
    (tmp_path / "in/events/dt=2026-11-01").mkdir(parents=True)
    (tmp_path / "in/events/dt=2026-11-01/e.jsonl").write_text(JSON_EDGES)
    duckdb_ref.clean_enrich(tmp_path / "in", tmp_path / "out")
    table = curated(tmp_path / "out")
    rows = sorted((r["event_id"], r["user_id"], r["session_id"]) for r in table.to_pylist())
    assert rows == [
        ("d1", "A", None), ("d10", "1e-7", None), ("d11", "19.990", None), ("d2", "C", None),
        ("d3", "E\U0001f600", None), ("d6", "true", "{x}"), ("d9", "I", None),
    ]  # fmt: skip
    q = read(tmp_path / "out/quarantine/kind=events/part-0.parquet").to_pylist()
    assert [(r["line_number"], r["reason"], r["product_id"]) for r in q] == [
        (4, "malformed_row", None),
        (5, "invalid_quantity", "12345678901234567890123"),
        (7, "missing_user_id", "P1"),
        (8, "malformed_row", None),
    ]


CSV_EDGES = (
    "user_id,product_id,event_type,event_timestamp,USER_ID\n"
    "U1,P1,view,2026-11-01T10:00:00Z,X\n"  # 2 the first of two columns with one name wins
    '"U2",P1,view,2026-11-01T10:00:00Z,X\n'  # 3
    'U3,P1,view,"2026-11-01T10:00:00Z",""\n'  # 4
    'a"b,P1,view,2026-11-01T10:00:00Z,X\n'  # 5 a quote inside an unquoted field
    '"U4"x,P1,view,2026-11-01T10:00:00Z,X\n'  # 6 text after a closing quote
    'U5, "P1",view,2026-11-01T10:00:00Z,X\n'  # 7 a space before an opening quote
    '"U6 ",P1,view,2026-11-01T10:00:00Z,X\n'  # 8 trimmed inside the quotes
    '"",P1,view,2026-11-01T10:00:00Z,X\n'  # 9 an empty quoted field is missing
    "U7,P1,view,2026-11-01T10:00:00Z,X,extra\n"  # 10 one field too many
    '"U,8",P1,view,2026-11-01T10:00:00Z,"a ""b"", c"\n'  # 11
)


def test_csv_edge_cases(tmp_path):
    (tmp_path / "in/products/dt=2026-11-01").mkdir(parents=True)
    (tmp_path / "in/products/dt=2026-11-01/p.csv").write_text("product_id,category,price\nP1,c,1\n")
    (tmp_path / "in/events/dt=2026-11-01").mkdir(parents=True)
    (tmp_path / "in/events/dt=2026-11-01/e.csv").write_text(CSV_EDGES)
    duckdb_ref.clean_enrich(tmp_path / "in", tmp_path / "out")
    assert sorted(r["user_id"] for r in curated(tmp_path / "out").to_pylist()) == [
        "U,8", "U1", "U2", "U3", "U6",
    ]  # fmt: skip
    q = read(tmp_path / "out/quarantine/kind=events/part-0.parquet").to_pylist()
    assert [(r["line_number"], r["reason"]) for r in q] == [
        (5, "malformed_row"), (6, "malformed_row"), (7, "malformed_row"),
        (9, "missing_user_id"), (10, "malformed_row"),
    ]  # fmt: skip


def test_gzip_streams_and_long_lines_reject_their_file(tmp_path, monkeypatch):
    """DuckDB's reader returns what it can inflate of a corrupt stream, so the stream is
    checked on its own; a line over the limit and a gzip bomb reject their file too."""
    monkeypatch.setattr(duckdb_ref, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(_inputs, "INFLATION_FLOOR", 1 << 10)
    header = "user_id,product_id,event_type,timestamp\n"
    row = "U1,P1,view,2026-11-01T10:00:00Z\n"
    flipped = bytearray(gzip.compress((header + row * 50).encode()))
    flipped[-6] ^= 0xFF  # the stream's CRC no longer matches
    files = {
        "products/dt=2026-11-01/p.csv": "product_id,category,price\nP1,c,1\n",
        "events/dt=2026-11-01/ok.csv": header + row,
        "events/dt=2026-11-01/long.csv": header + row + f"U2,P1,view,{'x' * 200}\n",
        "events/dt=2026-11-01/crc.csv.gz": bytes(flipped),
        "events/dt=2026-11-01/bomb.csv.gz": gzip.compress((header + row * 20_000).encode()),
    }
    for key, content in files.items():
        (tmp_path / "in" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / key).write_bytes(
            content if isinstance(content, bytes) else content.encode()
        )
    counts = duckdb_ref.clean_enrich(tmp_path / "in", tmp_path / "out")
    assert (counts["rejected_files"], counts["curated_rows"]) == (3, 1)
    assert {r["source_file"] for r in curated(tmp_path / "out").to_pylist()} == {
        "events/dt=2026-11-01/ok.csv"
    }


def test_line_ends(tmp_path):
    """LF and CRLF may mix in one file; a file whose first line ends with a bare CR has every
    CR as a line end; elsewhere a CR inside a line makes that line malformed. Line numbers
    stay physical."""
    header = "user_id,product_id,event_type,timestamp"
    files = {
        "products/dt=2026-11-01/p.csv": "product_id,category,price\nP1,c,1\n",
        "events/dt=2026-11-01/mixed.csv": f"{header}\nU1,P1,view,2026-11-01T10:00:00Z\r\n"
        ",P1,view,2026-11-01T10:00:00Z\n"  # 3
        "U3,P1,view,2026-11-01T10:00:00Z\r\n,P1,view,2026-11-01T11:00:00Z\r\n",  # 5
        "events/dt=2026-11-01/mac.csv": f"{header}\rU4,P1,view,2026-11-01T10:00:00Z\r\r"
        ",P1,view,2026-11-01T10:00:00Z\r",  # 4
        "events/dt=2026-11-01/stray.csv": f"{header}\nU5,P1,view,2026-11-01T10:00:00Z\r\r\n"
        "U6,P1,vi\rew,2026-11-01T10:00:00Z\n"  # 3
        ",P1,view,2026-11-01T10:00:00Z\n",  # 4
    }
    for key, content in files.items():
        (tmp_path / "in" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / key).write_bytes(content.encode())
    duckdb_ref.clean_enrich(tmp_path / "in", tmp_path / "out")
    users = sorted(r["user_id"] for r in curated(tmp_path / "out").to_pylist())
    assert users == ["U1", "U3", "U4", "U5"]
    q = read(tmp_path / "out/quarantine/kind=events/part-0.parquet").to_pylist()
    assert [(r["source_file"].rsplit("/")[-1], r["line_number"], r["reason"]) for r in q] == [
        ("mac.csv", 4, "missing_user_id"),
        ("mixed.csv", 3, "missing_user_id"),
        ("mixed.csv", 5, "missing_user_id"),
        ("stray.csv", 3, "malformed_row"),
        ("stray.csv", 4, "missing_user_id"),
    ]
    assert q[3]["raw_record"] == "U6,P1,vi\rew,2026-11-01T10:00:00Z"
