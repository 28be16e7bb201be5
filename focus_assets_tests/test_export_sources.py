"""Several export sources (Alibaba accounts) in one deployment: the setting FOCUS_EXPORT_SOURCES,
two sources whose deliveries interleave in time on the local deployment and on `aws` (moto), the
sensor's per-source cursor, and request counts that stay flat per source as the history grows.

Every delivery here is a small CSV whose amounts differ per source and per delivery, so that a
view that mixes the sources, or shows a delivery that is not the latest of its source and month,
gives another sum. Expected sums are computed from the CSV text with Decimal, to the cent and
beyond (the amounts have four decimals), never from what the pipeline wrote.
"""

from __future__ import annotations

import calendar
import csv
import functools
import hashlib
import io
import itertools
import json
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import dagster as dg
import duckdb
import polars as pl
import pytest

from focus_assets import sql_layer
from focus_assets.alibaba.assets import ASSETS
from focus_assets.alibaba.export_settings import ExportSettings
from focus_assets.alibaba.sensors import plan_runs
from focus_assets.deployment import local_resources, resources_for
from focus_assets.focus.export_sources import ExportSource, parse_sources
from focus_assets.focus.names import UnsafeNameError
from focus_assets.focus.writer import OUTPUT_TABLE
from focus_assets.resources.stores import LocalFolderStore, OssStore
from focus_assets.samples.alibaba import history_deliveries, history_keys
from focus_assets.sql_layer import apply_to_duckdb, load_objects
from focus_assets.storage.base import md5_of

from .helpers import csv_text, digests, export_sources_of, write_export
from .local_aws import FaultPlan, _operation, add_history, aws_and_oss, aws_deployment

SHANGHAI = ZoneInfo("Asia/Shanghai")
SETTLED = ExportSettings(settle_seconds=0)
FILE = "1234567890123456_26842_BillingItemDetail"  # the same object name in both sources
INTL_KEY_ID, INTL_SECRET = "LTAI-intl-fake-key-0077", "fake-intl-secret-9b1c"


@pytest.fixture(scope="module", autouse=True)
def sql_parsed_once():
    """Each run parses every file of sql/ with sqlglot several times (load_objects: about half a
    second a call on a busy machine); here once per file set, so that the many runs below stay
    quick. The files do not change during the tests: the objects are the same."""
    from focus_assets.resources import warehouse

    cached = functools.cache(sql_layer.load_objects)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sql_layer, "load_objects", cached)
        patch.setattr(warehouse, "load_objects", cached)
        yield


# -- deliveries with known sums -------------------------------------------------------------------


def _amount(*parts: object) -> Decimal:
    """An amount from 10.0000 to 19.9999 drawn from `parts` (four decimals: sums are exact or wrong)."""
    digest = int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16)
    return Decimal(100_000 + digest % 100_000).scaleb(-4)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[4:])
    return f"{year + 1}01" if number == 12 else f"{year}{number + 1:02d}"


@dataclass(frozen=True)
class Delivery:
    """One export object: a month-to-date snapshot of `month` through `through_day`, delivered by
    `source` at `batch_ts` (Alibaba's time, UTC+8). `version` > 0: a corrected re-delivery under
    the same key, with other amounts."""

    source: str
    month: str
    batch_ts: str
    through_day: int
    ext: str = "csv"
    version: int = 0

    @property
    def key(self) -> str:
        return f"focus-export/{self.month}/{self.batch_ts}/{FILE}_{self.month}.{self.ext}"

    @property
    def named_key(self) -> str:
        """The key as the sensor names it: '<source>:' before a named source's keys."""
        return self.key if self.source == "default" else f"{self.source}:{self.key}"

    @property
    def day(self) -> str:
        return f"{self.batch_ts[:4]}-{self.batch_ts[4:6]}-{self.batch_ts[6:8]}"

    @property
    def landed(self) -> datetime:
        """When the object landed: a minute after its stamp."""
        return datetime.strptime(self.batch_ts, "%Y%m%dT%H%M%S").replace(tzinfo=SHANGHAI) + timedelta(minutes=1)

    def text(self) -> str:
        y, m = self.month[:4], self.month[4:]
        after = _next_month(self.month)
        period_end = f"{after[:4]}-{after[4:]}-01 00:00:00"
        rows = []
        month_days = calendar.monthrange(int(y), int(m))[1]
        for day in range(1, self.through_day + 1):
            start = f"{y}-{m}-{day:02d} 00:00:00"
            end = f"{y}-{m}-{day + 1:02d} 00:00:00" if day < month_days else period_end
            for currency in ("CNY", "USD"):
                billed = _amount(self.source, self.month, self.batch_ts, self.version, day, currency)
                rows.append(
                    {
                        "BillingPeriodStart": f"{y}-{m}-01 00:00:00",
                        "BillingPeriodEnd": period_end,
                        "ChargePeriodStart": start,
                        "ChargePeriodEnd": end,
                        "BillingCurrency": currency,
                        "BilledCost": str(billed),
                        "EffectiveCost": str(billed),
                        "ListCost": str(billed + 1),
                    }
                )
        # a credit: a negative amount in every delivery
        credit = -_amount("credit", self.source, self.month, self.batch_ts, self.version) / 100
        rows.append({**rows[0], "BilledCost": str(credit), "EffectiveCost": str(credit), "ListCost": str(credit)})
        return csv_text(rows)

    def write(self, export_root: Path) -> Path:
        path = write_export(Path(export_root) / self.key, self.text())
        os.utime(path, (self.landed.timestamp(), self.landed.timestamp()))
        return path


def billed_of_text(text: str) -> dict[str, Decimal]:
    """BilledCost per currency of a CSV text, with Decimal (the expected figures)."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(text)):
        sums[row["BillingCurrency"]] += Decimal(row["BilledCost"])
    return dict(sums)


def latest_sums(deliveries: list[Delivery]) -> dict[tuple[str, str, str], Decimal]:
    """(source, month, currency) -> BilledCost of the source's latest delivery of the month."""
    latest: dict[tuple[str, str], Delivery] = {}
    for d in deliveries:
        if (d.source, d.month) not in latest or d.batch_ts > latest[(d.source, d.month)].batch_ts:
            latest[(d.source, d.month)] = d
    return {
        (source, month, currency): amount
        for (source, month), d in latest.items()
        for currency, amount in billed_of_text(d.text()).items()
    }


def latest_batches(deliveries: list[Delivery]) -> set[tuple[str, str, str]]:
    latest: dict[tuple[str, str], str] = {}
    for d in deliveries:
        latest[(d.source, d.month)] = max(latest.get((d.source, d.month), ""), d.batch_ts)
    return {(source, month, batch_ts) for (source, month), batch_ts in latest.items()}


# Interleaved in time: default on the 2nd at 06:00, intl at 07:00 and 09:00; on the 3rd intl's
# final December file (09:00) comes between default's January snapshot (08:00) and its final
# December file (10:00); on the 4th both deliver January at the same stamp, into one partition
# folder. A view that took the latest stamp per month without the source would show no intl
# December (its stamp is older than default's), and one that ignored the source in the join
# would count the shared partition twice.
DELIVERIES = [
    Delivery("default", "202512", "20260102T060000", 31, "csv.gz"),
    Delivery("default", "202601", "20260102T060000", 1),
    Delivery("intl", "202601", "20260102T070000", 1),
    Delivery("intl", "202512", "20260102T090000", 31),
    Delivery("default", "202601", "20260103T080000", 2),
    Delivery("intl", "202512", "20260103T090000", 31, "csv.gz"),
    Delivery("intl", "202601", "20260103T090000", 2),
    Delivery("default", "202512", "20260103T100000", 31),
    Delivery("default", "202601", "20260104T080000", 3),
    Delivery("intl", "202601", "20260104T080000", 3),
]
DAYS = sorted({d.day for d in DELIVERIES})
SHARED = ("202601", "20260104T080000")  # both sources' deliveries in one partition folder


def test_the_deliveries_interleave_and_differ():
    """The fixture's own premises: otherwise the tests below would prove less than they say."""
    assert DAYS == ["2026-01-02", "2026-01-03", "2026-01-04"]
    stamps = [d.batch_ts for d in sorted(DELIVERIES, key=lambda d: d.batch_ts)]
    sources = [d.source for d in sorted(DELIVERIES, key=lambda d: (d.batch_ts, d.source))]
    assert stamps == sorted(stamps) and sources != sorted(sources)  # not one source after the other
    assert latest_batches(DELIVERIES) == {
        ("default", "202512", "20260103T100000"),
        ("default", "202601", "20260104T080000"),
        ("intl", "202512", "20260103T090000"),
        ("intl", "202601", "20260104T080000"),
    }
    sums = [billed_of_text(d.text())["CNY"] for d in DELIVERIES]
    assert len(set(sums)) == len(sums)  # every delivery has its own total


# -- 1. the setting ---------------------------------------------------------------------------------


def test_a_valid_list_of_two_sources_parses():
    sources = parse_sources(
        json.dumps(
            [
                {"name": "default", "folder": "oss"},
                {
                    "name": "intl",
                    "oss_endpoint": "https://oss-ap-southeast-1.aliyuncs.com",
                    "oss_bucket": "acme-intl-bills",
                    "oss_prefix": "exports/",
                    "access_key_id_env": "OSS_INTL_KEY_ID",
                    "access_key_secret_env": "OSS_INTL_KEY_SECRET",
                },
            ]
        )
    )
    assert [s.name for s in sources] == ["default", "intl"]
    assert [s.raw_prefix for s in sources] == ["", "intl/"]
    assert sources[0] == ExportSource(folder="oss")
    assert sources[1].oss_bucket == "acme-intl-bills" and sources[1].export_prefix == "focus-export/"
    assert (sources[1].access_key_id_env, sources[1].access_key_secret_env) == (
        "OSS_INTL_KEY_ID",
        "OSS_INTL_KEY_SECRET",
    )


@pytest.mark.parametrize(
    "entries, error, message",
    [
        (
            [{"name": "intl"}, {"name": "intl", "folder": "x"}],
            ValueError,
            r"^FOCUS_EXPORT_SOURCES: two sources are named 'intl'",
        ),
        (
            [{"name": "default"}, {"name": "Intl!"}],
            UnsafeNameError,
            r"^FOCUS_EXPORT_SOURCES\[2\]\.name='Intl!' is refused",
        ),
        ([{"name": "intl", "colour": "red"}], ValueError, r"^FOCUS_EXPORT_SOURCES\[1\]: unknown keys \['colour'\]"),
        ({"name": "intl"}, ValueError, r"^FOCUS_EXPORT_SOURCES must be a non-empty JSON list"),
        ([], ValueError, r"^FOCUS_EXPORT_SOURCES must be a non-empty JSON list"),
        (["intl"], ValueError, r"^FOCUS_EXPORT_SOURCES\[1\] must be an object with at least a 'name'"),
        ("[{'name': 'intl'}]", ValueError, r"^FOCUS_EXPORT_SOURCES is not JSON"),
        (
            [{"name": "default", "export_prefix": ""}, {"name": "intl"}],
            ValueError,
            r"^FOCUS_EXPORT_SOURCES: the raw folder 'intl/' of 'intl' .*default source's export prefix ''",
        ),
        (
            [{"name": "default", "export_prefix": "intl/"}, {"name": "intl"}],
            ValueError,
            r"^FOCUS_EXPORT_SOURCES: the raw folder 'intl/' of 'intl' .*default source's export prefix 'intl/'.*rename 'intl'",
        ),
        (
            [{"name": "intl", "folder": "oss-intl", "oss_endpoint": "https://oss.example.com", "oss_bucket": "intl-b"}],
            ValueError,
            r"^FOCUS_EXPORT_SOURCES\[1\] \(intl\): a folder or an OSS bucket, not both",
        ),
        (
            [{"name": "default"}, {"name": "intl", "oss_bucket": "intl-bills"}],
            ValueError,
            r"^FOCUS_EXPORT_SOURCES\[2\] \(intl\): give both oss_endpoint and oss_bucket",
        ),
        (
            [{"name": "intl", "access_key_id_env": "OSS KEY"}],
            UnsafeNameError,
            r"^FOCUS_EXPORT_SOURCES\[1\]\.access_key_id_env='OSS KEY' is refused",
        ),
        (
            [{"name": "intl", "export_prefix": "../other/"}],
            UnsafeNameError,
            r"^FOCUS_EXPORT_SOURCES\[1\]\.export_prefix='\.\./other/' is refused",
        ),
    ],
    ids=[
        "duplicate",
        "bad-name",
        "unknown-key",
        "not-a-list",
        "empty-list",
        "not-an-object",
        "not-json",
        "under-an-empty-prefix",
        "named-like-the-prefix",
        "folder-and-bucket",
        "bucket-without-endpoint",
        "bad-env-var",
        "prefix-traversal",
    ],
)
def test_a_wrong_list_is_refused_with_a_message_that_names_the_entry(entries, error, message):
    text = entries if isinstance(entries, str) else json.dumps(entries)
    with pytest.raises(error, match=message):
        parse_sources(text)


def test_a_default_prefix_under_a_named_sources_raw_folder_is_refused():
    """The default source's copies sit at the raw bucket's root under its export prefix; with the
    prefix 'intl/focus-export/' they land exactly where intl's copies go (intl/ + focus-export/...):
    two objects of the same key overwrite each other, and both sources read the survivor. The
    overlap is refused whichever prefix contains the other."""
    with pytest.raises(
        ValueError, match=r"^FOCUS_EXPORT_SOURCES: the raw folder 'intl/' of 'intl' .*'intl/focus-export/'"
    ):
        parse_sources(json.dumps([{"name": "default", "export_prefix": "intl/focus-export/"}, {"name": "intl"}]))


def test_prefixes_in_the_setting_are_folders_as_in_the_single_source_settings():
    """FOCUS_OSS_PREFIX=bills and FOCUS_EXPORT_PREFIX=focus-export are read as the folders 'bills/'
    and 'focus-export/' (deployment._prefix); the same values repeated in a source's entry, as
    docs/sources.md says to, must mean the same keys (not 'billsfocus-export/...')."""
    [source] = parse_sources(json.dumps([{"name": "intl", "oss_prefix": "bills", "export_prefix": "focus-export"}]))
    assert (source.oss_prefix, source.export_prefix) == ("bills/", "focus-export/")


def test_the_setting_reaches_the_local_deployment(tmp_path, monkeypatch):
    """FOCUS_EXPORT_SOURCES reaches the resources (a refused list fails the load, naming it); a
    named source's folder is FOCUS_HOME/oss-<name> unless it names one."""
    monkeypatch.setenv("FOCUS_HOME", str(tmp_path))
    monkeypatch.setenv("FOCUS_DEPLOYMENT", "local")
    monkeypatch.delenv("FOCUS_INGESTION_MODE", raising=False)
    monkeypatch.setenv(
        "FOCUS_EXPORT_SOURCES", json.dumps([{"name": "default"}, {"name": "intl"}, {"name": "cn2", "folder": "b"}])
    )
    stores = resources_for()["export_sources"].sources
    assert [(s.name, s.folder) for s in stores] == [
        ("default", str(tmp_path.resolve() / "oss")),
        ("intl", str(tmp_path.resolve() / "oss-intl")),
        ("cn2", str(tmp_path.resolve() / "b")),
    ]
    monkeypatch.setenv("FOCUS_EXPORT_SOURCES", json.dumps([{"name": "intl"}, {"name": "intl"}]))
    with pytest.raises(ValueError, match="FOCUS_EXPORT_SOURCES: two sources are named 'intl'"):
        resources_for()


# -- 2. the local deployment --------------------------------------------------------------------------

TWO_SOURCES = [ExportSource(), ExportSource(name="intl")]


def export_root(home: Path, source: str) -> Path:
    return home / ("oss" if source == "default" else f"oss-{source}")


def materialize(resources: dict, day: str) -> dict[str, dict]:
    result = dg.materialize(ASSETS, partition_key=day, resources=resources)
    assert result.success
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }


@pytest.fixture(scope="module")
def local_home(tmp_path_factory) -> tuple[Path, dict[str, dict[str, dict]]]:
    """FOCUS_HOME with both sources' deliveries, every day materialized in order (metadata per day)."""
    home = tmp_path_factory.mktemp("two-sources")
    for delivery in DELIVERIES:
        delivery.write(export_root(home, delivery.source))
    resources = local_resources(home, export_sources=TWO_SOURCES)
    return home, {day: materialize(resources, day) for day in DAYS}


def alibaba_focus_sums(query) -> dict[tuple[str, str, str], Decimal]:
    rows = query(
        "SELECT x_ExportSource, yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus GROUP BY 1, 2, 3"
    )
    return {(source, month, currency): amount for source, month, currency, amount in rows}


def current_deliveries(query) -> list[tuple[str, str, str]]:
    return sorted(query("SELECT source, yearmonth, batch_ts FROM alibaba_current_deliveries"))


def test_two_sources_on_the_local_deployment_show_each_ones_latest_delivery(local_home):
    home, metadata = local_home
    warehouse = local_resources(home, export_sources=TWO_SOURCES)["warehouse"]
    expected = latest_sums(DELIVERIES)

    sums = alibaba_focus_sums(warehouse.query)
    assert sums == expected
    assert all(isinstance(v, Decimal) for v in sums.values())
    assert sorted(expected) == [
        (s, m, c) for s in ("default", "intl") for m in ("202512", "202601") for c in ("CNY", "USD")
    ]
    assert current_deliveries(warehouse.query) == sorted(latest_batches(DELIVERIES))

    # the cross-provider view: Alibaba's rows are every source's current snapshot, once, by source
    unified = warehouse.query(
        "SELECT x_ExportSource, BillingCurrency, sum(BilledCost), count(*) FROM focus_unified "
        "WHERE x_SourceProvider = 'Alibaba Cloud' GROUP BY 1, 2"
    )
    per_source: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (source, _, currency), amount in expected.items():
        per_source[(source, currency)] += amount
    assert {(source, currency): amount for source, currency, amount, _ in unified} == per_source
    [(rows,)] = warehouse.query("SELECT count(*) FROM alibaba_focus")
    assert sum(n for *_, n in unified) == rows

    # what each run said: both sources' objects were read, named per source
    day3 = metadata["2026-01-03"]
    assert day3["raw_oss_export"]["deliveries"] == [
        "202512/20260103T100000",
        "202601/20260103T080000",
        "intl:202512/20260103T090000",
        "intl:202601/20260103T090000",
    ]
    assert sorted(row["key"] for row in day3["raw_oss_export"]["object list"]) == sorted(
        d.key if d.source == "default" else f"intl/{d.key}" for d in DELIVERIES if d.day == "2026-01-03"
    )
    published = [
        p.split(":")[0] if p.startswith("intl:") else "default" for p in day3["athena_table"]["deliveries published"]
    ]
    assert sorted(published) == ["default", "default", "intl", "intl"]
    for day in DAYS:
        typed = {c: Decimal(v) for c, v in metadata[day]["typed_focus_parquet"]["BilledCost per currency"].items()}
        day_text = [billed_of_text(d.text()) for d in DELIVERIES if d.day == day]
        assert typed == {c: sum(s[c] for s in day_text) for c in ("CNY", "USD")}


def test_each_sources_files_are_named_apart(local_home):
    home, _ = local_home
    # the raw bucket: intl's copies under intl/, the default source's at the root, byte for byte
    raw = {k: v for k, v in digests(home / "raw").items() if not Path(k).name.startswith(".")}  # not sidecars
    assert raw == {
        (d.key if d.source == "default" else f"intl/{d.key}"): digests(export_root(home, d.source))[d.key]
        for d in DELIVERIES
    }
    # the typed files: intl's are intl@<object>.parquet, beside the default's in the shared folder
    shared = home / "lake" / OUTPUT_TABLE / f"yearmonth={SHARED[0]}" / f"batch_ts={SHARED[1]}"
    assert sorted(p.name for p in shared.glob("*.parquet")) == [
        f"{FILE}_202601.csv.parquet",
        f"intl@{FILE}_202601.csv.parquet",
    ]
    typed = pl.read_parquet(shared / f"intl@{FILE}_202601.csv.parquet", columns=["x_ExportSource", "BilledCost"])
    assert typed["x_ExportSource"].unique().to_list() == ["intl"]
    plain = pl.read_parquet(shared / f"{FILE}_202601.csv.parquet", columns=["x_ExportSource"])
    assert plain["x_ExportSource"].unique().to_list() == ["default"]
    # the ledger: a source column, intl's files named <yearmonth>_<batch_ts>@intl.parquet
    ledger_folder = home / "lake" / "alibaba_deliveries"
    assert sorted(p.name for p in ledger_folder.glob("*.parquet")) == sorted(
        f"{d.month}_{d.batch_ts}.parquet" if d.source == "default" else f"{d.month}_{d.batch_ts}@intl.parquet"
        for d in DELIVERIES
    )
    ledger = pl.read_parquet(ledger_folder / "*.parquet")
    assert "source" in ledger.columns
    assert sorted(ledger.select("source", "yearmonth", "batch_ts").iter_rows()) == sorted(
        (d.source, d.month, d.batch_ts) for d in DELIVERIES
    )


def test_rerunning_a_day_for_one_source_leaves_the_others_files(local_home, tmp_path):
    """intl re-delivers its shared-folder snapshot corrected (same key, other amounts), and a
    deployment reading intl alone re-runs the day: the default source's files, raw copies and
    ledger rows stay byte for byte, and the views show intl's correction and default's figures."""
    home = tmp_path / "home"
    shutil.copytree(local_home[0], home)
    default_files = {
        k: v for k, v in digests(home).items() if "intl" not in k and not k.startswith(("warehouse", "dagster"))
    }
    corrected = Delivery("intl", *SHARED, 3, version=1)
    corrected.write(export_root(home, "intl"))
    deliveries = [d for d in DELIVERIES if (d.source, d.month, d.batch_ts) != ("intl", *SHARED)] + [corrected]

    meta = materialize(local_resources(home, export_sources=[ExportSource(name="intl")]), "2026-01-04")
    assert meta["raw_oss_export"]["deliveries"] == ["intl:202601/20260104T080000"]
    after = digests(home)
    assert {k: after.get(k) for k in default_files} == default_files  # nothing of default's changed or went
    warehouse = local_resources(home, export_sources=TWO_SOURCES)["warehouse"]
    sums = alibaba_focus_sums(warehouse.query)
    assert sums == latest_sums(deliveries) != latest_sums(DELIVERIES)
    assert current_deliveries(warehouse.query) == sorted(latest_batches(DELIVERIES))

    # and a re-run of the same day with both sources changes nothing
    lake = digests(home / "lake", "*.parquet")
    both = materialize(local_resources(home, export_sources=TWO_SOURCES), "2026-01-04")
    assert both["raw_s3_csv"]["copied"] == 0
    assert digests(home / "lake", "*.parquet") == lake
    assert alibaba_focus_sums(warehouse.query) == latest_sums(deliveries)


def test_a_lake_written_before_export_sources_keeps_running(tmp_path):
    """docs/sources.md: nothing is migrated, files written before count as default's. A local lake
    whose typed files have no x_ExportSource and whose ledger rows have no source (as written
    before sources existed) takes the next day's delivery, and the views show both months."""
    older, newer = (
        Delivery("default", "202512", "20260103T100000", 31),
        Delivery("default", "202601", "20260104T080000", 3),
    )
    older.write(tmp_path / "oss")
    resources = local_resources(tmp_path)
    materialize(resources, older.day)
    for path in (tmp_path / "lake").rglob("*.parquet"):
        frame = pl.read_parquet(path)
        frame.drop([c for c in ("source", "x_ExportSource") if c in frame.columns]).write_parquet(path)
    newer.write(tmp_path / "oss")
    result = dg.materialize(ASSETS, partition_key=newer.day, resources=resources, raise_on_error=False)
    assert result.success
    rows = resources["warehouse"].query(
        "SELECT coalesce(x_ExportSource, 'default'), yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus "
        "GROUP BY 1, 2, 3"
    )
    assert {tuple(row[:3]): row[3] for row in rows} == latest_sums([older, newer])


# -- 3. the sensor ----------------------------------------------------------------------------------


def test_the_sensor_keeps_a_cursor_per_source(tmp_path):
    stores = {name: LocalFolderStore(root=str(tmp_path / name)) for name in ("default", "intl")}
    for delivery in DELIVERIES:
        delivery.write(tmp_path / delivery.source)
    sources = export_sources_of(stores["default"], stores["intl"], names=("default", "intl"))
    now = datetime(2026, 1, 4, 20, 0, tzinfo=SHANGHAI)

    plan = plan_runs(sources, SETTLED, None, now=now)
    assert [run.day for run in plan.runs] == DAYS
    for run in plan.runs:  # a day both sources delivered is one run, with each one's keys
        assert run.keys == tuple(sorted(d.named_key for d in DELIVERIES if d.day == run.day))
        assert run.run_key.startswith(f"{run.day}:")
    assert any(key.startswith("intl:focus-export/") for key in plan.runs[0].keys)
    cursor = json.loads(plan.cursor)
    assert cursor.keys() == {"sources"} and cursor["sources"].keys() == {"default", "intl"}
    for name, state in cursor["sources"].items():
        assert {month: sorted(keys) for month, keys in state["watched"].items()} == {
            month: sorted(d.key for d in DELIVERIES if d.source == name and d.month == month)
            for month in ("202512", "202601")
        }

    quiet = plan_runs(sources, SETTLED, plan.cursor, now=now)
    assert quiet.runs == [] and quiet.cursor == plan.cursor

    # a delivery in one source only: its day, with its keys alone
    new = Delivery("intl", "202601", "20260105T080000", 4)
    new.write(tmp_path / "intl")
    later = datetime(2026, 1, 5, 20, 0, tzinfo=SHANGHAI)
    plan = plan_runs(sources, SETTLED, plan.cursor, now=later)
    [run] = plan.runs
    assert (run.day, run.keys) == ("2026-01-05", (f"intl:{new.key}",))
    assert json.loads(plan.cursor)["sources"]["default"] == cursor["sources"]["default"]
    assert plan_runs(sources, SETTLED, plan.cursor, now=later).runs == []


def test_a_single_source_cursor_is_read_as_the_default_sources(tmp_path):
    """A deployment that adds a second source keeps its cursor: the default source's objects are
    not run again; the new source's are."""
    stores = {name: LocalFolderStore(root=str(tmp_path / name)) for name in ("default", "intl")}
    for delivery in DELIVERIES:
        delivery.write(tmp_path / delivery.source)
    now = datetime(2026, 1, 4, 20, 0, tzinfo=SHANGHAI)
    before = plan_runs(export_sources_of(stores["default"]), SETTLED, None, now=now)
    assert "sources" not in json.loads(before.cursor)  # the single-source cursor, as it always was
    assert len(before.runs) == 3

    sources = export_sources_of(stores["default"], stores["intl"], names=("default", "intl"))
    plan = plan_runs(sources, SETTLED, before.cursor, now=now)
    assert [run.day for run in plan.runs] == DAYS
    assert all(key.startswith("intl:") for run in plan.runs for key in run.keys)
    assert sorted(k for run in plan.runs for k in run.keys) == sorted(
        d.named_key for d in DELIVERIES if d.source == "intl"
    )
    assert json.loads(plan.cursor)["sources"]["default"] == json.loads(before.cursor)


def test_objects_a_run_already_read_are_recorded_per_source(tmp_path):
    """The runs' object lists name raw keys (intl's under intl/): an intl object read by the day's
    latest run is recorded without a run, and the same key of the default source is not."""
    stores = {name: LocalFolderStore(root=str(tmp_path / name)) for name in ("default", "intl")}
    paths = {(d.source, d.key): d.write(tmp_path / d.source) for d in DELIVERIES}
    sources = export_sources_of(stores["default"], stores["intl"], names=("default", "intl"))
    now = datetime(2026, 1, 4, 20, 0, tzinfo=SHANGHAI)
    shared_key = next(d.key for d in DELIVERIES if d.source == "intl" and (d.month, d.batch_ts) == SHARED)
    read = {"2026-01-04": {f"intl/{shared_key}": md5_of(paths[("intl", shared_key)])}}
    plan = plan_runs(sources, SETTLED, None, now=now, day_objects_read=lambda day: read.get(day, {}))
    [day4] = [run for run in plan.runs if run.day == "2026-01-04"]
    assert day4.keys == (shared_key,)  # the default source's object of the same key still runs
    assert [note.key for note in plan.covered] == [f"intl:{shared_key}"]


# -- 4. the aws deployment on moto -------------------------------------------------------------------

INTL_BUCKET = "alibaba-intl"


def two_source_setting(oss_endpoint: str) -> str:
    """FOCUS_EXPORT_SOURCES for two OSS buckets, each with its own keys."""
    return json.dumps(
        [
            {"name": "default", "oss_endpoint": oss_endpoint, "oss_bucket": "alibaba-export", "oss_prefix": "bills/"},
            {
                "name": "intl",
                "oss_endpoint": oss_endpoint,
                "oss_bucket": INTL_BUCKET,
                "access_key_id_env": "OSS_INTL_KEY_ID",
                "access_key_secret_env": "OSS_INTL_KEY_SECRET",
            },
        ]
    )


def use_two_sources(deployment, monkeypatch, tmp_path: Path, deliveries: list[Delivery]) -> None:
    """Replace the sample export with `deliveries`: default's in alibaba-export under bills/,
    intl's in a bucket of its own, read with its own keys."""
    s3 = deployment.s3
    for item in s3.list_objects_v2(Bucket="alibaba-export").get("Contents", []):
        s3.delete_object(Bucket="alibaba-export", Key=item["Key"])
    s3.create_bucket(Bucket=INTL_BUCKET)
    for delivery in deliveries:
        path = delivery.write(tmp_path / "exports" / delivery.source)
        bucket, key = (
            ("alibaba-export", f"bills/{delivery.key}") if delivery.source == "default" else (INTL_BUCKET, delivery.key)
        )
        s3.upload_file(str(path), bucket, key)
    monkeypatch.setenv("FOCUS_EXPORT_SOURCES", two_source_setting(os.environ["FOCUS_OSS_ENDPOINT"]))
    monkeypatch.setenv("OSS_INTL_KEY_ID", INTL_KEY_ID)
    monkeypatch.setenv("OSS_INTL_KEY_SECRET", INTL_SECRET)


def lake_on_duckdb(s3, folder: Path) -> duckdb.DuckDBPyConnection:
    """The lake bucket's files copied into `folder`, under the tables and views of sql/ on DuckDB:
    the SQL Athena received, run (moto's Athena runs none)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="focus-lake", Prefix="lake/"):
        for item in page.get("Contents", []):
            target = folder / item["Key"].removeprefix("lake/")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file("focus-lake", item["Key"], str(target))
    connection = duckdb.connect()
    apply_to_duckdb(connection, folder)
    return connection


def test_two_sources_on_aws(tmp_path, monkeypatch):
    with aws_deployment(tmp_path, monkeypatch) as deployment:
        use_two_sources(deployment, monkeypatch, tmp_path, DELIVERIES)
        resources = resources_for()
        stores = resources["export_sources"].sources
        assert [(s.name, s.oss_bucket, s.oss_prefix) for s in stores] == [
            ("default", "alibaba-export", "bills/"),
            ("intl", INTL_BUCKET, ""),
        ]
        for day in DAYS:
            result = dg.materialize(ASSETS, partition_key=day, resources=resources)
            assert result.success
            meta = {
                e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()
            }
            for secret in (INTL_KEY_ID, INTL_SECRET):
                assert secret not in str(meta)
            assert meta["raw_oss_export"]["objects"].value == sum(d.day == day for d in DELIVERIES)
        s3 = deployment.s3

        raw = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="focus-raw")["Contents"])
        assert raw == sorted(f"alibaba/{'' if d.source == 'default' else 'intl/'}{d.key}" for d in DELIVERIES)
        shared = f"lake/{OUTPUT_TABLE}/yearmonth={SHARED[0]}/batch_ts={SHARED[1]}/"
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="focus-lake", Prefix=shared)["Contents"]) == [
            f"{shared}{FILE}_202601.csv.parquet",
            f"{shared}intl@{FILE}_202601.csv.parquet",
        ]
        glue = deployment.client("glue")
        partitions = glue.get_partitions(DatabaseName="focus", TableName=OUTPUT_TABLE)["Partitions"]
        assert sorted(tuple(p["Values"]) for p in partitions) == sorted({(d.month, d.batch_ts) for d in DELIVERIES})
        ledger_columns = glue.get_table(DatabaseName="focus", Name="alibaba_deliveries")["Table"]["StorageDescriptor"]
        assert "source" in [c["Name"] for c in ledger_columns["Columns"]]

        # the views Athena received are sql/'s, which DuckDB runs over a copy of the lake
        athena = deployment.client("athena")
        sent = {
            athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"].strip()
            for q in athena.list_query_executions()["QueryExecutionIds"]
        }
        views = {o.name: o.text.strip() for o in load_objects()}
        assert views["alibaba_current_deliveries"] in sent and views["alibaba_focus"] in sent

        lake = lake_on_duckdb(s3, tmp_path / "lake-copy")
        query = lambda sql: lake.execute(sql).fetchall()  # noqa: E731
        assert alibaba_focus_sums(query) == latest_sums(DELIVERIES)
        assert current_deliveries(query) == sorted(latest_batches(DELIVERIES))


def test_a_source_without_its_keys_is_named(tmp_path, monkeypatch):
    with aws_deployment(tmp_path, monkeypatch) as deployment:
        use_two_sources(deployment, monkeypatch, tmp_path, [])
        stores = resources_for()["export_sources"].sources
        # the keys are read at run time from the variables the source names, never copied
        assert [(s.access_key_id.env_var_name, s.access_key_secret.env_var_name) for s in stores] == [
            ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"),
            ("OSS_INTL_KEY_ID", "OSS_INTL_KEY_SECRET"),
        ]
        monkeypatch.delenv("OSS_INTL_KEY_SECRET")
        with pytest.raises(ValueError, match="export source 'intl' needs .*missing: OSS_INTL_KEY_SECRET"):
            resources_for()


# -- 5. request counts per source as the history grows ----------------------------------------------


@dataclass
class BucketCounts(FaultPlan):
    """A FaultPlan that also counts requests per bucket: (service, bucket, operation) -> count."""

    by_bucket: Counter = field(default_factory=Counter)

    def count(self, service: str, environ) -> None:
        super().count(service, environ)
        bucket = environ.get("PATH_INFO", "").strip("/").split("/")[0]
        with self._lock:
            self.by_bucket[(service, bucket, _operation(environ))] += 1

    def during(self, action):
        before = self.by_bucket.copy()
        result = action()
        return result, dict(self.by_bucket - before)


def put_directly(deployment_s3, bucket: str, keys: list[str]) -> None:
    """Objects into moto's backend without HTTP (setup, not requests under test)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID][deployment_s3.meta.partition]
    for key in keys:
        backend.put_object(bucket, key, b"x")


SIZES = (50, 500)  # objects per source: 2 and 10 billing months


def test_a_quiet_tick_lists_the_same_per_source_with_ten_times_the_history():
    plan = BucketCounts()
    with aws_and_oss(plan) as (s3_endpoint, oss_endpoint):
        client = boto3.client(
            "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        first, quiet = {}, {}
        for n in SIZES:
            for name in ("default", "intl"):
                client.create_bucket(Bucket=f"{name}-{n}")
                put_directly(client, f"{name}-{n}", history_keys(n))
            stores = [
                OssStore(endpoint=oss_endpoint, bucket=f"{name}-{n}", access_key_id="LTAI-test", access_key_secret="t")
                for name in ("default", "intl")
            ]
            sources = export_sources_of(*stores, names=("default", "intl"))
            tick, first[n] = plan.during(lambda sources=sources: plan_runs(sources, SETTLED, None))
            assert {key.split(":")[0] for run in tick.runs for key in run.keys if ":" in key} == {"intl"}
            again, quiet[n] = plan.during(lambda s=sources, c=tick.cursor: plan_runs(s, SETTLED, c))
            assert again.runs == [] and again.cursor == tick.cursor
    months = {n: len({key.split("/")[1] for key in history_keys(n)}) for n in SIZES}
    assert first == {n: {("oss", f"{name}-{n}", "LIST"): 1 + months[n] for name in ("default", "intl")} for n in SIZES}
    assert {n: {(s, b.rsplit("-", 1)[0], op): c for (s, b, op), c in quiet[n].items()} for n in SIZES} == {
        n: {("oss", "default", "LIST"): 3, ("oss", "intl", "LIST"): 3} for n in SIZES
    }


def add_intl_history(deployment, deliveries: int) -> None:
    """intl's share of `add_history`: its export objects, raw copies under intl/, typed and
    quarantine files named intl@..., ledger rows ...@intl, in the partitions default's history has."""
    keys: dict[str, list[str]] = {INTL_BUCKET: [], "focus-raw": [], "focus-lake": []}
    for month, stamp in itertools.islice(history_deliveries(newest=date(2025, 11, 30)), deliveries):
        export = f"focus-export/{month}/{stamp}/{FILE}_{month}.csv.gz"
        keys[INTL_BUCKET].append(export)
        keys["focus-raw"].append(f"alibaba/intl/{export}")
        for table in (OUTPUT_TABLE, "focus_alibaba_quarantine"):
            keys["focus-lake"].append(f"lake/{table}/yearmonth={month}/batch_ts={stamp}/intl@part-0.parquet")
        keys["focus-lake"].append(f"lake/alibaba_deliveries/{month}_{stamp}@intl.parquet")
    for bucket, names in keys.items():
        put_directly(deployment.s3, bucket, names)


def test_a_days_run_with_two_sources_makes_the_same_requests_with_a_long_history(tmp_path, monkeypatch):
    """Day 3 and day 4 of the interleaved deliveries, with no history and with 400 earlier
    deliveries per source: the day-4 run's requests, per bucket (each export bucket is a source's),
    are the same."""
    counts = {}
    for history in (0, 400):
        plan = BucketCounts()
        with aws_deployment(tmp_path / f"history-{history}", monkeypatch, plan) as deployment:
            use_two_sources(deployment, monkeypatch, tmp_path / f"history-{history}", DELIVERIES)
            resources = resources_for()
            assert dg.materialize(ASSETS, partition_key="2026-01-03", resources=resources).success
            if history:
                add_history(deployment, history)
                add_intl_history(deployment, history)
            result, counts[history] = plan.during(
                lambda resources=resources: dg.materialize(ASSETS, partition_key="2026-01-04", resources=resources)
            )
            assert result.success
            published = result.asset_materializations_for_node("athena_table")[0].metadata["deliveries published"]
            assert sorted(published.value) == [
                "202601/20260104T080000: 7 rows, 0 quarantined",
                "intl:202601/20260104T080000: 7 rows, 0 quarantined",
            ]
            export_keys = [o["Key"] for o in deployment.s3.list_objects_v2(Bucket=INTL_BUCKET)["Contents"]]
            assert len(export_keys) == history + sum(d.source == "intl" for d in DELIVERIES)
    assert counts[0] == counts[400], {
        k: (counts[0].get(k), counts[400].get(k))
        for k in counts[0].keys() | counts[400].keys()
        if counts[0].get(k) != counts[400].get(k)
    }
    export = {
        (service, bucket): n
        for (service, bucket, _), n in counts[0].items()
        if bucket in ("alibaba-export", INTL_BUCKET)
    }
    assert export and {bucket for _, bucket in export} == {"alibaba-export", INTL_BUCKET}


def test_the_same_file_in_two_sources_asks_for_two_runs(tmp_path):
    """A named source's run key names it: the same object (key, ETag, time) landing in intl a tick
    after the default source still asks for a run, which Dagster would otherwise take as done."""
    stores = {name: LocalFolderStore(root=str(tmp_path / name)) for name in ("default", "intl")}
    delivery = Delivery("default", "202601", "20260104T080000", 3)
    path = delivery.write(tmp_path / "default")
    sources = export_sources_of(stores["default"], stores["intl"], names=("default", "intl"))
    now = datetime(2026, 1, 4, 20, 0, tzinfo=SHANGHAI)
    tick = plan_runs(sources, SETTLED, None, now=now)
    [first] = tick.runs
    copy = tmp_path / "intl" / delivery.key
    copy.parent.mkdir(parents=True)
    shutil.copy2(path, copy)  # same bytes and modification time
    [second] = plan_runs(sources, SETTLED, tick.cursor, now=now).runs
    assert first.day == second.day and second.keys == (f"intl:{delivery.key}",)
    assert second.run_key != first.run_key


def test_a_day_one_account_did_not_deliver_warns_naming_it(tmp_path):
    """every_source_delivered: a run started by one account's delivery warns for the other's
    missing one (a subscription that stopped would otherwise go unseen while the other delivers),
    and passes once both delivered."""
    stores = {name: LocalFolderStore(root=str(tmp_path / name)) for name in ("default", "intl")}
    resources = {
        "export_sources": export_sources_of(stores["default"], stores["intl"], names=("default", "intl")),
        "raw_bucket": LocalFolderStore(root=str(tmp_path / "raw")),
        "export_settings": SETTLED,
    }
    Delivery("default", "202601", "20260104T080000", 3).write(tmp_path / "default")

    def check(day: str) -> dg.AssetCheckEvaluation:
        from focus_assets.alibaba.assets import raw_oss_export

        result = dg.materialize([raw_oss_export], partition_key=day, resources=resources)
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    alone = check("2026-01-04")
    assert alone.check_name == "every_source_delivered" and not alone.passed
    assert alone.severity == dg.AssetCheckSeverity.WARN
    assert alone.metadata["no delivery (day: sources)"].value == {"2026-01-04": ["intl"]}
    Delivery("intl", "202601", "20260104T090000", 3).write(tmp_path / "intl")
    both = check("2026-01-04")
    assert both.passed and both.metadata["sources"].value == ["default", "intl"]


def test_the_sensor_definition_ticks_over_both_sources(tmp_path):
    """The sensor as the daemon evaluates it (the definitions' new_alibaba_deliveries, its resources
    bound): one run request per day, the cursor per source."""
    from focus_assets.definitions import defs

    stores = {name: LocalFolderStore(root=str(tmp_path / name)) for name in ("default", "intl")}
    for delivery in DELIVERIES:
        delivery.write(tmp_path / delivery.source)
    context = dg.build_sensor_context(
        definitions=defs,
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "export_sources": export_sources_of(stores["default"], stores["intl"], names=("default", "intl")),
            "raw_bucket": LocalFolderStore(root=str(tmp_path / "raw")),
            "export_settings": SETTLED,
        },
    )
    result = defs.resolve_sensor_def("new_alibaba_deliveries").evaluate_tick(context)
    assert sorted(r.partition_key for r in result.run_requests) == DAYS
    assert json.loads(result.cursor)["sources"].keys() == {"default", "intl"}
