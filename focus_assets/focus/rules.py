"""Checks on typed data and on snapshots, as plain functions over polars frames.

- `focus_rule_violations`: FOCUS rules on the typed rows (mandatory columns not null, allowed
  values, charge periods inside their billing period); Alibaba's documented gaps are reported
  apart, not counted as violations.
- `header_report`: the columns a delivery's header lacks or adds, against Alibaba's documented
  omissions and against the previous delivery: a change is worth a look, a steady gap is not.
- `snapshot_problems`: whether a new month-to-date snapshot looks like a regression of the one it
  would replace (fewer days, much less money), so that it is not promoted blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import polars as pl

from .schema import ALLOWED_VALUES, FOCUS_COLUMNS, INPUT_COLUMNS, SERVICE_SUBCATEGORIES, AlibabaNulls


@dataclass(frozen=True)
class RuleReport:
    violations: dict[str, int]  # rule -> rows breaking it (not Alibaba's documented gaps)
    documented_gaps: dict[str, int]  # rule -> rows, for gaps Alibaba documents


def focus_rule_violations(rows: pl.LazyFrame) -> RuleReport:
    checks: dict[str, pl.Expr] = {}
    gaps: set[str] = set()
    for column in FOCUS_COLUMNS:
        if not column.focus_nullable:
            rule = f"{column.name} is null (FOCUS: not nullable)"
            checks[rule] = pl.col(column.name).is_null()
            if column.alibaba_nulls is not AlibabaNulls.NO or column.alibaba_may_omit:
                gaps.add(rule)
    for name, allowed in ALLOWED_VALUES.items():
        checks[f"{name} not one of the allowed values"] = pl.col(name).is_not_null() & ~pl.col(name).is_in(allowed)
    pairs = [f"{category} > {sub}" for category, subs in SERVICE_SUBCATEGORIES.items() for sub in subs]
    checks["ServiceSubcategory not one of its ServiceCategory's"] = pl.col("ServiceSubcategory").is_not_null() & ~(
        pl.concat_str(pl.col("ServiceCategory"), pl.lit(" > "), pl.col("ServiceSubcategory")).is_in(pairs)
    )
    checks["ChargePeriodStart not before ChargePeriodEnd"] = pl.col("ChargePeriodStart") >= pl.col("ChargePeriodEnd")
    checks["charge period outside its billing period"] = (
        pl.col("ChargePeriodStart") < pl.col("BillingPeriodStart")
    ) | (pl.col("ChargePeriodEnd") > pl.col("BillingPeriodEnd"))
    counts = rows.select(expr.sum().alias(rule) for rule, expr in checks.items()).collect().row(0, named=True)
    return RuleReport(
        violations={rule: n for rule, n in counts.items() if n and rule not in gaps},
        documented_gaps={rule: n for rule, n in counts.items() if n and rule in gaps},
    )


@dataclass(frozen=True)
class HeaderReport:
    missing: list[str]  # schema columns the header lacks (typed nulls)
    added: list[str]  # delivered columns the schema does not know (kept in x_ExtraColumns)
    undocumented_missing: list[str]  # missing columns Alibaba is not documented to omit
    changes: list[str]  # what differs from the previous delivery's header, in words

    @property
    def steady(self) -> bool:
        """Nothing changed since the previous delivery, and every gap is a documented one."""
        return not self.changes and not self.undocumented_missing


DOCUMENTED_OMISSIONS = frozenset(c.name for c in INPUT_COLUMNS if c.alibaba_may_omit)


def header_report(missing: list[str], added: list[str], previous: tuple[list[str], list[str]] | None) -> HeaderReport:
    """`previous`: the (missing, added) columns of the delivery typed before, None for the first."""
    changes = []
    if previous is not None:
        was_missing, was_added = set(previous[0]), set(previous[1])
        changes += [f"{name}: newly missing" for name in missing if name not in was_missing]
        changes += [f"{name}: delivered again" for name in sorted(was_missing - set(missing))]
        changes += [f"{name}: new column" for name in added if name not in was_added]
        changes += [f"{name}: no longer delivered" for name in sorted(was_added - set(added))]
    return HeaderReport(
        missing=list(missing),
        added=list(added),
        undocumented_missing=[name for name in missing if name not in DOCUMENTED_OMISSIONS],
        changes=changes,
    )


@dataclass(frozen=True)
class SnapshotStats:
    batch_ts: str
    data_through: datetime | None  # the latest ChargePeriodEnd
    effective_cost: dict[str, Decimal]  # per currency


def snapshot_stats(rows: pl.LazyFrame, batch_ts: str) -> SnapshotStats:
    through = rows.select(pl.col("ChargePeriodEnd").max()).collect().item()
    money = rows.group_by("BillingCurrency").agg(pl.col("EffectiveCost").sum()).collect()
    return SnapshotStats(batch_ts, through, {c or "(none)": v or Decimal(0) for c, v in money.iter_rows()})


def snapshot_problems(new: SnapshotStats, current: SnapshotStats | None, min_money_ratio: float) -> list[str]:
    """Why `new` should not replace `current` (the published snapshot of the same month)."""
    if current is None or new.batch_ts <= current.batch_ts:
        return []
    problems = []
    if current.data_through and (new.data_through is None or new.data_through < current.data_through):
        problems.append(
            f"covers less time: data through {new.data_through}, the current snapshot through {current.data_through}"
        )
    for currency, before in current.effective_cost.items():
        after = new.effective_cost.get(currency, Decimal(0))
        if before > 0 and after < before * Decimal(str(min_money_ratio)):
            problems.append(f"EffectiveCost {currency} fell to {after} from {before} (below {min_money_ratio:.0%})")
    return problems
