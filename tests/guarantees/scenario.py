"""The campaign's fixed scenario: small files holding every kind of arrival the guarantee
covers. Each upload is (key, body); a key uploaded twice is a corrected file, whose second
version is the final input.

What it holds:
* products late: `products/dt=2026-11-02/late.csv` reprices P1 from 2026-11-02 and defines P5,
  whose events (2026-11-01 and 2026-11-02) arrive before it in most orders;
* products corrected: the second version of `products/dt=2026-11-01/base.csv` changes P1's
  price and removes P3, whose 2026-11-02 events must end up unknown (parked);
* events corrected: the second version of `events/dt=2026-11-01/a.csv` changes a quantity,
  drops one event, adds one and moves one to another date;
* late events: `events/dt=2026-11-03/late.csv` holds events of 2026-10-31 and 2026-11-01, and
  a copy of an event of a.csv (a cross-file duplicate);
* an unknown product defined later (P5), and one never defined (P9);
* two events files of one date (b.csv, c.csv) that the campaign also delivers concurrently.
"""

from __future__ import annotations

HEADER = "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
PRODUCTS_HEADER = "product_id,product_name,category,price\n"


def _events(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


def _products(*rows: str) -> bytes:
    return (PRODUCTS_HEADER + "".join(r + "\n" for r in rows)).encode()


BASE = "products/dt=2026-11-01/base.csv"
LATE_PRODUCTS = "products/dt=2026-11-02/late.csv"
A = "events/dt=2026-11-01/a.csv"
B = "events/dt=2026-11-02/b.csv"
C = "events/dt=2026-11-02/c.csv"
LATE_EVENTS = "events/dt=2026-11-03/late.csv"

BASE_V1 = _products(
    "P1,Phone,electronics,100.00",
    "P2,Book,books,5.00",
    "P3,Chair,home,20.00",
    "P4,Pen,office,1.25",
)
BASE_V2 = _products(
    "P1,Phone,electronics,90.00",
    "P2,Book,books,5.00",
    "P4,Pen,office,1.25",
)
LATE_PRODUCTS_V1 = _products("P1,Phone X,electronics,95.50", "P5,Lamp,home,12.99")
A_V1 = _events(
    "a1,U1,P1,view,2026-11-01T08:00:00Z,",
    "a2,U1,P1,purchase,2026-11-01T08:05:00Z,2",
    "a3,U2,P2,purchase,2026-11-01T09:00:00Z,1",
    "a4,U2,P2,purchase,2026-11-01T09:10:00Z,3",
    "a5,U3,P5,purchase,2026-11-01T10:00:00Z,1",
    "a6,U3,P4,view,2026-11-01T11:00:00Z,",
    "a7,,P1,view,2026-11-01T11:00:00Z,",
)
A_V2 = _events(
    "a1,U1,P1,view,2026-11-01T08:00:00Z,",
    "a2,U1,P1,purchase,2026-11-01T08:05:00Z,4",
    "a3,U2,P2,purchase,2026-11-01T09:00:00Z,1",
    "a5,U3,P5,purchase,2026-11-01T10:00:00Z,1",
    "a6,U3,P4,view,2026-10-31T23:30:00Z,",
    "a8,U4,P4,purchase,2026-11-01T12:00:00Z,10",
)
B_V1 = _events(
    "b1,U1,P1,purchase,2026-11-02T08:00:00Z,1",
    "b2,U1,P1,purchase,2026-11-02T09:00:00Z,1",
    "b3,U5,P3,purchase,2026-11-02T09:30:00Z,2",
    "b4,U5,P5,view,2026-11-02T10:00:00Z,",
    "b5,U6,P9,view,2026-11-02T10:30:00Z,",
    "b6,U6,P2,view,2026-11-02T11:00:00Z,",
)
C_V1 = _events(
    "c1,U7,P2,purchase,2026-11-02T12:00:00Z,2",
    "c2,U7,P4,purchase,2026-11-02T12:30:00Z,1",
    "c3,U1,P5,view,2026-11-02T13:00:00Z,",
)
LATE_EVENTS_V1 = _events(
    "l1,U8,P2,purchase,2026-10-31T20:00:00Z,1",
    "l2,U8,P1,view,2026-11-01T21:00:00Z,",
    "a3,U2,P2,purchase,2026-11-01T09:00:00Z,1",
    "l3,U9,P4,purchase,2026-11-01T22:00:00Z,2",
)

# Every upload, in the order of the clean run: products of a date before its events.
UPLOADS: list[tuple[str, bytes]] = [
    (BASE, BASE_V1),
    (A, A_V1),
    (LATE_PRODUCTS, LATE_PRODUCTS_V1),
    (B, B_V1),
    (C, C_V1),
    (LATE_EVENTS, LATE_EVENTS_V1),
    (BASE, BASE_V2),
    (A, A_V2),
]


def final_inputs() -> list[tuple[str, bytes]]:
    """The current version of every key, in drop order: what a clean run ingests."""
    last = dict(UPLOADS)
    order = sorted(last, key=lambda k: (k.split("dt=")[1][:10], not k.startswith("products"), k))
    return [(k, last[k]) for k in order]
