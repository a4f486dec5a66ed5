"""Propose a source profile from a sample of a file (`python -m retail_etl sources infer`).

Pure: it gets the first bytes of the file (decompressed) and its name, and returns the YAML
text of a profile that `domain/profile.py` accepts, with a comment on every guess. What it
guesses: the encoding (UTF-8, else cp1252, else Latin-1), the CSV delimiter, the contract
column each source column is (by common export names), the event-type vocabulary (common
synonyms; other values excluded, with a comment), the timestamp format and decimal commas.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from retail_etl.domain.mapping import Mapping
from retail_etl.domain.profile import Profile, profile_from_dict
from retail_etl.domain.timestamps import parse_timestamps

SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 2_000
DELIMITERS = ",;\t|"

# contract column -> source names it is commonly exported as (compared lower case with
# everything but letters and digits removed), best first
EVENT_NAMES = {
    "event_id": ["eventid", "id"],
    "user_id": ["userid", "customerid", "userpseudoid", "clientid", "visitorid", "user"],
    "product_id": ["productid", "stockcode", "itemid", "sku", "product", "item"],
    "event_type": ["eventtype", "eventname", "type", "action", "event"],
    "event_timestamp": [
        "eventtimestamp",
        "eventtime",
        "timestamp",
        "invoicedate",
        "datetime",
        "createdat",
        "time",
        "ts",
    ],
    "quantity": ["quantity", "qty", "units"],
    "session_id": ["sessionid", "usersession", "gasessionid", "invoiceno", "invoice", "session"],
    "unit_price": ["price", "unitprice", "itemprice"],
    # several may be given: the first non-empty is used (REES46's category_code is often empty)
    "category": ["categorycode", "category", "itemcategory", "categoryid", "categoryname"],
    "product_name": ["productname", "description", "itemname", "name", "title", "brand"],
}
PRODUCT_NAMES = {
    "product_id": EVENT_NAMES["product_id"],
    "product_name": EVENT_NAMES["product_name"],
    "category": EVENT_NAMES["category"],
    "price": EVENT_NAMES["unit_price"],
    "stock_level": ["stocklevel", "stock", "inventory", "onhand"],
}
SYNONYMS = {
    "view": ["view", "views", "pageview", "detail", "view_item", "product_view", "detail_view"],
    "add_to_cart": [
        "add_to_cart",
        "cart",
        "addtocart",
        "add_to_basket",
        "addtobasket",
        "add-to-cart",
        "basket",
    ],
    "wishlist": ["wishlist", "favorite", "favourite", "add_to_wishlist", "like"],
    "purchase": ["purchase", "order", "transaction", "buy", "sale", "checkout_complete"],
}
TIMESTAMP_FORMATS = (
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y%m%d%H%M%S",
    "epoch_us",
)
_DECIMAL_COMMA = re.compile(r"^-?[0-9]{1,3}(\.[0-9]{3})*,[0-9]+$|^-?[0-9]+,[0-9]+$")
_ZONED = re.compile(r"(Z| UTC|[+-]\d{2}(:?\d{2})?)$|^\d{1,13}$")


@dataclass
class Sample:
    kind: str  # "csv" or "jsonl"
    encoding: str
    delimiter: str
    columns: list[str]  # as written
    rows: list[dict[str, str]] = field(default_factory=list)  # by column as written

    def values(self, column: str) -> list[str]:
        return [v for r in self.rows if (v := (r.get(column) or "").strip())]


def decode(data: bytes) -> tuple[str, str]:
    """(encoding, text) of a sample: UTF-8 when it decodes, else cp1252, else Latin-1."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            # a sample may end inside a character: judge it on whole lines
            cut = data.rfind(b"\n")
            return encoding, (data[: cut + 1] if cut > 0 else data).decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def read_sample(data: bytes, file_kind: str) -> Sample:
    encoding, text = decode(data)
    lines = [ln for ln in text.splitlines() if ln.strip()][: SAMPLE_ROWS + 1]
    if file_kind == "jsonl":
        rows, columns = [], {}
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                row = {k: "" if v is None else _text(v) for k, v in obj.items()}
                rows.append(row)
                columns.update(dict.fromkeys(obj))
        return Sample("jsonl", encoding, ",", list(columns), rows)
    delimiter = _delimiter(lines)
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    table = list(reader)
    header = [h.strip() for h in table[0]] if table else []
    rows = [dict(zip(header, r, strict=False)) for r in table[1:] if len(r) == len(header)]
    return Sample("csv", encoding, delimiter, header, rows)


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return json.dumps(value)
    return str(value)


def _delimiter(lines: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        return max(DELIMITERS, key=header.count)


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_columns(columns: list[str], names: dict[str, list[str]]) -> dict[str, list[str]]:
    """contract column -> the source columns it is taken from (each source column once)."""
    by_squashed = {_squash(col): col for col in reversed(columns)}
    used: set[str] = set()
    out: dict[str, list[str]] = {}
    for contract, candidates in names.items():
        found = [by_squashed[k] for k in candidates if k in by_squashed]
        found = [f for f in dict.fromkeys(found) if f not in used]
        if not found:
            continue
        keep = found if contract == "category" else found[:1]
        out[contract] = keep
        used.update(keep)
    return out


def event_vocabulary(values: list[str]) -> tuple[dict[str, str], list[str]]:
    """Source event types mapped by synonym, and the rest (excluded)."""
    lookup = {s: target for target, names in SYNONYMS.items() for s in names}
    mapped, rest = {}, []
    for value, _ in Counter(v.strip().lower() for v in values).most_common():
        target = lookup.get(value) or lookup.get(value.replace(" ", "_"))
        if target:
            mapped[value] = target
        else:
            rest.append(value)
    return mapped, rest


def timestamp_format(values: list[str]) -> tuple[str | None, bool]:
    """(a format the contract lacks, or None; whether the values are naive)."""
    if not values:
        return None, False
    sample = pa.array(values[:500], type=pa.string())
    _, ok = parse_timestamps(sample)
    naive = not all(_ZONED.search(v) for v in values[:500])
    if ok.all():
        return None, naive
    best, best_ok = None, int(ok.sum())
    for fmt in TIMESTAMP_FORMATS:
        probe = Profile.model_validate(
            {"name": "probe", "timestamps": {"formats": [fmt]}, "events": _PROBE}
        )
        mapping = Mapping(probe, probe.events)
        got = mapping.parse_format(sample, fmt)[1].sum()
        if got > best_ok:
            best, best_ok = fmt, int(got)
    if best is None:
        return None, naive
    return best, naive and "%z" not in best and not best.startswith("epoch")


_PROBE = {
    "columns": {
        "user_id": "u",
        "product_id": "p",
        "event_type": "t",
        "event_timestamp": "ts",
    }
}


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_-") or "source"
    return slug[:63]


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def propose(data: bytes, filename: str, name: str | None = None, kind: str = "events") -> str:
    """The YAML text of a proposed profile for a file whose first bytes are `data`."""
    file_kind = "jsonl" if re.search(r"\.(jsonl|ndjson|json)(\.gz)?$", filename.lower()) else "csv"
    sample = read_sample(data, file_kind)
    name = _slug(name or re.sub(r"\..*$", "", filename.rsplit("/", 1)[-1]))
    names = EVENT_NAMES if kind == "events" else PRODUCT_NAMES
    columns = match_columns(sample.columns, names)
    out = [
        f"# Proposed by `python -m retail_etl sources infer` from {filename}",
        f"# ({len(sample.rows)} sample rows). Check every line, then save as sources/{name}.yaml",
        "# and dry-run it: python -m retail_etl sources check --sources sources FILE "
        f"--name {name}",
        f"name: {name}",
        f"description: {_q('proposed from ' + filename.rsplit('/', 1)[-1])}",
        "file:",
    ]
    if sample.kind == "csv":
        out.append(f"  delimiter: {_q(sample.delimiter)}")
    out.append(f"  encoding: {sample.encoding}" + _encoding_note(sample.encoding))
    price_column = "unit_price" if kind == "events" else "price"
    prices = [v for col in columns.get(price_column, []) for v in sample.values(col)]
    if prices and sum(bool(_DECIMAL_COMMA.match(v)) for v in prices) > len(prices) / 2:
        out.append("  decimal_comma: true  # prices are written 1.234,56")
    stamp_cols = columns.get("event_timestamp", []) if kind == "events" else []
    constants: dict[str, tuple[str, str]] = {}
    if stamp_cols:
        fmt, naive = timestamp_format(sample.values(stamp_cols[0]))
        if fmt or naive:
            out.append("timestamps:")
            if fmt:
                out.append(f"  formats: [{_q(fmt)}]  # detected in the sample")
            if naive:
                out.append(
                    "  timezone: UTC  # the sample's times carry no zone: "
                    "set the zone the source writes them in (e.g. Europe/London)"
                )
    out.append(f"{kind}:")
    out.append("  columns:  # contract column: source column (a list: first non-empty)")
    for contract in names:
        if (
            contract not in columns
            and contract in _required(kind)
            and not (kind == "events" and contract == "event_type")
        ):
            out.append(f"    # {contract}: ???  # required: no source column matched")
        if contract in columns:
            found = columns[contract]
            value = _q(found[0]) if len(found) == 1 else "[" + ", ".join(map(_q, found)) + "]"
            out.append(f"    {contract}: {value}")
    if kind == "events":
        if "event_type" not in columns:
            constants["event_type"] = ("purchase", "no event-type column: order lines")
        if "unit_price" in columns and "category" not in columns:
            constants["category"] = (name, "no category column: one category for the source")
    if constants:
        out.append("  constants:")
        for contract, (value, why) in constants.items():
            out.append(f"    {contract}: {_q(value)}  # {why}")
    if kind == "events" and "event_type" in columns:
        mapped, rest = event_vocabulary(sample.values(columns["event_type"][0]))
        if mapped:
            out.append("  event_types:  # source value: contract event type")
            out.extend(f"    {_q(v)}: {t}" for v, t in mapped.items())
        if rest:
            out.append(
                "  # values with no common synonym: excluded (counted, not curated);"
                " map them above instead if they are views, carts, wishlists or purchases"
            )
            out.append("  exclude_event_types: [" + ", ".join(map(_q, rest)) + "]")
    unused = [col for col in sample.columns if not any(col in v for v in columns.values())]
    if unused:
        out.append(f"# not used (reported per file as unused_columns): {', '.join(unused)}")
    out.append("hash_user_ids: false  # true: HMAC-SHA256 with the configured salt")
    return "\n".join(out) + "\n"


def _required(kind: str) -> tuple[str, ...]:
    from retail_etl.domain import contract as c

    return c.EVENT_REQUIRED if kind == "events" else c.PRODUCT_REQUIRED


def _encoding_note(encoding: str) -> str:
    if encoding == "utf-8":
        return ""
    return "  # the sample is not UTF-8: check the shop's export setting (cp1252 or latin-1)"


def validate(text: str) -> Profile:
    """The proposed profile, parsed back; ProfileError when something required is missing."""
    import yaml

    return profile_from_dict(yaml.safe_load(text), "proposed profile")
