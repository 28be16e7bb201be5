"""The figures of the cost report, read from the SQL views of `sql/views/`.

Every query is plain SQL that DuckDB and Athena (Trino) both run as written, through
`Warehouse.query`. Money is summed by the engine in decimals, per BillingCurrency (never across
currencies), and kept as `Decimal` here: Athena returns text and DuckDB `Decimal`, both read with
`Decimal(str(value))`. Charts may plot floats; the tables print these values.

Sections:

- cost per billing month, provider and currency (`focus_unified`);
- the top services of the latest billing month, per currency (`focus_unified`);
- cost per promoted tag value and the untagged share, Alibaba's latest billing month
  (`alibaba_cost_monthly_by_tag`, `alibaba_untagged_share`);
- daily cost of that month (`alibaba_cost_daily`, charge days in UTC);
- that month's total in each of its deliveries (`alibaba_focus_history`);
- freshness: the current delivery of each Alibaba billing month (`alibaba_current_deliveries`,
  the ledger `alibaba_deliveries`) and how far each provider's data reaches (`focus_unified`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Context, Decimal

Query = Callable[[str], list[tuple]]

_EXACT = Context(prec=100)  # sums of decimal(38,15) values never round
ZERO = Decimal(0)

# The billing month of a row in focus_unified: the month of BillingPeriodStart + 15 days. A billing
# period that starts at midnight in another timezone (Alibaba's, in Asia/Shanghai, starts at 16:00
# UTC the day before) falls in its own month; year() and month() are the same in DuckDB and Trino.
_SHIFTED = "BillingPeriodStart + INTERVAL '15' DAY"
BILLING_MONTH = f"year({_SHIFTED}) * 100 + month({_SHIFTED})"

MONTH_PROVIDER_SQL = f"""
SELECT {BILLING_MONTH} AS billing_month, x_SourceProvider, BillingCurrency,
       sum(BilledCost), sum(EffectiveCost), count(*), CAST(max(ChargePeriodEnd) AS varchar)
FROM focus_unified
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3"""

SERVICES_SQL = """
SELECT x_SourceProvider, ServiceName, BillingCurrency, sum(BilledCost), sum(EffectiveCost), count(*)
FROM focus_unified
WHERE {billing_month} = {month}
GROUP BY 1, 2, 3"""

CURRENT_DELIVERIES_SQL = """
SELECT c.yearmonth, c.batch_ts, d.rows_written, d.rows_quarantined, f.data_through
FROM alibaba_current_deliveries AS c
JOIN alibaba_deliveries AS d ON c.yearmonth = d.yearmonth AND c.batch_ts = d.batch_ts
LEFT JOIN (SELECT yearmonth, CAST(max(ChargePeriodEnd) AS varchar) AS data_through
           FROM alibaba_focus GROUP BY yearmonth) AS f ON f.yearmonth = c.yearmonth
ORDER BY 1"""

TAGS_SQL = """
SELECT tag_key, tag_value, BillingCurrency, billed_cost, effective_cost, line_items
FROM alibaba_cost_monthly_by_tag
WHERE billing_month = '{yearmonth}'"""

UNTAGGED_SQL = """
SELECT tag_key, BillingCurrency, total_effective_cost, untagged_effective_cost, untagged_share
FROM alibaba_untagged_share
WHERE billing_month = '{yearmonth}'
ORDER BY 1, 2"""

# The month's charge days: from the first day of its billing period to the day before its end, in
# UTC as the view counts them (Alibaba's January 1st in Asia/Shanghai is December 31st in UTC).
DAILY_SQL = """
SELECT CAST(d.charge_date AS varchar), d.BillingCurrency, d.billed_cost, d.effective_cost, d.line_items
FROM alibaba_cost_daily AS d
JOIN (SELECT CAST(min(BillingPeriodStart) AS date) AS first_day, CAST(max(BillingPeriodEnd) AS date) AS end_day
      FROM alibaba_focus WHERE yearmonth = '{yearmonth}') AS p
  ON d.charge_date >= p.first_day AND d.charge_date < p.end_day
ORDER BY 1, 2"""

SNAPSHOTS_SQL = """
SELECT batch_ts, BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost), CAST(max(ChargePeriodEnd) AS varchar)
FROM alibaba_focus_history
WHERE yearmonth = '{yearmonth}'
GROUP BY 1, 2
ORDER BY 1, 2"""


@dataclass(frozen=True)
class MonthProviderCost:
    billing_month: str  # YYYY-MM
    provider: str
    currency: str
    billed: Decimal
    effective: Decimal
    line_items: int
    data_through: str | None  # the latest ChargePeriodEnd, UTC, 'YYYY-MM-DD HH:MM'


@dataclass(frozen=True)
class ServiceCost:
    provider: str
    service: str
    currency: str
    billed: Decimal
    effective: Decimal
    line_items: int
    others: int = 0  # > 0: the sum of this many services beyond the top ones


@dataclass(frozen=True)
class TagCost:
    tag_key: str
    tag_value: str | None  # None: untagged
    currency: str
    billed: Decimal
    effective: Decimal
    line_items: int
    others: int = 0  # > 0: the sum of this many values beyond the top ones


@dataclass(frozen=True)
class UntaggedShare:
    tag_key: str
    currency: str
    total_effective: Decimal
    untagged_effective: Decimal
    share: float | None  # None when the total is zero


@dataclass(frozen=True)
class DailyCost:
    charge_date: str  # YYYY-MM-DD, UTC
    currency: str
    billed: Decimal
    effective: Decimal
    line_items: int


@dataclass(frozen=True)
class SnapshotTotal:
    batch_ts: str
    currency: str
    line_items: int
    billed: Decimal
    effective: Decimal
    data_through: str | None


@dataclass(frozen=True)
class CurrentDelivery:
    yearmonth: str
    batch_ts: str
    rows_written: int
    rows_quarantined: int
    data_through: str | None


@dataclass(frozen=True)
class ReportFigures:
    generated_at: datetime
    source: str  # which warehouse the figures come from
    by_month_provider: list[MonthProviderCost] = field(default_factory=list)
    services_month: str | None = None  # YYYY-MM: the latest billing month in focus_unified
    services: list[ServiceCost] = field(default_factory=list)
    alibaba_month: str | None = None  # YYYYMM: Alibaba's latest billing month
    deliveries: list[CurrentDelivery] = field(default_factory=list)
    tags: list[TagCost] = field(default_factory=list)
    untagged: list[UntaggedShare] = field(default_factory=list)
    daily: list[DailyCost] = field(default_factory=list)
    snapshots: list[SnapshotTotal] = field(default_factory=list)


def money(value) -> Decimal:
    """An amount as the engine returned it (Decimal, or text from Athena); NULL (no amount) is 0."""
    return ZERO if value is None else Decimal(str(value))


def count(value) -> int:
    return 0 if value is None else int(value)


def instant(value) -> str | None:
    """A timestamp cast to varchar by DuckDB ('2026-01-04 16:00:00') or Trino ('... 16:00:00.000'),
    to the minute."""
    return None if value is None else str(value)[:16]


def month_label(value) -> str:
    """202601 (a number or text) as '2026-01'."""
    text = "" if value is None else str(value)
    return f"{text[:4]}-{text[4:6]}" if re.fullmatch(r"\d{6}", text) else "unknown"


def add(values: Iterable[Decimal]) -> Decimal:
    total = ZERO
    for value in values:
        total = _EXACT.add(total, value)
    return total


def currencies(rows: Iterable) -> list[str]:
    return sorted({r.currency for r in rows})


def _summed(rest: list) -> tuple[Decimal, Decimal, int, int]:
    """BilledCost, EffectiveCost, line items and count of the rows summed into one "other" row."""
    return add(r.billed for r in rest), add(r.effective for r in rest), sum(r.line_items for r in rest), len(rest)


def top_services(rows: list[ServiceCost], top: int) -> list[ServiceCost]:
    """Per currency, the `top` services by EffectiveCost, then one row summing the others."""
    kept = []
    for currency in currencies(rows):
        ranked = sorted(
            (r for r in rows if r.currency == currency), key=lambda r: (-r.effective, r.provider, r.service)
        )
        kept += ranked[:top]
        rest = ranked[top:]
        if rest:
            kept.append(ServiceCost("", "other services", currency, *_summed(rest)))
    return kept


def top_tag_values(rows: list[TagCost], top: int) -> list[TagCost]:
    """Per tag key and currency, the `top` values by EffectiveCost, one row summing the other values,
    and the untagged cost last."""
    kept = []
    for key, currency in sorted({(r.tag_key, r.currency) for r in rows}):
        group = [r for r in rows if r.tag_key == key and r.currency == currency]
        ranked = sorted((r for r in group if r.tag_value is not None), key=lambda r: (-r.effective, r.tag_value))
        kept += ranked[:top]
        rest = ranked[top:]
        if rest:
            kept.append(TagCost(key, "other values", currency, *_summed(rest)))
        kept += [r for r in group if r.tag_value is None]
    return kept


def _yearmonth(value: str) -> str:
    """A billing month that goes into SQL text: exactly six digits (it comes from the ledger)."""
    if not re.fullmatch(r"\d{6}", value):
        raise ValueError(f"not a billing month (YYYYMM): {value!r}")
    return value


def collect(
    query: Query, source: str = "", top_services_count: int = 10, top_values_count: int = 5, now: datetime | None = None
) -> ReportFigures:
    """Every figure of the report, from the views. Sections without data come back empty."""
    generated_at = now or datetime.now(UTC)
    by_month = [
        MonthProviderCost(month_label(m), p, c, money(b), money(e), count(n), instant(t))
        for m, p, c, b, e, n, t in query(MONTH_PROVIDER_SQL)
    ]
    numeric = sorted({int(r.billing_month.replace("-", "")) for r in by_month if r.billing_month != "unknown"})
    services_month, services = None, []
    if numeric:
        latest = numeric[-1]
        services_month = month_label(latest)
        services = top_services(
            [
                ServiceCost(p or "", s or "(no ServiceName)", c, money(b), money(e), count(n))
                for p, s, c, b, e, n in query(SERVICES_SQL.format(billing_month=BILLING_MONTH, month=latest))
            ],
            top_services_count,
        )
    deliveries = [
        CurrentDelivery(str(m), str(b), count(w), count(q), instant(t))
        for m, b, w, q, t in query(CURRENT_DELIVERIES_SQL)
    ]
    figures = ReportFigures(
        generated_at=generated_at,
        source=source,
        by_month_provider=by_month,
        services_month=services_month,
        services=services,
        deliveries=deliveries,
    )
    if not deliveries:
        return figures
    month = _yearmonth(max(d.yearmonth for d in deliveries))
    tags = [
        TagCost(k, v, c, money(b), money(e), count(n)) for k, v, c, b, e, n in query(TAGS_SQL.format(yearmonth=month))
    ]
    untagged = [
        UntaggedShare(k, c, money(t), money(u), None if s is None else float(s))
        for k, c, t, u, s in query(UNTAGGED_SQL.format(yearmonth=month))
    ]
    daily = [
        DailyCost(str(d), c, money(b), money(e), count(n)) for d, c, b, e, n in query(DAILY_SQL.format(yearmonth=month))
    ]
    snapshots = [
        SnapshotTotal(str(b), c, count(n), money(bc), money(e), instant(t))
        for b, c, n, bc, e, t in query(SNAPSHOTS_SQL.format(yearmonth=month))
    ]
    return replace(
        figures,
        alibaba_month=month,
        tags=top_tag_values(tags, top_values_count),
        untagged=untagged,
        daily=daily,
        snapshots=snapshots,
    )
