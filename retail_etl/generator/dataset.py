"""`generate_dataset`: the whole raw dataset, in processing order, plus its manifest.

For each day the products file is written first, then the events files in path order: the
order in which the contract says a pipeline processes them, and the order the manifest's
counts assume. Every random choice comes from numpy generators seeded by `seed` (one stream
for the catalogue and users, one per day), so the same arguments give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable

import numpy as np

from retail_etl.generator.activity import generate_day, user_weights
from retail_etl.generator.catalogue import Catalogue
from retail_etl.generator.config import MessConfig
from retail_etl.generator.events_file import FileContext, build_events_file
from retail_etl.generator.layout import events_plans, file_shares, products_plan
from retail_etl.generator.manifest import FileCounts, build_manifest
from retail_etl.generator.products_file import build_products_file
from retail_etl.generator.timestamps import US_PER_DAY, day_number

Writer = Callable[[str, bytes], None]
MANIFEST_KEY = "manifest.json"
GZIP_LEVEL = 1  # fast; the files only need to be valid gzip
USERS_PER_EVENT = 1 / 20
MIN_USERS = 50
MIN_EVENTS_PER_DAY = 200  # enough sessions to give each of a day's files one
MIN_PRODUCTS = 10


def _validate(days: int, events_per_day: int, products: int, seed: int) -> None:
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if events_per_day < MIN_EVENTS_PER_DAY:
        raise ValueError(f"events_per_day must be >= {MIN_EVENTS_PER_DAY}, got {events_per_day}")
    if products < MIN_PRODUCTS:
        raise ValueError(f"products must be >= {MIN_PRODUCTS}, got {products}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def _emit(write: Writer, key: str, data: bytes, gz: bool) -> None:
    write(key, gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0) if gz else data)


def generate_dataset(
    write: Writer,
    *,
    days: int,
    events_per_day: int,
    products: int = 500,
    seed: int = 0,
    start_date: dt.date = dt.date(2026, 11, 1),
    mess: MessConfig = MessConfig(),  # noqa: B008 - frozen, so a shared default is safe
) -> dict:
    """Write a raw dataset through `write(key, bytes)` and return its manifest.

    Keys are relative (`products/dt=…/…`, `events/dt=…/…`, `manifest.json`); bytes are already
    gzipped for keys ending in `.gz`. `events_per_day` counts the valid base events of a day;
    mess rows (malformed lines, duplicates) come on top, field defects replace base rows.
    """
    _validate(days, events_per_day, products, seed)
    rng = np.random.default_rng(seed)
    catalogue = Catalogue(rng, products, days)
    users = max(MIN_USERS, round(events_per_day * USERS_PER_EVENT))
    users_cum = np.cumsum(user_weights(rng, users))
    files: dict[str, FileCounts] = {}
    next_unknown_product = 1

    for index in range(days):
        day = start_date + dt.timedelta(days=index)
        day_rng = np.random.default_rng([seed, index])

        plan = products_plan(day_rng, index, day)
        data, counts = build_products_file(
            day_rng, plan, catalogue.day_rows(index), catalogue, mess, day
        )
        _emit(write, plan.key, data, plan.gzip)
        files[plan.key] = counts

        plans = events_plans(day_rng, index, day)
        eligible = catalogue.eligible(index)
        activity = generate_day(
            day_rng,
            day_index=index,
            day_start_us=day_number(day) * US_PER_DAY,
            events=events_per_day,
            users_cum=users_cum,
            products=eligible,
            products_cum=np.cumsum(catalogue.popularity[eligible]),
            file_shares=file_shares(day_rng, len(plans)),
            late_rate=mess.late,
        )
        next_number = 1
        for part, plan in enumerate(plans):
            rows = np.flatnonzero(activity.file == part)
            rows = rows[np.argsort(activity.arrival_us[rows], kind="stable")]
            ctx = FileContext(day, catalogue.id_width, next_number, next_unknown_product)
            data, counts, numbers, unknown = build_events_file(
                day_rng, plan, activity.take(rows), mess, ctx
            )
            next_number += numbers
            next_unknown_product += unknown
            _emit(write, plan.key, data, plan.gzip)
            files[plan.key] = counts
            del data
        del activity

    manifest = build_manifest(
        files,
        {
            "seed": seed,
            "start_date": start_date.isoformat(),
            "days": days,
            "events_per_day": events_per_day,
            "products": products,
            "users": users,
            "mess": mess.as_dict(),
        },
    )
    write(MANIFEST_KEY, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest
