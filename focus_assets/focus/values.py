"""Pure value rules, one value at a time: timestamps, provider names, Tags JSON and decimals.

The batch typing in `normalize.py` applies these to the distinct values of a column (timestamps
and names repeat on every row) or only to the rare values the fast vectorised path rejects, so
the rules stay readable Python while the common path stays fast.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from .schema import DECIMAL_PRECISION, DECIMAL_SCALE

# --- timestamps -----------------------------------------------------------------------------

_SLASH_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})")


def parse_timestamp(text: str, source_timezone: str, *, localize: bool = True) -> tuple[datetime | None, bool]:
    """Parse one timestamp as delivered into a UTC datetime.

    Returns (value, shifted): shifted when the value was read in a source timezone that is not
    UTC at that moment. A value with `Z` or an explicit offset is honoured;
    one without is read in `source_timezone` (or as UTC when `localize` is off). Accepted: ISO 8601
    with `T` or a space, optional seconds and fraction, `Z`/`+08:00`/`+0800`, a date alone, and
    `YYYY/MM/DD`. Anything else gives (None, False).
    """
    candidate = text.strip()
    slash = _SLASH_DATE.match(candidate)
    if slash:
        year, month, day = slash.groups()
        candidate = f"{year}-{int(month):02d}-{int(day):02d}{candidate[slash.end() :]}"
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        return None, False
    if value.tzinfo is not None:
        return value.astimezone(UTC), False
    if not localize:
        return value.replace(tzinfo=UTC), False
    local = value.replace(tzinfo=ZoneInfo(source_timezone))
    return local.astimezone(UTC), bool(local.utcoffset())  # reading as UTC changes nothing


def billing_month(moment: datetime, source_timezone: str) -> str:
    """YYYYMM of a UTC instant, in the source timezone (Alibaba's billing months are UTC+8)."""
    return moment.astimezone(ZoneInfo(source_timezone)).strftime("%Y%m")


# --- provider names -------------------------------------------------------------------------


def map_name(raw: str, explicit: dict[str, str], numeric_default: str | None) -> str:
    """A provider, publisher or issuer name for a delivered value: an explicit mapping wins;
    else a purely numeric reference becomes `numeric_default` (when there is one); else the
    value is kept."""
    if raw in explicit:
        return explicit[raw]
    if numeric_default is not None and raw.strip().isdigit():
        return numeric_default
    return raw


# --- Tags -----------------------------------------------------------------------------------


class _RawNumber(str):
    """A JSON number (or NaN/Infinity) kept as its source text."""


def flatten_tags_json(text: str) -> tuple[str | None, str | None]:
    """Rewrite a Tags value that the fast JSON path rejected into a flat JSON object.

    Returns (flat_json, None) or (None, error). Nested objects and arrays are kept as their
    compact JSON text, so no tag is lost; numbers stay numbers; NaN/Infinity become text;
    duplicate keys: the last one wins (as in the fast path).
    """
    try:
        raw = json.loads(text, parse_int=_RawNumber, parse_float=_RawNumber, parse_constant=_RawNumber)
        plain = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"invalid JSON ({str(exc)[:80]})"
    if not isinstance(raw, dict):
        kind = "number" if isinstance(raw, _RawNumber) else type(raw).__name__
        return None, f"not a JSON object (a JSON {kind})"

    def member(key: str, value: object) -> str:
        if isinstance(value, (dict, list)):
            value = json.dumps(plain[key], ensure_ascii=False, separators=(",", ":"))
        if isinstance(value, _RawNumber) and value[-1:].isdigit():
            encoded = str(value)
        else:
            encoded = json.dumps(str(value) if isinstance(value, _RawNumber) else value, ensure_ascii=False)
        return f"{json.dumps(key, ensure_ascii=False)}:{encoded}"

    return "{" + ",".join(member(k, v) for k, v in raw.items()) + "}", None


# --- decimals -------------------------------------------------------------------------------

_MAX_INTEGER_DIGITS = DECIMAL_PRECISION - DECIMAL_SCALE
_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_EXACT = Context(prec=100)  # the default context keeps only 28 digits


def exact_decimal(text: str) -> Decimal | None:
    """The exact value of a number as written (plain or E-notation), or None."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def round_to_scale(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_EXACT)


def fits_integer_digits(value: Decimal) -> bool:
    return value == 0 or value.adjusted() < _MAX_INTEGER_DIGITS
