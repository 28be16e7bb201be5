"""Typing one batch of raw CSV rows (all text) into the schema, with repairs and quarantine.

Each column kind has one function that returns the typed values plus, per row, the problem that
sends the row to quarantine and the repair that was applied. The common case takes a vectorised
path; only values that path rejects, or the few distinct values of a column (timestamps, names),
go through the plain Python rules in `values.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from . import values
from .schema import (
    DECIMAL_SCALE, INPUT_COLUMNS, QUARANTINE_COLUMNS, RECONCILED_COLUMNS, Kind,
    output_columns,
)
from .settings import TransformSettings
from .source import Header

_DECIMAL = Kind.DECIMAL.polars
_TIMESTAMP = Kind.TIMESTAMP.polars
_TAGS = Kind.STRING_MAP.polars
_NAME_COLUMNS = {
    "ProviderName": ("provider_names", "default_provider_name"),
    "PublisherName": ("publisher_names", "default_publisher_name"),
    "InvoiceIssuerName": ("invoice_issuer_names", None),
}


@dataclass
class Typed:
    """One column's outcome: values, and per row a problem (quarantine) or a repair (kept)."""

    values: pl.Series
    problem: pl.Series | None = None  # String: "Column: problem" or null
    change: pl.Series | None = None  # String: "Column:repair" or null


@dataclass(frozen=True)
class BatchSource:
    object_key: str
    member: str | None
    batch_ts: str
    header: Header


@dataclass
class TypedBatch:
    good: pl.DataFrame  # the output schema, rows that typed
    quarantine: pl.DataFrame  # QUARANTINE_COLUMNS
    # Per row, for reconciliation: currency, whether quarantined, and each reconciled money column
    # typed exactly (null where the text is not a number or has more decimals than the schema).
    money: pl.DataFrame
    # Exact values for the money cells with more decimal places than the schema keeps.
    money_exact_extra: list[tuple[str | None, bool, str, Decimal]] = field(default_factory=list)


def _constant(value: object, n: int, dtype: pl.DataType = pl.String) -> pl.Series:
    return pl.Series([value], dtype=dtype).new_from_index(0, n)


def _set(n: int, rows: list[int], texts: list[str]) -> pl.Series:
    series = _constant(None, n)
    return series.scatter(rows, texts) if rows else series


def _rows(mask: pl.Series) -> list[int]:
    return mask.arg_true().to_list()


def type_decimal(name: str, raw: pl.Series, settings: TransformSettings) -> tuple[Typed, dict[int, Decimal]]:
    """Numbers, plain or E-notation, into decimal(38,10). Returns also the exact value of each
    cell that has more decimal places than the schema keeps, by row."""
    n = len(raw)
    typed = raw.cast(_DECIMAL, strict=False)
    problems: dict[int, str] = {}
    changes: dict[int, str] = {}
    exact_extra: dict[int, Decimal] = {}

    failed = raw.is_not_null() & typed.is_null()
    if failed.any():
        fixed_rows, fixed_values = [], []
        for row in _rows(failed):
            text = raw[row]
            value = values.exact_decimal(text) if text.strip() == text or settings.repairs.strip_whitespace else None
            if value is None:
                problems[row] = f"{name}: not a number ({text[:40]!r})"
            elif not values.fits_integer_digits(value):
                problems[row] = f"{name}: out of range for decimal(38,{DECIMAL_SCALE}) ({text[:40]!r})"
            else:
                fixed_rows.append(row)
                fixed_values.append(values.round_to_scale(value))
                if text.strip() != text:
                    changes[row] = f"{name}:whitespace"
                if value != values.round_to_scale(value):
                    exact_extra[row] = value
        if fixed_rows:
            typed = typed.scatter(fixed_rows, pl.Series(fixed_values, dtype=_DECIMAL))

    # More than 10 decimal places (or E-notation that may have them): check exactly in Python.
    suspects = raw.str.contains(r"\.\d{" + str(DECIMAL_SCALE + 1) + r"}|[eE]") & typed.is_not_null()
    for row in _rows(suspects):
        value = values.exact_decimal(raw[row])
        if value is not None and value != values.round_to_scale(value):
            exact_extra[row] = value
    for row in exact_extra:
        if settings.repairs.round_excess_decimals:
            changes[row] = f"{name}:rounded"
        else:
            problems[row] = f"{name}: more than {DECIMAL_SCALE} decimal places ({raw[row][:40]!r})"

    problem = _set(n, list(problems), list(problems.values())) if problems else None
    change = _set(n, list(changes), list(changes.values())) if changes else None
    return Typed(typed, problem, change), exact_extra


def type_timestamp(name: str, raw: pl.Series, settings: TransformSettings) -> Typed:
    """Timestamps into UTC: the distinct values are parsed in Python and mapped back."""
    distinct = raw.drop_nulls().unique().to_list()
    parsed = {
        text: values.parse_timestamp(text, settings.source_timezone, localize=settings.repairs.source_timezone_to_utc)
        for text in distinct
    }
    typed = raw.replace_strict(
        distinct, [parsed[t][0] for t in distinct], default=None, return_dtype=_TIMESTAMP
    )
    bad = [t for t in distinct if parsed[t][0] is None]
    localized = [t for t in distinct if parsed[t][1]]
    problem = change = None
    if bad:
        problem = raw.replace_strict(bad, [f"{name}: unparseable timestamp ({t[:40]!r})" for t in bad],
                                     default=None, return_dtype=pl.String)
    if localized:
        tz = settings.source_timezone
        change = _constant(f"{name}:from_{tz}", len(raw)).zip_with(
            raw.is_in(localized).fill_null(False), _constant(None, len(raw)))
    return Typed(typed, problem, change)


def _decode_tags(texts: pl.Series) -> pl.Series:
    return texts.str.json_decode(_TAGS)


def _decode_distinct_tags(texts: pl.Series) -> tuple[pl.Series, dict[int, str], dict[int, str]]:
    """Decode distinct Tags texts. Returns (maps, errors by position, repaired texts by position).

    All at once first; if a value breaks the fast decoder, the values are split in halves until
    the bad ones are isolated, and those go through `values.flatten_tags_json` (nested values
    kept as JSON text) or are reported as unparseable."""
    errors: dict[int, str] = {}
    replacements: dict[int, str] = {}
    try:
        return _decode_tags(texts), errors, replacements
    except pl.exceptions.PolarsError:
        pass

    def isolate(rows: list[int]) -> None:
        try:
            _decode_tags(texts.gather(rows))
            return
        except pl.exceptions.PolarsError:
            pass
        if len(rows) > 1:
            isolate(rows[: len(rows) // 2])
            isolate(rows[len(rows) // 2:])
            return
        flat, error = values.flatten_tags_json(texts[rows[0]])
        if flat is not None:
            try:
                _decode_tags(pl.Series([flat]))
                replacements[rows[0]] = flat
                return
            except pl.exceptions.PolarsError as exc:
                error = f"not a flat JSON object ({str(exc)[:60]})"
        errors[rows[0]] = error

    isolate(_rows(texts.is_not_null()))
    fixed = texts
    if replacements:
        fixed = fixed.scatter(list(replacements), list(replacements.values()))
    if errors:
        fixed = fixed.scatter(list(errors), [None] * len(errors))
    return _decode_tags(fixed), errors, replacements


@dataclass
class TypedTags:
    tags: Typed
    raw_kept: pl.Series  # x_TagsRaw
    error: pl.Series  # x_TagsError
    promoted: dict[str, pl.Series]  # x_Tag<Name>


def type_tags(raw: pl.Series, settings: TransformSettings) -> TypedTags:
    """Tags JSON into map<string,string>, plus the promoted tag columns.

    Tags repeat (per resource, per project), so each distinct text is decoded once and the
    results are gathered back to the rows."""
    n = len(raw)
    texts = raw.str.strip_chars()
    texts = texts.zip_with(texts != "", _constant(None, n))
    distinct = texts.unique(maintain_order=True)
    position = texts.replace_strict(
        distinct, pl.int_range(0, len(distinct), eager=True, dtype=pl.UInt32), return_dtype=pl.UInt32)
    maps, errors, replacements = _decode_distinct_tags(distinct)

    def per_row(by_position: dict[int, str]) -> pl.Series | None:
        if not by_position:
            return None
        return _set(len(distinct), list(by_position), list(by_position.values())).gather(position)

    error = per_row(errors)
    keep = settings.repairs.keep_rows_with_unparseable_tags
    changes = {p: "Tags:unparseable" for p in errors} if keep else {}
    changes.update({p: "Tags:nested_values_as_text" for p in replacements})
    return TypedTags(
        tags=Typed(
            maps.gather(position),
            problem=None if keep or error is None else "Tags: " + error,
            change=per_row(changes),
        ),
        raw_kept=_constant(None, n) if error is None else raw.zip_with(error.is_not_null(), _constant(None, n)),
        error=_constant(None, n) if error is None else error,
        promoted={tag: promoted_tag(maps, tag).gather(position) for tag in settings.promoted_tags},
    )


def promoted_tag(tags: pl.Series, tag: str) -> pl.Series:
    """The value of one tag, its key matched case-insensitively (the first match wins)."""
    entries = tags.map.entries()
    wanted = tag.lower()
    return entries.list.eval(
        pl.element().filter(pl.element().struct.field("key").str.to_lowercase() == wanted).struct.field("value")
    ).list.first()


def type_name(name: str, raw: pl.Series, settings: TransformSettings) -> Typed:
    """ProviderName / PublisherName / InvoiceIssuerName: numeric references mapped to names."""
    if not settings.repairs.map_provider_names:
        return Typed(raw)
    explicit_field, default_field = _NAME_COLUMNS[name]
    explicit = getattr(settings, explicit_field)
    default = getattr(settings, default_field) if default_field else None
    distinct = raw.drop_nulls().unique().to_list()
    mapped = {t: values.map_name(t, explicit, default) for t in distinct}
    changed = [t for t in distinct if mapped[t] != t]
    if not changed:
        return Typed(raw)
    typed = raw.replace_strict(changed, [mapped[t] for t in changed], default=raw, return_dtype=pl.String)
    change = raw.replace_strict(changed, [f"{name}:mapped"] * len(changed), default=None, return_dtype=pl.String)
    return Typed(typed, change=change)


def embedded_newlines(frame: pl.DataFrame) -> pl.Series:
    """Per row, the line breaks inside quoted fields (so line numbers match an editor)."""
    return frame.select(
        pl.sum_horizontal(pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns)
    ).to_series()


def normalize_batch(raw: pl.DataFrame, source: BatchSource, first_line: int, settings: TransformSettings,
                    *, embedded_line_breaks: bool = True) -> TypedBatch:
    """Type one batch of raw rows. `raw` has the delivered header names; `first_line` is the
    line of its first record. When the caller knows that no field holds a line break, line
    numbers are counted without looking into the fields."""
    n = raw.height
    header = source.header
    frame = raw.rename(header.rename)  # known columns under their schema names

    index = pl.int_range(0, n, eager=True, dtype=pl.Int64)
    lines = index + first_line
    if embedded_line_breaks:
        breaks = embedded_newlines(raw)
        lines = lines + breaks.cum_sum() - breaks

    out: dict[str, pl.Series] = {}
    problems: list[pl.Series] = []
    changes: list[pl.Series] = []
    exact_extra: dict[str, dict[int, Decimal]] = {}

    def keep(name: str, typed: Typed) -> None:
        out[name] = typed.values.alias(name)
        if typed.problem is not None:
            problems.append(typed.problem)
        if typed.change is not None:
            changes.append(typed.change)

    for column in INPUT_COLUMNS:
        name = column.name
        if name not in frame.columns:
            out[name] = _constant(None, n, column.kind.polars)
            continue
        raw_values = frame[name]
        if column.kind is Kind.DECIMAL:
            typed, extra = type_decimal(name, raw_values, settings)
            keep(name, typed)
            exact_extra[name] = extra
        elif column.kind is Kind.TIMESTAMP:
            keep(name, type_timestamp(name, raw_values, settings))
        elif column.kind is Kind.STRING_MAP:  # Tags
            tags = type_tags(raw_values, settings)
            keep(name, tags.tags)
            out["x_TagsRaw"], out["x_TagsError"] = tags.raw_kept, tags.error
            out.update({f"x_Tag{tag}": values for tag, values in tags.promoted.items()})
        elif name in _NAME_COLUMNS:
            out[f"x_{name}Raw"] = raw_values
            keep(name, type_name(name, raw_values, settings))
        else:
            out[name] = raw_values

    out["ServiceProviderName"] = out["ProviderName"]
    out["HostProviderName"] = _constant(settings.host_provider_name, n)
    for name in ("x_TagsRaw", "x_TagsError", *(f"x_Tag{t}" for t in settings.promoted_tags),
                 *(f"x_{c}Raw" for c in _NAME_COLUMNS)):
        out.setdefault(name, _constant(None, n))  # their source column is missing from the header
    out["x_ExtraColumns"] = _extra_columns(raw, header.extra)
    out["x_SourceObject"] = _constant(source.object_key, n)
    out["x_SourceMember"] = _constant(source.member, n)
    out["x_SourceLine"] = lines
    out["x_BatchTs"] = _constant(source.batch_ts, n)
    out["x_SourceChanges"] = _row_lists(changes, n)

    columns = output_columns(settings.promoted_tags)
    typed_frame = pl.DataFrame([out[c.name].alias(c.name).cast(c.kind.polars) for c in columns])
    problem_lists = _row_lists(problems, n)
    bad = problem_lists.list.len() > 0

    money = typed_frame.select(
        pl.col("BillingCurrency").str.strip_chars().alias("currency"),
        bad.alias("quarantined"),
        *(pl.col(c).alias(c) for c in RECONCILED_COLUMNS),
    )
    money_extra = []
    for name in RECONCILED_COLUMNS:
        rows = exact_extra.get(name, {})
        if rows:
            inexact = _constant(False, n, pl.Boolean).scatter(list(rows), True)
            money = money.with_columns(pl.when(inexact).then(None).otherwise(pl.col(name)).alias(name))
            for row, value in rows.items():
                money_extra.append((money["currency"][row], bool(bad[row]), name, value))

    any_bad = bool(bad.any())
    return TypedBatch(
        good=typed_frame.filter(~bad) if any_bad else typed_frame,
        quarantine=_quarantine_rows(raw, typed_frame, problem_lists, bad) if any_bad else _empty_quarantine(),
        money=money,
        money_exact_extra=money_extra,
    )


def _row_lists(parts: list[pl.Series], n: int) -> pl.Series:
    """Per row, the non-null entries of `parts` as a list. Rows share few combinations (the same
    repairs apply to most rows), so each distinct combination's list is built once."""
    if not parts:
        return _constant([], n, pl.List(pl.String))
    joined = pl.DataFrame(parts).select(
        pl.concat_str(pl.all(), separator="\x1f", ignore_nulls=True)).to_series()
    distinct = joined.unique(maintain_order=True)
    position = joined.replace_strict(
        distinct, pl.int_range(0, len(distinct), eager=True, dtype=pl.UInt32), return_dtype=pl.UInt32)
    lists = distinct.str.split("\x1f").list.filter(pl.element() != "")
    return lists.gather(position)


def _extra_columns(raw: pl.DataFrame, extra: tuple[str, ...]) -> pl.Series:
    if not extra:
        return _constant(None, raw.height, _TAGS)
    return raw.select(
        pl.concat_list(pl.struct(key=pl.lit(name), value=pl.col(name)) for name in extra).cast(_TAGS)
    ).to_series()


def _quarantine_rows(raw: pl.DataFrame, typed: pl.DataFrame, problem_lists: pl.Series, bad: pl.Series) -> pl.DataFrame:
    bad_raw = raw.filter(bad)
    reasons = problem_lists.filter(bad)
    return pl.DataFrame({
        "x_SourceObject": typed["x_SourceObject"].filter(bad),
        "x_SourceMember": typed["x_SourceMember"].filter(bad),
        "x_SourceLine": typed["x_SourceLine"].filter(bad),
        "x_BatchTs": typed["x_BatchTs"].filter(bad),
        "column": reasons.list.first().str.split(":").list.first(),
        "reason": reasons.list.join("; "),
        "raw_values": bad_raw.select(
            pl.concat_list(pl.struct(key=pl.lit(c), value=pl.col(c)) for c in raw.columns).cast(_TAGS)
        ).to_series(),
    })


def _empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema={c.name: c.kind.polars for c in QUARANTINE_COLUMNS})

