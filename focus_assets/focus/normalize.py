"""Typing one batch of raw CSV rows (all text) into the schema, with repairs and quarantine.

Per column kind, one function plans the typed values plus, per row, the problem that sends the
row to quarantine and the repair that was applied. A batch is typed in a handful of polars
calls: one pass gathers facts (distinct values, suspicious numbers), the plain Python rules in
`values.py` run on the few distinct values of a column (timestamps, names, tags), and one select
builds every output column. Only a column whose values the fast path rejects takes a slower,
per-value path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, partial

import polars as pl

from . import values
from .derivations import LABELS as DERIVED_LABELS
from .derivations import UNMAPPED, UNMAPPED_ROWS, derived_columns
from .schema import (
    DECIMAL_SCALE,
    INPUT_COLUMNS,
    MAPPED_NAME_COLUMNS,
    QUARANTINE_COLUMNS,
    RECONCILED_COLUMNS,
    Column,
    Kind,
    polars_schema,
    promoted_tag_column,
)
from .settings import TransformSettings
from .source import Dictionary, Header

_DECIMAL = Kind.DECIMAL.polars
_TIMESTAMP = Kind.TIMESTAMP.polars
_TAGS = Kind.STRING_MAP.polars
_TEXT = pl.Categorical()  # text with few distinct values in a batch: see categorical_columns
_NAME_COLUMNS = dict(
    zip(
        MAPPED_NAME_COLUMNS,
        (  # their settings: explicit map, default name
            ("provider_names", "default_provider_name"),
            ("publisher_names", "default_publisher_name"),
            ("invoice_issuer_names", None),
        ),
        strict=True,
    )
)
# Values that may carry more decimal places than the schema keeps (polars' cast rounds them):
# checked exactly on their digits (more_decimals_than_kept).
_MAYBE_EXCESS_DECIMALS = r"\.[0-9]{" + str(DECIMAL_SCALE + 1) + r"}|[eE]"
_SEPARATOR = "\x1f"


@dataclass
class Typed:
    """One column's plan: values, and per row a problem (quarantine) or repairs (kept)."""

    values: pl.Expr
    problem: pl.Expr | None = None  # String: "Column: problem" or null
    # Each repair as ("Column:repair", rows it applies to): flags, so rows group cheaply.
    changes: list[tuple[str, pl.Expr]] = field(default_factory=list)


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
    repairs: Counter = field(default_factory=Counter)  # "Column:repair" -> rows (kept and quarantined)
    empty_records: int = 0  # blank lines and records of empty fields, skipped
    unmapped_services: Counter = field(default_factory=Counter)  # "code / name" -> rows the service map lacks


def _series(values: list, dtype: pl.DataType = pl.String) -> pl.Series:
    return pl.Series(values, dtype=dtype)


def _set(n: int, rows: list[int], texts: list[str]) -> pl.Series:
    series = pl.Series([None], dtype=pl.String).new_from_index(0, n)
    return series.scatter(rows, texts) if rows else series


def _rows(mask: pl.Series) -> list[int]:
    return mask.arg_true().to_list()


def _lookup(column: pl.Expr, old: list, new: pl.Series, default: pl.Expr | None = None) -> pl.Expr:
    """Map each value of `column` through old -> new (few distinct values)."""
    if not old:  # replace_strict would hand back the column unchanged, with its own type
        return default if default is not None else pl.repeat(None, pl.len(), dtype=new.dtype)
    return column.replace_strict(_series(old, pl.String), new, default=default, return_dtype=new.dtype)


# --- decimals ---------------------------------------------------------------------------------

# A number as polars' cast and Python's Decimal both read it (ASCII digits, spaces around), in
# parts: the digits before and after the point, and the exponent.
_NUMBER_PARTS = r"^\s*[+-]?(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?(?:[eE](?P<exponent>[+-]?[0-9]+))?\s*$"


def more_decimals_than_kept(texts: pl.Series) -> pl.Series:
    """Per text, whether the exact value of the number it spells has more than DECIMAL_SCALE
    decimal places, worked out on its digits ('1.2300000000000' and '1.23E-8' have not,
    '1.2345E-8' has); null where the text is no such number. Its digits read as one integer D
    give the value D x 10^(exponent - digits after the point); D's trailing zeros move the
    exponent up."""
    parts = pl.col("parts")
    whole, fraction = parts.struct.field("whole"), parts.struct.field("fraction").fill_null("")
    digits = pl.concat_str(whole, fraction)
    significant = digits.str.strip_chars_end("0")
    exponent = (
        pl.when(parts.struct.field("exponent").is_null())
        .then(pl.lit(0, pl.Int64))
        .otherwise(parts.struct.field("exponent").cast(pl.Int64, strict=False))
    )
    places = (
        fraction.str.len_bytes().cast(pl.Int64)
        - exponent
        - (digits.str.len_bytes() - significant.str.len_bytes()).cast(pl.Int64)
    )
    zero = significant.str.strip_chars_start("0") == ""
    return (
        pl.DataFrame({"parts": texts.str.extract_groups(_NUMBER_PARTS)})
        .select(pl.when(whole.is_not_null()).then(~zero & (places > DECIMAL_SCALE)))
        .to_series()
    )


def decide_decimal(
    name: str, text: str, settings: TransformSettings
) -> tuple[Decimal | None, str | None, str | None, Decimal | None]:
    """One money value by the rules of values.py: (typed value, problem, repair, exact value when
    it has more decimals than the schema keeps). For the values the vectorised typing leaves:
    not a number, out of range, more decimals than kept, unusual spellings (`1_000`, non-ASCII
    digits)."""
    value = values.exact_decimal(text) if text.strip() == text or settings.repairs.strip_whitespace else None
    if value is None:
        return None, f"{name}: not a number ({text[:40]!r})", None, None
    rounded = values.round_to_scale(value) if values.fits_integer_digits(value) else None
    if rounded is None or not values.fits_integer_digits(rounded):  # rounding may carry into one more digit
        return None, f"{name}: out of range for decimal(38,{DECIMAL_SCALE}) ({text[:40]!r})", None, None
    change = f"{name}:whitespace" if text.strip() != text else None
    if value == rounded:
        return rounded, None, change, None
    if settings.repairs.round_excess_decimals:
        return rounded, None, f"{name}:rounded", value
    return rounded, f"{name}: more than {DECIMAL_SCALE} decimal places ({text[:40]!r})", change, value


def type_decimal(
    name: str, raw: pl.Series, typed: pl.Series, settings: TransformSettings, *, maybe_excess: bool
) -> tuple[pl.Series, pl.Series | None, list[tuple[str, pl.Series]], dict[int, Decimal]]:
    """A money column whose `typed` values (the cast's, or the C reader's) leave rows undecided:
    text they did not type, and, where `maybe_excess` (the cast rounds to the schema's
    decimals), numbers that may have more decimals than the schema keeps. Returns (values,
    problems, repairs as (label, rows), exact value by row of the cells with more decimals).

    Every valid value is decided with polars expressions: a number the cast takes (E-notation
    too) once it is checked for excess decimals on its digits, a number between spaces once
    stripped. Only the values left, which are quarantined but for unusual spellings, and those
    with excess decimals (quarantined, or rounded by the repair) go one by one through
    `decide_decimal`."""
    undecided = raw.is_not_null() & typed.is_null()
    if maybe_excess:
        undecided = undecided | (typed.is_not_null() & raw.str.contains(_MAYBE_EXCESS_DECIMALS))
    rows = undecided.arg_true()
    texts = raw.gather(rows)
    decided = texts.cast(_DECIMAL, strict=False)
    stripped = pl.Series([False]).new_from_index(0, len(rows))
    if settings.repairs.strip_whitespace:
        retried = texts.str.strip_chars().cast(_DECIMAL, strict=False)
        stripped = decided.is_null() & retried.is_not_null()
        decided = decided.fill_null(retried)
    one_by_one = (decided.is_null() | more_decimals_than_kept(texts).fill_null(True)).arg_true().to_list()

    problems: dict[int, str] = {}
    repaired: dict[str, list[int]] = {}
    exact_extra: dict[int, Decimal] = {}
    fixed: list[Decimal | None] = []
    for row, text in zip(rows.gather(one_by_one).to_list(), texts.gather(one_by_one).to_list(), strict=True):
        value, problem, change, exact = decide_decimal(name, text, settings)
        fixed.append(value)
        if problem:
            problems[row] = problem
        if change:
            repaired.setdefault(change, []).append(row)
        if exact is not None:
            exact_extra[row] = exact
    if one_by_one:
        decided = decided.scatter(one_by_one, _series(fixed, _DECIMAL))
        stripped = stripped.scatter(one_by_one, False)

    n = len(raw)

    def flags(flagged: list[int] | pl.Series) -> pl.Series:
        return pl.Series([False]).new_from_index(0, n).scatter(flagged, True)

    repairs = {label: flags(flagged) for label, flagged in repaired.items()}
    if stripped.any():
        whitespace, label = flags(rows.filter(stripped)), f"{name}:whitespace"
        repairs[label] = repairs[label] | whitespace if label in repairs else whitespace
    problem = _set(n, list(problems), list(problems.values())) if problems else None
    return typed.scatter(rows, decided), problem, sorted(repairs.items()), exact_extra


# --- timestamps -------------------------------------------------------------------------------


def _by_row(name: str, distinct: list[str], key: str | None, per_value: list, dtype: pl.DataType) -> pl.Expr:
    """A value per distinct text of column `name`, given to the rows that hold it (null on null
    rows): through the reader's dictionary where there is one (`key`: the column of each row's
    index into `distinct`), else by value."""
    series = _series(per_value, dtype)
    return pl.lit(series).gather(pl.col(key)) if key else _lookup(pl.col(name), distinct, series)


def type_timestamp(name: str, distinct: list[str], settings: TransformSettings, key: str | None = None) -> Typed:
    """Timestamps into UTC: each distinct text is parsed once in Python and mapped back to the
    rows (`_by_row`)."""
    parsed = {
        t: values.parse_timestamp(t, settings.source_timezone, localize=settings.repairs.source_timezone_to_utc)
        for t in distinct
    }
    column = pl.col(name)
    by_row = partial(_by_row, name, distinct, key)
    typed = Typed(by_row([parsed[t][0] for t in distinct], _TIMESTAMP))
    if any(parsed[t][0] is None for t in distinct):
        typed.problem = by_row(
            [None if parsed[t][0] is not None else f"{name}: unparseable timestamp ({t[:40]!r})" for t in distinct],
            pl.String,
        )
    shifted = [t for t in distinct if parsed[t][1]]
    if shifted:
        rows = (
            column.is_not_null()
            if len(shifted) == len(distinct)
            else by_row([bool(parsed[t][1]) for t in distinct], pl.Boolean)
        )
        typed.changes.append((f"{name}:from_{settings.source_timezone}", rows))
    return typed


# --- tags -------------------------------------------------------------------------------------


def _decode_tags(texts: pl.Series) -> pl.Series:
    return texts.str.json_decode(_TAGS)


def decode_distinct_tags(texts: pl.Series) -> tuple[pl.Series, dict[int, str], dict[int, str]]:
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
            isolate(rows[len(rows) // 2 :])
            return
        flat, error = values.flatten_tags_json(texts[rows[0]])
        if flat is not None:
            try:
                _decode_tags(_series([flat]))
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


def _tags_text(texts: pl.Series) -> pl.Series:
    """Tags texts as they are decoded: stripped, and an empty one is null."""
    return (
        pl.DataFrame({"Tags": texts})
        .select(pl.when(pl.col("Tags").str.strip_chars() != "").then(pl.col("Tags").str.strip_chars()))
        .to_series()
    )


TAGS_POSITION = "tags:position"  # per row, the position of its Tags text among the distinct ones


def _distinct_with_positions(texts: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The distinct non-null values of `texts`, in the order they come, and per text the position
    of its value among them (null for null)."""
    distinct = texts.drop_nulls().unique(maintain_order=True)
    if distinct.is_empty():
        return distinct, pl.Series(TAGS_POSITION, [None], pl.UInt32).new_from_index(0, len(texts))
    positions = texts.replace_strict(
        distinct, pl.int_range(0, len(distinct), eager=True, dtype=pl.UInt32), default=None, return_dtype=pl.UInt32
    )
    return distinct, positions.alias(TAGS_POSITION)


def tags_by_row(tags: pl.Series, dictionary: Dictionary | None) -> tuple[pl.Series, pl.Series]:
    """The distinct Tags texts (`_tags_text`) and per row the position of its text among them:
    from the reader's dictionary of the column where there is one (its values are distinct
    already, and the keys give each row its value), else from the rows."""
    if dictionary is None:
        return _distinct_with_positions(_tags_text(tags))
    distinct, positions = _distinct_with_positions(_tags_text(dictionary.values))
    return distinct, positions.gather(dictionary.keys)


def type_tags(distinct: pl.Series, settings: TransformSettings) -> dict[str, Typed | pl.Expr]:
    """Tags JSON into map<string,string>, plus x_TagsRaw, x_TagsError and the promoted tags.

    Tags repeat (per resource, per project): each distinct text is decoded once and the results
    are gathered back to the rows by their position (column TAGS_POSITION, see tags_by_row)."""
    maps, errors, replacements = decode_distinct_tags(distinct)
    position = pl.col(TAGS_POSITION)

    error = pl.lit(_set(len(distinct), list(errors), list(errors.values()))).gather(position) if errors else None
    keep = settings.repairs.keep_rows_with_unparseable_tags
    changes = [
        (label, position.is_in(list(rows)))
        for label, rows in (("Tags:unparseable", errors if keep else {}), ("Tags:nested_values_as_text", replacements))
        if rows
    ]
    planned: dict[str, Typed | pl.Expr] = {
        "Tags": Typed(
            pl.lit(maps).gather(position),
            problem=None if keep or error is None else pl.lit("Tags: ") + error,
            changes=changes,
        ),
    }
    if error is not None:
        planned["x_TagsRaw"] = pl.when(error.is_not_null()).then(pl.col("Tags"))
        planned["x_TagsError"] = error
    for tag, tag_values in promoted_tags(maps, settings.promoted_tags).items():
        planned[f"x_Tag{tag}"] = pl.lit(tag_values.cast(_TEXT)).gather(position)
    return planned


def promoted_tags(maps: pl.Series, tags: tuple[str, ...]) -> dict[str, pl.Series]:
    """Per map, the value of each of `tags`: the value of the first key (in the JSON's order)
    that matches the tag case-insensitively, or null."""
    lowered = pl.DataFrame({"maps": maps}).select(
        pl.col("maps").map.keys().list.eval(pl.element().str.to_lowercase()).alias("keys"),
        pl.col("maps").map.values().alias("values"),
    )

    def value(tag: str) -> pl.Expr:
        matches = pl.col("keys").list.eval(pl.element() == tag.lower())
        return pl.when(matches.list.any()).then(pl.col("values").list.get(matches.list.arg_max())).alias(tag)

    return dict(zip(tags, lowered.select(value(tag) for tag in tags).get_columns(), strict=True))


# --- provider names ---------------------------------------------------------------------------


def type_name(
    name: str, distinct: list[str], settings: TransformSettings, key: str | None = None
) -> tuple[Typed, pl.Expr]:
    """ProviderName / PublisherName / InvoiceIssuerName: numeric references mapped to names.
    Returns the plans of the column and of its text as delivered (x_<name>Raw), both mapped
    back to the rows from the distinct values (`_by_row`)."""
    by_row = partial(_by_row, name, distinct, key)
    delivered = by_row(distinct, _TEXT) if key else pl.col(name)
    if not settings.repairs.map_provider_names:
        return Typed(delivered), delivered
    explicit_field, default_field = _NAME_COLUMNS[name]
    explicit = getattr(settings, explicit_field)
    default = getattr(settings, default_field) if default_field else None
    mapped = {t: values.map_name(t, explicit, default) for t in distinct}
    changed = [t for t in distinct if mapped[t] != t]
    if not changed:
        return Typed(delivered), delivered
    return Typed(
        by_row([mapped[t] for t in distinct], _TEXT),
        changes=[(f"{name}:mapped", by_row([t in changed for t in distinct], pl.Boolean))],
    ), delivered


# --- x_SourceChanges ------------------------------------------------------------------------


@cache
def changes_dtype(source_timezone: str) -> pl.List:
    """The type of x_SourceChanges in memory: a list of an Enum of every "Column:repair" the
    functions above can apply, in text order. Every row repeats a few labels: as an Enum they are
    held as small integers and written as a Parquet dictionary, not as text on every row (less
    memory, a smaller column, faster reads). The file still reads as list<string>
    (writer.write_frames). A label missing here fails the conversion; it is never dropped."""
    labels = ["Tags:unparseable", "Tags:nested_values_as_text", *DERIVED_LABELS]
    for column in INPUT_COLUMNS:
        if column.kind is Kind.DECIMAL:
            labels += [f"{column.name}:whitespace", f"{column.name}:rounded"]
        elif column.kind is Kind.TIMESTAMP:
            labels.append(f"{column.name}:from_{source_timezone}")
        elif column.name in _NAME_COLUMNS:
            labels.append(f"{column.name}:mapped")
    return pl.List(pl.Enum(sorted(labels)))


def categorical_columns(promoted_tags: tuple[str, ...]) -> tuple[str, ...]:
    """The text columns held as polars Categoricals (`_TEXT`): those built here from a few
    distinct values of a batch (provider names and their delivered spellings, promoted tags, Tags
    errors) or from one value (source, batch, host provider). Gathered by the reader's keys, they
    are built without hashing every row, and the Parquet writer writes them as dictionaries
    without hashing every row either. The file still reads as text (writer.write_frames)."""
    names = [
        *MAPPED_NAME_COLUMNS,
        *(f"x_{name}Raw" for name in MAPPED_NAME_COLUMNS),
        "ServiceProviderName",
        "HostProviderName",
        "x_TagsRaw",
        "x_TagsError",
        "x_SourceObject",
        "x_SourceMember",
        "x_BatchTs",
        "x_ExportSource",
    ]
    return (*names, *(promoted_tag_column(tag).name for tag in promoted_tags))


def typed_schema(settings: TransformSettings) -> pl.Schema:
    """The schema of `TypedBatch.good`: the output schema, x_SourceChanges as `changes_dtype` and
    the `categorical_columns` as Categoricals."""
    schema = polars_schema(settings.promoted_tags)
    schema["x_SourceChanges"] = changes_dtype(settings.source_timezone)
    for name in categorical_columns(settings.promoted_tags):
        schema[name] = _TEXT
    return schema


# --- the batch --------------------------------------------------------------------------------


def embedded_newlines(frame: pl.DataFrame) -> pl.Series:
    """Per row, the line breaks inside quoted fields (so line numbers match an editor)."""
    return frame.select(
        pl.sum_horizontal(pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns)
    ).to_series()


def normalize_batch(
    raw: pl.DataFrame,
    source: BatchSource,
    first_line: int,
    settings: TransformSettings,
    *,
    embedded_line_breaks: bool = True,
    line_breaks: pl.Series | None = None,
    typed_decimals: dict[str, pl.Series] | None = None,
    dictionaries: dict[str, Dictionary] | None = None,
) -> TypedBatch:
    """Type one batch of raw rows. `raw` has the delivered header names; `first_line` is the
    line of its first record. When the caller knows that no field holds a line break, line
    numbers are counted without looking into the fields; `line_breaks` are those in each row's
    fields where the reader counted them. `typed_decimals` holds money columns that the
    reader already typed (by delivered name; plain numbers only, whose value the casts and rules
    here would give as well); `dictionaries` the distinct values the reader found of some columns
    (by delivered name), which spare the typing finding and matching them again."""
    lines = _line_numbers(raw, first_line, embedded_line_breaks, line_breaks)
    items = _line_items(raw, source.header, lines, typed_decimals or {}, dictionaries or {})
    facts = _gather_facts(items)
    # The plans are expressions: every output column is computed in _type_rows' one select.
    plans = _plan_columns(items, facts, source, settings)
    typed, labels = _type_rows(items.frame, facts, plans, settings)
    typed, repairs = _with_source_changes(typed, labels, settings.source_timezone)
    unmapped = _unmapped_services(typed, plans.series[UNMAPPED_ROWS]) if repairs[UNMAPPED] else Counter()
    good, quarantine, money, money_extra = _split_quarantine(items.raw, typed, plans.exact_extra)
    return TypedBatch(good, quarantine, money, money_extra, repairs, items.empty_records, unmapped)


def _unmapped_services(typed: pl.DataFrame, unmapped: pl.Series) -> Counter:
    """Rows per service the service map lacks, as "x_CommodityCode / ServiceName" (`unmapped`: the
    derivation's flag per row, in the rows' order)."""
    rows = typed.filter(unmapped)
    counts = rows.group_by("x_CommodityCode", "ServiceName").len().iter_rows()
    return Counter({f"{code} / {name}": n for code, name, n in counts})


@dataclass
class _LineItems:
    """A batch's records less the empty ones, with what the reader already typed or found of them."""

    raw: pl.DataFrame  # under the delivered names, for the quarantine's raw values
    frame: pl.DataFrame  # the same rows, known columns under their schema names
    lines: pl.Series  # per row, the line its record starts on
    typed_money: dict[str, pl.Series]  # by schema name: typed_decimals
    found: dict[str, Dictionary]  # by schema name: dictionaries
    empty_records: int


@dataclass
class _Facts:
    """What the plans need to know of a batch: its columns, its money typed, and facts of one pass."""

    present: dict[str, Column]  # the input columns in the header, in schema order
    decimals: list[str]  # the money columns among them
    casts: pl.DataFrame  # each money column typed, by the cast or by the C reader
    distinct: dict[str, list[str]]  # the distinct values of each timestamp and name column
    may_round: set[str]  # money columns with values the cast may have rounded (more decimals than kept)
    undecided: set[str]  # money columns whose typed values leave rows to `type_decimal`


@dataclass
class _Plans:
    """A plan per output column, and what the plans refer to."""

    columns: dict[str, Typed | pl.Expr] = field(default_factory=dict)
    # Columns computed eagerly, under names with a colon (FOCUS and Alibaba column names have none).
    series: dict[str, pl.Series] = field(default_factory=dict)
    exact_extra: dict[str, dict[int, Decimal]] = field(default_factory=dict)  # by money column: type_decimal's


def _line_numbers(
    raw: pl.DataFrame, first_line: int, embedded_line_breaks: bool, line_breaks: pl.Series | None
) -> pl.Series:
    """Per record, the line it starts on, counting the line breaks inside the fields before it."""
    lines = pl.int_range(first_line, first_line + raw.height, dtype=pl.Int64, eager=True)
    if embedded_line_breaks:
        breaks = line_breaks if line_breaks is not None else embedded_newlines(raw)
        lines = lines + breaks.cast(pl.Int64).cum_sum() - breaks
    return lines


def _line_items(
    raw: pl.DataFrame,
    header: Header,
    lines: pl.Series,
    typed_money: dict[str, pl.Series],
    found: dict[str, Dictionary],
) -> _LineItems:
    """The batch without its empty records, its known columns under their schema names."""
    # A blank line (or a record of empty fields) is no line item: skipped, and counted.
    empty = raw.select(pl.all_horizontal(pl.all().is_null())).to_series()
    empty_records = int(empty.sum())
    if empty_records:
        raw, lines = raw.filter(~empty), lines.filter(~empty)
        typed_money = {name: values.filter(~empty) for name, values in typed_money.items()}
        found = {name: Dictionary(d.keys.filter(~empty), d.values) for name, d in found.items()}
    return _LineItems(
        raw,
        raw.rename(header.rename),
        lines,
        {header.rename[name]: values for name, values in typed_money.items()},
        {header.rename[name]: d for name, d in found.items()},
        empty_records,
    )


def _gather_facts(items: _LineItems) -> _Facts:
    """The money columns typed, and one pass of facts: the distinct values of timestamps and
    names (unless the reader found them) and which money values the cast may round."""
    frame, typed_money, found = items.frame, items.typed_money, items.found
    present = {c.name: c for c in INPUT_COLUMNS if c.name in frame.columns}
    decimals = [name for name, c in present.items() if c.kind is Kind.DECIMAL]
    to_cast = [name for name in decimals if name not in typed_money]
    few_distinct = [name for name, c in present.items() if c.kind is Kind.TIMESTAMP or name in _NAME_COLUMNS]

    casts = frame.select(
        *(pl.col(name).cast(_DECIMAL, strict=False) for name in to_cast),
        *(pl.lit(values).alias(name) for name, values in typed_money.items()),
    )
    to_find = [name for name in few_distinct if name not in found]
    distinct_values = [pl.col(name).drop_nulls().unique().implode().alias(name) for name in to_find]
    suspects = [pl.col(name).str.contains(_MAYBE_EXCESS_DECIMALS).sum().alias(f"suspect:{name}") for name in to_cast]
    gathered = frame.select(*distinct_values, *suspects).row(0, named=True) if to_find or to_cast else {}
    distinct = {name: gathered[name] for name in to_find}
    distinct.update({name: found[name].values.to_list() for name in few_distinct if name in found})
    may_round = {name for name in to_cast if gathered[f"suspect:{name}"] > 0}
    # Money values that neither the cast nor the C reader typed (spaces, bad values, and for the
    # reader, excess decimals).
    untyped = {name for name in decimals if casts[name].null_count() != frame[name].null_count()}
    return _Facts(present, decimals, casts, distinct, may_round, untyped | may_round)


def _plan_columns(items: _LineItems, facts: _Facts, source: BatchSource, settings: TransformSettings) -> _Plans:
    """A plan per output column: the input columns by kind, then the columns saying where rows come from."""
    plans = _Plans()

    def key(name: str) -> str | None:
        """Where the reader found the distinct values of `name`: the column (added to the plans'
        series) of each row's key into them, by which rows map to their typed values."""
        if name not in items.found:
            return None
        plans.series[f"key:{name}"] = items.found[name].keys
        return f"key:{name}"

    for name, column in facts.present.items():
        if column.kind is Kind.DECIMAL:
            if name not in facts.undecided:
                plans.columns[name] = Typed(pl.col(f"cast:{name}"))
            else:
                plans.columns[name], plans.exact_extra[name] = _plan_decimal(
                    name,
                    items.frame[name],
                    facts.casts[name],
                    settings,
                    plans.series,
                    maybe_excess=name in facts.may_round,
                )
        elif column.kind is Kind.TIMESTAMP:
            plans.columns[name] = type_timestamp(name, facts.distinct[name], settings, key(name))
        elif column.kind is Kind.STRING_MAP:  # Tags
            distinct, plans.series[TAGS_POSITION] = tags_by_row(items.frame["Tags"], items.found.get("Tags"))
            plans.columns.update(type_tags(distinct, settings))
        elif name in _NAME_COLUMNS:
            plans.columns[name], plans.columns[f"x_{name}Raw"] = type_name(
                name, facts.distinct[name], settings, key(name)
            )
        else:
            plans.columns[name] = pl.col(name)

    plans.series["line:"] = items.lines
    plans.columns.update(
        {
            "HostProviderName": pl.lit(settings.host_provider_name, _TEXT),
            "x_ExtraColumns": _extra_columns(source.header.extra),
            "x_SourceObject": pl.lit(source.object_key, _TEXT),
            "x_SourceMember": pl.lit(source.member, _TEXT),
            "x_SourceLine": pl.col("line:"),
            "x_BatchTs": pl.lit(source.batch_ts, _TEXT),
            "x_ExportSource": pl.lit(settings.export_source, _TEXT),
        }
    )
    # FOCUS 1.3: the provider, as mapped.
    plans.columns["ServiceProviderName"] = _values(plans.columns.get("ProviderName"))

    def value_of(name: str) -> pl.Expr:
        plan = plans.columns.get(name)
        return pl.lit(None, pl.String) if plan is None else _values(plan)

    # FOCUS 1.2: derived from the values above (derivations.py); a delivered ServiceCategory stays.
    derived, series = derived_columns(items.frame, value_of, settings.derivations)
    plans.series.update(series)
    for name, column in derived.items():
        plans.columns[name] = Typed(column.values, changes=column.changes)
    return plans


def _values(plan: Typed | pl.Expr | None) -> pl.Expr:
    """A plan's values; a null for a column absent from the header (typed by the output's cast)."""
    if plan is None:
        return pl.lit(None)
    return plan.values if isinstance(plan, Typed) else plan


def _type_rows(
    frame: pl.DataFrame, facts: _Facts, plans: _Plans, settings: TransformSettings
) -> tuple[pl.DataFrame, list[str]]:
    """Every output column, per row its repair code (`_repair_code`) and problems (`_problem_text`),
    in one select; and the repair labels, by bit of the code."""
    typed_plans = [p for p in plans.columns.values() if isinstance(p, Typed)]
    changes = [change for p in typed_plans for change in p.changes]
    problems = [p.problem for p in typed_plans if p.problem is not None]
    wide = frame.hstack(facts.casts.rename({c: f"cast:{c}" for c in facts.decimals}))
    wide = wide.with_columns(series.alias(name) for name, series in plans.series.items())
    output = [
        _values(plans.columns.get(name)).cast(dtype).alias(name) for name, dtype in typed_schema(settings).items()
    ]
    typed = wide.select(*output, *_repair_code(changes), *_problem_text(problems))
    return typed, [label for label, _ in changes]


def _repair_code(changes: list[tuple[str, pl.Expr]]) -> list[pl.Expr]:
    """Column `_changes`, per row bit i set where changes[i] applies; none when no repair can apply."""
    if not changes:
        return []
    assert len(changes) <= 64, "repair flags are packed into one 64-bit code per row"
    bits = (rows.fill_null(False).cast(pl.UInt64) * (1 << bit) for bit, (_, rows) in enumerate(changes))
    return [pl.sum_horizontal(bits).alias("_changes")]


def _problem_text(problems: list[pl.Expr]) -> list[pl.Expr]:
    """Column `_problems`, per row its problems joined ("" for none); none when no column has problems."""
    if not problems:
        return []
    return [pl.concat_str(problems, separator=_SEPARATOR, ignore_nulls=True).alias("_problems")]


def _with_source_changes(typed: pl.DataFrame, labels: list[str], source_timezone: str) -> tuple[pl.DataFrame, Counter]:
    """x_SourceChanges in place of the repair codes, and how many rows each repair applies to."""
    codes = typed["_changes"] if labels else None
    lists, repairs = _row_lists(codes, labels, typed.height, changes_dtype(source_timezone))
    return typed.with_columns(lists.alias("x_SourceChanges")).drop("_changes", strict=False), repairs


def _split_quarantine(
    raw: pl.DataFrame, typed: pl.DataFrame, exact_extra: dict[str, dict[int, Decimal]]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[tuple[str | None, bool, str, Decimal]]]:
    """The rows kept, the rows with problems as quarantine rows, and the money per row (`_money`)."""
    bad = (typed["_problems"] != "") if "_problems" in typed.columns else None
    if bad is None or not bad.any():
        money, money_extra = _money(typed, None, exact_extra)
        return typed.drop("_problems", strict=False), _empty_quarantine(), money, money_extra
    money, money_extra = _money(typed, bad, exact_extra)
    return typed.filter(~bad).drop("_problems"), _quarantine_rows(raw, typed, bad), money, money_extra


def _plan_decimal(
    name: str,
    raw: pl.Series,
    typed: pl.Series,
    settings: TransformSettings,
    series: dict[str, pl.Series],
    *,
    maybe_excess: bool,
) -> tuple[Typed, dict[int, Decimal]]:
    """The plan of a money column with undecided values (type_decimal); its series go into `series`."""
    typed, problem, repairs, exact_extra = type_decimal(name, raw, typed, settings, maybe_excess=maybe_excess)
    series[f"cast:{name}"] = typed
    plan = Typed(pl.col(f"cast:{name}"))
    if problem is not None:
        series[f"problem:{name}"] = problem
        plan.problem = pl.col(f"problem:{name}")
    for label, rows in repairs:
        series[f"change:{label}"] = rows
        plan.changes.append((label, pl.col(f"change:{label}")))
    return plan, exact_extra


def _money(
    typed: pl.DataFrame, bad: pl.Series | None, exact_extra: dict[str, dict[int, Decimal]]
) -> tuple[pl.DataFrame, list[tuple[str | None, bool, str, Decimal]]]:
    """Per row: currency, quarantined, and each reconciled column where the typed value is exact;
    the cells with more decimals than the schema keeps are listed apart with their exact value."""
    money = typed.select(
        pl.col("BillingCurrency").str.strip_chars().alias("currency"),
        (bad if bad is not None else pl.lit(False)).alias("quarantined"),
        *RECONCILED_COLUMNS,
    )
    extra = []
    for name in RECONCILED_COLUMNS:
        rows = exact_extra.get(name, {})
        if rows:
            money = money.with_columns(money[name].scatter(list(rows), _series([None] * len(rows), _DECIMAL)))
            extra.extend(
                (money["currency"][row], bool(bad is not None and bad[row]), name, value) for row, value in rows.items()
            )
    return money, extra


def _row_lists(codes: pl.Series | None, labels: list[str], n: int, dtype: pl.List) -> tuple[pl.Series, Counter]:
    """x_SourceChanges from per-row repair codes (bit i set: labels[i] applies), and how many
    rows each repair applies to. Rows share few combinations (the same repairs apply to most
    rows), so each combination's list is built, and counted, once."""
    if codes is None:
        return pl.Series([[]], dtype=dtype).new_from_index(0, n), Counter()
    combinations = codes.value_counts(sort=True)
    counts: Counter = Counter()
    lists = []
    for code, rows in combinations.iter_rows():
        entries = [label for bit, label in enumerate(labels) if code >> bit & 1]
        lists.append(entries)
        counts.update({entry: rows for entry in entries})
    index = codes.replace_strict(
        combinations[:, 0], pl.int_range(0, len(lists), eager=True, dtype=pl.UInt32), return_dtype=pl.UInt32
    )
    return _series(lists, dtype).gather(index), counts


def _extra_columns(extra: tuple[str, ...]) -> pl.Expr:
    if not extra:
        return pl.lit(None, _TAGS)
    return pl.concat_list(pl.struct(key=pl.lit(name), value=pl.col(name)) for name in extra).cast(_TAGS)


def _quarantine_rows(raw: pl.DataFrame, typed: pl.DataFrame, bad: pl.Series) -> pl.DataFrame:
    reasons = typed["_problems"].filter(bad)
    return pl.DataFrame(
        {
            "x_SourceObject": typed["x_SourceObject"].filter(bad).cast(pl.String),
            "x_SourceMember": typed["x_SourceMember"].filter(bad).cast(pl.String),
            "x_SourceLine": typed["x_SourceLine"].filter(bad),
            "x_BatchTs": typed["x_BatchTs"].filter(bad).cast(pl.String),
            "x_ExportSource": typed["x_ExportSource"].filter(bad).cast(pl.String),
            "column": reasons.str.split(":").list.first(),
            "reason": reasons.str.replace_all(_SEPARATOR, "; ", literal=True),
            "raw_values": raw.filter(bad)
            .select(pl.concat_list(pl.struct(key=pl.lit(c), value=pl.col(c)) for c in raw.columns).cast(_TAGS))
            .to_series(),
        }
    )


def _empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema={c.name: c.kind.polars for c in QUARANTINE_COLUMNS})
