"""Realistic, deterministic Alibaba-shaped FOCUS exports, for `make demo`, the tests and the
benchmarks. Not product code: nothing in `focus_assets.focus` imports it.

What it imitates (Alibaba's export documentation; docs/transform.md, "Alibaba's known gaps"): daily
month-to-date snapshots in separate delivery folders and a final delivery of the previous month
on the 3rd of the next one; several billing accounts (one international, billed in USD) and
services; credits and refunds (negative costs); prepaid subscriptions (BilledCost 0, EffectiveCost amortised);
Tags as JSON with varied keys, casing and value types; UTC+8 timestamps without offset; numeric
ProviderName / PublisherName / InvoiceIssuerName references; the columns Alibaba leaves null;
a header that omits ConsumedQuantity, ConsumedUnit and ChargeDescription, spells one extension
column `X_CommodityCode`, and carries one column the FOCUS schema does not know.

Rows are computed from their index with integer arithmetic (no RNG state), so any slice of an
export can be generated on its own: the benchmark streams millions of rows in chunks.

`ExportShape` varies the text of an export in the ways real exports differ from this one (money in
E-notation or padded with zeros, quoted fields with line breaks, long unicode or many distinct tags,
timestamps with and without offsets); `SHAPES` names the variations the benchmark measures. Without
a shape the export is the default one, byte for byte.
"""

from __future__ import annotations

import calendar
import gzip
import io
import itertools
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

# (BillingAccountId, BillingAccountName, currency, InvoiceIssuerName reference, site id)
ACCOUNTS = (
    ("1234567890123456", "acme-cn", "CNY", "5010", "26842"),
    ("2345678901234567", "acme-data", "CNY", "5010", "26842"),
    ("3456789012345678", "acme-intl", "USD", "5020", "26888"),
)
SUB_ACCOUNTS = (("5011223344556677", "platform"), ("5022334455667788", "analytics"), ("5033445566778899", "web"))
# (ServiceName, ServiceCategory, commodity code, commodity name, billing item code, item name,
#  PricingUnit (in FOCUS's UnitFormat: nothing documents Alibaba's own unit strings), ResourceType,
#  resource id prefix, ChargeFrequency)
SERVICES = (
    (
        "Elastic Compute Service",
        "Compute",
        "ecs",
        "ECS",
        "ecs_instance",
        "Instance",
        "Hours",
        "Instance",
        "i-bp1",
        "Usage-Based",
    ),
    (
        "Object Storage Service",
        "Storage",
        "oss",
        "OSS",
        "oss_storage",
        "Storage Capacity",
        "GB-Months",
        "Bucket",
        "oss-",
        "Usage-Based",
    ),
    (
        "ApsaraDB RDS",
        "Databases",
        "rds",
        "RDS",
        "rds_instance",
        "Instance Type",
        "Hours",
        "DBInstance",
        "rm-bp1",
        "Recurring",
    ),
    (
        "Server Load Balancer",
        "Networking",
        "slb",
        "SLB",
        "slb_lcu",
        "LCU",
        "LCU-Hours",
        "LoadBalancer",
        "lb-bp1",
        "Usage-Based",
    ),
    (
        "Content Delivery Network",
        "Networking",
        "cdn",
        "CDN",
        "cdn_traffic",
        "Downstream Traffic",
        "GB",
        "Domain",
        "cdn-",
        "Usage-Based",
    ),
    (
        "MaxCompute",
        "Analytics",
        "odps",
        "MaxCompute",
        "odps_cu",
        "Compute Units",
        "CU-Hours",
        "Project",
        "odps-",
        "Usage-Based",
    ),
    (
        "Container Service for Kubernetes",
        "Compute",
        "cs",
        "ACK",
        "ack_cluster",
        "Cluster Management",
        "Hours",
        "Cluster",
        "c-",
        "Recurring",
    ),
    (
        "Simple Log Service",
        "Management and Governance",
        "sls",
        "SLS",
        "sls_ingest",
        "Data Ingested",
        "GB",
        "Project",
        "sls-",
        "Usage-Based",
    ),
)
REGIONS = (
    ("cn-hangzhou", "China (Hangzhou)", "cn-hangzhou-h"),
    ("cn-shanghai", "China (Shanghai)", "cn-shanghai-l"),
    ("ap-southeast-1", "Singapore", "ap-southeast-1a"),
)
# Tags as delivered: varied key casing, numbers and booleans, an empty object, no tags at all.
TAGS = (
    '{"Brand":"acme","Project":"atlas","Owner":"li.wei","CostCenter":"CC-100","Environment":"prod","Application":"checkout"}',
    '{"brand":"acme","project":"atlas","owner":"zhang.min","costcenter":"CC-100","environment":"staging"}',
    '{"BRAND":"nova","PROJECT":"orion","Environment":"prod","Application":"search","team":"search-infra"}',
    '{"Brand":"nova","Project":"orion","CostCenter":2001,"Environment":"dev","Application":"search","spot":true}',
    '{"Project":"hermes","Owner":"chen.jie","Environment":"prod","acs:ack:cluster":"c-7f3a"}',
    "{}",
    "",
    '{"Brand":"acme","Project":"atlas","Owner":"wang.fang","CostCenter":"CC-200","Environment":"prod","Application":"billing","说明":"生产"}',
)
# Header order as one export delivered it: not alphabetical, some columns omitted.
HEADER = (
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "RegionId",
    "RegionName",
    "AvailabilityZone",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "Tags",
    "x_BillingItemCode",
    "x_BillingItemName",
    "X_CommodityCode",
    "x_CommodityName",
    "x_InstanceID",
    "x_ResourceGroup",
)
PROVIDER_REFERENCE = "1001"  # Alibaba writes a numeric reference, not "Alibaba Cloud"
_MIX = 2_654_435_761  # Knuth's multiplicative hash constant
_MOD = 2_147_483_647


@dataclass(frozen=True)
class ExportShape:
    """How the text of an export differs from the default one. Every value stays valid (it types
    and reconciles) unless said otherwise; which rows and cells vary is drawn from the row index,
    so a shape is as deterministic as the default export."""

    # Of the money cells (costs, ListUnitPrice, PricingQuantity), the percentage written in
    # E-notation, as Java and C print numbers: `1.23456E1`, `1.23456E+1`, `1.23456e+01`, the same
    # exact value. Those of ListUnitPrice are per-unit prices 10,000 times smaller (`1.23E-8`),
    # with up to 10 decimals, as decimal(38,10) holds.
    e_notation_percent: int = 0
    # Every money value written with this many decimals (as a fixed-point formatter prints them):
    # the places beyond the value's own are zeros, so the value is exact and fits decimal(38,10).
    padded_decimals: int | None = None
    # Of the cells padded, one in this many has a non-zero digit past the 10th place: more decimals
    # than the schema keeps, so its row is quarantined (round_excess_decimals is off by default).
    excess_decimal_cells_one_in: int | None = None
    # Rows per 10,000 whose ResourceName is a user's text with a comma, quotes and a line break,
    # delivered as a quoted field with doubled quotes and an embedded line break.
    quoted_rows_per_10000: int = 0
    # Tags as long JSON objects of Chinese keys and values, emoji and long descriptions (about
    # 600 bytes), one per resource.
    long_unicode_tags: bool = False
    # Tags of 4 to 9 keys drawn from this many distinct keys, with values per resource: nearly
    # every row's Tags text is its own (the promoted tags among them, in varied case).
    distinct_tag_keys: int = 0
    # Charge periods by the hour, and each timestamp in one of four spellings: without offset
    # (UTC+8 as delivered), with `+08:00`, with `+0800` and milliseconds, or in UTC with `Z`.
    mixed_timestamps: bool = False


# The shapes the benchmark measures (benchmarks/transform.py --shape NAME).
SHAPES = {
    "plain": ExportShape(),
    "e-notation-5": ExportShape(e_notation_percent=5),
    "e-notation-50": ExportShape(e_notation_percent=50),
    "excess-decimals": ExportShape(padded_decimals=15, excess_decimal_cells_one_in=10_000),
    "quoted": ExportShape(quoted_rows_per_10000=100),
    "unicode-tags": ExportShape(long_unicode_tags=True),
    "many-tag-keys": ExportShape(distinct_tag_keys=5_000),
    "mixed-timestamps": ExportShape(mixed_timestamps=True),
    # The shapes at once, as an export the project never saw mixes them.
    "mixed": ExportShape(
        e_notation_percent=5, quoted_rows_per_10000=100, long_unicode_tags=True, mixed_timestamps=True
    ),
}


def _pick(options: tuple, draw: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(options)).gather(draw % len(options))


def _money(units: pl.Expr, decimals: int) -> pl.Expr:
    """An integer count of 10^-decimals as exact decimal text: 12345, 4 -> '1.2345'."""
    sign = pl.when(units < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    magnitude = units.abs()
    scale = 10**decimals
    return pl.concat_str(
        sign, (magnitude // scale).cast(pl.String), pl.lit("."), (magnitude % scale).cast(pl.String).str.zfill(decimals)
    )


def _draw(index: pl.Expr, salt: int, modulo: int) -> pl.Expr:
    """A draw in 0..modulo-1 per row, from its index; another salt gives an unrelated draw."""
    return ((index + salt * 1_000_003) * 2_246_822_519 % 4_294_967_291) % modulo


def _scientific(units: pl.Expr, decimals: int, spelling: pl.Expr) -> pl.Expr:
    """An integer count of 10^-decimals in E-notation, exact: 123456, 4 -> '1.23456E1' (spelling
    0, Java's Double), '1.23456E+1' (1, Java's BigDecimal), '1.23456e+01' (2, C's printf). Zero
    stays '0.0000'."""
    digits = units.abs().cast(pl.String)
    significant = digits.str.strip_chars_end("0")
    exponent = digits.str.len_chars().cast(pl.Int64) - 1 - decimals
    mantissa = pl.concat_str(
        significant.str.head(1),
        pl.when(significant.str.len_chars() > 1).then(pl.lit(".") + significant.str.slice(1)).otherwise(pl.lit("")),
    )
    exponent_sign = pl.when(exponent < 0).then(pl.lit("-")).when(spelling == 0).then(pl.lit("")).otherwise(pl.lit("+"))
    magnitude = exponent.abs().cast(pl.String)
    text = pl.concat_str(
        pl.when(units < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        mantissa,
        pl.when(spelling == 2).then(pl.lit("e")).otherwise(pl.lit("E")),
        exponent_sign,
        pl.when(spelling == 2).then(magnitude.str.zfill(2)).otherwise(magnitude),
    )
    return pl.when(units == 0).then(_money(units, decimals)).otherwise(text)


def _money_text(
    units: pl.Expr,
    decimals: int,
    shape: ExportShape | None,
    index: pl.Expr,
    salt: int,
    tiny_in_e_notation: bool = False,
) -> pl.Expr:
    """A money cell's text: `_money`, or as the shape writes it (`salt`: the column's own draws)."""
    text = _money(units, decimals)
    if shape is None:
        return text
    if shape.padded_decimals is not None:
        zeros = "0" * (shape.padded_decimals - decimals)
        text = text + pl.lit(zeros)
        if shape.excess_decimal_cells_one_in:
            excess = _draw(index, salt + 50, shape.excess_decimal_cells_one_in) == 0
            text = pl.when(excess).then(_money(units, decimals) + pl.lit(zeros[:-1] + "3")).otherwise(text)
    if shape.e_notation_percent:
        scientific = _scientific(units, decimals + 4 if tiny_in_e_notation else decimals, _draw(index, salt + 60, 3))
        text = pl.when(_draw(index, salt, 100) < shape.e_notation_percent).then(scientific).otherwise(text)
    return text


def _long_unicode_tags(resource: int) -> str:
    """A long Tags object of Chinese, Japanese and Korean keys and values and emoji (about 600
    bytes), for one resource."""
    team = ("数据平台", "搜索引擎", "支付结算", "风险控制", "推荐系统", "客户服务")[resource % 6]
    owner = ("王芳", "李伟", "张敏", "陈杰", "刘洋")[resource % 5]
    tags = {
        "Project": f"星河计划-{team}",
        "Owner": owner,
        "CostCenter": f"CC-研发-{100 + resource % 7}",
        "Environment": ("生产", "预发", "测试")[resource % 3],
        "项目": f"星河计划（{team}）",
        "负责人": owner,
        "成本中心": f"研发中心/{team}/{resource % 13:02d}",
        "业务线": ("电商", "金融", "物流", "本地生活")[resource % 4],
        "描述": f"{team}的核心服务，负责线上流量的处理与存储；资源编号 {resource:04d}，请勿随意释放。",
        "說明": "繁體中文的資源說明，用於測試",
        "日本語": "テスト環境のリソースです",
        "한국어": "리소스 설명입니다",
        "标记": "🚀📦✨",
        "created-by": f"terraform/模块-{resource % 11}",
    }
    return json.dumps(tags, ensure_ascii=False, separators=(",", ":"))


def _tag_keys(count: int) -> tuple[str, ...]:
    """`count` distinct tag keys, as many teams' tagging policies make them; every 500th one is a
    promoted tag in another case."""
    prefixes = (
        "team",
        "app.kubernetes.io/component",
        "acs:ack:nodepool",
        "cost-alloc/project",
        "finops.owner",
        "env-tier",
        "部门",
        "service-line",
    )
    promoted = ("project", "OWNER", "costcenter", "Environment", "application", "BRAND")
    return tuple(
        promoted[i // 500 % len(promoted)] if i % 500 == 0 else f"{prefixes[i % len(prefixes)]}-{i:04d}"
        for i in range(count)
    )


def _many_keys_tags(index: pl.Expr, distinct_keys: int) -> pl.Expr:
    """Tags of 4 to 9 keys drawn from `distinct_keys`, each with a value drawn per row."""
    keys = _tag_keys(distinct_keys)
    size = 4 + _draw(index, 400, 6)
    pairs = [
        pl.when(position < size).then(
            pl.concat_str(
                pl.lit('"'),
                _pick(keys, _draw(index, 410 + position, distinct_keys)),
                pl.lit('":"v-'),
                _draw(index, 430 + position, 100_000).cast(pl.String),
                pl.lit('"'),
            )
        )
        for position in range(9)
    ]
    return pl.concat_str(pl.lit("{"), pl.concat_str(pairs, separator=",", ignore_nulls=True), pl.lit("}"))


_TIMESTAMP_SPELLINGS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S+08:00",
    "%Y-%m-%dT%H:%M:%S.000+0800",
    "%Y-%m-%dT%H:%M:%SZ",
)


def _spelled(local: pl.Expr, spelling: pl.Expr) -> pl.Expr:
    """A UTC+8 wall-clock time in one of `_TIMESTAMP_SPELLINGS` (the last one in UTC)."""
    texts = [local.dt.strftime(form) for form in _TIMESTAMP_SPELLINGS[:3]]
    texts.append((local - pl.duration(hours=8)).dt.strftime(_TIMESTAMP_SPELLINGS[3]))
    spelled = texts[-1]
    for number in (2, 1, 0):
        spelled = pl.when(spelling == number).then(texts[number]).otherwise(spelled)
    return spelled


def _month_bounds(billing_month: str) -> tuple[str, str, int]:
    year, month = int(billing_month[:4]), int(billing_month[4:])
    days = calendar.monthrange(year, month)[1]
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}-01 00:00:00", f"{next_year:04d}-{next_month:02d}-01 00:00:00", days


def export_rows(
    billing_month: str,
    through_day: int,
    rows_per_day: int,
    seed: int = 7,
    start: int = 0,
    stop: int | None = None,
    shape: ExportShape | None = None,
) -> pl.DataFrame:
    """Rows `start..stop` of a month-to-date export covering days 1..through_day, as the text
    Alibaba delivers (every column a string, null = empty), in the default `shape` or another."""
    period_start, period_end, days = _month_bounds(billing_month)
    through_day = min(through_day, days)
    total = through_day * rows_per_day
    stop = total if stop is None else min(stop, total)
    index = pl.int_range(start, stop, dtype=pl.Int64)
    h = ((index * _MIX + seed * 97_531) % _MOD).alias("h")
    day = (index // rows_per_day + 1).alias("day")
    year, month = billing_month[:4], billing_month[4:]

    account = h % len(ACCOUNTS)
    service = (h // 7) % len(SERVICES)
    region = (h // 61) % len(REGIONS)
    units = (h // 13) % 2_000_000 + 1  # list cost in 1e-4 of the currency
    credit = (h % 50) == 0  # 2% credits and refunds
    refund = (h % 97) == 0
    discount = 70 + (h // 3) % 31  # effective = list * 70..100%

    list_cost = units
    effective = list_cost * discount // 100
    prepaid = ((h // 17) % 9 == 0) & ~(credit | refund)  # subscriptions: billed up front, amortised daily
    signed_effective = pl.when(credit | refund).then(-effective).otherwise(effective)
    billed = pl.when(prepaid).then(pl.lit(0, pl.Int64)).otherwise(signed_effective)
    date = pl.concat_str(pl.lit(f"{year}-{month}-"), day.cast(pl.String).str.zfill(2))
    next_date = pl.concat_str(pl.lit(f"{year}-{month}-"), (day + 1).cast(pl.String).str.zfill(2))
    charge_end = pl.when(day < days).then(pl.concat_str(next_date, pl.lit(" 00:00:00"))).otherwise(pl.lit(period_end))

    def field(options: tuple, position: int, draw: pl.Expr) -> pl.Expr:
        return _pick(tuple(o[position] for o in options), draw)

    def money(units: pl.Expr, decimals: int, salt: int, tiny_in_e_notation: bool = False) -> pl.Expr:
        return _money_text(units, decimals, shape, index, salt, tiny_in_e_notation)

    resource = pl.concat_str(field(SERVICES, 8, service), (h % 500).cast(pl.String).str.zfill(4))
    frame = pl.select(
        BillingAccountId=field(ACCOUNTS, 0, account),
        BillingAccountName=field(ACCOUNTS, 1, account),
        SubAccountId=field(SUB_ACCOUNTS, 0, h // 11),
        SubAccountName=field(SUB_ACCOUNTS, 1, h // 11),
        BillingPeriodStart=pl.lit(period_start),
        BillingPeriodEnd=pl.lit(period_end),
        ChargePeriodStart=pl.concat_str(date, pl.lit(" 00:00:00")),
        ChargePeriodEnd=charge_end,
        ChargeCategory=pl.when(credit).then(pl.lit("Credit")).otherwise(pl.lit("Usage")),
        ChargeClass=pl.when(refund).then(pl.lit("Correction")).otherwise(pl.lit(None, pl.String)),
        ChargeFrequency=field(SERVICES, 9, service),
        BilledCost=money(billed, 4, 1),
        EffectiveCost=money(signed_effective, 4, 2),
        ListCost=money(pl.when(credit | refund).then(-list_cost).otherwise(list_cost), 4, 3),
        ContractedCost=pl.lit(None, pl.String),
        BillingCurrency=field(ACCOUNTS, 2, account),
        ListUnitPrice=pl.when(h % 5 == 0)
        .then(pl.lit(None, pl.String))
        .otherwise(money(units % 90_000 + 100, 6, 4, True)),
        ContractedUnitPrice=pl.lit(None, pl.String),
        PricingCategory=pl.lit("Standard"),
        PricingQuantity=pl.when(h % 9 == 0).then(pl.lit(None, pl.String)).otherwise(money(h % 240_000 + 1_000, 3, 5)),
        PricingUnit=field(SERVICES, 6, service),
        ProviderName=pl.lit(PROVIDER_REFERENCE),
        PublisherName=pl.lit(PROVIDER_REFERENCE),
        InvoiceIssuerName=field(ACCOUNTS, 3, account),
        RegionId=field(REGIONS, 0, region),
        RegionName=field(REGIONS, 1, region),
        AvailabilityZone=field(REGIONS, 2, region),
        ResourceId=pl.when(h % 17 == 0).then(pl.lit(None, pl.String)).otherwise(resource),
        ResourceName=pl.concat_str(pl.lit("res-"), (h % 500).cast(pl.String)),
        ResourceType=field(SERVICES, 7, service),
        ServiceCategory=field(SERVICES, 1, service),
        ServiceName=field(SERVICES, 0, service),
        SkuId=pl.concat_str(pl.lit("90"), (service * 1000 + region).cast(pl.String).str.zfill(6)),
        SkuPriceId=pl.concat_str(pl.lit("7"), (h % 100_000).cast(pl.String).str.zfill(12)),
        CommitmentDiscountCategory=pl.lit(None, pl.String),
        CommitmentDiscountId=pl.lit(None, pl.String),
        CommitmentDiscountName=pl.lit(None, pl.String),
        CommitmentDiscountStatus=pl.lit(None, pl.String),
        CommitmentDiscountType=pl.lit(None, pl.String),
        Tags=_pick(TAGS, h // 5),
        x_BillingItemCode=field(SERVICES, 4, service),
        x_BillingItemName=field(SERVICES, 5, service),
        X_CommodityCode=field(SERVICES, 2, service),
        x_CommodityName=field(SERVICES, 3, service),
        x_InstanceID=resource,
        x_ResourceGroup=pl.concat_str(pl.lit("rg-"), field(SUB_ACCOUNTS, 1, h // 11)),
    )
    frame = frame.select(HEADER).with_columns(pl.col("Tags").replace("", None))
    return frame if shape is None else _reshape(frame, shape, index, h, day, year, month)


def _reshape(
    frame: pl.DataFrame, shape: ExportShape, index: pl.Expr, h: pl.Expr, day: pl.Expr, year: str, month: str
) -> pl.DataFrame:
    """The default rows with the shape's quoted names, tags and timestamps (its money is written
    by `_money_text`)."""
    columns = {}
    if shape.quoted_rows_per_10000:
        label = _pick(("blue", "green", "canary", "legacy"), h // 3)
        quoted = pl.concat_str(
            pl.lit("res-"),
            (h % 500).cast(pl.String),
            pl.lit(' "'),
            label,
            pl.lit('", renamed\nfrom res-'),
            (h % 97).cast(pl.String),
        )
        columns["ResourceName"] = (
            pl.when(_draw(index, 500, 10_000) < shape.quoted_rows_per_10000)
            .then(quoted)
            .otherwise(pl.col("ResourceName"))
        )
    if shape.long_unicode_tags:
        columns["Tags"] = _pick(tuple(_long_unicode_tags(resource) for resource in range(500)), h % 500)
    if shape.distinct_tag_keys:
        columns["Tags"] = _many_keys_tags(index, shape.distinct_tag_keys)
    if shape.mixed_timestamps:
        start = pl.concat_str(
            pl.lit(f"{year}-{month}-"),
            day.cast(pl.String).str.zfill(2),
            pl.lit(" "),
            _draw(index, 300, 24).cast(pl.String).str.zfill(2),
            pl.lit(":00:00"),
        ).str.to_datetime("%Y-%m-%d %H:%M:%S")
        period_start = pl.lit(f"{year}-{month}-01").str.to_datetime("%Y-%m-%d")
        columns["ChargePeriodStart"] = _spelled(start, _draw(index, 301, 4))
        columns["ChargePeriodEnd"] = _spelled(start + pl.duration(hours=1), _draw(index, 302, 4))
        columns["BillingPeriodStart"] = _spelled(period_start, _draw(index, 303, 4))
        columns["BillingPeriodEnd"] = _spelled(period_start.dt.offset_by("1mo"), _draw(index, 304, 4))
    return frame.with_columns(**columns)  # the draws are over the rows' own index range


def csv_bytes(frame: pl.DataFrame, *, bom: bool = False, crlf: bool = False) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_bom=bom, line_terminator="\r\n" if crlf else "\n", null_value="")
    return buffer.getvalue()


@dataclass(frozen=True)
class SampleDelivery:
    key: str  # object key, relative to the export root
    billing_month: str
    batch_ts: str
    through_day: int


def sample_deliveries(prefix: str = "focus-export") -> list[SampleDelivery]:
    """The demo's deliveries: the final December 2025 file (delivered 3 Jan) and four daily
    month-to-date snapshots of January 2026 (delivered 2-5 Jan, covering up to the day before)."""
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    deliveries = [
        SampleDelivery(
            f"{prefix}/202512/20260103T100000/{account}_{site}_BillingItemDetail_202512.zip",
            "202512",
            "20260103T100000",
            31,
        )
    ]
    extensions = {2: "csv.gz", 3: "csv", 4: "csv.gz", 5: "zip"}
    for day, ext in extensions.items():
        stamp = f"202601{day:02d}T0{day + 3}0000"
        deliveries.append(
            SampleDelivery(
                f"{prefix}/202601/{stamp}/{account}_{site}_BillingItemDetail_202601.{ext}", "202601", stamp, day - 1
            )
        )
    return deliveries


def write_delivery(root: Path, delivery: SampleDelivery, rows_per_day: int = 60, seed: int = 7) -> Path:
    """Write one delivery object under `root`; its format follows the key's extension. A zip is
    split into two CSV members, as Alibaba splits large bills."""
    path = Path(root) / delivery.key
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = export_rows(delivery.billing_month, delivery.through_day, rows_per_day, seed)
    if delivery.key.endswith(".zip"):
        half = rows.height // 2
        stem = Path(delivery.key).name.removesuffix(".zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for part, chunk in enumerate((rows.slice(0, half), rows.slice(half)), start=1):
                info = zipfile.ZipInfo(f"{stem}_{part}.csv", date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, csv_bytes(chunk))
    elif delivery.key.endswith(".gz"):
        path.write_bytes(gzip.compress(csv_bytes(rows), mtime=0))
    else:  # plain CSV as some tools save it: BOM and CRLF
        path.write_bytes(csv_bytes(rows, bom=True, crlf=True))
    return path


def write_large_export(
    path: Path,
    rows: int,
    billing_month: str = "202601",
    seed: int = 7,
    chunk_rows: int = 250_000,
    compresslevel: int = 1,
    shape: ExportShape | None = None,
) -> Path:
    """One gzip export of `rows` rows (a month-to-date snapshot through day 28), written in chunks
    so that generating millions of rows needs little memory."""
    rows_per_day = -(-rows // 28)
    with gzip.GzipFile(path, "wb", compresslevel=compresslevel, mtime=0) as out:
        for start in range(0, rows, chunk_rows):
            chunk = export_rows(billing_month, 28, rows_per_day, seed, start, min(start + chunk_rows, rows), shape)
            data = csv_bytes(chunk)
            if start:
                data = data.split(b"\n", 1)[1]  # the header once
            out.write(data)
    return Path(path)


def history_deliveries(newest: date = date(2026, 1, 5)) -> Iterator[tuple[str, str]]:
    """(billing month, stamp) of every delivery up to `newest`, newest first, without end: a
    month-to-date snapshot on the 2nd to the last day of month M (08:00) and M's final file on the
    3rd of M+1 (10:00), both in M's folder."""
    day = newest
    while True:
        if day.day == 3:
            previous = day.replace(day=1) - timedelta(days=1)
            yield f"{previous:%Y%m}", f"{day:%Y%m%d}T100000"
        if day.day >= 2:
            yield f"{day:%Y%m}", f"{day:%Y%m%d}T080000"
        day -= timedelta(days=1)


def delivery_keys(billing_month: str, stamp: str, prefix: str = "focus-export", files: int = 2) -> list[str]:
    """The keys of one delivery: a file per billing account."""
    return [
        f"{prefix}/{billing_month}/{stamp}/{account}_{site}_BillingItemDetail_{billing_month}.csv.gz"
        for account, _, _, _, site in ACCOUNTS[:files]
    ]


def history_keys(
    objects: int, prefix: str = "focus-export", newest: date = date(2026, 1, 5), files: int = 2
) -> list[str]:
    """The keys of the newest `objects` objects of a long export history, newest first (the oldest
    delivery may be cut short): for measuring what listing costs, so no contents. With two files a
    delivery, the two latest billing months hold 70 objects; more objects add older months."""
    keys = itertools.chain.from_iterable(
        delivery_keys(month, stamp, prefix, files) for month, stamp in history_deliveries(newest)
    )
    return list(itertools.islice(keys, objects))
