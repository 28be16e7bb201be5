"""FOCUS 1.2 columns derived from what Alibaba delivers, as expressions over the batch's typed
values (`normalize` adds them to its one select). Each derivation is a switch of
`settings.Derivations`, and each derived value is flagged in the row's x_SourceChanges.

- ServiceCategory (only where Alibaba left it null) and ServiceSubcategory: the service map
  (services.py), by x_CommodityCode then ServiceName; `Other (<category>)` when the map lacks the
  service (flagged unmapped and counted, so the map can grow) or files it under another category
  than the one Alibaba delivered (flagged category_differs: the delivered category wins).
- PricingCurrency: BillingCurrency. Alibaba prices in the currency it bills in; it has no virtual
  currency. The view derives the PricingCurrency* amounts from it (focus_source_alibaba).
- BillingAccountType and SubAccountType: the names of Alibaba's account model. Every bill belongs
  to an Alibaba Cloud account; a sub account that is not the billing account is a member of its
  Resource Directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from .schema import SERVICE_SUBCATEGORIES
from .services import service_map
from .settings import Derivations

ALIBABA_CLOUD_ACCOUNT = "Alibaba Cloud account"
MEMBER_ACCOUNT = "Member account"

# Every label a derivation can put in x_SourceChanges.
LABELS = (
    "ServiceCategory:derived",
    "ServiceSubcategory:derived",
    "ServiceSubcategory:unmapped",
    "ServiceSubcategory:category_differs",
    "PricingCurrency:derived",
    "BillingAccountType:derived",
    "SubAccountType:derived",
)
UNMAPPED = "ServiceSubcategory:unmapped"
UNMAPPED_ROWS = f"derive:{UNMAPPED}"  # the series (derived_columns) flagging its rows


@dataclass
class Derived:
    """A derived column: its values and, per label, the rows it flags."""

    values: pl.Expr
    changes: list[tuple[str, pl.Expr]] = field(default_factory=list)


def derived_columns(frame: pl.DataFrame, value_of, derivations: Derivations) -> tuple[dict[str, Derived], dict]:
    """The derived columns by name, and the series they read (to be added to the batch's frame).
    `frame` is the batch under schema names; `value_of(name)` the typed value of an input column
    (a null for a column absent from the header)."""
    derived: dict[str, Derived] = {}
    series: dict[str, pl.Series] = {}
    if derivations.service_categories:
        series = _service_series(frame)
        derived["ServiceCategory"] = Derived(
            pl.col("derive:ServiceCategory"), [("ServiceCategory:derived", pl.col("derive:category derived"))]
        )
        derived["ServiceSubcategory"] = Derived(
            pl.col("derive:ServiceSubcategory"),
            [(label, pl.col(f"derive:{label}")) for label in SUBCATEGORY_LABELS],
        )
    if derivations.pricing_currency:
        currency = value_of("BillingCurrency")
        derived["PricingCurrency"] = Derived(currency, [("PricingCurrency:derived", currency.is_not_null())])
    if derivations.account_types:
        billing, sub = value_of("BillingAccountId"), value_of("SubAccountId")
        derived["BillingAccountType"] = Derived(
            pl.when(billing.is_not_null()).then(pl.lit(ALIBABA_CLOUD_ACCOUNT)),
            [("BillingAccountType:derived", billing.is_not_null())],
        )
        derived["SubAccountType"] = Derived(
            pl.when(sub.is_null())
            .then(pl.lit(None, pl.String))
            .when(sub == billing)
            .then(pl.lit(ALIBABA_CLOUD_ACCOUNT))
            .otherwise(pl.lit(MEMBER_ACCOUNT)),
            [("SubAccountType:derived", sub.is_not_null())],
        )
    return derived, series


SUBCATEGORY_LABELS = ("ServiceSubcategory:derived", UNMAPPED, "ServiceSubcategory:category_differs")
_SERVICE_INPUTS = ("x_CommodityCode", "ServiceName", "ServiceCategory")


def _service_series(frame: pl.DataFrame) -> dict[str, pl.Series]:
    """ServiceCategory, ServiceSubcategory and their flags, worked out once per distinct (code,
    name, delivered category) of the batch (they are few) and joined back to the rows."""
    inputs = frame.select(
        pl.col(name) if name in frame.columns else pl.repeat(None, frame.height, dtype=pl.String).alias(name)
        for name in _SERVICE_INPUTS
    )
    combinations = inputs.unique()
    worked = [_service_of(*row) for row in combinations.iter_rows()]
    names = ["ServiceCategory", "ServiceSubcategory", "category derived", *SUBCATEGORY_LABELS]
    dtypes = [pl.String, pl.String] + [pl.Boolean] * (len(names) - 2)
    answers = combinations.with_columns(
        pl.Series(f"derive:{name}", values, dtype)
        for name, values, dtype in zip(names, zip(*worked, strict=True), dtypes, strict=True)
    )
    rows = inputs.join(answers, on=list(_SERVICE_INPUTS), how="left", nulls_equal=True, maintain_order="left")
    return {name: rows[name] for name in answers.columns if name.startswith("derive:")}


def _service_of(code: str | None, name: str | None, delivered: str | None) -> tuple:
    """(category, subcategory, category derived?, and one flag per SUBCATEGORY_LABELS)."""
    known = service_map()
    mapped = known.by_code.get((code or "").lower()) or known.by_name.get((name or "").lower())
    category = delivered or (mapped[0] if mapped else "Other")
    if mapped and mapped[0] == category:
        subcategory, label = mapped[1], SUBCATEGORY_LABELS[0]
    else:  # a delivered category FOCUS lacks gets none: focus_rules reports it
        subcategory = f"Other ({category})" if category in SERVICE_SUBCATEGORIES else None
        label = (SUBCATEGORY_LABELS[2] if mapped else UNMAPPED) if subcategory else None
    return (category, subcategory, delivered is None, *(label == each for each in SUBCATEGORY_LABELS))
