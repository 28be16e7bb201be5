"""The one typed schema of `focus_alibaba_normalized`: every column, defined once.

The Parquet writer, the converter's missing/unknown column handling and (in later layers) the
Athena DDL and the schema checks all derive from `output_columns()`. Nothing else in the project
lists columns by hand.

Sources: FOCUS 1.0 columns, types and levels from the FOCUS specification's column table (its
1.0 and 1.2 rows: focus_assets_tests/fixtures/focus_columns.csv); Alibaba's extension columns
and known gaps from Alibaba's field-differences page and the FinOps Foundation paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import polars as pl
import pyarrow as pa

from .names import tag_key

# Money, prices and quantities: 28 integer digits and 10 decimal places, so that a month (or a
# year) of line items sums exactly without overflow.
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 10
# Other providers deliver more decimal places (the public FOCUS sample has up to 15), so the
# cross-provider view keeps 15; Alibaba's decimal(38,10) values convert to it exactly.
WIDE_DECIMAL_SCALE = 15


class Kind(Enum):
    """The logical type of a column; each maps to one polars, Arrow and Athena type."""

    STRING = "string"
    DECIMAL = "decimal"
    WIDE_DECIMAL = "wide decimal"  # the cross-provider view's money and quantities
    TIMESTAMP = "timestamp"  # UTC instant
    STRING_MAP = "map<string,string>"
    INT64 = "int64"
    STRING_LIST = "array<string>"

    @property
    def polars(self) -> pl.DataType:
        return _POLARS_TYPES[self]

    @property
    def arrow(self) -> pa.DataType:
        return _ARROW_TYPES[self]

    @property
    def trino(self) -> str:
        """The type in Athena queries and views (Trino's names; DDL uses Hive's, see `athena`)."""
        return {
            Kind.STRING: "varchar",
            Kind.DECIMAL: f"decimal({DECIMAL_PRECISION},{DECIMAL_SCALE})",
            Kind.WIDE_DECIMAL: f"decimal({DECIMAL_PRECISION},{WIDE_DECIMAL_SCALE})",
            Kind.TIMESTAMP: "timestamp",
            Kind.STRING_MAP: "map(varchar, varchar)",
            Kind.INT64: "bigint",
            Kind.STRING_LIST: "array(varchar)",
        }[self]

    @property
    def athena(self) -> str:
        """The type in Athena DDL (CREATE EXTERNAL TABLE uses Hive's names)."""
        return {
            Kind.STRING: "string",
            Kind.DECIMAL: f"decimal({DECIMAL_PRECISION},{DECIMAL_SCALE})",
            Kind.WIDE_DECIMAL: f"decimal({DECIMAL_PRECISION},{WIDE_DECIMAL_SCALE})",
            Kind.TIMESTAMP: "timestamp",
            Kind.STRING_MAP: "map<string,string>",
            Kind.INT64: "bigint",
            Kind.STRING_LIST: "array<string>",
        }[self]


# Built once: the typing asks for a column's type many times per batch.
_POLARS_TYPES = {
    Kind.STRING: pl.String(),
    Kind.DECIMAL: pl.Decimal(DECIMAL_PRECISION, DECIMAL_SCALE),
    Kind.WIDE_DECIMAL: pl.Decimal(DECIMAL_PRECISION, WIDE_DECIMAL_SCALE),
    Kind.TIMESTAMP: pl.Datetime("us", "UTC"),
    Kind.STRING_MAP: pl.Map(pl.String, pl.String),
    Kind.INT64: pl.Int64(),
    Kind.STRING_LIST: pl.List(pl.String),
}
_ARROW_TYPES = {
    Kind.STRING: pa.large_string(),
    Kind.DECIMAL: pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
    Kind.WIDE_DECIMAL: pa.decimal128(DECIMAL_PRECISION, WIDE_DECIMAL_SCALE),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.STRING_MAP: pa.map_(pa.large_string(), pa.large_string()),
    Kind.INT64: pa.int64(),
    Kind.STRING_LIST: pa.large_list(pa.large_string()),
}


class Origin(Enum):
    FOCUS_1_0 = "FOCUS 1.0"
    FOCUS_1_2 = "FOCUS 1.2"
    FOCUS_1_3 = "FOCUS 1.3"
    ALIBABA = "Alibaba extension"
    PIPELINE = "added by focus-assets"


class AlibabaNulls(Enum):
    """What Alibaba's export is known to do with a column (docs/transform.md, "Alibaba's known gaps")."""

    NO = "not known to be null"
    ALWAYS = "null on every row"
    SOMETIMES = "may be null where FOCUS expects a value"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    origin: Origin
    level: str = ""  # FOCUS feature level: Mandatory, Recommended, Conditional
    focus_nullable: bool = True
    alibaba_nulls: AlibabaNulls = AlibabaNulls.NO
    alibaba_may_omit: bool = False  # reported missing from one export's header altogether
    # A file whose header lacks one of these cannot be reconciled or placed in time: it fails
    # with a clear error instead of becoming a column of nulls.
    required_in_header: bool = False
    description: str = ""


_FOCUS_TYPES = {"String": Kind.STRING, "Decimal": Kind.DECIMAL, "Date/Time": Kind.TIMESTAMP, "JSON": Kind.STRING_MAP}

# (name, FOCUS data type, feature level, FOCUS allows nulls), from the FOCUS 1.0 specification.
_FOCUS_1_0 = (
    ("AvailabilityZone", "String", "Recommended", True),
    ("BilledCost", "Decimal", "Mandatory", False),
    ("BillingAccountId", "String", "Mandatory", False),
    ("BillingAccountName", "String", "Mandatory", True),
    ("BillingCurrency", "String", "Mandatory", False),
    ("BillingPeriodEnd", "Date/Time", "Mandatory", False),
    ("BillingPeriodStart", "Date/Time", "Mandatory", False),
    ("ChargeCategory", "String", "Mandatory", False),
    ("ChargeClass", "String", "Mandatory", True),
    ("ChargeDescription", "String", "Mandatory", True),
    ("ChargeFrequency", "String", "Recommended", False),
    ("ChargePeriodEnd", "Date/Time", "Mandatory", False),
    ("ChargePeriodStart", "Date/Time", "Mandatory", False),
    ("CommitmentDiscountCategory", "String", "Conditional", True),
    ("CommitmentDiscountId", "String", "Conditional", True),
    ("CommitmentDiscountName", "String", "Conditional", True),
    ("CommitmentDiscountStatus", "String", "Conditional", True),
    ("CommitmentDiscountType", "String", "Conditional", True),
    ("ConsumedQuantity", "Decimal", "Conditional", True),
    ("ConsumedUnit", "String", "Conditional", True),
    ("ContractedCost", "Decimal", "Mandatory", False),
    ("ContractedUnitPrice", "Decimal", "Conditional", True),
    ("EffectiveCost", "Decimal", "Mandatory", False),
    ("InvoiceIssuerName", "String", "Mandatory", False),
    ("ListCost", "Decimal", "Mandatory", False),
    ("ListUnitPrice", "Decimal", "Conditional", True),
    ("PricingCategory", "String", "Conditional", True),
    ("PricingQuantity", "Decimal", "Mandatory", True),
    ("PricingUnit", "String", "Mandatory", True),
    ("ProviderName", "String", "Mandatory", False),
    ("PublisherName", "String", "Mandatory", False),
    ("RegionId", "String", "Conditional", True),
    ("RegionName", "String", "Conditional", True),
    ("ResourceId", "String", "Conditional", True),
    ("ResourceName", "String", "Conditional", True),
    ("ResourceType", "String", "Conditional", True),
    ("ServiceCategory", "String", "Mandatory", False),
    ("ServiceName", "String", "Mandatory", False),
    ("SkuId", "String", "Conditional", True),
    ("SkuPriceId", "String", "Conditional", True),
    ("SubAccountId", "String", "Conditional", True),
    ("SubAccountName", "String", "Conditional", True),
    ("Tags", "JSON", "Conditional", True),
)

# Allowed values of FOCUS 1.0 columns that have a closed list (FOCUS 1.0 specification).
ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "CommitmentDiscountStatus": ("Used", "Unused"),
    "PricingCategory": ("Standard", "Dynamic", "Committed", "Other"),
    "ServiceCategory": (
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    ),
}

# FOCUS 1.2's allowed ServiceSubcategory values, by ServiceCategory (FOCUS 1.2 specification,
# columns/servicesubcategory.md). Each category's last one is its Other (...).
SERVICE_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "AI and Machine Learning": (
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
        "Other (AI and Machine Learning)",
    ),
    "Analytics": (
        "Analytics Platforms",
        "Business Intelligence",
        "Data Processing",
        "Search",
        "Streaming Analytics",
        "Other (Analytics)",
    ),
    "Business Applications": (
        "Productivity and Collaboration",
        "Other (Business Applications)",
    ),
    "Compute": (
        "Containers",
        "End User Computing",
        "Quantum Compute",
        "Serverless Compute",
        "Virtual Machines",
        "Other (Compute)",
    ),
    "Databases": (
        "Caching",
        "Data Warehouses",
        "Ledger Databases",
        "NoSQL Databases",
        "Relational Databases",
        "Time Series Databases",
        "Other (Databases)",
    ),
    "Developer Tools": (
        "Developer Platforms",
        "Continuous Integration and Deployment",
        "Development Environments",
        "Source Code Management",
        "Quality Assurance",
        "Other (Developer Tools)",
    ),
    "Identity": (
        "Identity and Access Management",
        "Other (Identity)",
    ),
    "Integration": (
        "API Management",
        "Messaging",
        "Workflow Orchestration",
        "Other (Integration)",
    ),
    "Internet of Things": (
        "IoT Analytics",
        "IoT Platforms",
        "Other (Internet of Things)",
    ),
    "Management and Governance": (
        "Architecture",
        "Compliance",
        "Cost Management",
        "Data Governance",
        "Disaster Recovery",
        "Endpoint Management",
        "Observability",
        "Support",
        "Other (Management and Governance)",
    ),
    "Media": (
        "Content Creation",
        "Gaming",
        "Media Streaming",
        "Mixed Reality",
        "Other (Media)",
    ),
    "Migration": (
        "Data Migration",
        "Resource Migration",
        "Other (Migration)",
    ),
    "Mobile": ("Other (Mobile)",),
    "Multicloud": (
        "Multicloud Integration",
        "Other (Multicloud)",
    ),
    "Networking": (
        "Application Networking",
        "Content Delivery",
        "Network Connectivity",
        "Network Infrastructure",
        "Network Routing",
        "Network Security",
        "Other (Networking)",
    ),
    "Security": (
        "Secret Management",
        "Security Posture Management",
        "Threat Detection and Response",
        "Other (Security)",
    ),
    "Storage": (
        "Backup Storage",
        "Block Storage",
        "File Storage",
        "Object Storage",
        "Storage Platforms",
        "Other (Storage)",
    ),
    "Web": (
        "Application Platforms",
        "Other (Web)",
    ),
    "Other": ("Other (Other)",),
}
ALLOWED_VALUES["ServiceSubcategory"] = tuple(s for subs in SERVICE_SUBCATEGORIES.values() for s in subs)


# Alibaba's known gaps (docs/transform.md, "Alibaba's known gaps"), one set per documented sentence:
# the conformance report's attribution (conformance/attribution.py) quotes each beside its set.
ALIBABA_NULL_ON_EVERY_ROW = frozenset(
    {"ChargeDescription", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice"}
)
ALIBABA_MAY_BE_NULL = frozenset({"ListUnitPrice", "PricingUnit", "ResourceId", "ResourceType"})
ALIBABA_NULL_IN_ONE_EXPORT = frozenset({"PricingQuantity", "SkuId", "SkuPriceId", "ServiceCategory", "ChargeClass"})
ALIBABA_MISSING_FROM_ONE_EXPORT = frozenset(
    {
        "PricingQuantity",
        "ConsumedQuantity",
        "ConsumedUnit",
        "ContractedCost",
        "ServiceCategory",
        "ChargeClass",
        "ChargeDescription",
    }
)
_ALWAYS_NULL = ALIBABA_NULL_ON_EVERY_ROW
_SOMETIMES_NULL = ALIBABA_MAY_BE_NULL | ALIBABA_NULL_IN_ONE_EXPORT
_MAY_BE_OMITTED = ALIBABA_MISSING_FROM_ONE_EXPORT
# Without these a file cannot be reconciled (money, currency) or placed in time.
_REQUIRED_IN_HEADER = {
    "BilledCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
}


def _focus_column(name: str, data_type: str, level: str, nullable: bool) -> Column:
    nulls = (
        AlibabaNulls.ALWAYS
        if name in _ALWAYS_NULL
        else AlibabaNulls.SOMETIMES
        if name in _SOMETIMES_NULL
        else AlibabaNulls.NO
    )
    return Column(
        name,
        _FOCUS_TYPES[data_type],
        Origin.FOCUS_1_0,
        level,
        nullable,
        nulls,
        alibaba_may_omit=name in _MAY_BE_OMITTED,
        required_in_header=name in _REQUIRED_IN_HEADER,
    )


FOCUS_COLUMNS: tuple[Column, ...] = tuple(_focus_column(*row) for row in _FOCUS_1_0)

ALIBABA_COLUMNS: tuple[Column, ...] = tuple(
    Column(name, Kind.STRING, Origin.ALIBABA, description=text)
    for name, text in (
        ("x_BillingItemCode", "Alibaba billing item code"),
        ("x_BillingItemName", "Alibaba billing item name"),
        ("x_CommodityCode", "Alibaba commodity (product) code"),
        ("x_CommodityName", "Alibaba commodity (product) name"),
        ("x_InstanceID", "Alibaba instance ID"),
    )
)

# FOCUS 1.2 columns the transform derives from what Alibaba delivers, each behind a switch of
# settings.Derivations and flagged per row in x_SourceChanges (docs/focus-upgrade.md).
FOCUS_1_2_DERIVED_COLUMNS: tuple[Column, ...] = (
    Column(
        "ServiceSubcategory",
        Kind.STRING,
        Origin.FOCUS_1_2,
        "Recommended",
        False,
        description="FOCUS 1.2: from the service map (focus/alibaba_services.csv); Other (<category>) when unmapped",
    ),
    Column(
        "PricingCurrency",
        Kind.STRING,
        Origin.FOCUS_1_2,
        "Conditional",
        True,
        description="FOCUS 1.2: BillingCurrency (Alibaba prices in the billing currency)",
    ),
    Column(
        "BillingAccountType",
        Kind.STRING,
        Origin.FOCUS_1_2,
        "Conditional",
        False,
        description="FOCUS 1.2: Alibaba Cloud account (Alibaba's account model)",
    ),
    Column(
        "SubAccountType",
        Kind.STRING,
        Origin.FOCUS_1_2,
        "Conditional",
        True,
        description="FOCUS 1.2: Alibaba Cloud account, or Member account (Resource Directory) when it is not the billing account",
    ),
)

FOCUS_1_3_COLUMNS: tuple[Column, ...] = (
    Column(
        "ServiceProviderName",
        Kind.STRING,
        Origin.FOCUS_1_3,
        "Mandatory",
        False,
        description="FOCUS 1.3 replacement for ProviderName: ProviderName after name mapping",
    ),
    Column(
        "HostProviderName",
        Kind.STRING,
        Origin.FOCUS_1_3,
        "Mandatory",
        True,
        description="FOCUS 1.3: the provider hosting the resource (Alibaba Cloud for Alibaba-billed services)",
    ),
)


def _added(*rows: tuple[str, Kind, str]) -> tuple[Column, ...]:
    return tuple(Column(name, kind, Origin.PIPELINE, description=text) for name, kind, text in rows)


# Columns the pipeline adds, apart from the promoted tags (see promoted_tag_column).
PIPELINE_COLUMNS: tuple[Column, ...] = _added(
    ("x_ProviderNameRaw", Kind.STRING, "ProviderName as delivered, before name mapping"),
    ("x_PublisherNameRaw", Kind.STRING, "PublisherName as delivered, before name mapping"),
    ("x_InvoiceIssuerNameRaw", Kind.STRING, "InvoiceIssuerName as delivered, before name mapping"),
    ("x_TagsRaw", Kind.STRING, "the Tags text, kept only when it could not be parsed"),
    ("x_TagsError", Kind.STRING, "why Tags could not be parsed (null when it could)"),
    ("x_ExtraColumns", Kind.STRING_MAP, "columns of the export that the schema does not know, by header name"),
    ("x_SourceObject", Kind.STRING, "key (or path) of the export object the row came from"),
    ("x_SourceMember", Kind.STRING, "CSV file inside a .zip object (null for .csv and .csv.gz)"),
    ("x_SourceLine", Kind.INT64, "line of the row's CSV record (the header is line 1)"),
    ("x_BatchTs", Kind.STRING, "delivery stamp of the snapshot (the batch_ts partition value)"),
    ("x_ExportSource", Kind.STRING, "the export source (Alibaba account's Bill Subscription) the row came from"),
    ("x_SourceChanges", Kind.STRING_LIST, "repairs applied to the row, as Column:repair"),
)
_PIPELINE_BY_NAME = {c.name: c for c in PIPELINE_COLUMNS}

DEFAULT_PROMOTED_TAGS: tuple[str, ...] = ("Brand", "Project", "Owner", "CostCenter", "Environment", "Application")

# FOCUS 1.2 columns that FOCUS 1.0 does not have (name, FOCUS data type), from the 1.2 specification.
_FOCUS_1_2_ADDED = (
    ("BillingAccountType", "String"),
    ("CapacityReservationId", "String"),
    ("CapacityReservationStatus", "String"),
    ("CommitmentDiscountQuantity", "Decimal"),
    ("CommitmentDiscountUnit", "String"),
    ("InvoiceId", "String"),
    ("PricingCurrency", "String"),
    ("PricingCurrencyContractedUnitPrice", "Decimal"),
    ("PricingCurrencyEffectiveCost", "Decimal"),
    ("PricingCurrencyListUnitPrice", "Decimal"),
    ("ServiceSubcategory", "String"),
    ("SkuMeter", "String"),
    ("SkuPriceDetails", "JSON"),
    ("SubAccountType", "String"),
)


def _unified_kind(kind: Kind) -> Kind:
    return Kind.WIDE_DECIMAL if kind is Kind.DECIMAL else kind


# The FOCUS 1.2 columns as the cross-provider view types them. SkuPriceDetails is a JSON object
# like Tags, but kept as its JSON text across providers.
FOCUS_1_2_COLUMNS: tuple[Column, ...] = tuple(
    sorted(
        [Column(c.name, _unified_kind(c.kind), Origin.FOCUS_1_0, c.level, c.focus_nullable) for c in FOCUS_COLUMNS]
        + [
            Column(
                name, Kind.STRING if name == "SkuPriceDetails" else _unified_kind(_FOCUS_TYPES[kind]), Origin.FOCUS_1_0
            )
            for name, kind in _FOCUS_1_2_ADDED
        ],
        key=lambda c: c.name,
    )
)


def unified_columns(promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS) -> tuple[Column, ...]:
    """The columns of the cross-provider view `focus_unified`, in order."""
    return (
        FOCUS_1_2_COLUMNS
        + FOCUS_1_3_COLUMNS
        + (Column("x_SourceProvider", Kind.STRING, Origin.PIPELINE, description="the adapter a row came through"),)
        + (_PIPELINE_BY_NAME["x_ExportSource"],)
        + tuple(promoted_tag_column(t) for t in promoted_tags)
    )


# Hive partition columns: in the folder names, not inside the Parquet files.
PARTITION_COLUMNS: tuple[tuple[str, str], ...] = (("yearmonth", "string"), ("batch_ts", "string"))

INPUT_COLUMNS: tuple[Column, ...] = FOCUS_COLUMNS + ALIBABA_COLUMNS
_INPUT_BY_NAME = {c.name: c for c in INPUT_COLUMNS}


def promoted_tag_column(tag: str) -> Column:
    """The column of a promoted tag; the tag must be a plain identifier (names.tag_key), since the
    column name goes into DDL and views."""
    return Column(
        f"x_Tag{tag_key(tag)}",
        Kind.STRING,
        Origin.PIPELINE,
        description=f"value of tag '{tag}' (key matched case-insensitively)",
    )


def output_columns(promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS) -> tuple[Column, ...]:
    """Every column of the typed Parquet, in file order."""
    return (
        INPUT_COLUMNS
        + FOCUS_1_2_DERIVED_COLUMNS
        + FOCUS_1_3_COLUMNS
        + tuple(promoted_tag_column(t) for t in promoted_tags)
        + PIPELINE_COLUMNS
    )


def input_column(name: str) -> Column | None:
    return _INPUT_BY_NAME.get(name)


def polars_schema(promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS) -> pl.Schema:
    return pl.Schema({c.name: c.kind.polars for c in output_columns(promoted_tags)})


def arrow_schema(promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.kind.arrow) for c in output_columns(promoted_tags)])


# The three money columns that reconciliation sums per BillingCurrency.
RECONCILED_COLUMNS: tuple[str, ...] = ("BilledCost", "EffectiveCost", "ListCost")
# Provider names that an export may give as numeric references, mapped to names by the typing.
MAPPED_NAME_COLUMNS: tuple[str, ...] = ("ProviderName", "PublisherName", "InvoiceIssuerName")


# Rows that could not be typed: one quarantine row per input row, beside the output.
_LINEAGE = ("x_SourceObject", "x_SourceMember", "x_SourceLine", "x_BatchTs", "x_ExportSource")
QUARANTINE_COLUMNS: tuple[Column, ...] = tuple(c for c in PIPELINE_COLUMNS if c.name in _LINEAGE) + _added(
    ("column", Kind.STRING, "the first column that could not be typed"),
    ("reason", Kind.STRING, "every problem of the row, as 'Column: problem'"),
    ("raw_values", Kind.STRING_MAP, "the whole record as delivered, by header name"),
)


# The delivery ledger: one row per published delivery, written after all its files. A delivery
# becomes visible to the views only through its ledger row, so a half-written one never is.
LEDGER_COLUMNS: tuple[Column, ...] = _added(
    ("source", Kind.STRING, "the export source (focus/export_sources.py)"),
    ("yearmonth", Kind.STRING, "billing month (YYYYMM, source timezone)"),
    ("batch_ts", Kind.STRING, "delivery stamp (YYYYMMDDTHHMMSS)"),
    ("objects", Kind.INT64, "export objects (CSV members) in the delivery"),
    ("rows_written", Kind.INT64, "typed rows published"),
    ("rows_quarantined", Kind.INT64, "rows set aside in the quarantine"),
)


def quarantine_arrow_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, c.kind.arrow) for c in QUARANTINE_COLUMNS])
