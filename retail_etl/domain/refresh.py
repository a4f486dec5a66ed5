"""Re-enrich one date against the whole product history, whichever arrived first.

A date's cleaned events live in two tables: curated (their product had a version) and parked
(it had none yet). The refresh makes that split, and every curated row's product attributes,
what the current history says, so the result depends on the files alone, never on their order.

It runs as three commits, each safe on its own, so a crash between two of them loses nothing:
1. `demoted`: curated rows whose product no longer has any version are added to parked;
2. `re_enriched`: curated becomes every known row of curated ∪ parked, enriched now, minus the
   unknown rows that parked holds;
3. `still_parked`: parked drops the rows curated holds.
A row is told apart by (source_file, event_id, ingested_at): the same event of another version
or another attempt of its file is another row, so a concurrent publish is never mistaken for it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.domain import contract as c
from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.events import enriched


def identity(table: pa.Table) -> pa.Array:
    return (
        pc.binary_join_element_wise(
            table["source_file"],
            table["event_id"],
            table["ingested_at"].cast(pa.int64()).cast(pa.string()),
            "\x1f",
        ).combine_chunks()
        if table.num_rows
        else pa.array([], pa.string())
    )


def _in(table: pa.Table, other: pa.Table) -> np.ndarray:
    """Which rows of `table` have a copy in `other`. Identities are built only for the rows
    whose event_id the other side has: parked is small next to a date's curated rows."""
    out = np.zeros(table.num_rows, dtype=bool)
    if not table.num_rows or not other.num_rows:
        return out
    ids = table["event_id"].combine_chunks()
    shared = pc.is_in(ids, value_set=pc.unique(other["event_id"].combine_chunks()))
    rows = np.flatnonzero(shared.to_numpy(zero_copy_only=False))
    if not len(rows):
        return out
    mine = table.take(pa.array(rows))
    theirs = other.filter(pc.is_in(other["event_id"], value_set=pc.unique(mine["event_id"])))
    found = pc.is_in(identity(mine), value_set=identity(theirs))
    out[rows] = found.to_numpy(zero_copy_only=False)
    return out


def _as_parked(curated: pa.Table) -> pa.Table:
    columns = {
        name: curated[name] if name != "line_number" else pa.nulls(curated.num_rows, pa.int64())
        for name in c.PARKED_EVENTS.names
    }
    return pa.table(columns, schema=c.PARKED_EVENTS)


def _known(events: pa.Table, history: ProductHistory) -> np.ndarray:
    """History row per event (-1: no version of its product)."""
    days = events["event_date"].cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    return history.lookup(events["product_id"].combine_chunks(), days)


def demoted(curated: pa.Table, parked: pa.Table, history: ProductHistory) -> pa.Table | None:
    """Parked with the curated rows whose product has no version now; None: unchanged.
    Events that carry their own product (`ProductHistory.own_priced`) are never demoted."""
    unknown = (_known(curated, history) < 0) & ~history.own_priced(curated["source_file"])
    new = curated.filter(pa.array(unknown & ~_in(curated, parked)))
    if not new.num_rows:
        return None
    return pa.concat_tables([parked.cast(c.PARKED_EVENTS), _as_parked(new)])


def re_enriched(curated: pa.Table, parked: pa.Table, history: ProductHistory) -> pa.Table | None:
    """Curated as the history says now; None when that is what it already holds. Events
    that carry their own product keep the enrichment of their own row."""
    own = history.own_priced(curated["source_file"])
    if own.any():
        fresh = re_enriched(curated.filter(pa.array(~own)), parked, history)
        if fresh is None:
            return None
        return pa.concat_tables([curated.filter(pa.array(own)).cast(c.CURATED_EVENTS), fresh])
    extra = parked.filter(pa.array(~_in(parked, curated)))
    events = pa.concat_tables([_as_parked(curated), extra.cast(c.PARKED_EVENTS)])
    rows = _known(events, history)
    known = rows >= 0
    n = curated.num_rows
    # an unknown curated row stays as it is unless parked holds it (step 1 ran first)
    unknown = curated.filter(pa.array(~known[:n]))
    kept = unknown.filter(pa.array(~_in(unknown, parked)))
    fresh = enriched(events.filter(pa.array(known)), history, rows[known])
    if not known[n:].any() and known[:n].all():  # nothing released, nothing demoted
        same = fresh.select(list(c.ENRICHMENT)).equals(curated.select(list(c.ENRICHMENT)))
        if same:
            return None
    return pa.concat_tables([fresh, kept.cast(c.CURATED_EVENTS)])


def still_parked(parked: pa.Table, curated: pa.Table) -> pa.Table | None:
    """Parked without the rows curated holds; None: unchanged."""
    held = _in(parked, curated)
    return parked.filter(pa.array(~held)) if held.any() else None
