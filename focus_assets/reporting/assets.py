"""`cost_report`: the HTML cost report, rendered from the views after `unified_focus_view`.

One report of the whole warehouse (every billing month, provider and delivery), so the asset is
not partitioned: in the daily job it runs after the day's views, in each run the sensor starts,
and renders the report as the warehouse now stands; materialized on its own, it renders the same.
It is written to the `reports` store: `FOCUS_HOME/reports/` on the embedded deployment, the lake
bucket's `reports/` folder on AWS.
"""

import dagster as dg
import duckdb

from ..alibaba.asset_options import GROUP, OWNERS, fails_clearly
from ..alibaba.assets import unified_focus_view
from ..resources.stores import ObjectStore
from ..resources.warehouse import Warehouse
from .figures import ReportFigures, collect, currencies
from .html import SECTIONS, cents, render

REPORT_KEY = "cost_report.html"


def summary_markdown(figures: ReportFigures) -> str:
    """The first chart's figures as a Markdown table (the totals per month, provider, currency)."""
    lines = [
        "| billing month | provider | currency | line items | BilledCost | EffectiveCost |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.billing_month} | {r.provider} | {r.currency} | {r.line_items:,} | {cents(r.billed)} | "
        f"{cents(r.effective)} |"
        for r in figures.by_month_provider
    ]
    return "\n".join(lines) if figures.by_month_provider else "(no rows in focus_unified yet)"


def sections_with_data(figures: ReportFigures) -> list[str]:
    present = {
        "month-provider": figures.by_month_provider,
        "top-services": figures.services,
        "tags": figures.tags,
        "daily": figures.daily,
        "snapshots": figures.snapshots,
    }
    return [name for name in SECTIONS if present[name]]


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"plotly", "html"},
    deps=[unified_focus_view],
    backfill_policy=dg.BackfillPolicy.single_run(),  # renders once at the end of a backfill's one run
    description="An HTML cost report with charts, from the views: cost per billing month and provider, top "
    "services, cost per promoted tag and the untagged share, daily cost of the current month, and "
    "the current month across its deliveries. Self-contained (opens offline); in FOCUS_HOME/reports/ "
    "or the lake bucket's reports/ folder.",
)
@fails_clearly
def cost_report(context: dg.AssetExecutionContext, warehouse: Warehouse, reports: ObjectStore) -> dg.MaterializeResult:
    try:
        figures = collect(warehouse.query, warehouse.describe())
    except (duckdb.CatalogException, duckdb.IOException) as exc:  # the daily job's assets create the views
        if isinstance(exc, duckdb.IOException) and "does not exist" not in str(exc):
            raise
        raise dg.Failure(
            description=f"{warehouse.describe()} lacks the views the report reads ({exc}); "
            "materialize unified_focus_view (any delivery day) first"
        ) from None
    page = render(figures)
    bucket = reports.get_bucket()
    with bucket.writable_root() as root:
        (root / REPORT_KEY).write_text(page, encoding="utf-8")
    location = bucket.location(REPORT_KEY)
    charts = sections_with_data(figures)
    context.log.info(f"cost report: {location} ({len(charts)} of {len(SECTIONS)} charts with data)")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(location),
            "totals per billing month, provider and currency": dg.MetadataValue.md(summary_markdown(figures)),
            "charts": len(charts),
            "sections without data": [name for name in SECTIONS if name not in charts],
            "rows in the first chart (month, provider, currency)": len(figures.by_month_provider),
            "billing months": sorted({r.billing_month for r in figures.by_month_provider}),
            "providers": sorted({r.provider for r in figures.by_month_provider}),
            "currencies": currencies(figures.by_month_provider),
            "current Alibaba billing month": figures.alibaba_month or "",
            "Alibaba deliveries of that month": len({s.batch_ts for s in figures.snapshots}),
            "bytes": len(page.encode("utf-8")),
        }
    )


REPORT_ASSETS = [cost_report]
