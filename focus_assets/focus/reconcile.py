"""Rows and money in versus out, per BillingCurrency (never summed across currencies).

`read` is what the CSV text says (every parseable amount, exact); `written` is read back from the
published Parquet files; `quarantined` is the parseable money of the rows set aside. The
identity read = written + quarantined must hold exactly, for rows and for every sum.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Context, Decimal
from pathlib import Path

import polars as pl

from .schema import RECONCILED_COLUMNS

NO_CURRENCY = "(none)"
# Python's default decimal context keeps 28 digits; sums of decimal(38,10) need more.
_EXACT = Context(prec=100)


def _money() -> defaultdict[str, defaultdict[str, Decimal]]:
    return defaultdict(lambda: defaultdict(Decimal))


def decimal_text(value: Decimal) -> str:
    """Exact decimal text without exponent or trailing zeros: '12.5', '-0.0000000001', '0'."""
    if value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _add(money: defaultdict, currency: str, column: str, amount: Decimal) -> None:
    money[currency][column] = _EXACT.add(money[currency][column], amount)


def _sums(money: pl.DataFrame | pl.LazyFrame, keys: list[str]) -> list[dict]:
    """Per group of `keys`: its rows and the sum of each reconciled column, exact. polars sums a
    decimal(38,10) column in 128 bits; where a sum would not fit (amounts near 10^28, which no
    bill holds but a broken export may), the group is summed in Python instead, as exactly."""
    try:
        return (
            money.lazy()
            .group_by(keys)
            .agg(pl.len().alias("rows"), *(pl.col(c).sum() for c in RECONCILED_COLUMNS))
            .collect()
            .rows(named=True)
        )
    except pl.exceptions.ComputeError:
        pass
    groups: dict[tuple, dict] = {}
    for row in money.lazy().collect().iter_rows(named=True):
        group = groups.setdefault(
            tuple(row[k] for k in keys), {**{k: row[k] for k in keys}, "rows": 0, **dict.fromkeys(RECONCILED_COLUMNS)}
        )
        group["rows"] += 1
        for column in RECONCILED_COLUMNS:
            if row[column] is not None:
                group[column] = _EXACT.add(group[column] or Decimal(0), row[column])
    return list(groups.values())


@dataclass
class Reconciliation:
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    read: defaultdict = field(default_factory=_money)
    written: defaultdict = field(default_factory=_money)
    quarantined: defaultdict = field(default_factory=_money)

    def add_batch(self, money: pl.DataFrame, exact_extra: list[tuple[str | None, bool, str, Decimal]]) -> None:
        """Count one typed batch's rows and money (see normalize.TypedBatch.money)."""
        self.rows_read += money.height
        self.rows_quarantined += int(money["quarantined"].sum())
        for row in _sums(money, ["currency", "quarantined"]):
            currency = row["currency"] or NO_CURRENCY
            for column in RECONCILED_COLUMNS:
                amount = row[column] or Decimal(0)
                _add(self.read, currency, column, amount)
                if row["quarantined"]:
                    _add(self.quarantined, currency, column, amount)
        for currency, quarantined, column, amount in exact_extra:
            _add(self.read, currency or NO_CURRENCY, column, amount)
            if quarantined:
                _add(self.quarantined, currency or NO_CURRENCY, column, amount)

    def add_written(self, parquet_file: Path) -> None:
        """Count what a published Parquet file holds, read back from disk."""
        money = pl.scan_parquet(parquet_file).select(
            pl.col("BillingCurrency").str.strip_chars().alias("currency"), *RECONCILED_COLUMNS
        )
        for row in _sums(money, ["currency"]):
            self.rows_written += row["rows"]
            currency = row["currency"] or NO_CURRENCY
            for column in RECONCILED_COLUMNS:
                _add(self.written, currency, column, row[column] or Decimal(0))

    def merge(self, other: Reconciliation) -> None:
        self.rows_read += other.rows_read
        self.rows_written += other.rows_written
        self.rows_quarantined += other.rows_quarantined
        for mine, theirs in (
            (self.read, other.read),
            (self.written, other.written),
            (self.quarantined, other.quarantined),
        ):
            for currency, columns in theirs.items():
                for column, amount in columns.items():
                    _add(mine, currency, column, amount)

    def mismatches(self) -> list[str]:
        """Every way in which read != written + quarantined; empty when reconciled."""
        found = []
        if self.rows_read != self.rows_written + self.rows_quarantined:
            found.append(
                f"rows: read {self.rows_read} != written {self.rows_written} + quarantined {self.rows_quarantined}"
            )
        for currency in sorted(set(self.read) | set(self.written)):
            for column in RECONCILED_COLUMNS:
                read = self.read[currency][column]
                out = _EXACT.add(self.written[currency][column], self.quarantined[currency][column])
                if read != out:
                    found.append(
                        f"{column} {currency}: read {decimal_text(read)} != written + quarantined {decimal_text(out)}"
                    )
        return found

    def to_dict(self) -> dict:
        currencies = sorted(set(self.read) | set(self.written))
        return {
            "rows": {"read": self.rows_read, "written": self.rows_written, "quarantined": self.rows_quarantined},
            "money": {
                currency: {
                    column: {
                        "read": decimal_text(self.read[currency][column]),
                        "written": decimal_text(self.written[currency][column]),
                        "quarantined": decimal_text(self.quarantined[currency][column]),
                    }
                    for column in RECONCILED_COLUMNS
                }
                for currency in currencies
            },
            "reconciled": not self.mismatches(),
            "mismatches": self.mismatches(),
        }
