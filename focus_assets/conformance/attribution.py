"""Why a FOCUS rule fails: the facts failures are attributed to, and the attribution itself.

Every failed rule gets one attribution (the most serious of its reasons, in this order):

- `pipeline`: nothing below explains it; this project made the data fail. The goal is none.
- `source data`: the failing rows come from another provider's source (not Alibaba) and that
  source's input, as delivered, fails the same rule when validated on its own: the adapter only
  carried the values over.
- `upstream gap`: the failing rows come from Alibaba's export and the rule fails because of a
  documented gap of that export (ALIBABA_GAPS, each with its sentence from the project's notes).
- `source lacks the column`: the failing rows come from a source that does not deliver a column
  the rule checks (a FOCUS 1.0 source and a FOCUS 1.2 column; the datacenter layout without
  ChargeFrequency): the unified view carries a typed null, or the dataset has no such column.
- `validator defect`: the validator's check for this rule does not test what the rule's sentence
  says (VALIDATOR_DEFECTS, verified against one focus-validator release and applied only to it).

A gap or a missing column explains a failure only through the checks where a null can fail:
"X MUST NOT be null" (or be present, or have one distinct value per ...), or a condition "when Y
is null" that a null Y pulls rows into. A format or value check on a null-carrying column is not
explained by the null, since the validator skips nulls there. The one gap on values (Alibaba's
numeric InvoiceIssuerName) explains only checks of that column's values. A column missing from the
dataset altogether explains any check that names it (the check cannot run). A composite rule (one
that only combines others) takes the most serious attribution of its failing parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..focus.schema import (
    ALIBABA_MAY_BE_NULL,
    ALIBABA_MISSING_FROM_ONE_EXPORT,
    ALIBABA_NULL_IN_ONE_EXPORT,
    ALIBABA_NULL_ON_EVERY_ROW,
)
from .validator import Rule

PIPELINE = "pipeline"
SOURCE_DATA = "source data"
UPSTREAM_GAP = "upstream gap"
SOURCE_LACKS = "source lacks the column"
VALIDATOR_DEFECT = "validator defect"
ORDER = (PIPELINE, SOURCE_DATA, UPSTREAM_GAP, SOURCE_LACKS, VALIDATOR_DEFECT)  # most serious first

GAPS_SOURCE = (
    "Alibaba's known gaps (Alibaba's field-differences page, Feb 2026, and the FinOps Foundation "
    'paper; docs/transform.md, "Alibaba\'s known gaps")'
)


@dataclass(frozen=True)
class Gap:
    columns: frozenset[str]
    kind: str  # "null": null (or missing, read as a typed null) where FOCUS expects a value; "value": wrong values
    sentence: str  # as written in the project's notes on Alibaba's export


ALIBABA_GAPS: tuple[Gap, ...] = (
    Gap(
        ALIBABA_NULL_ON_EVERY_ROW,
        "null",
        "Null on every row: ChargeDescription, ConsumedQuantity, ConsumedUnit, ContractedCost, ContractedUnitPrice.",
    ),
    Gap(
        ALIBABA_MAY_BE_NULL,
        "null",
        "May be null where FOCUS expects a value: ListUnitPrice, PricingUnit, ResourceId, ResourceType",
    ),
    Gap(
        ALIBABA_NULL_IN_ONE_EXPORT,
        "null",
        "reported null in one export: PricingQuantity, SkuId, SkuPriceId, ServiceCategory, ChargeClass.",
    ),
    Gap(
        ALIBABA_MISSING_FROM_ONE_EXPORT,
        "null",
        "Reported missing from one export altogether: PricingQuantity, ConsumedQuantity, ConsumedUnit, "
        "ContractedCost, ServiceCategory, ChargeClass, ChargeDescription. The reader must accept a header "
        "without them (they become typed nulls) and report it.",
    ),
    # ProviderName and PublisherName are repaired by the transform (numeric references become names,
    # TransformSettings.default_provider_name); InvoiceIssuerName only through an explicit map, since the
    # issuer is a contracting entity: its numeric reference stays unless configured.
    Gap(
        frozenset({"InvoiceIssuerName"}),
        "value",
        "InvoiceIssuerName, PublisherName and ProviderName carry numeric references instead of names "
        '(expected e.g. "Alibaba Europe Ltd.", "Alibaba Inc.", "Alibaba").',
    ),
    Gap(
        frozenset(
            {
                "CommitmentDiscountCategory",
                "CommitmentDiscountId",
                "CommitmentDiscountName",
                "CommitmentDiscountStatus",
                "CommitmentDiscountType",
            }
        ),
        "null",
        "Commitment discount columns (Category, Id, Name, Status, Type) do not show usage or unused data "
        "when commitment discounts apply.",
    ),
)
# Not listed, since the transform repairs them and a failure there is the pipeline's: timestamps in
# Beijing time (converted to UTC) and numeric ProviderName / PublisherName (mapped to names).

# Rules whose check in focus-validator DEFECTS_VERIFIED_WITH does not test what the rule says. Each
# was read in the validator's rule model (rules/model-1.2.0.1.json) and the SQL it generates
# (`focus-validator --explain-mode --filter-rules <rule>`). Another release: the table is not applied
# (its failures then count as the pipeline's until someone checks them again).
DEFECTS_VERIFIED_WITH = "2.2.1"
VALIDATOR_DEFECTS: dict[str, str] = {
    "BilledCost-C-005-C": (
        '"BilledCost MUST be 0 for charges where payments are received by a third party": the validator takes '
        "every row whose ProviderName differs from InvoiceIssuerName for such a charge (`BilledCost != 0 AND "
        "ProviderName <> InvoiceIssuerName`). A provider's name and the legal entity that invoices differ as a "
        "rule: the FinOps Foundation's own FOCUS sample has ProviderName 'AWS', InvoiceIssuerName 'Amazon Web "
        "Services, Inc.' and non-zero BilledCost on its AWS rows."
    ),
    "EffectiveCost-C-005-C": (
        "\"EffectiveCost MUST be 0 when ChargeCategory is 'Purchase' and the purchase is intended to cover future "
        'eligible charges": the validator checks every Purchase row (`EffectiveCost != 0 AND ChargeCategory = '
        "'Purchase'`), without the second half; a purchase that covers no future charge (a month of rack space) "
        "has its cost as EffectiveCost."
    ),
    "CommitmentDiscountStatus-C-004-C": (
        '"CommitmentDiscountStatus MUST NOT be null when CommitmentDiscountId is not null and ChargeCategory is '
        "'Usage'\": the rule model's condition is `CommitmentDiscountId IS NULL` (the opposite, and without the "
        "ChargeCategory part), so every row without a commitment discount is flagged."
    ),
    "CapacityReservationStatus-C-004-C": (
        '"CapacityReservationStatus MUST NOT be null when CapacityReservationId is not null and ChargeCategory is '
        '\'Usage\'": the model writes this condition as {"AND": [...]}, which the validator does not read; the '
        "generated SQL has no condition (`WHERE CapacityReservationStatus IS NULL`) and flags every row."
    ),
}


@dataclass(frozen=True)
class Source:
    """One source of a dataset's rows, as far as attribution needs it."""

    name: str  # the adapter's name (focus_source_<name>), "alibaba" for Alibaba's export
    alibaba: bool = False
    typed_null: frozenset[str] = frozenset()  # FOCUS columns it lacks, carried as typed nulls
    absent: frozenset[str] = frozenset()  # FOCUS columns missing from the dataset altogether
    input_table: str | None = None  # its input as delivered, for `source data` evidence


def null_sensitive(rule: Rule) -> frozenset[str]:
    """The columns whose being null can make this rule fail."""
    found = set()
    for check in rule.checks:
        if check.role == "requirement":
            if check.function in ("ColumnPresent", "CheckDistinctCount"):
                found.add(check.column)
            elif check.function == "CheckNotValue" and check.has_value and check.value is None:
                found.add(check.column)
        elif check.function == "CheckValue" and check.has_value and check.value is None:
            found.add(check.column)  # "when Y is null": a null Y brings the row under the requirement
    return frozenset(found)


def value_checked(rule: Rule) -> frozenset[str]:
    """The columns whose values (not their being null or present) this rule checks."""
    return frozenset(
        c.column for c in rule.checks if c.function != "ColumnPresent" and not (c.has_value and c.value is None)
    )


@dataclass(frozen=True)
class Reason:
    attribution: str
    text: str


def lacking(rule: Rule, source: Source) -> Reason | None:
    absent = sorted(rule.columns & source.absent)
    if absent:
        return Reason(
            SOURCE_LACKS,
            f"no column {', '.join(absent)} in the dataset"
            + (" (Alibaba delivers FOCUS 1.0, which has none)" if source.alibaba else ""),
        )
    typed_null = sorted(null_sensitive(rule) & source.typed_null)
    if typed_null:
        return Reason(SOURCE_LACKS, f"does not deliver {', '.join(typed_null)} (a typed null in the unified view)")
    return None


def documented_gap(rule: Rule) -> Reason | None:
    for gap in ALIBABA_GAPS:
        hit = gap.columns & (null_sensitive(rule) if gap.kind == "null" else value_checked(rule))
        if hit:
            return Reason(
                UPSTREAM_GAP, f'{", ".join(sorted(hit))}, a documented gap of Alibaba\'s export: "{gap.sentence}"'
            )
    return None


def explain_leaf(rule: Rule, source: Source, input_fails: bool | None, input_error: str | None = None) -> Reason | None:
    """Why `rule` fails on `source`'s rows (the text leaves the source's name to the caller); None
    while the source's input has not been validated (`input_fails` None) and only that can decide."""
    reason = lacking(rule, source)
    if reason:
        return reason
    if source.alibaba:
        return documented_gap(rule) or Reason(PIPELINE, "no documented gap of Alibaba's export explains it")
    if source.input_table is None:
        return Reason(PIPELINE, "its rows fail it and its input could not be checked")
    if input_error:
        return Reason(
            PIPELINE,
            f"its rows fail it and its input ({source.input_table}) could not be validated: {input_error[:300]}",
        )
    if input_fails is None:
        return None
    if input_fails:
        return Reason(SOURCE_DATA, f"its input as delivered ({source.input_table}) fails it too")
    return Reason(
        PIPELINE, f"its input ({source.input_table}) passes it: the adapter focus_source_{source.name} makes it fail"
    )


def most_serious(attributions) -> str:
    return min(attributions, key=ORDER.index)
