"""The one local run the CLI tests share: a small folder of good, bad and stray files.

Session-scoped, so `run`, `status`, `query` and `report` tests pay for one pipeline run (per
xdist worker); tests that change the state copy `out/` first.
"""

import gzip
import json

import pytest

from retail_etl.cli import main

PRODUCTS = (
    "product_id,product_name,category,price,stock_level\nP1,Mug,Home,9.99,5\nP2,Pen,Office,1.50,\n"
)
EVENTS = (
    "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
    "e1,U1,P1,view,2026-11-01T10:00:00Z,1\n"
    "e2,U1,P1,purchase,2026-11-01T10:05:00Z,2\n"
    "e3,U1,P2,purchase,2026-11-01T10:06:00Z,1\n"
    "e4,U2,P2,view,not-a-time,1\n"
    "e5,,P2,view,2026-11-01T11:00:00Z,1\n"
)
BAD = {
    "events/dt=2026-11-01/empty.csv": b"",
    "events/dt=2026-11-01/junk.csv": bytes(range(256)) * 4,
    "events/dt=2026-11-01/truncated.csv.gz": gzip.compress(EVENTS.encode())[:40],
    "events/dt=2026-11-01/table.parquet": b"PAR1\x00\x00PAR1",
}


@pytest.fixture(scope="session")
def first_run(tmp_path_factory):
    """A folder with two good files, four bad ones and a stray file, run once."""
    root = tmp_path_factory.mktemp("run")
    inbox = root / "in"
    files = {
        "products/dt=2026-11-01/products.csv": PRODUCTS.encode(),
        "events/dt=2026-11-01/events.csv": EVENTS.encode(),
        "notes/readme.txt": b"not a producer file",
        **BAD,
    }
    for key, data in files.items():
        (inbox / key).parent.mkdir(parents=True, exist_ok=True)
        (inbox / key).write_bytes(data)
    code = main(
        ["run", "--input", str(inbox), "--out", str(root / "out"), "--json", str(root / "r.json")]
    )
    return code, json.loads((root / "r.json").read_text()), root
