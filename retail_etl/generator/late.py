"""A late events file: clean events for earlier days, dropped on a later day.

Producers resend events they held back; such a file lands under a later `dt=` folder but its
events belong to their own dates, which must be re-aggregated (and only those).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

LATE_EVENTS_PER_DATE = 40


def late_events_file(
    event_dates: list[dt.date],
    product_ids: list[str],
    events_per_date: int = LATE_EVENTS_PER_DATE,
    seed: int = 7,
) -> bytes:
    """JSON Lines with `events_per_date` valid events on each date: views, and purchases by a
    few users so every aggregate of those dates changes. Event ids are new (`late-…`)."""
    rng = np.random.default_rng(seed)
    lines = []
    for day in event_dates:
        for n in range(events_per_date):
            purchase = n % 4 == 0
            ts = dt.datetime.combine(day, dt.time(12), dt.UTC) + dt.timedelta(minutes=n)
            record = {
                "event_id": f"late-{day.isoformat()}-{n}",
                "user_id": f"U-late-{n % 3}",
                "product_id": product_ids[int(rng.integers(len(product_ids)))],
                "event_type": "purchase" if purchase else "view",
                "event_timestamp": ts.isoformat().replace("+00:00", "Z"),
                "quantity": int(rng.integers(1, 4)) if purchase else 1,
            }
            lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()
