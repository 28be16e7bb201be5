"""The cross-provider view: one adapter view per source, generated from the schema module.

Each adapter turns one source's FOCUS data into the columns of `focus_unified`
(`schema.unified_columns`): the FOCUS 1.2 columns, ServiceProviderName and HostProviderName,
`x_SourceProvider` and the promoted tags. A column a source lacks is a typed NULL. Sources differ
in three ways only, so an adapter is data, not code: which FOCUS version it carries, how its Tags
arrive (a map, a repeated key/value struct, or JSON text), and whether its columns are typed or
all text (CSV).

The generated files are `sql/views/focus_source_<name>.sql` (checked in; a test fails when they are
stale; `python -m focus_assets.focus.unified` writes them again). A source's table is named in
configuration: the views read `${<NAME>_TABLE}`, replaced when the SQL is applied.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable

from .export_sources import DEFAULT_SOURCE
from .schema import (
    DEFAULT_PROMOTED_TAGS,
    FOCUS_1_2_COLUMNS,
    FOCUS_1_2_DERIVED_COLUMNS,
    FOCUS_COLUMNS,
    Kind,
    promoted_tag_column,
    unified_columns,
)

# The repository's sql/, installed as the package focus_assets.sql: in an editable install (where
# this module is run to write the files again) the checkout's folder itself.
VIEWS_DIR = resources.files("focus_assets.sql") / "views"

FOCUS_1_0 = frozenset(c.name for c in FOCUS_COLUMNS)
FOCUS_1_2 = frozenset(c.name for c in FOCUS_1_2_COLUMNS)
# The layout a datacenter team fills from its own costs (CSV or Parquet, see docs/datacenter.md).
DATACENTER = frozenset(
    {
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "BillingCurrency",
        "BillingAccountId",
        "BillingAccountName",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ChargeCategory",
        "ChargeDescription",
        "ServiceCategory",
        "ServiceName",
        "ProviderName",
        "PublisherName",
        "InvoiceIssuerName",
        "RegionId",
        "RegionName",
        "ResourceId",
        "ResourceName",
        "ResourceType",
        "SkuId",
        "PricingQuantity",
        "PricingUnit",
        "ConsumedQuantity",
        "ConsumedUnit",
        "SubAccountId",
        "SubAccountName",
        "Tags",
    }
)


@dataclass(frozen=True)
class Adapter:
    name: str  # the view is focus_source_<name>
    provider: str  # x_SourceProvider
    description: str
    columns: frozenset[str]  # the FOCUS columns the source has
    tags: str = "map"  # "map", "key_value" (array of {key, value}) or "json" (JSON object text)
    text: bool = False  # every column arrives as text: cast to the unified type
    table: str | None = None  # what it reads; None: ${<NAME>_TABLE} from configuration
    expressions: dict[str, str] = field(default_factory=dict)  # column -> expression, overriding the rule

    @property
    def view(self) -> str:
        return f"focus_source_{self.name}"

    @property
    def placeholder(self) -> str:
        return "${" + f"{self.name.upper()}_TABLE" + "}"


ADAPTERS: tuple[Adapter, ...] = (
    Adapter(
        "alibaba",
        "Alibaba Cloud",
        "Alibaba Cloud: the current snapshot (alibaba_focus), FOCUS 1.0 plus the FOCUS 1.2 columns the "
        "transform derives and ServiceProviderName/HostProviderName; promoted tags were matched "
        "case-insensitively by the transform",
        FOCUS_1_0 | {c.name for c in FOCUS_1_2_DERIVED_COLUMNS} | {"ServiceProviderName", "HostProviderName"},
        table="alibaba_focus",
        expressions={
            **{promoted_tag_column(t).name: promoted_tag_column(t).name for t in DEFAULT_PROMOTED_TAGS},
            # The Alibaba account (export source); rows typed before sources existed are the default one's.
            "x_ExportSource": f"coalesce(x_ExportSource, '{DEFAULT_SOURCE}')",
            # Alibaba prices in its billing currency: where the transform derived PricingCurrency (a
            # switch), the pricing-currency amounts are the billing-currency ones.
            **{
                f"PricingCurrency{name}": f"CAST(CASE WHEN PricingCurrency IS NOT NULL THEN {name} END AS "
                f"{Kind.WIDE_DECIMAL.trino})"
                for name in ("EffectiveCost", "ListUnitPrice", "ContractedUnitPrice")
            },
        },
    ),
    Adapter("aws_focus_1_0", "AWS", 'AWS Data Exports, "FOCUS 1.0 with AWS columns" (Parquet; Tags a map)', FOCUS_1_0),
    Adapter("aws_focus_1_2", "AWS", "AWS Data Exports, FOCUS 1.2 (Parquet; Tags a map)", FOCUS_1_2),
    Adapter(
        "google_cloud",
        "Google Cloud",
        "Google Cloud FOCUS data exported to Parquet (Tags a repeated key/value struct)",
        FOCUS_1_0,
        tags="key_value",
    ),
    Adapter(
        "azure",
        "Microsoft",
        "Azure Cost Management FOCUS 1.0 export (CSV; Tags JSON text)",
        FOCUS_1_0,
        tags="json",
        text=True,
    ),
    Adapter(
        "oci", "Oracle", "Oracle Cloud FOCUS 1.0 cost report (CSV; Tags JSON text)", FOCUS_1_0, tags="json", text=True
    ),
    Adapter(
        "datacenter",
        "Datacenter",
        "Datacenter costs in the documented layout (CSV; Tags JSON text)",
        DATACENTER,
        tags="json",
        text=True,
    ),
)


def _typed(column: str, kind: Kind, text: bool) -> str:
    if not text:
        return f"CAST({column} AS {kind.trino})"
    # CSV: empty and NULL text are null; timestamps as 'YYYY-MM-DD HH:MM:SS' (UTC)
    return f"CAST(nullif(nullif({column}, ''), 'NULL') AS {kind.trino})"


def _tags(adapter: Adapter) -> str:
    if adapter.tags == "key_value":
        return "map_from_entries(Tags)"
    if adapter.tags == "json":
        return "CAST(json_parse(nullif(nullif(Tags, ''), 'NULL')) AS map(varchar, varchar))"
    return "Tags"


def adapter_sql(adapter: Adapter, promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS) -> str:
    """The adapter view: typed FOCUS columns in an inner query, then the provider columns and
    promoted tags (looked up in the Tags map) in the outer one."""
    inner = []
    for column in FOCUS_1_2_COLUMNS:
        if column.name in adapter.expressions:
            expression = adapter.expressions[column.name]
        elif column.name not in adapter.columns:
            expression = f"CAST(NULL AS {column.kind.trino})"
        elif column.name == "Tags":
            expression = _tags(adapter)
        else:
            expression = _typed(column.name, column.kind, adapter.text)
        inner.append(f"    {expression} AS {column.name}")
    outer = [f"  {column.name}" for column in FOCUS_1_2_COLUMNS]
    for column in unified_columns(promoted_tags)[len(FOCUS_1_2_COLUMNS) :]:
        name = column.name
        if name in adapter.expressions or name in adapter.columns:  # the source has it: carried through
            inner.append(f"    {adapter.expressions.get(name, name)} AS carried_{name}")
            expression = f"carried_{name}"
        elif name == "ServiceProviderName":
            expression = "ProviderName"  # FOCUS 1.3 replaces ProviderName with it
        elif name == "x_SourceProvider":
            expression = f"'{adapter.provider}'"
        elif name.startswith("x_Tag"):
            expression = f"element_at(Tags, '{name[len('x_Tag') :]}')"
        else:
            expression = f"CAST(NULL AS {column.kind.trino})"
        outer.append(f"  {expression} AS {name}")
    table = adapter.table or adapter.placeholder
    return (
        f"-- {adapter.description}.\n"
        "-- Generated from focus_assets/focus/unified.py by `python -m focus_assets.focus.unified`: do not edit.\n"
        f"CREATE OR REPLACE VIEW {adapter.view} AS\n"
        "SELECT\n" + ",\n".join(outer) + "\nFROM (\n  SELECT\n" + ",\n".join(inner) + f"\n  FROM {table}\n) AS source\n"
    )


def generated_files() -> dict[Traversable, str]:
    return {VIEWS_DIR / f"{a.view}.sql": adapter_sql(a) for a in ADAPTERS}


if __name__ == "__main__":
    for path, text in generated_files().items():
        path.write_text(text)
        sys.stdout.write(f"wrote {path}\n")
