"""How the transform reads and repairs an export: every rule that can be switched lives here.

A plain frozen dataclass, so the domain code stays free of Dagster; the Dagster layer and the
`focus-assets convert` command build one from their own configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .export_sources import DEFAULT_SOURCE
from .names import UnsafeNameError, export_source, tag_key
from .schema import DEFAULT_PROMOTED_TAGS

# The FinOps Foundation paper's layout: a billing-month folder, then a delivery (batch) folder,
# e.g. `focus/202601/20260105T080000/123_1_BillingItemDetail_202601_1.csv.gz`. Hive-style folders
# (`yearmonth=202601/batch_ts=...`) match too.
DEFAULT_KEY_PATTERN = (
    r"(?:^|/)(?:yearmonth=)?(?P<yearmonth>\d{4}-?\d{2})/"
    r"(?:batch_ts=)?(?P<batch_ts>\d{4}-?\d{2}-?\d{2}(?:[T_ -]?\d{2}:?\d{2}(?::?\d{2})?)?Z?)/"
)


@dataclass(frozen=True)
class Repairs:
    """Each repair the transform may apply; each can be switched off (docs/transform.md, "Typing and repairs")."""

    # "X_BillingItemCode" and other case variants of a known column name are read as that column.
    match_column_names_case_insensitively: bool = True
    # Spaces around a value are removed before typing ("  12.50 " is 12.50).
    strip_whitespace: bool = True
    # The literal NULL (any case) is a null, as empty fields are.
    null_literal: bool = True
    # Timestamps without an offset are read in the source timezone and stored in UTC. Off: they
    # are taken to be UTC already.
    source_timezone_to_utc: bool = True
    # Numeric ProviderName / PublisherName / InvoiceIssuerName references become names.
    map_provider_names: bool = True
    # A Tags value that is not a JSON object keeps its row (Tags null, text in x_TagsRaw).
    # Off: such a row goes to quarantine.
    keep_rows_with_unparseable_tags: bool = True
    # A number with more than 10 decimal places is rounded (half to even) to 10 and the
    # row is flagged. Off (the default): the row goes to quarantine, since rounding changes money.
    round_excess_decimals: bool = False


@dataclass(frozen=True)
class Derivations:
    """FOCUS 1.2 values derived from what Alibaba delivers; each can be switched off and is flagged
    per row in x_SourceChanges (docs/focus-upgrade.md, "FOCUS 1.2 columns derived")."""

    # ServiceCategory where Alibaba left it null, and ServiceSubcategory, from the service map
    # (focus/alibaba_services.csv); a delivered ServiceCategory is never changed.
    service_categories: bool = True
    # PricingCurrency = BillingCurrency: Alibaba prices in the billing currency (no virtual currency).
    pricing_currency: bool = True
    # BillingAccountType and SubAccountType, in the names of Alibaba's account model.
    account_types: bool = True


@dataclass(frozen=True)
class TransformSettings:
    source_timezone: str = "Asia/Shanghai"
    promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS
    # Numeric ProviderName / PublisherName values become these names unless mapped explicitly.
    default_provider_name: str = "Alibaba Cloud"
    default_publisher_name: str = "Alibaba Cloud"
    # Explicit raw value -> name maps. InvoiceIssuerName changes only through its map: the issuer
    # depends on the contracting entity (e.g. "Alibaba Cloud (Singapore) Private Limited").
    provider_names: dict[str, str] = field(default_factory=dict)
    publisher_names: dict[str, str] = field(default_factory=dict)
    invoice_issuer_names: dict[str, str] = field(default_factory=dict)
    # HostProviderName (FOCUS 1.3) for Alibaba-billed rows; None leaves it null.
    host_provider_name: str | None = "Alibaba Cloud"
    key_pattern: str = DEFAULT_KEY_PATTERN
    repairs: Repairs = field(default_factory=Repairs)
    derivations: Derivations = field(default_factory=Derivations)
    # Rows per Parquet row group: bounds the writer's memory and fixes the file layout.
    row_group_rows: int = 65_536
    # CSV text parsed at a time: bounds memory whatever the size of the export.
    piece_bytes: int = 16 * 1024**2
    # Pieces parsed and typed at once, in threads: the pace-setting stage, so one per core. Each
    # one more holds one more piece in memory (docs/scaling.md).
    typing_threads: int = 2
    # The export source (Alibaba account) being read: x_ExportSource, and its files' names
    # (focus/export_sources.py).
    export_source: str = DEFAULT_SOURCE
    # A compressed object that expands past this is refused (zip bombs).
    max_uncompressed_bytes: int = 64 * 1024**3

    def __post_init__(self) -> None:
        # Promoted tags become columns (x_Tag<Key>) in the Parquet, the Glue table and the views'
        # SQL: each must be a plain identifier, and two may not differ only in case (Athena's
        # column names are case-insensitive).
        export_source(self.export_source, "export_source")
        seen: dict[str, str] = {}
        for tag in self.promoted_tags:
            tag_key(tag, "promoted_tags")
            if tag.lower() in seen:
                raise UnsafeNameError(
                    f"promoted_tags={tag!r} is refused: it repeats {seen[tag.lower()]!r} "
                    "(Athena's column names are case-insensitive)"
                )
            seen[tag.lower()] = tag
