"""`retail-etl report`: the page from a local run's folder, checked in a real headless Chromium.

The page must render its charts (SVG bars with a non-zero rendered size, as many as the data
has) and leave the browser console silent. Chromium is Debian's package: `make test` installs
it when it is missing and sets RETAIL_ETL_CHROMIUM, so there the browser tests fail rather than
skip when it cannot be found. A screenshot is written to build/report.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from retail_etl.cli import main

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "build" / "report.png"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip
# the rendered size of every chart and bar, written into the DOM for --dump-dom to return
MEASURE = """<script>
window.addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const charts = {};
  for (const f of document.querySelectorAll("figure[id^=chart-]")) {
    charts[f.id] = { svg: box(f.querySelector("svg")),
                     bars: [...f.querySelectorAll("rect.bar")].map(box) };
  }
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(charts);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    wanted = os.environ.get("RETAIL_ETL_CHROMIUM")
    found = shutil.which(wanted or "chromium")
    if found is None:
        if wanted:
            pytest.fail(f"RETAIL_ETL_CHROMIUM={wanted} is not there (make chromium installs it)")
        pytest.skip("no chromium on PATH (make test installs Debian's)")
    return found


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def console_messages(page: Path, profile: Path) -> list[str]:
    """What the page wrote to the browser console (errors included), from Chromium's log."""
    done = browse(page, profile, "--enable-logging=stderr", "--v=0", "--dump-dom")
    return re.findall(r":CONSOLE[:(]\d+\)?\] (.*)", done.stderr)  # CONSOLE:1] or CONSOLE(1)]


@pytest.fixture(scope="module")
def page(first_run, tmp_path_factory) -> Path:
    _, _, root = first_run
    html = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", "--out", str(root / "out"), "--html", str(html)]) == 0
    return html


def test_the_page_is_self_contained_and_shows_every_section(page):
    text = page.read_text()
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in text
    for section in ("freshness", "revenue", "top-products", "multi-purchase", "quarantine",
                    "ledger"):  # fmt: skip
        assert f'id="{section}"' in text
    assert "FILES ok=2 failed=4 | ROWS in=7 curated=5 quarantined=2" in text
    for key in ("events.csv", "empty.csv", "junk.csv", "table.parquet"):
        assert key in text
    assert text.count('class="status FAILED_PERMANENT"') == 4


def test_the_charts_render_in_chromium_and_the_console_stays_silent(page, tmp_path):
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(page.read_text().replace("</body>", f"{MEASURE}</body>"))
    dom = browse(measured_page, tmp_path / "profile", "--dump-dom").stdout
    [measured] = re.findall(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    charts = json.loads(measured.replace("&quot;", '"'))
    # the run's data: one day with two categories, one product viewed, one user with two
    # purchases, two reasons (one row dated, one with no valid date)
    assert {name: len(c["bars"]) for name, c in charts.items()} == {
        "chart-revenue": 2, "chart-top-products": 1, "chart-multi-purchase": 1,
        "chart-quarantine": 2,
    }  # fmt: skip
    for name, chart in charts.items():
        width, height = chart["svg"]
        assert width > 300 and height > 20, name
        assert all(w > 0 and h > 0 for w, h in chart["bars"]), name

    assert console_messages(page, tmp_path / "profile") == []
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    browse(page, tmp_path / "profile", "--window-size=1100,2000", f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_console_check_catches_an_error(tmp_path):
    """The console check itself: a page that logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('broken chart')</script></body></html>")
    [message] = console_messages(bad, tmp_path / "profile")
    assert "broken chart" in message


def test_report_on_a_folder_without_a_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no local run state in") and err.count("\n") == 1
