"""One day of valid shopping activity: sessions that walk a view → cart → purchase funnel.

A session belongs to one user (Zipf-like activity, so heavy users shop several times a day) and
views distinct products (Zipf-like popularity). Within a session each (product, event type) occurs
at most once, and session numbers are unique in the dataset, so no two events of a day share
(user_id, product_id, event_type, session_id): content-derived event ids never collide by
accident. Everything is computed with numpy over whole arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retail_etl.generator.timestamps import US_PER_DAY, US_PER_SECOND

VIEW, ADD_TO_CART, WISHLIST, PURCHASE = 0, 1, 2, 3
CART_RATE, WISHLIST_RATE, PURCHASE_RATE = 0.30, 0.10, 0.40
MAX_VIEWS = 12
USER_EXPONENT, USER_OFFSET = 0.5, 50.0
MISSING_SESSION_RATE = 0.015
# Relative session starts per UTC hour: quiet nights, busy evenings.
_HOURLY = np.array(
    [5, 3, 2, 2, 2, 3, 6, 10, 14, 16, 17, 18, 20, 19, 18, 18, 19, 21, 24, 26, 25, 21, 15, 9],
    dtype=float,
)
_S = US_PER_SECOND
Draw = Callable[[int], np.ndarray]  # n product draws


@dataclass
class DayActivity:
    """Valid events of one day, one array element per event (unordered)."""

    ts_us: np.ndarray  # int64, the event instant (UTC microseconds)
    arrival_us: np.ndarray  # int64, when it reached the producer; orders rows in a file
    user: np.ndarray  # int64, 1-based user number
    product: np.ndarray  # int64, catalogue index
    event_type: np.ndarray  # int8, VIEW … PURCHASE
    quantity: np.ndarray  # int16, 0 when the quantity is not written
    session: np.ndarray  # int64, dataset-unique session number; -1 when not written
    late: np.ndarray  # bool, event date before the file's date
    file: np.ndarray  # int8, index of the events file of the day

    def take(self, rows: np.ndarray) -> DayActivity:
        return DayActivity(**{name: value[rows] for name, value in vars(self).items()})

    def __len__(self) -> int:
        return len(self.ts_us)


def user_weights(rng: np.random.Generator, users: int) -> np.ndarray:
    """Zipf-like activity over a random ranking of the users."""
    rank = rng.permutation(users)
    return (rank + USER_OFFSET) ** -USER_EXPONENT


def _sample(rng: np.random.Generator, items: np.ndarray, cum: np.ndarray, n: int) -> np.ndarray:
    """n draws from `items` with probabilities proportional to the weights summed in `cum`."""
    pos = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    return items[np.minimum(pos, len(items) - 1)]


@dataclass
class _Batch:
    session: np.ndarray  # per event, batch-local session number
    product: np.ndarray
    event_type: np.ndarray
    offset_us: np.ndarray  # from the session start
    quantity: np.ndarray
    sessions: int


def _distinct_views(session: np.ndarray, product: np.ndarray, draw: Draw) -> np.ndarray:
    """Rows to keep so that a session views each product once (redraws, then drops, repeats)."""
    width = int(product.max()) + 1 if len(product) else 1
    for attempt in range(5):
        key = session * width + product
        order = np.argsort(key, kind="stable")
        repeated = order[1:][key[order][1:] == key[order][:-1]]
        if not len(repeated):
            return np.ones(len(product), dtype=bool)
        if attempt < 4:
            product[repeated] = draw(len(repeated))
    keep = np.ones(len(product), dtype=bool)
    keep[repeated] = False
    return keep


def _batch(rng: np.random.Generator, sessions: int, draw: Draw) -> _Batch:
    views = np.minimum(rng.geometric(0.3, sessions), MAX_VIEWS)
    v_session = np.repeat(np.arange(sessions, dtype=np.int64), views)
    v_product = draw(len(v_session))
    keep = _distinct_views(v_session, v_product, draw)
    v_session, v_product = v_session[keep], v_product[keep]
    n = len(v_session)
    gaps = 5 * _S + rng.exponential(40 * _S, n).astype(np.int64)
    elapsed = np.cumsum(gaps)
    first = np.searchsorted(v_session, v_session)  # index of the session's first view
    v_offset = elapsed - elapsed[first]

    cart = rng.random(n) < CART_RATE
    wish = rng.random(n) < WISHLIST_RATE
    buy = cart & (rng.random(n) < PURCHASE_RATE)
    cart_offset = v_offset + rng.integers(5 * _S, 90 * _S, n)
    wish_offset = v_offset + rng.integers(2 * _S, 40 * _S, n)
    buy_offset = cart_offset + rng.integers(30 * _S, 900 * _S, n)
    units = np.where(rng.random(n) < 0.85, 1, rng.integers(2, 6, n)).astype(np.int16)
    seen_units = np.where(rng.random(n) < 0.3, 1, 0).astype(np.int16)
    wish_units = np.where(rng.random(n) < 0.3, 1, 0).astype(np.int16)

    def typed(count: int, kind: int) -> np.ndarray:
        return np.full(count, kind, dtype=np.int8)

    return _Batch(
        session=np.concatenate([v_session, v_session[cart], v_session[wish], v_session[buy]]),
        product=np.concatenate([v_product, v_product[cart], v_product[wish], v_product[buy]]),
        event_type=np.concatenate(
            [
                typed(n, VIEW),
                typed(int(cart.sum()), ADD_TO_CART),
                typed(int(wish.sum()), WISHLIST),
                typed(int(buy.sum()), PURCHASE),
            ]
        ),
        offset_us=np.concatenate([v_offset, cart_offset[cart], wish_offset[wish], buy_offset[buy]]),
        quantity=np.concatenate([seen_units, units[cart], wish_units[wish], units[buy]]),
        sessions=sessions,
    )


def _trim(batch: _Batch, needed: int) -> np.ndarray:
    """Rows of the first sessions holding exactly `needed` events (the last one cut short)."""
    per_session = np.bincount(batch.session, minlength=batch.sessions)
    total = np.cumsum(per_session)
    if total[-1] <= needed:
        return np.arange(len(batch.session))
    last = int(np.searchsorted(total, needed))  # the session that crosses `needed`
    whole = np.flatnonzero(batch.session < last)
    partial = np.flatnonzero(batch.session == last)
    room = needed - len(whole)
    partial = partial[np.argsort(batch.offset_us[partial], kind="stable")[:room]]
    return np.concatenate([whole, partial])


def generate_day(
    rng: np.random.Generator,
    *,
    day_index: int,
    day_start_us: int,
    events: int,
    users_cum: np.ndarray,
    products: np.ndarray,
    products_cum: np.ndarray,
    file_shares: np.ndarray,
    late_rate: float,
) -> DayActivity:
    """`events` valid events of one day, assigned to the day's files by session."""
    users = np.arange(1, len(users_cum) + 1, dtype=np.int64)

    def draw(n: int) -> np.ndarray:
        return _sample(rng, products, products_cum, n)

    parts: list[_Batch] = []
    have, first_session = 0, 0
    while have < events:
        sessions = max(8, int((events - have) / 4.6 * 1.1))
        batch = _batch(rng, sessions, draw)
        batch = _select(batch, _trim(batch, events - have))
        batch.session += first_session
        parts.append(batch)
        have += len(batch.session)
        first_session += sessions
    session = np.concatenate([p.session for p in parts])
    offset = np.concatenate([p.offset_us for p in parts])
    n_sessions = first_session

    span = np.zeros(n_sessions, dtype=np.int64)
    np.maximum.at(span, session, offset)
    hour = rng.choice(24, n_sessions, p=_HOURLY / _HOURLY.sum())
    start = hour * 3600 * _S + rng.integers(0, 3600 * _S, n_sessions)
    start = np.maximum(np.minimum(start, US_PER_DAY - 1 - span), 0)
    arrival = day_start_us + start[session] + offset
    arrival = np.minimum(arrival, day_start_us + US_PER_DAY - 1)

    late_session = rng.random(n_sessions) < late_rate
    back_days = rng.integers(1, 4, n_sessions)
    late = late_session[session]
    ts = arrival - np.where(late, back_days[session] * US_PER_DAY, 0)
    session_user = _sample(rng, users, users_cum, n_sessions)
    session_file = rng.choice(len(file_shares), n_sessions, p=file_shares).astype(np.int8)
    # Every file gets at least one session: an events file without records would be rejected.
    kept = np.unique(session)[: len(file_shares)]
    session_file[kept] = np.arange(len(kept))

    user = session_user[session]
    product = np.concatenate([p.product for p in parts])
    event_type = np.concatenate([p.event_type for p in parts])
    numbered = (np.int64(day_index) << 32) + session
    numbered = _drop_some_session_ids(rng, numbered, user, product, event_type, late)
    return DayActivity(
        ts_us=ts,
        arrival_us=arrival,
        user=user,
        product=product,
        event_type=event_type,
        quantity=np.concatenate([p.quantity for p in parts]),
        session=numbered,
        late=late,
        file=session_file[session],
    )


def _select(batch: _Batch, rows: np.ndarray) -> _Batch:
    return _Batch(
        session=batch.session[rows],
        product=batch.product[rows],
        event_type=batch.event_type[rows],
        offset_us=batch.offset_us[rows],
        quantity=batch.quantity[rows],
        sessions=batch.sessions,
    )


def _drop_some_session_ids(
    rng: np.random.Generator,
    session: np.ndarray,
    user: np.ndarray,
    product: np.ndarray,
    event_type: np.ndarray,
    late: np.ndarray,
) -> np.ndarray:
    """Leave out the session id of a few on-time events whose (user, product, type) is unique
    in the day, so leaving it out cannot make two events' content equal."""
    candidates = np.flatnonzero((rng.random(len(session)) < MISSING_SESSION_RATE) & ~late)
    if not len(candidates):
        return session
    width = int(product.max()) + 1
    key = (user * width + product) * 4 + event_type
    ordered = np.sort(key)
    k = key[candidates]
    unique = np.searchsorted(ordered, k, side="right") - np.searchsorted(ordered, k) == 1
    session = session.copy()
    session[candidates[unique]] = -1
    return session
