"""The cost report as one HTML file that opens offline: plotly.js is embedded once in the page,
each chart is a plotly figure, and each chart has a table of its figures under it (to the cent,
the exact value in each cell's `data-exact` attribute and tooltip), so every number can be checked
against the views. Charts plot EffectiveCost as floats; the tables print the exact decimals.
Money is split by BillingCurrency everywhere: one subplot per currency, the currency in every
axis title and table row.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import plotly
import plotly.graph_objects as go
import plotly.offline
from plotly.subplots import make_subplots

from ..focus.reconcile import decimal_text
from .figures import ReportFigures, add, currencies, month_label

CENT = Decimal("0.01")
PALETTE = ["#1f5f99", "#e07b39", "#3a9a5b", "#8a5cc2", "#c94f6d", "#2aa1b3", "#b5a33a", "#6b6b6b", "#d17ac4", "#4f7a28"]
GREY = "#b8b8b8"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# What a chart shows; `id` names the section, its chart div (chart-<id>) and its table (table-<id>).
SECTIONS = {
    "month-provider": "Cost per billing month and provider",
    "top-services": "Top services",
    "tags": "Cost per promoted tag, with the untagged share",
    "daily": "Daily cost of the current month",
    "snapshots": "The current month across its deliveries",
}


def cents(value: Decimal) -> str:
    """An amount to the cent, half up, with thousands separators: '12,892.17'."""
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{abs(rounded) if rounded == 0 else rounded:,f}"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def delivery_label(batch_ts: str) -> str:
    """20260105T080000 as '2026-01-05 08:00' (the delivery stamp, as Alibaba's key gives it)."""
    if len(batch_ts) == 15 and batch_ts[8] == "T":
        return f"{batch_ts[:4]}-{batch_ts[4:6]}-{batch_ts[6:8]} {batch_ts[9:11]}:{batch_ts[11:13]}"
    return batch_ts


@dataclass(frozen=True)
class Cell:
    text: str
    exact: str | None = None  # money: the exact decimal behind the rounded text

    def html(self) -> str:
        if self.exact is None:
            return f"<td>{html.escape(self.text)}</td>"
        exact = html.escape(self.exact)
        return f'<td class="num" data-exact="{exact}" title="{exact}">{html.escape(self.text)}</td>'


def money_cell(value: Decimal) -> Cell:
    return Cell(cents(value), decimal_text(value))


def number_cell(value: int) -> Cell:
    return Cell(f"{value:,}", str(value))


def table(table_id: str, caption: str, header: list[str], rows: list[list[Cell]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(c.html() for c in row) + "</tr>" for row in rows)
    return (
        f'<table class="figures" id="table-{table_id}"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"
    )


def chart(section_id: str, figure: go.Figure) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{section_id}", config=PLOTLY_CONFIG)


MARGIN = {"l": 60, "r": 30, "t": 90, "b": 60}


def _layout(figure: go.Figure, title: str, height: int, **extra) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        template="plotly_white",
        margin=MARGIN,
        font={"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12},
        **extra,
    )
    return figure


def _per_currency(names: list[str], height: int, row_heights: list[float] | None = None, gap: int = 100) -> go.Figure:
    """One subplot per currency, stacked, `gap` pixels apart (room for an axis title and the next
    subplot's title)."""
    plot_height = height - MARGIN["t"] - MARGIN["b"]
    spacing = min(gap / plot_height, 1 / max(len(names) - 1, 1) * 0.9) if len(names) > 1 else 0
    return make_subplots(
        rows=len(names),
        cols=1,
        subplot_titles=[f"BillingCurrency {c}" for c in names],
        vertical_spacing=spacing,
        row_heights=row_heights,
    )


def _exact(values: list[Decimal]) -> list[str]:
    return [decimal_text(v) for v in values]


# -- the sections --------------------------------------------------------------------------------


def month_provider_section(figures: ReportFigures) -> str | None:
    rows = figures.by_month_provider
    if not rows:
        return None
    names = currencies(rows)
    months = sorted({r.billing_month for r in rows})
    providers = sorted({r.provider for r in rows})
    colors = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(providers)}
    height = 120 + 300 * len(names)
    figure = _per_currency(names, height, gap=80)
    shown = set()
    for index, currency in enumerate(names, start=1):
        for provider in providers:
            mine = [r for r in rows if r.currency == currency and r.provider == provider]
            if not mine:
                continue
            figure.add_trace(
                go.Bar(
                    x=[r.billing_month for r in mine],
                    y=[float(r.effective) for r in mine],
                    name=provider,
                    legendgroup=provider,
                    showlegend=provider not in shown,
                    marker_color=colors[provider],
                    customdata=_exact([r.effective for r in mine]),
                    hovertemplate=f"%{{x}} · {_js(provider)}<br>EffectiveCost %{{customdata}} {currency}<extra></extra>",
                ),
                row=index,
                col=1,
            )
            shown.add(provider)
        figure.update_yaxes(title_text=f"EffectiveCost ({currency})", row=index, col=1)
        figure.update_xaxes(type="category", categoryorder="array", categoryarray=months, row=index, col=1)
    _layout(
        figure,
        "EffectiveCost per billing month and provider",
        height,
        barmode="group",
        bargap=0.3,
        legend={"title": {"text": "provider"}},
    )
    body = table(
        "month-provider",
        "Figures: focus_unified, per billing month, provider and currency",
        ["billing month", "provider", "currency", "line items", "BilledCost", "EffectiveCost", "data through (UTC)"],
        [
            [
                Cell(r.billing_month),
                Cell(r.provider),
                Cell(r.currency),
                number_cell(r.line_items),
                money_cell(r.billed),
                money_cell(r.effective),
                Cell(r.data_through or ""),
            ]
            for r in rows
        ],
    )
    note = (
        "Every provider in focus_unified. The billing month is the month of BillingPeriodStart + 15 days, so "
        "a period that starts at midnight in UTC+8 counts in its own month."
    )
    return _section("month-provider", note, chart("month-provider", figure), body)


def services_section(figures: ReportFigures) -> str | None:
    rows = figures.services
    if not rows:
        return None
    names = currencies(rows)
    counts = [sum(1 for r in rows if r.currency == c) for c in names]
    height = 150 + 26 * sum(counts) + 110 * len(names)
    figure = _per_currency(names, height, row_heights=[n / sum(counts) for n in counts], gap=110)
    for index, currency in enumerate(names, start=1):
        mine = [r for r in rows if r.currency == currency][::-1]  # the largest at the top
        labels = [_service_label(r) for r in mine]
        figure.add_trace(
            go.Bar(
                y=labels,
                x=[float(r.effective) for r in mine],
                orientation="h",
                showlegend=False,
                marker_color=[GREY if r.others else PALETTE[0] for r in mine],
                customdata=_exact([r.effective for r in mine]),
                hovertemplate=f"%{{y}}<br>EffectiveCost %{{customdata}} {currency}<extra></extra>",
            ),
            row=index,
            col=1,
        )
        figure.update_xaxes(title_text=f"EffectiveCost ({currency})", row=index, col=1)
        figure.update_yaxes(type="category", automargin=True, row=index, col=1)
    _layout(figure, f"Top services by EffectiveCost, billing month {figures.services_month}", height)
    body = table(
        "top-services",
        f"Figures: focus_unified, billing month {figures.services_month}, per currency "
        "(the top services, then the others summed)",
        ["currency", "provider", "service", "line items", "BilledCost", "EffectiveCost"],
        [
            [
                Cell(r.currency),
                Cell(r.provider),
                Cell(_service_label(r, provider=False)),
                number_cell(r.line_items),
                money_cell(r.billed),
                money_cell(r.effective),
            ]
            for r in rows
        ],
    )
    note = (
        f"The services with the highest EffectiveCost in {figures.services_month}, the latest billing month in "
        "focus_unified, across providers, per currency."
    )
    return _section("top-services", note, chart("top-services", figure), body)


def _service_label(row, provider: bool = True) -> str:
    if row.others:
        return f"{row.others} other services"
    return f"{row.service} ({row.provider})" if provider else row.service


def tags_section(figures: ReportFigures) -> str | None:
    rows, untagged = figures.tags, figures.untagged
    if not rows:
        return None
    month = month_label(figures.alibaba_month)
    names = currencies(rows)
    keys = sorted({r.tag_key for r in rows})
    share = {(u.tag_key, u.currency): u for u in untagged}
    height = 150 + (34 * len(keys) + 110) * len(names)
    figure = _per_currency(names, height, gap=110)
    for index, currency in enumerate(names, start=1):
        for key in keys:
            values = [r for r in rows if r.currency == currency and r.tag_key == key and r.tag_value is not None]
            for rank, row in enumerate(values):
                label = _tag_label(row)
                figure.add_trace(
                    go.Bar(
                        y=[key],
                        x=[float(row.effective)],
                        orientation="h",
                        name=label,
                        showlegend=False,
                        marker_color=GREY if row.others else PALETTE[rank % len(PALETTE)],
                        text=[label],
                        textposition="inside",
                        insidetextanchor="middle",
                        customdata=[decimal_text(row.effective)],
                        hovertemplate=f"{_js(key)} = {_js(label)}<br>EffectiveCost %{{customdata}} {currency}<extra></extra>",
                    ),
                    row=index,
                    col=1,
                )
        missing = [r for r in rows if r.currency == currency and r.tag_value is None]
        if missing:
            texts = [
                f"untagged {percent(share[(r.tag_key, currency)].share)}"
                if (r.tag_key, currency) in share
                else "untagged"
                for r in missing
            ]
            figure.add_trace(
                go.Bar(
                    y=[r.tag_key for r in missing],
                    x=[float(r.effective) for r in missing],
                    orientation="h",
                    name="untagged",
                    showlegend=False,
                    marker_color="#dddddd",
                    marker_line={"color": "#888888", "width": 1},
                    text=texts,
                    textposition="inside",
                    insidetextanchor="middle",
                    customdata=_exact([r.effective for r in missing]),
                    hovertemplate=f"%{{y}}: %{{text}}<br>EffectiveCost %{{customdata}} {currency}<extra></extra>",
                ),
                row=index,
                col=1,
            )
        figure.update_xaxes(title_text=f"EffectiveCost ({currency})", row=index, col=1)
        figure.update_yaxes(type="category", categoryorder="array", categoryarray=keys[::-1], row=index, col=1)
    _layout(
        figure,
        f"EffectiveCost per promoted tag value, billing month {month}",
        height,
        barmode="stack",
        uniformtext={"minsize": 9, "mode": "hide"},
    )
    total = {
        (k, c): add(r.effective for r in rows if r.tag_key == k and r.currency == c)
        for k, c in {(r.tag_key, r.currency) for r in rows}
    }
    values = table(
        "tags",
        f"Figures: alibaba_cost_monthly_by_tag, billing month {figures.alibaba_month} (the "
        "top values of each tag, the others summed, and the untagged cost)",
        ["tag", "value", "currency", "line items", "BilledCost", "EffectiveCost", "share of EffectiveCost"],
        [
            [
                Cell(r.tag_key),
                Cell("(untagged)" if r.tag_value is None else _tag_label(r)),
                Cell(r.currency),
                number_cell(r.line_items),
                money_cell(r.billed),
                money_cell(r.effective),
                Cell(
                    percent(float(r.effective / total[(r.tag_key, r.currency)]))
                    if total[(r.tag_key, r.currency)]
                    else "n/a"
                ),
            ]
            for r in rows
        ],
    )
    shares = table(
        "untagged",
        f"Figures: alibaba_untagged_share, billing month {figures.alibaba_month}",
        ["tag", "currency", "EffectiveCost", "untagged EffectiveCost", "untagged share"],
        [
            [
                Cell(u.tag_key),
                Cell(u.currency),
                money_cell(u.total_effective),
                money_cell(u.untagged_effective),
                Cell(percent(u.share)),
            ]
            for u in untagged
        ],
    )
    note = (
        f"Alibaba Cloud's current snapshot of {month}: each bar is the month's EffectiveCost split by the values "
        "of one promoted tag (x_Tag&lt;Name&gt;, matched case-insensitively); the grey part carries no such tag."
    )
    return _section("tags", note, chart("tags", figure), values + shares)


def _tag_label(row) -> str:
    return f"{row.others} other values" if row.others else str(row.tag_value)


def daily_section(figures: ReportFigures) -> str | None:
    rows = figures.daily
    if not rows:
        return None
    month = month_label(figures.alibaba_month)
    names = currencies(rows)
    height = 120 + 270 * len(names)
    figure = _per_currency(names, height, gap=80)
    for index, currency in enumerate(names, start=1):
        mine = [r for r in rows if r.currency == currency]
        figure.add_trace(
            go.Bar(
                x=[r.charge_date for r in mine],
                y=[float(r.effective) for r in mine],
                showlegend=False,
                marker_color=PALETTE[0],
                customdata=_exact([r.effective for r in mine]),
                hovertemplate=f"%{{x}}<br>EffectiveCost %{{customdata}} {currency}<extra></extra>",
            ),
            row=index,
            col=1,
        )
        figure.update_yaxes(title_text=f"EffectiveCost ({currency})", row=index, col=1)
        figure.update_xaxes(
            type="date", tickformat="%b %d", dtick=86400000 if len(mine) <= 16 else None, row=index, col=1
        )
    _layout(figure, f"Daily EffectiveCost, billing month {month} (charge days in UTC)", height)
    body = table(
        "daily",
        f"Figures: alibaba_cost_daily, the charge days of billing month {figures.alibaba_month}",
        ["charge day (UTC)", "currency", "line items", "BilledCost", "EffectiveCost"],
        [
            [
                Cell(r.charge_date),
                Cell(r.currency),
                number_cell(r.line_items),
                money_cell(r.billed),
                money_cell(r.effective),
            ]
            for r in rows
        ],
    )
    note = (
        f"Alibaba Cloud, current snapshot of {month}, per charge day as the view alibaba_cost_daily counts it "
        "(UTC): a day in Asia/Shanghai starts at 16:00 UTC the day before, so the month's first day shows as "
        "the last day of the previous month."
    )
    return _section("daily", note, chart("daily", figure), body)


def snapshots_section(figures: ReportFigures) -> str | None:
    rows = figures.snapshots
    if not rows:
        return None
    month = month_label(figures.alibaba_month)
    current = {d.yearmonth: d.batch_ts for d in figures.deliveries}.get(figures.alibaba_month)
    names = currencies(rows)
    height = 120 + 290 * len(names)
    figure = _per_currency(names, height, gap=110)
    table_rows = []
    for index, currency in enumerate(names, start=1):
        mine = [r for r in rows if r.currency == currency]
        figure.add_trace(
            go.Scatter(
                x=[delivery_label(r.batch_ts) for r in mine],
                y=[float(r.effective) for r in mine],
                mode="lines+markers",
                showlegend=False,
                line={"color": PALETTE[0]},
                marker={"size": 9},
                customdata=_exact([r.effective for r in mine]),
                hovertemplate=f"delivery %{{x}}<br>EffectiveCost %{{customdata}} {currency}<extra></extra>",
            ),
            row=index,
            col=1,
        )
        figure.update_yaxes(title_text=f"EffectiveCost ({currency})", rangemode="tozero", row=index, col=1)
        figure.update_xaxes(type="category", title_text="delivery (batch_ts)", row=index, col=1)
        previous = None
        for r in mine:
            change = Cell("") if previous is None else money_cell(r.effective - previous)
            table_rows.append(
                [
                    Cell(r.batch_ts),
                    Cell(r.currency),
                    number_cell(r.line_items),
                    money_cell(r.billed),
                    money_cell(r.effective),
                    change,
                    Cell(r.data_through or ""),
                    Cell("current" if r.batch_ts == current else ""),
                ]
            )
            previous = r.effective
    _layout(figure, f"EffectiveCost of billing month {month} in each delivery", height)
    body = table(
        "snapshots",
        f"Figures: alibaba_focus_history, billing month {figures.alibaba_month}, per delivery",
        [
            "delivery (batch_ts)",
            "currency",
            "line items",
            "BilledCost",
            "EffectiveCost",
            "EffectiveCost change",
            "data through (UTC)",
            "",
        ],
        table_rows,
    )
    note = (
        f"Alibaba delivers {month} to date every day; each delivery is a full snapshot and only the latest is "
        "current (the views never add them up). The line shows the month's total as each delivery had it."
    )
    return _section("snapshots", note, chart("snapshots", figure), body)


NO_DATA = {
    "month-provider": "focus_unified has no rows yet: no Alibaba delivery is published and no other source is "
    "configured, or none has rows.",
    "top-services": "focus_unified has no rows yet.",
    "tags": "No Alibaba Cloud delivery is published yet (alibaba_cost_monthly_by_tag is empty).",
    "daily": "No Alibaba Cloud delivery is published yet (alibaba_cost_daily has no day of a current month).",
    "snapshots": "No Alibaba Cloud delivery is published yet (alibaba_focus_history is empty).",
}


def _section(section_id: str, note: str, chart_html: str, tables: str) -> str:
    return (
        f'<section id="{section_id}"><h2>{html.escape(SECTIONS[section_id])}</h2><p class="note">{note}</p>'
        f'<div class="chart">{chart_html}</div>{tables}</section>'
    )


def _no_data(section_id: str) -> str:
    return (
        f'<section id="{section_id}" class="empty"><h2>{html.escape(SECTIONS[section_id])}</h2>'
        f'<p class="no-data">No data: {html.escape(NO_DATA[section_id])}</p></section>'
    )


def _js(text: str) -> str:
    """Text placed in a plotly hovertemplate: no template braces (plotly escapes the rest)."""
    return text.replace("%{", "% {")


def freshness(figures: ReportFigures) -> str:
    if figures.deliveries:
        alibaba = table(
            "freshness",
            "Alibaba Cloud: the current delivery of each billing month "
            "(alibaba_current_deliveries and the ledger alibaba_deliveries)",
            ["billing month", "current delivery (batch_ts)", "line items", "quarantined", "data through (UTC)"],
            [
                [
                    Cell(d.yearmonth),
                    Cell(d.batch_ts),
                    number_cell(d.rows_written),
                    number_cell(d.rows_quarantined),
                    Cell(d.data_through or ""),
                ]
                for d in figures.deliveries
            ],
        )
    else:
        alibaba = '<p class="no-data">No data: no Alibaba Cloud delivery is published yet.</p>'
    latest: dict[str, tuple[str, str]] = {}
    for r in figures.by_month_provider:
        month, through = latest.get(r.provider, ("", ""))
        latest[r.provider] = (max(month, r.billing_month), max(through, r.data_through or ""))
    providers = (
        table(
            "providers",
            "Every provider in focus_unified: its latest billing month and charge",
            ["provider", "latest billing month", "data through (UTC)"],
            [[Cell(p), Cell(m), Cell(t)] for p, (m, t) in sorted(latest.items())],
        )
        if latest
        else ""
    )
    return alibaba + providers


STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 24px 32px 60px; color: #1d2733; background: #fff; }
h1 { margin-bottom: 4px; } h2 { margin-top: 48px; border-bottom: 2px solid #e3e8ee; padding-bottom: 6px; }
p.meta, p.note { color: #4a5663; line-height: 1.45; } p.no-data { background: #fff7e6; border: 1px solid #f0c36d;
       padding: 12px 16px; border-radius: 4px; }
nav a { margin-right: 16px; color: #1f5f99; }
table.figures { border-collapse: collapse; margin: 12px 0 20px; font-size: 13px; }
table.figures caption { text-align: left; color: #4a5663; padding-bottom: 6px; caption-side: top; }
table.figures th, table.figures td { padding: 4px 10px; border-bottom: 1px solid #e3e8ee; text-align: left; }
table.figures th { background: #f4f6f9; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
div.chart { margin: 8px 0; }
"""


def render(figures: ReportFigures) -> str:
    """The whole report, one self-contained HTML page (plotly.js inline: no network needed)."""
    builders = [
        ("month-provider", month_provider_section),
        ("top-services", services_section),
        ("tags", tags_section),
        ("daily", daily_section),
        ("snapshots", snapshots_section),
    ]
    sections = [builder(figures) or _no_data(section_id) for section_id, builder in builders]
    nav = " ".join(f'<a href="#{i}">{html.escape(t)}</a>' for i, t in SECTIONS.items())
    generated = figures.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    source = html.escape(figures.source) if figures.source else "the SQL views"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="focus-assets cost_report, plotly {plotly.__version__}">
<title>FOCUS cost report</title>
<style>{STYLE}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>FOCUS cost report</h1>
<p class="meta">Generated <time datetime="{figures.generated_at.isoformat()}">{generated}</time> from {source}.
Charts plot EffectiveCost; the tables give BilledCost and EffectiveCost to the cent (hover a figure for its exact
value). Money is never summed across currencies: every chart and table is split by BillingCurrency.</p>
<nav>{nav}</nav>
<h2 id="freshness">Data freshness</h2>
{freshness(figures)}
</header>
<main>
{chr(10).join(sections)}
</main>
</body>
</html>
"""
