"""Replay quarantined rows: write them back into the raw zone as new files, through the pipeline.

After a fix (a producer resent good values, or the contract learned a new form), quarantined
rows can be given another chance without touching the files they came from. For each source
file, the chosen rows' original records (`raw_record`, the line as written) become one new
file under the source's `dt=` folder, in `replay/`, with the source's CSV header when it had
one. The replay file is ordinary input: it is claimed in the ledger, reconciled, deduplicated
and its rows are curated or quarantined again with its own key as `source_file`. The original
quarantine rows stay as the record of what happened at ingest.

A replay file's key is derived from its source and the replayed line numbers, so asking for
the same replay twice finds the key already in the raw bucket and writes nothing, and rows
quarantined again inside a replay file are not replayed again: each row gets one replay. Rows with
reason `unknown_product` are never replayed: they wait in the parked_events table and are
enriched by the daily refresh of their date once their product arrives.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import StartsWith

from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import Lake
from retail_etl.domain import lake
from retail_etl.domain.contract import EVENT_REASONS, PRODUCT_REASONS, Reason
from retail_etl.ingest import KINDS

NEVER_REPLAYED = {Reason.UNKNOWN_PRODUCT}
REPLAY_FOLDER = "replay"


@dataclass(frozen=True)
class ReplayFile:
    key: str
    data: bytes
    source_file: str
    rows: int


def replayable_reasons(kind: str) -> tuple[str, ...]:
    reasons = EVENT_REASONS if kind == "events" else PRODUCT_REASONS
    return tuple(r for r in reasons if r not in NEVER_REPLAYED)


def quarantined(tables: Lake, kind: str) -> pa.Table | None:
    """Every quarantine row of a kind (its files' keys start with the kind)."""
    rows = tables.read(lake.QUARANTINE, StartsWith("source_file", f"{kind}/"))
    return rows if rows.num_rows else None


def build_replays(
    store: Store,
    raw_bucket: str,
    tables: Lake,
    reasons: Iterable[str] | None = None,
    kinds: Iterable[str] = KINDS,
) -> list[ReplayFile]:
    """The replay files for the chosen reasons (all replayable ones by default), one per
    source file and kind, skipping those already in the raw bucket."""
    out = []
    for kind in kinds:
        chosen = set(reasons or replayable_reasons(kind)) & set(replayable_reasons(kind))
        table = quarantined(tables, kind)
        if table is None or not chosen:
            continue
        table = table.filter(pc.is_in(table["reason"], pa.array(sorted(chosen))))
        # rows quarantined again inside a replay file were replayed once already
        from_replays = pc.match_substring(table["source_file"], f"/{REPLAY_FOLDER}/")
        table = table.filter(pc.invert(from_replays))
        for source in sorted(pc.unique(table["source_file"]).to_pylist()):
            rows = table.filter(pc.equal(table["source_file"], source)).sort_by("line_number")
            replay = _replay_file(store, raw_bucket, source, rows)
            if not store.list(raw_bucket, replay.key):
                out.append(replay)
    return out


def _replay_file(store: Store, raw_bucket: str, source: str, rows: pa.Table) -> ReplayFile:
    lines = rows["line_number"].to_pylist()
    digest = hashlib.sha256(f"{source}#{lines}".encode()).hexdigest()[:12]
    folder, _, name = source.rpartition("/")
    stem, _, extension = name.partition(".")
    is_csv = extension.removesuffix(".gz") == "csv"
    records = rows["raw_record"].to_pylist()
    if is_csv:
        records = [header_line(store, raw_bucket, source), *records]
    data = ("\n".join(records) + "\n").encode("utf-8", errors="surrogatepass")
    key = f"{folder}/{REPLAY_FOLDER}/{stem}-{digest}.{'csv' if is_csv else 'jsonl'}"
    return ReplayFile(key, data, source, rows.num_rows)


def header_line(store: Store, bucket: str, key: str) -> str:
    """The header of a (possibly gzipped) CSV file, read from its first bytes only."""
    body = store.open(bucket, key)
    decompress = zlib.decompressobj(16 + zlib.MAX_WBITS) if key.endswith(".gz") else None
    head = b""
    while b"\n" not in head:
        chunk = body.read(64 << 10)
        if not chunk:
            break
        head += decompress.decompress(chunk) if decompress else chunk
    body.close()
    return head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
