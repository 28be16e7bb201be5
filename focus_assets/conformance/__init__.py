"""FOCUS conformance: the warehouse's views checked by the FinOps Foundation's focus-validator.

`run_conformance(database)` exports `alibaba_focus` and `focus_unified` from a DuckDB warehouse to
Parquet (export.py), validates them with the FOCUS 1.2 rules offline (validator.py, the
validator in its own Python 3.12 environment), attributes every failed rule (attribution.py) and
returns a `ConformanceResult`, whose `markdown()` is the report (report.py). No Dagster here: the
asset check (focus_assets/alibaba/conformance.py), `python -m focus_assets.conformance` (`make
conformance`) and the tests call it.

To know which source's rows fail a rule of `focus_unified`, each adapter view (one per source,
`focus_source_<name>`, whose UNION ALL the unified view is) is validated on its own too; a rule
failing on another provider's rows is checked once more on that source's input table as
delivered. Validations run in parallel in two validator processes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import expressions as exp

from ..focus.schema import FOCUS_1_2_COLUMNS
from ..focus.unified import ADAPTERS
from .attribution import (
    DEFECTS_VERIFIED_WITH,
    ORDER,
    PIPELINE,
    VALIDATOR_DEFECT,
    VALIDATOR_DEFECTS,
    Reason,
    Source,
    explain_leaf,
    most_serious,
)
from .export import columns, connect, export, relations
from .validator import (
    FOCUS_VERSION,
    Installation,
    Job,
    RuleResult,
    Validated,
    ValidatorFailed,
    ValidatorMissing,
    arguments,
    load_model,
    locate,
    read_results,
    run_jobs,
)

__all__ = [
    "DATASETS",
    "ConformanceResult",
    "DatasetInput",
    "DatasetReport",
    "Failure",
    "ValidatorFailed",
    "ValidatorMissing",
    "alibaba_source",
    "assess",
    "attribute",
    "run_conformance",
]

DATASETS = ("alibaba_focus", "focus_unified")
UNIFIED = "focus_unified"
FOCUS_1_2 = frozenset(c.name for c in FOCUS_1_2_COLUMNS)


@dataclass(frozen=True)
class Failure:
    rule_id: str
    column: str | None
    keyword: str  # MUST, SHOULD...
    must_satisfy: str  # the rule's sentence
    attribution: str
    reason: str
    sources: tuple[str, ...]  # the sources whose rows fail it
    composite: bool = False  # it only combines other rules
    errored: bool = False  # the validator could not run it


@dataclass
class DatasetReport:
    name: str
    rows: int
    results: list[RuleResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # source -> rows (several sources only)
    error: str | None = None  # the validator could not validate it
    # source -> its rows validated alone: rules (passed, failed, skipped), or None if not validated
    source_verdicts: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    def by_attribution(self) -> dict[str, int]:
        return {a: sum(f.attribution == a for f in self.failures) for a in ORDER}


@dataclass
class ConformanceResult:
    validator_version: str
    model: str  # the rule model file
    datasets: list[DatasetReport]
    database: str = ""
    seconds: float = 0.0
    defects_applied: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        return "focus-validator " + " ".join(arguments("<dataset>.parquet", "<dataset>.xml"))

    def pipeline_failures(self) -> list[tuple[str, Failure]]:
        return [(d.name, f) for d in self.datasets for f in d.failures if f.attribution == PIPELINE]

    @property
    def severity(self) -> str:
        """ "error" (a failure attributed to the pipeline, or a dataset not validated), "warn" (failures
        all explained otherwise) or "ok"."""
        if self.pipeline_failures() or any(d.error for d in self.datasets):
            return "error"
        return "warn" if any(d.failures for d in self.datasets) else "ok"

    def markdown(self) -> str:
        from .report import render

        return render(self)


@dataclass
class DatasetInput:
    """A Parquet file to validate, where its rows come from, and (several sources) one file per source."""

    name: str
    file: Path
    rows: int
    sources: list[Source]
    slices: dict[str, Path] = field(default_factory=dict)  # source name -> its rows alone
    slice_rows: dict[str, int] = field(default_factory=dict)


def alibaba_source(present: set[str]) -> Source:
    """Alibaba's export as `alibaba_focus` carries it: FOCUS 1.0, so the columns FOCUS 1.1/1.2 added
    are absent (`present`: the dataset's columns)."""
    return Source("alibaba", alibaba=True, absent=FOCUS_1_2 - present)


def _referenced(connection: duckdb.DuckDBPyConnection, view: str) -> list[str]:
    """The tables and views a view of the database reads."""
    row = connection.execute("SELECT sql FROM duckdb_views() WHERE view_name = ? AND NOT internal", [view]).fetchone()
    if row is None:
        return []
    statement = sqlglot.parse_one(row[0], read="duckdb")
    ctes = {c.alias for c in statement.find_all(exp.CTE)}
    names = [t.name for t in statement.find_all(exp.Table) if t.name not in ctes and t.name != view]
    return list(dict.fromkeys(names))


def unified_sources(connection: duckdb.DuckDBPyConnection) -> list[tuple[Source, str]]:
    """The sources of focus_unified (the adapter views its UNION ALL reads), with their views."""
    read = set(_referenced(connection, UNIFIED))
    found = []
    for adapter in (a for a in ADAPTERS if a.view in read):
        view = adapter.view
        tables = _referenced(connection, view)
        typed_null = FOCUS_1_2 - adapter.columns - set(adapter.expressions)
        found.append(
            (
                Source(
                    adapter.name,
                    alibaba=adapter.name == "alibaba",
                    typed_null=frozenset(typed_null),
                    input_table=None if adapter.name == "alibaba" or len(tables) != 1 else tables[0],
                ),
                view,
            )
        )
    return found


class _Attributor:
    """The attribution of one dataset's failed rules (see attribution.py)."""

    def __init__(
        self,
        dataset: DatasetInput,
        validated: Validated,
        slices: dict[str, Validated],
        inputs: dict[str, Validated],
        rules,
        defects: dict[str, str],
    ):
        self.dataset, self.validated, self.slices, self.inputs = dataset, validated, slices, inputs
        self.rules, self.defects = rules, defects
        self.absent = frozenset().union(*(s.absent for s in dataset.sources))
        self.pending: set[str] = set()  # sources whose input must be validated to decide
        self.memo: dict[str, tuple[Reason, tuple[str, ...]]] = {}

    def failing_sources(self, rule_id: str) -> list[tuple[Source, Reason | None]]:
        if len(self.dataset.sources) == 1:
            return [(self.dataset.sources[0], None)]
        failing = []
        for source in self.dataset.sources:
            own = self.slices.get(source.name)
            if own is None or own.error:
                failing.append(
                    (
                        source,
                        Reason(
                            PIPELINE,
                            f"{source.name}'s rows could not be validated on their own "
                            f"({own.error if own else 'not exported'})",
                        ),
                    )
                )
            elif own.failed(rule_id):
                failing.append((source, None))
        return failing

    def explain(self, rule_id: str) -> tuple[Reason, tuple[str, ...]]:
        if rule_id in self.memo:
            return self.memo[rule_id]
        rule = self.rules.get(rule_id)
        if rule is None:
            found = (Reason(PIPELINE, "not in the validator's rule model"), ())
        elif rule_id in self.defects and not rule.columns & self.absent:  # an absent column: it could not run
            found = (
                Reason(
                    VALIDATOR_DEFECT,
                    'the validator\'s check does not test what the rule says (see "Validator defects")',
                ),
                (),
            )
        elif failing := [c for c in rule.children if self.validated.failed(c)]:
            parts = {c: self.explain(c) for c in failing}
            attribution = most_serious(r.attribution for r, _ in parts.values())
            listed = [f"{c} ({r.attribution})" for c, (r, _) in parts.items()]
            text = (
                "combines rules that fail: "
                + ", ".join(listed[:8])
                + (f" and {len(listed) - 8} more" if len(listed) > 8 else "")
            )
            sources = tuple(dict.fromkeys(s for _, names in parts.values() for s in names))
            found = (Reason(attribution, text), sources)
        else:
            reasons: list[tuple[str, Reason]] = []
            for source, known in self.failing_sources(rule_id):
                checked = self.inputs.get(source.name)
                reason = known or explain_leaf(
                    rule, source, checked.failed(rule_id) if checked else None, checked.error if checked else None
                )
                if reason is None:
                    self.pending.add(source.name)
                    reason = Reason(PIPELINE, "its input is still to be validated")
                reasons.append((source.name, reason))
            if not reasons:
                found = (Reason(PIPELINE, "no source fails it alone: the union of the sources does"), ())
            else:
                grouped: dict[tuple[str, str], list[str]] = {}
                for name, reason in reasons:
                    grouped.setdefault((reason.attribution, reason.text), []).append(name)
                text = "; ".join(
                    t if len(self.dataset.sources) == 1 else f"{', '.join(names)}: {t}"
                    for (_, t), names in sorted(grouped.items(), key=lambda item: ORDER.index(item[0][0]))
                )
                found = (
                    Reason(most_serious(r.attribution for _, r in reasons), text),
                    tuple(name for name, _ in reasons),
                )
        self.memo[rule_id] = found
        return found

    def failures(self) -> list[Failure]:
        found = []
        for result in self.validated.results.values():
            if result.status != "failed":
                continue
            reason, sources = self.explain(result.rule_id)
            rule = self.rules.get(result.rule_id)
            found.append(
                Failure(
                    result.rule_id,
                    (rule.reference if rule else None) or result.column,
                    rule.keyword if rule else "",
                    rule.must_satisfy if rule else result.message,
                    reason.attribution,
                    reason.text,
                    sources,
                    composite=bool(rule and any(self.validated.failed(c) for c in rule.children)),
                    errored=result.errored,
                )
            )
        return sorted(found, key=lambda f: (ORDER.index(f.attribution), f.composite, f.rule_id))


def attribute(
    dataset: DatasetInput,
    validated: Validated,
    slices: dict[str, Validated],
    inputs: dict[str, Validated],
    rules: dict,
    defects: dict[str, str] = VALIDATOR_DEFECTS,
) -> tuple[list[Failure], set[str]]:
    """The dataset's failed rules, attributed; and the sources whose input must still be validated
    (absent from `inputs`) to decide a failure, attributed to the pipeline meanwhile."""
    attributor = _Attributor(dataset, validated, slices, inputs, rules, defects)
    return attributor.failures(), attributor.pending


def assess(
    datasets: list[DatasetInput],
    installation: Installation,
    workdir: Path,
    input_file: Callable[[Source], tuple[Path, int]] | None = None,
    processes: int = 2,
) -> list[DatasetReport]:
    """Validate the datasets (and their per-source files) and attribute every failure. `input_file`
    writes a source's input table to Parquet when a failure on its rows needs that evidence."""
    rules, _ = load_model(installation.model_file)
    defects = VALIDATOR_DEFECTS if installation.version == DEFECTS_VERIFIED_WITH else {}
    xml = Path(workdir) / "xml"
    xml.mkdir(parents=True, exist_ok=True)

    def validate(files: dict[str, Path]) -> dict[str, Validated]:
        jobs = {name: Job(path, xml / f"{name}.xml") for name, path in files.items()}
        outputs = run_jobs(installation, list(jobs.values()), Path(workdir) / "runs", processes)
        read = read_results(outputs)
        return {name: read[job.output] for name, job in jobs.items()}

    files = {d.name: d.file for d in datasets}
    files |= {f"{d.name}.{source}": path for d in datasets for source, path in d.slices.items()}
    validated = validate(files)
    inputs: dict[str, Validated] = {}

    def attributed(dataset: DatasetInput) -> tuple[list[Failure], set[str]]:
        slices = {s: validated[f"{dataset.name}.{s}"] for s in dataset.slices}
        return attribute(dataset, validated[dataset.name], slices, inputs, rules, defects)

    pending = {s for d in datasets for s in attributed(d)[1]}
    by_name = {s.name: s for d in datasets for s in d.sources}
    if pending:
        written = {}
        for name in sorted(pending):
            try:
                written[name] = input_file(by_name[name])[0] if input_file else None
            except duckdb.Error as exc:
                inputs[name] = Validated(error=f"its input could not be read: {exc}")
        checked = validate({f"input.{n}": p for n, p in written.items() if p is not None})
        inputs |= {n: checked[f"input.{n}"] for n, p in written.items() if p is not None}
        inputs |= {n: Validated(error="no input to validate") for n, p in written.items() if p is None}
    reports = []
    for dataset in datasets:
        own = validated[dataset.name]
        reports.append(
            DatasetReport(
                dataset.name,
                dataset.rows,
                sorted(own.results.values(), key=lambda r: r.rule_id),
                attributed(dataset)[0] if not own.error else [],
                dict(dataset.slice_rows),
                own.error,
                {s: _verdicts(validated[f"{dataset.name}.{s}"]) for s in dataset.slices},
            )
        )
    return reports


def _verdicts(validated: Validated) -> tuple[int, int, int] | None:
    """(passed, failed, skipped) of one file, None when it could not be validated."""
    if validated.error:
        return None
    statuses = [r.status for r in validated.results.values()]
    return statuses.count("passed"), statuses.count("failed"), statuses.count("skipped")


def run_conformance(
    database: Path | str,
    workdir: Path | str | None = None,
    *,
    validator: Path | str | None = None,
    datasets: tuple[str, ...] = DATASETS,
    processes: int = 2,
) -> ConformanceResult:
    """Validate the datasets of a DuckDB warehouse file. Files (Parquet, the validator's XML) go to
    `workdir`, or a temporary folder removed afterwards."""
    started = time.monotonic()
    installation = locate(validator)
    temporary = workdir is None
    # Absolute: the validator runs in working directories of its own.
    work = Path(tempfile.mkdtemp(prefix="focus-conformance-")) if temporary else Path(workdir).resolve()
    try:
        if not temporary:
            shutil.rmtree(work, ignore_errors=True)
        parquet = work / "parquet"
        connection = connect(database)
        try:
            present = relations(connection)
            notes = [f"{name}: not in {database}, not validated" for name in datasets if name not in present]
            inputs = []
            for name in (d for d in datasets if d in present):
                rows = export(connection, name, parquet / f"{name}.parquet")
                if name == UNIFIED:
                    found = unified_sources(connection)
                    sources = [source for source, _ in found]
                    slices, slice_rows = {}, {}
                    for source, view in found:
                        slices[source.name] = parquet / f"{view}.parquet"
                        slice_rows[source.name] = export(connection, view, slices[source.name])
                    if len(found) < 2:
                        slices = {}
                else:
                    sources = [alibaba_source({c for c, _ in columns(connection, name)})]
                    slices, slice_rows = {}, {}
                inputs.append(DatasetInput(name, parquet / f"{name}.parquet", rows, sources, slices, slice_rows))

            def input_file(source: Source) -> tuple[Path, int]:
                path = parquet / "inputs" / f"{source.input_table}.parquet"
                return path, export(connection, source.input_table, path)

            reports = assess(inputs, installation, work, input_file, processes)
        finally:
            connection.close()
        model, details = installation.model_file, load_model(installation.model_file)[1]
        if installation.version != DEFECTS_VERIFIED_WITH:
            notes.append(
                f"The table of validator defects was verified with focus-validator {DEFECTS_VERIFIED_WITH}; "
                f"with {installation.version} it is not applied."
            )
        return ConformanceResult(
            installation.version,
            f"{model.name}, FOCUS {details.get('FOCUSVersion', FOCUS_VERSION)}",
            reports,
            str(database),
            time.monotonic() - started,
            installation.version == DEFECTS_VERIFIED_WITH,
            notes,
        )
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
