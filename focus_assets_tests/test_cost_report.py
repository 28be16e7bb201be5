"""The cost report (`cost_report`): its figures equal the views', computed here independently; it
renders in a real browser (headless Chromium, no network); it needs nothing online; and an empty
warehouse gives "no data" sections, not an error. Chromium missing fails the test (never skips):
CI installs Debian's package (.ci/run)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import boto3
import dagster as dg
import duckdb
import pytest

from focus_assets.deployment import local_resources, resources_for
from focus_assets.reporting import browser
from focus_assets.reporting.assets import REPORT_KEY, cost_report
from focus_assets.reporting.figures import (
    MonthProviderCost,
    ReportFigures,
    ServiceCost,
    SnapshotTotal,
    TagCost,
    UntaggedShare,
)
from focus_assets.reporting.html import SECTIONS, render
from focus_assets.resources.stores import LocalFolderStore
from focus_assets.resources.warehouse import objects_of

from .local_aws import aws_deployment

CHARTS = [f"chart-{name}" for name in SECTIONS]


# -- reading the report back -----------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every <table id=...>: its rows as (text, data-exact) per cell."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ["", attributes.get("data-exact")]

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:  # header rows have no <td>
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def tables(page: str) -> dict[str, list[list[tuple[str, str | None]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def cents(value) -> str:
    """The test's own formatting: to the cent, half up, thousands separators."""
    rounded = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{rounded + 0:,}" if rounded else "0.00"


def money(cell: tuple[str, str | None], expected) -> bool:
    """A money cell shows `expected` to the cent and carries it exactly."""
    text, exact = cell
    return text == cents(expected) and exact is not None and Decimal(exact) == Decimal(expected)


# -- the demo's warehouse, and the report over it -----------------------------------------------------


@pytest.fixture(scope="module")
def home(demo_run):
    """`make demo`'s data: five Alibaba deliveries over two billing months, the public FOCUS sample's
    AWS, Azure and OCI rows and the datacenter sample, all in the views."""
    return demo_run.home


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Where this module's run of cost_report writes: not the demo's own reports folder."""
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def report(home, reports):
    """cost_report materialized over the demo's warehouse: (its metadata, the HTML)."""
    result = dg.materialize(
        [cost_report], resources={**local_resources(home), "reports": LocalFolderStore(root=str(reports))}
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    return metadata, (reports / REPORT_KEY).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def views(home):
    connection = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def test_the_asset_writes_the_report_and_describes_it(reports, report):
    metadata, page = report
    assert metadata["report"] == str(reports / REPORT_KEY)
    assert metadata["charts"] == 5 and metadata["sections without data"] == []
    assert metadata["billing months"] == ["2024-09", "2024-10", "2025-12", "2026-01"]
    assert metadata["providers"] == ["AWS", "Alibaba Cloud", "Datacenter", "Microsoft", "Oracle"]
    assert metadata["currencies"] == ["CNY", "EUR", "USD"]
    assert metadata["current Alibaba billing month"] == "202601" and metadata["Alibaba deliveries of that month"] == 4
    assert metadata["bytes"] == len(page.encode("utf-8"))
    summary = metadata["totals per billing month, provider and currency"]
    assert "| 2026-01 | Alibaba Cloud | CNY | 162 | 11,125.27 | 12,892.17 |" in summary
    assert "| 2026-01 | Datacenter | EUR | 3 | 6,318.01 | 6,318.01 |" in summary


def test_the_cost_per_month_and_provider_is_the_views(report, views):
    found = tables(report[1])["table-month-provider"]
    expected = views.execute("""
        SELECT strftime(BillingPeriodStart + INTERVAL 15 DAY, '%Y-%m'), x_SourceProvider, BillingCurrency, count(*),
               sum(BilledCost), sum(EffectiveCost)
        FROM focus_unified GROUP BY ALL ORDER BY 1, 2, 3""").fetchall()
    assert len(found) == len(expected) == 10
    for row, (month, provider, currency, items, billed, effective) in zip(found, expected, strict=True):
        assert [c[0] for c in row[:4]] == [month, provider, currency, f"{items:,}"]
        assert money(row[4], billed) and money(row[5], effective), row
    # and the demo's reconciled figure for January's latest delivery (sum of its CSV text: 11,125.2674)
    assert any(r[1][0] == "Alibaba Cloud" and r[2][0] == "CNY" and r[4] == ("11,125.27", "11125.2674") for r in found)


def test_the_top_services_are_the_views(report, views):
    found = tables(report[1])["table-top-services"]
    rows = views.execute("""
        SELECT BillingCurrency, x_SourceProvider, ServiceName, count(*), sum(BilledCost), sum(EffectiveCost)
        FROM focus_unified WHERE strftime(BillingPeriodStart + INTERVAL 15 DAY, '%Y-%m') = '2026-01'
        GROUP BY ALL""").fetchall()
    expected = []
    for currency in sorted({r[0] for r in rows}):
        ranked = sorted((r for r in rows if r[0] == currency), key=lambda r: (-r[5], r[1], r[2]))
        expected += ranked[:10]
        if ranked[10:]:
            rest = ranked[10:]
            expected.append(
                (
                    currency,
                    "",
                    f"{len(rest)} other services",
                    sum(r[3] for r in rest),
                    sum(r[4] for r in rest),
                    sum(r[5] for r in rest),
                )
            )
    assert len(found) == len(expected) == 21  # CNY 8 Alibaba services, EUR 3 and USD 2 datacenter + 8 Alibaba
    for row, (currency, provider, service, items, billed, effective) in zip(found, expected, strict=True):
        assert [c[0] for c in row[:4]] == [currency, provider, service, f"{items:,}"]
        assert money(row[4], billed) and money(row[5], effective), row


def test_the_tags_and_the_untagged_share_are_the_views(report, views):
    found = tables(report[1])
    by_tag = views.execute("""
        SELECT tag_key, coalesce(tag_value, '(untagged)'), BillingCurrency, line_items, billed_cost, effective_cost
        FROM alibaba_cost_monthly_by_tag WHERE billing_month = '202601'""").fetchall()
    expected = {(k, v, c): (n, b, e) for k, v, c, n, b, e in by_tag}
    assert len(found["table-tags"]) == len(expected) == 48  # at most 5 values per tag here: none summed
    totals = defaultdict(Decimal)
    for k, _, c, _, _, e in by_tag:
        totals[(k, c)] += e
    for row in found["table-tags"]:
        key, value, currency = (c[0] for c in row[:3])
        items, billed, effective = expected[(key, value, currency)]
        assert row[3][0] == f"{items:,}" and money(row[4], billed) and money(row[5], effective), row
        assert row[6][0] == f"{effective / totals[(key, currency)]:.1%}"
    shares = views.execute("""
        SELECT tag_key, BillingCurrency, total_effective_cost, untagged_effective_cost, untagged_share
        FROM alibaba_untagged_share WHERE billing_month = '202601' ORDER BY 1, 2""").fetchall()
    assert len(found["table-untagged"]) == len(shares) == 12
    for row, (key, currency, total, untagged, share) in zip(found["table-untagged"], shares, strict=True):
        assert [row[0][0], row[1][0]] == [key, currency]
        assert money(row[2], total) and money(row[3], untagged) and row[4][0] == f"{share:.1%}", row
    assert ["Project", "CNY", "12,892.17", "3,018.26", "23.4%"] == [c[0] for c in found["table-untagged"][10]]


def test_the_daily_cost_is_the_views_for_the_current_months_days(report, views):
    found = tables(report[1])["table-daily"]
    expected = views.execute("""
        SELECT strftime(charge_date, '%Y-%m-%d'), BillingCurrency, line_items, billed_cost, effective_cost
        FROM alibaba_cost_daily
        WHERE charge_date IN (SELECT DISTINCT CAST(ChargePeriodStart AS DATE) FROM alibaba_focus WHERE yearmonth = '202601')
        ORDER BY 1, 2""").fetchall()
    assert len(found) == len(expected) == 8  # January 1st-4th in Asia/Shanghai: Dec 31st-Jan 3rd in UTC, two currencies
    for row, (day, currency, items, billed, effective) in zip(found, expected, strict=True):
        assert [c[0] for c in row[:3]] == [day, currency, f"{items:,}"]
        assert money(row[3], billed) and money(row[4], effective), row


def test_the_month_across_its_deliveries_is_the_history_view(report, views):
    found = tables(report[1])
    expected = views.execute("""
        SELECT batch_ts, BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost)
        FROM alibaba_focus_history WHERE yearmonth = '202601' GROUP BY ALL ORDER BY 2, 1""").fetchall()
    rows = found["table-snapshots"]
    assert len(rows) == len(expected) == 8  # four deliveries, two currencies
    previous = {}
    for row, (batch, currency, items, billed, effective) in zip(rows, expected, strict=True):
        assert [c[0] for c in row[:3]] == [batch, currency, f"{items:,}"]
        assert money(row[3], billed) and money(row[4], effective), row
        assert row[5][0] == ("" if currency not in previous else cents(effective - previous[currency]))
        assert row[7][0] == ("current" if batch == "20260105T080000" else "")
        previous[currency] = effective
    freshness = [[c[0] for c in row] for row in found["table-freshness"]]
    assert freshness == [
        ["202512", "20260103T100000", "1,860", "0", "2025-12-31 16:00"],
        ["202601", "20260105T080000", "240", "0", "2026-01-04 16:00"],
    ]


def test_the_report_needs_nothing_online(report):
    """No script, style sheet, image or frame is loaded from anywhere: plotly.js is in the page, once."""
    page = report[1]

    class Resources(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            for name in ("src", "href", "data"):
                value = attributes.get(name)
                if value is not None and not (tag == "a" and value.startswith("#")):
                    self.found.append((tag, name, value))
            if tag in ("iframe", "object", "embed", "base"):
                self.found.append((tag, "", ""))

    parser = Resources()
    parser.feed(page)
    assert parser.found == []  # nothing refers to another file or address (links only to #sections)
    assert page.count("* plotly.js v") == 1  # the library, once
    assert len(re.findall(r"<script\b", page)) == 1 + len(CHARTS)  # the library, then one per chart
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page)


def test_the_charts_render_in_headless_chromium_offline(report, tmp_path):
    """Chromium with every host name unresolvable loads the file: plotly draws each chart (its SVG
    layers, one mark per figure of its table, the currency in the axis titles)."""
    try:
        browser.find_chromium()
    except browser.ChromiumMissing as exc:
        pytest.fail(str(exc))
    page = tmp_path / "cost_report.html"
    page.write_text(report[1], encoding="utf-8")
    dom = browser.dump_dom(page.as_uri(), budget_ms=5000, offline=True)
    charts = browser.rendered_charts(dom)
    assert sorted(charts) == sorted(CHARTS)
    figures = tables(report[1])
    for name, chart in charts.items():
        assert chart.svgs >= 1, f"{name}: plotly drew nothing"
        rows = figures[name.replace("chart-", "table-")]
        assert chart.marks == len(rows), (name, chart.marks, len(rows))
        column = {"chart-month-provider": 2, "chart-top-services": 0, "chart-tags": 2}.get(name, 1)
        for currency in {row[column][0] for row in rows}:
            assert f"EffectiveCost ({currency})" in chart.texts, (name, currency)
    assert "2026-01-05 08:00" in charts["chart-snapshots"].texts  # the deliveries on the x axis
    assert any(t.startswith("untagged 23.4%") for t in charts["chart-tags"].texts)

    picture = browser.screenshot(page.as_uri(), tmp_path / "cost-report.png", window=(1280, 2400), offline=True)
    assert browser.png_size(picture) == (1280, 2400)
    assert picture.stat().st_size > 100_000  # charts and tables, not a blank page (a blank one is a few KB)


def test_an_empty_warehouse_gives_no_data_sections(tmp_path):
    """The views exist but nothing is published yet: every section says so; the asset succeeds."""
    resources = local_resources(tmp_path)
    resources["warehouse"].create(objects_of("table") | objects_of("view"))
    result = dg.materialize([cost_report], resources=resources)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["charts"].value == 0 and metadata["sections without data"].value == list(SECTIONS)
    page = (tmp_path / "reports" / REPORT_KEY).read_text()
    assert page.count('class="no-data"') == len(SECTIONS) + 1  # and the freshness table
    assert 'class="plotly-graph-div"' not in page
    assert "No data: no Alibaba Cloud delivery is published yet." in page


def test_a_warehouse_without_the_views_fails_with_a_clear_message(tmp_path):
    result = dg.materialize([cost_report], resources=local_resources(tmp_path), raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "materialize unified_focus_view" in failure.step_failure_data.error.message


def test_text_from_the_data_is_escaped():
    """Names come from billing data: markup in them stays text, in the tables and in the charts."""
    hostile = "<script>alert(1)</script>"
    figures = ReportFigures(
        generated_at=datetime(2026, 1, 5, tzinfo=UTC),
        source="test",
        by_month_provider=[MonthProviderCost("2026-01", hostile, "CNY", Decimal("1.005"), Decimal("1"), 1, None)],
        services_month="2026-01",
        services=[ServiceCost(hostile, hostile, "CNY", Decimal(1), Decimal(1), 1)],
        alibaba_month="202601",
        tags=[TagCost("Project", hostile, "CNY", Decimal(1), Decimal(1), 1)],
        untagged=[UntaggedShare("Project", "CNY", Decimal(1), Decimal(0), 0.0)],
        snapshots=[SnapshotTotal("20260105T080000", "CNY", 1, Decimal(1), Decimal(1), None)],
    )
    page = render(figures)
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(re.findall(r"<script\b", page)) == 1 + 4  # the library and four charts (no daily rows)
    assert tables(page)["table-month-provider"][0][4] == ("1.01", "1.005")  # half up, to the cent


def test_on_aws_the_report_goes_to_the_lake_bucket(tmp_path, monkeypatch):
    """On moto Athena runs no SQL (no rows come back): the report has its "no data" sections and is
    stored in the lake bucket under reports/; the queries that reached Athena read the views."""
    with aws_deployment(tmp_path, monkeypatch) as deployment:
        result = dg.materialize([cost_report], resources=resources_for())
        assert result.success
        [event] = result.get_asset_materialization_events()
        assert event.materialization.metadata["report"].value == "s3://focus-lake/lake/reports/cost_report.html"
        stored = deployment.s3.get_object(Bucket="focus-lake", Key="lake/reports/cost_report.html")
        assert stored["ContentType"] == "text/html; charset=utf-8"  # opens in a browser, not downloaded
        body = stored["Body"].read()
        assert b"FOCUS cost report" in body and b'class="no-data"' in body
        athena = boto3.client("athena", endpoint_url=deployment.endpoint, region_name="us-east-1")
        sent = [
            athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"]
            for q in athena.list_query_executions()["QueryExecutionIds"]
        ]
        assert any("FROM focus_unified" in q and "INTERVAL '15' DAY" in q for q in sent)
        assert any("FROM alibaba_current_deliveries" in q for q in sent)


def test_the_screenshots_script_pictures_the_lineage_and_the_report(tmp_path):
    """`make screenshots` (docs/screenshots.py): the demo, `dagster dev` on a free port, the group's
    lineage page once every node is drawn, the report once its charts rendered; the server stopped."""
    root = Path(__file__).resolve().parents[1]
    recipe = re.search(r"^screenshots:.*\n\t(.+)$", (root / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(BIN)/python docs/screenshots.py --out docs/images"
    script = root / "docs" / "screenshots.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "images"), "--home", str(tmp_path / "focus")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lineage, report = tmp_path / "images" / "dagster-lineage.png", tmp_path / "images" / "cost-report.png"
    assert browser.png_size(lineage) == (3300, 780) and lineage.stat().st_size > 50_000
    assert browser.png_size(report) == (1280, 2130) and report.stat().st_size > 100_000
    assert "dagster dev on http://127.0.0.1:" in result.stdout
