"""The local runtime survives a dead Lambda container: the file is recorded failed with the
cause, the other files land, and `run` exits 1 with its report written."""

from __future__ import annotations

import json

from retail_etl.cli import main
from retail_etl.local import runtime

PRODUCTS = "product_id,product_name,category,price\nP1,Mug,Home,9.99\n"
EVENTS = (
    "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
    "e1,U1,P1,purchase,2026-11-01T10:05:00Z,2\n"
)


def test_run_survives_a_container_that_dies_on_one_file(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "INGEST", "tests.local.crashing.ingest_or_die")
    inbox = tmp_path / "in"
    files = {
        "products/dt=2026-11-01/products.csv": PRODUCTS,
        "events/dt=2026-11-01/die.csv": EVENTS.replace("e1,", "e9,"),
        "events/dt=2026-11-01/events.csv": EVENTS,
    }
    for key, text in files.items():
        (inbox / key).parent.mkdir(parents=True, exist_ok=True)
        (inbox / key).write_text(text)
    report_file = tmp_path / "r.json"
    code = main(
        ["run", "--input", str(inbox), "--out", str(tmp_path / "out"), "--json", str(report_file)]
    )
    assert code == 1
    report = json.loads(report_file.read_text())
    status = {f["key"]: (f["status"], f["error_code"]) for f in report["files"]}
    assert status == {
        "products/dt=2026-11-01/products.csv": ("DONE", None),
        "events/dt=2026-11-01/die.csv": ("FAILED_PERMANENT", runtime.CONTAINER_DIED),
        "events/dt=2026-11-01/events.csv": ("DONE", None),
    }
    died = next(f for f in report["files"] if f["key"].endswith("die.csv"))
    assert "container process died" in died["error_message"]
    assert report["dead_letters"] == 0 and not report["ok"]
    assert report["daily"]["marked_clean"] == ["2026-11-01"]
