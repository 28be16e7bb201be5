"""The conformance report in Markdown (written by `make conformance`, shown by the asset check)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .attribution import (
    ALIBABA_GAPS,
    DEFECTS_VERIFIED_WITH,
    GAPS_SOURCE,
    ORDER,
    PIPELINE,
    SOURCE_DATA,
    SOURCE_LACKS,
    UPSTREAM_GAP,
    VALIDATOR_DEFECT,
    VALIDATOR_DEFECTS,
)
from .validator import APPLICABILITY

if TYPE_CHECKING:
    from . import ConformanceResult, Failure

MEANINGS = {
    PIPELINE: "nothing else explains it: this project's data fails the rule. The goal is none.",
    SOURCE_DATA: "the failing rows come from another provider's source, whose input as delivered fails the same "
    "rule when validated on its own: the adapter only carried the values over.",
    UPSTREAM_GAP: "the failing rows come from Alibaba's export and a documented gap of that export explains it "
    "(see below).",
    SOURCE_LACKS: "the failing rows come from a source that does not deliver a column the rule needs (a FOCUS 1.0 "
    "export and a column FOCUS 1.1/1.2 added, or the datacenter layout): a typed null in the "
    "unified view, or no such column in the dataset.",
    VALIDATOR_DEFECT: f"the check of focus-validator {DEFECTS_VERIFIED_WITH} does not test what the rule says "
    "(see below).",
}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _failure_table(failures: list[Failure]) -> list[str]:
    """Rules that fail for the same reason share a row (e.g. every rule on a column the dataset
    does not have); composite rules, which fail because a part of them does, are listed after."""
    rows: dict[tuple[str, str], list[Failure]] = {}
    for failure in (f for f in failures if not f.composite):
        rows.setdefault((failure.attribution, failure.reason), []).append(failure)
    lines = ["| rule | keyword | attribution | the rule | why |", "| --- | --- | --- | --- | --- |"]
    for (attribution, reason), group in rows.items():
        ids = ", ".join(f.rule_id + (" (could not run)" if f.errored else "") for f in group)
        keywords = ", ".join(dict.fromkeys(f.keyword for f in group))
        sentence = (
            group[0].must_satisfy
            if len(group) == 1
            else f"{len(group)} rules, on " + ", ".join(dict.fromkeys(f.column or "?" for f in group))
        )
        lines.append(f"| {ids} | {keywords} | {attribution} | {_cell(sentence)} | {_cell(reason)} |")
    composites: dict[str, list[str]] = {}
    for failure in (f for f in failures if f.composite):
        composites.setdefault(failure.attribution, []).append(failure.rule_id)
    if composites:
        lines += [
            "",
            "Composite rules, failing because a rule they combine fails (attributed as the most serious of those):",
            "",
        ]
        lines += [f"- {attribution}: {', '.join(ids)}" for attribution, ids in composites.items()]
    return lines


def render(result: ConformanceResult) -> str:
    names = ", ".join(f"`{d.name}`" for d in result.datasets) or "no dataset"
    lines = [
        "# FOCUS conformance",
        "",
        (
            f"{names} checked by the FinOps Foundation's focus-validator {result.validator_version} (rule model "
            f"{result.model}), offline, with every applicability criterion claimed (`--applicability-criteria "
            f"{APPLICABILITY}`: the rules that depend on a provider capability run instead of being skipped). Each "
            "dataset is exported from the warehouse to Parquet and validated with:"
        ),
        "",
        f"    {result.command}",
        "",
        f"Warehouse: `{result.database}`. Took {result.seconds:.0f} s.",
        "",
        "## Summary",
        "",
        "| dataset | rows | rules | passed | failed | skipped |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in result.datasets:
        if d.error:
            lines.append(f"| {d.name} | {d.rows:,} | not validated: {_cell(d.error[:300])} | | | |")
        else:
            lines.append(f"| {d.name} | {d.rows:,} | {len(d.results)} | {d.passed} | {d.failed} | {d.skipped} |")
    lines += [
        "",
        "Failed rules by attribution:",
        "",
        "| dataset | " + " | ".join(ORDER) + " |",
        "| --- |" + " ---: |" * len(ORDER),
    ]
    for d in result.datasets:
        counts = d.by_attribution()
        lines.append(f"| {d.name} | " + " | ".join(str(counts[a]) for a in ORDER) + " |")
    pipeline = result.pipeline_failures()
    lines += [
        "",
        f"**Failures attributed to the pipeline: {len(pipeline)}**"
        + (" (" + ", ".join(f"{n} {f.rule_id}" for n, f in pipeline) + ")." if pipeline else "."),
    ]
    unvalidated = [d.name for d in result.datasets if d.error]
    if unvalidated:  # no verdict at all: never read as zero failures
        lines += ["", f"**Not validated: {', '.join(unvalidated)}** (the reason is in the table above)."]
    for d in result.datasets:
        if d.sources:
            lines += [
                "",
                f"`{d.name}` reads {len(d.sources)} sources, each also validated alone to know whose rows fail a rule:",
                "",
                "| source | rows | passed | failed | skipped |",
                "| --- | ---: | ---: | ---: | ---: |",
            ]
            for name, rows in d.sources.items():
                verdicts = d.source_verdicts.get(name)
                counts = " | ".join(f"{n:,}" for n in verdicts) if verdicts else "not validated | | "
                lines.append(f"| {name} | {rows:,} | {counts} |")
    for note in result.notes:
        lines += ["", f"Note: {note}"]
    lines += ["", "## Attributions", ""]
    lines += [f"- **{a}**: {MEANINGS[a]}" for a in ORDER]
    lines += [
        "",
        (
            "A documented gap or a missing column explains a failure only through the checks a null can fail "
            '("MUST NOT be null", presence, one distinct value per ..., or a condition "when Y is null"); '
            "a rule that only combines others takes the most serious attribution of its failing parts."
        ),
    ]
    for d in result.datasets:
        lines += ["", f"## {d.name}: failed rules", ""]
        if d.error:
            lines.append(f"Not validated: {d.error}")
            continue
        if not d.failures:
            lines.append("None.")
            continue
        lines += _failure_table(d.failures)
    lines += [
        "",
        "## Alibaba's documented gaps",
        "",
        f"From {GAPS_SOURCE}, as encoded in `focus_assets/conformance/attribution.py`:",
        "",
    ]
    kinds = {"null": "null where a value is expected", "value": "values"}
    lines += [f'- {", ".join(sorted(g.columns))} ({kinds[g.kind]}): "{g.sentence}"' for g in ALIBABA_GAPS]
    lines += ["", f"## Validator defects (focus-validator {DEFECTS_VERIFIED_WITH})", ""]
    if not result.defects_applied:
        lines += [f"Not applied: the installed release is {result.validator_version}.", ""]
    lines += [f"- {rule_id}: {_cell(text)}" for rule_id, text in VALIDATOR_DEFECTS.items()]
    return "\n".join(lines) + "\n"
