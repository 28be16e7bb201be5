"""FOCUS conformance: the FinOps Foundation's focus-validator (from .venv-validator, which `make
test` creates) on the pipeline's output for the sample data, no failure attributed to the
pipeline, a broken column caught; and the parsing and attribution of the validator's verdicts on
hand-written reports. Without the validator these tests fail: they are never skipped."""

import contextlib
import json
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from focus_assets.alibaba.conformance import CHECK_NAME, check_result, conformance_checks
from focus_assets.conformance import (
    DATASETS,
    ConformanceResult,
    DatasetInput,
    DatasetReport,
    Failure,
    alibaba_source,
    assess,
    attribute,
)
from focus_assets.conformance import __main__ as conformance_cli
from focus_assets.conformance.attribution import (
    PIPELINE,
    SOURCE_DATA,
    SOURCE_LACKS,
    UPSTREAM_GAP,
    VALIDATOR_DEFECT,
    Source,
)
from focus_assets.conformance.validator import (
    ENV_VAR,
    RuleResult,
    Validated,
    ValidatorFailed,
    ValidatorMissing,
    arguments,
    load_model,
    locate,
    parse_junit,
)
from focus_assets.focus.export_sources import DEFAULT_SOURCE
from focus_assets.focus.transform import convert_object
from focus_assets.focus.writer import record_delivery
from focus_assets.resources.warehouse import AthenaWarehouse, DuckDBWarehouse
from focus_assets.samples.alibaba import sample_deliveries, write_delivery
from focus_assets.samples.providers import write_sample_sources
from focus_assets.sql_layer import apply_to_duckdb

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".venv-validator" / "bin" / "focus-validator"


def installed(found):
    if isinstance(found, ValidatorMissing):
        pytest.fail(
            f"{found}\nRun `make test` or `make conformance` first: either creates .venv-validator.", pytrace=False
        )
    return found


@pytest.fixture(scope="module")
def validator():
    try:
        return locate(SCRIPT)
    except ValidatorMissing as exc:
        return exc


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """The pipeline's output for the sample data: every sample delivery transformed and published,
    the sample sources of the other providers, the SQL layer on DuckDB (as `make demo` has it)."""
    root = tmp_path_factory.mktemp("conformance")
    for delivery in sample_deliveries():
        path = write_delivery(root / "oss", delivery)
        report = convert_object(path, delivery.key, root / "lake").reconciliation
        record_delivery(
            root / "lake",
            DEFAULT_SOURCE,
            delivery.billing_month,
            delivery.batch_ts,
            1,
            report.rows_written,
            report.rows_quarantined,
        )
    sources = write_sample_sources(root / "sources")
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        apply_to_duckdb(connection, root / "lake", sources)
    return root


@pytest.fixture(scope="module")
def conformance(validator, warehouse):
    """What `make conformance` runs (`python -m focus_assets.conformance`), from the folder above
    the warehouse's with FOCUS_HOME relative, as the default `.focus` is: (exit status, result)."""
    if isinstance(validator, ValidatorMissing):
        return validator
    with contextlib.chdir(warehouse.parent), pytest.MonkeyPatch.context() as patch:
        patch.setenv("FOCUS_HOME", warehouse.name)
        return conformance_cli.run(["--validator", str(SCRIPT)])


def failures(report: DatasetReport) -> dict[str, Failure]:
    return {f.rule_id: f for f in report.failures}


# --- the real validator on the pipeline's output --------------------------------------------


def test_the_validator_takes_the_command_line_used(validator, tmp_path):
    found = installed(validator)
    help_text = subprocess.run(
        [str(found.script), "--help"], capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path
    ).stdout  # it writes its log into the working directory
    for flag in (a for a in arguments("x.parquet", "x.xml") if a.startswith("--")):
        assert flag in help_text
    assert found.version.startswith("2.") and found.python_version.startswith("3.12.")
    assert found.currency_codes.is_file() and found.model_file.name.startswith("model-1.2")


def test_no_failure_of_the_pipeline_output_is_attributed_to_the_pipeline(conformance):
    status, result = installed(conformance)
    assert status == 0
    assert [d.name for d in result.datasets] == list(DATASETS) and not result.notes
    for dataset in result.datasets:
        assert dataset.error is None
        assert dataset.passed + dataset.failed + dataset.skipped == len(dataset.results) > 500
        assert dataset.passed > 200 and len(dataset.failures) == dataset.failed
    assert result.pipeline_failures() == [], result.markdown()
    assert result.severity == "warn"  # failures remain, each explained otherwise
    unified = {d.name: d for d in result.datasets}["focus_unified"]
    assert set(unified.sources) == {"alibaba", "aws_focus_1_0", "azure", "oci", "datacenter"}


def test_the_failures_are_attributed_as_documented(conformance):
    _, result = installed(conformance)
    alibaba, unified = (failures(d) for d in result.datasets)
    # Alibaba leaves ChargeDescription null (documented); FOCUS 1.0 has no InvoiceId
    assert alibaba["ChargeDescription-C-003-O"].attribution == UPSTREAM_GAP
    assert alibaba["CostAndUsage-D-033-O"].attribution == SOURCE_LACKS  # InvoiceId RECOMMENDED present
    assert alibaba["BilledCost-C-005-C"].attribution == VALIDATOR_DEFECT
    assert unified["PricingUnit-C-005-C"].attribution == UPSTREAM_GAP  # PricingQuantity null (documented)
    assert unified["PricingUnit-C-005-C"].sources == ("alibaba",)
    assert unified["ChargeFrequency-C-002-M"].attribution == SOURCE_LACKS  # the datacenter layout has none
    assert unified["ChargeFrequency-C-002-M"].sources == ("datacenter",)
    # FOCUS 1.2: no source but Alibaba's (derived by the transform) has it
    assert unified["ServiceSubcategory-C-002-M"].attribution == SOURCE_LACKS
    assert set(unified["ServiceSubcategory-C-002-M"].sources) == {
        "aws_focus_1_0",
        "azure",
        "oci",
        "datacenter",
    }
    # the public FOCUS sample's own AWS rows: RegionId without RegionName
    assert unified["RegionName-C-005-C"].attribution == SOURCE_DATA
    assert unified["RegionName-C-005-C"].sources == ("aws_focus_1_0",)
    assert unified["ResourceType-C-000-C"].composite and unified["ResourceType-C-000-C"].attribution == SOURCE_DATA
    report = result.markdown()
    assert "| alibaba_focus | 2,100 | 578 |" in report and "**Failures attributed to the pipeline: 0**" in report
    assert "ChargeDescription, a documented gap of Alibaba's export" in report
    assert "InvoiceIssuerName 'Amazon Web Services, Inc.'" in report  # the evidence of a validator defect


def test_alibabas_rows_pass_the_rules_its_derived_columns_answer(conformance, warehouse):
    """The Alibaba rows of focus_unified, validated alone: the derived FOCUS 1.2 columns
    (focus/derivations.py) pass the rules on them, ServiceName-C-008-C (one ServiceSubcategory per
    ServiceName) among them."""
    status, result = installed(conformance)
    unified = {d.name: d for d in result.datasets}["focus_unified"]
    passed, failed, _ = unified.source_verdicts["alibaba"]
    verdicts = {r.rule_id: r.status for r in parse_junit(warehouse / "conformance/files/xml/focus_unified.alibaba.xml")}
    answered = [
        rule
        for rule in verdicts
        if rule.startswith(("ServiceSubcategory-", "ServiceCategory-", "PricingCurrency-", "BillingAccountType-"))
    ]
    assert verdicts["ServiceName-C-008-C"] == "passed"
    assert len(answered) > 15 and all(verdicts[r] in ("passed", "skipped") for r in answered), answered
    assert sum(verdicts[r] == "passed" for r in answered) > 10
    assert passed > failed and failed == sum(s == "failed" for s in verdicts.values())
    assert "| alibaba | 2,100 |" in result.markdown()  # the per-source table of the report


def test_a_broken_column_is_attributed_to_the_pipeline(conformance, validator, warehouse, tmp_path):
    """A copy of the exported alibaba_focus with BilledCost null on some rows and BillingCurrency
    not an ISO 4217 code on others: the validator fails both, and nothing but the pipeline explains it.
    (Not ChargeCategory outside its allowed values: focus-validator 2.2.1 checks an allowed-values
    rule as "one of the values is found", so a few bad rows among good ones pass.)"""
    installed(conformance)
    source = warehouse / "conformance" / "files" / "parquet" / "alibaba_focus.parquet"  # as the run exported it
    broken = tmp_path / "alibaba_focus_broken.parquet"
    with duckdb.connect() as connection:
        connection.execute(f"""COPY (SELECT * REPLACE (
                CASE WHEN x_SourceLine % 7 = 0 THEN NULL ELSE BilledCost END AS BilledCost,
                CASE WHEN x_SourceLine % 11 = 0 THEN 'yuan' ELSE BillingCurrency END AS BillingCurrency)
            FROM read_parquet('{source}')) TO '{broken}' (FORMAT parquet)""")
        described = connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{broken}')").fetchall()
    present = {name for name, *_ in described}
    [report] = assess(
        [DatasetInput("alibaba_focus (broken)", broken, 2100, [alibaba_source(present)])],
        installed(validator),
        tmp_path / "work",
        processes=1,
    )
    found = failures(report)
    caught = {rule_id for rule_id, f in found.items() if f.attribution == PIPELINE and not f.composite}
    assert "BilledCost-C-003-M" in caught  # BilledCost MUST NOT be null
    assert {found[r].column for r in caught} == {"BilledCost", "BillingCurrency"}
    assert found["BilledCost-C-000-M"].attribution == PIPELINE  # and the column's composite rule with it


# --- the validator's report and rule model, by hand ---------------------------------------

JUNIT = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="FOCUS Validations" tests="5" failures="2" errors="1" skipped="1" assertions="None" time="0">
  <testsuite name="Base-Unknown" time="0">
    <testcase name="InvoiceId-C-001-M :: None" time="0"><error message="Binder Error: InvoiceId not found" /></testcase>
  </testsuite>
  <testsuite name="ChargeDescription-C-000-ChargeDescription" time="0">
    <testcase name="ChargeDescription-C-000-M :: Composite" time="0">
      <failure name="ChargeDescription-C-000-M" message="Composite check for ChargeDescription" type="AssertionError">Failed</failure>
    </testcase>
  </testsuite>
  <testsuite name="ChargeDescription-C-001-ChargeDescription" time="0">
    <testcase name="ChargeDescription-C-001-M :: Nullability" time="0">
      <failure name="ChargeDescription-C-001-M" message="Nullability check for ChargeDescription" type="AssertionError">Failed</failure>
    </testcase>
  </testsuite>
  <testsuite name="ChargeDescription-C-002-ChargeDescription" time="0">
    <testcase name="ChargeDescription-C-002-M :: Format" time="0" />
  </testsuite>
  <testsuite name="SkuMeter-C-001-SkuMeter" time="0">
    <testcase name="SkuMeter-C-001-M :: Type" time="0"><skipped message="Type check for SkuMeter" /></testcase>
  </testsuite>
</testsuites>
"""


def test_the_junit_report_is_read_rule_by_rule(tmp_path):
    path = tmp_path / "report.xml"
    path.write_text(JUNIT)
    results = {r.rule_id: r for r in parse_junit(path)}
    assert {k: r.status for k, r in results.items()} == {
        "InvoiceId-C-001-M": "failed",
        "ChargeDescription-C-000-M": "failed",
        "ChargeDescription-C-001-M": "failed",
        "ChargeDescription-C-002-M": "passed",
        "SkuMeter-C-001-M": "skipped",
    }
    assert results["InvoiceId-C-001-M"].errored and "Binder Error" in results["InvoiceId-C-001-M"].message
    assert results["ChargeDescription-C-001-M"].column == "ChargeDescription"
    path.write_text(JUNIT.replace('failures="2"', 'failures="3"'))
    with pytest.raises(ValidatorFailed, match="do not match"):  # totals that disagree with the cases
        parse_junit(path)


def _rule(rule_id, reference, requirement, condition=None, function="Nullability", keyword="MUST", entity="Column"):
    return rule_id, {
        "Function": function,
        "Reference": reference,
        "EntityType": entity,
        "Type": "Static",
        "ValidationCriteria": {
            "MustSatisfy": f"{rule_id} says so.",
            "Keyword": keyword,
            "Requirement": requirement,
            "Condition": condition or {},
        },
    }


def _not_null(column):
    return {"CheckFunction": "CheckNotValue", "ColumnName": column, "Value": None}


def _is_null(column):
    return {"CheckFunction": "CheckValue", "ColumnName": column, "Value": None}


MODEL = dict(
    [
        _rule(
            "ChargeDescription-C-000-M",
            "ChargeDescription",
            {
                "CheckFunction": "AND",
                "Items": [
                    {"CheckFunction": "CheckModelRule", "ModelRuleId": "ChargeDescription-C-001-M"},
                    {"CheckFunction": "CheckModelRule", "ModelRuleId": "ChargeDescription-C-002-M"},
                ],
            },
            function="Composite",
        ),
        _rule("ChargeDescription-C-001-M", "ChargeDescription", _not_null("ChargeDescription")),
        _rule(
            "ChargeDescription-C-002-M",
            "ChargeDescription",
            {"CheckFunction": "FormatString", "ColumnName": "ChargeDescription"},
            function="Format",
        ),
        _rule("InvoiceId-C-001-M", "InvoiceId", {"CheckFunction": "TypeString", "ColumnName": "InvoiceId"}),
        _rule("InvoiceId-C-005-C", "InvoiceId", _not_null("InvoiceId")),
        _rule("PricingUnit-C-005-C", "PricingUnit", _is_null("PricingUnit"), _is_null("PricingQuantity")),
        _rule("RegionName-C-005-C", "RegionName", _not_null("RegionName"), {"AND": [_not_null("RegionId")]}),
        _rule(
            "BilledCost-C-005-C",
            "BilledCost",
            {"CheckFunction": "CheckValue", "ColumnName": "BilledCost", "Value": 0},
            {"CheckFunction": "CheckNotSameValue", "ColumnAName": "ProviderName", "ColumnBName": "InvoiceIssuerName"},
        ),
        _rule(
            "ChargeCategory-C-003-M",
            "ChargeCategory",
            {
                "CheckFunction": "OR",
                "Items": [
                    {"CheckFunction": "CheckValue", "ColumnName": "ChargeCategory", "Value": "Usage"},
                    {"CheckFunction": "CheckValue", "ColumnName": "ChargeCategory", "Value": "Tax"},
                ],
            },
            function="Validation",
        ),
    ]
)


@pytest.fixture()
def rules(tmp_path):
    path = tmp_path / "model-1.2.0.1.json"
    path.write_text(json.dumps({"Details": {"ModelVersion": "1.2.0.1", "FOCUSVersion": "1.2"}, "ModelRules": MODEL}))
    found, details = load_model(path)
    assert details["FOCUSVersion"] == "1.2"
    assert found["ChargeDescription-C-000-M"].children == ("ChargeDescription-C-001-M", "ChargeDescription-C-002-M")
    assert found["RegionName-C-005-C"].columns == {"RegionName", "RegionId"}  # the model's {"AND": [...]} read too
    return found


def verdicts(failed=(), passed=()):
    return Validated({**{r: RuleResult(r, "failed") for r in failed}, **{r: RuleResult(r, "passed") for r in passed}})


ALIBABA = Source("alibaba", alibaba=True, typed_null=frozenset({"InvoiceId"}))
AZURE = Source("azure", typed_null=frozenset({"InvoiceId"}), input_table="azure_focus")
DATACENTER = Source("datacenter", typed_null=frozenset({"InvoiceId", "ChargeFrequency"}), input_table="dc_focus")


def unified(*sources):
    return DatasetInput("focus_unified", Path("u.parquet"), 10, list(sources), {s.name: Path(s.name) for s in sources})


def test_a_documented_gap_explains_only_alibabas_rows_and_only_through_nulls(rules):
    failed = ["ChargeDescription-C-000-M", "ChargeDescription-C-001-M", "PricingUnit-C-005-C"]
    found, pending = attribute(
        unified(ALIBABA, AZURE), verdicts(failed), {"alibaba": verdicts(failed), "azure": verdicts()}, {}, rules
    )
    by_id = {f.rule_id: f for f in found}
    assert not pending and by_id["ChargeDescription-C-001-M"].attribution == UPSTREAM_GAP
    assert by_id["PricingUnit-C-005-C"].attribution == UPSTREAM_GAP  # "when PricingQuantity is null"
    assert "PricingQuantity, a documented gap" in by_id["PricingUnit-C-005-C"].reason
    composite = by_id["ChargeDescription-C-000-M"]
    assert composite.composite and composite.attribution == UPSTREAM_GAP
    # a format check on the same column is not explained by its nulls
    found, _ = attribute(
        unified(ALIBABA, AZURE),
        verdicts(["ChargeDescription-C-002-M"]),
        {"alibaba": verdicts(["ChargeDescription-C-002-M"]), "azure": verdicts()},
        {},
        rules,
    )
    assert found[0].attribution == PIPELINE
    # the same gap column failing on another source's rows: that source's input decides
    found, pending = attribute(
        unified(ALIBABA, AZURE),
        verdicts(["ChargeDescription-C-001-M"]),
        {"alibaba": verdicts(), "azure": verdicts(["ChargeDescription-C-001-M"])},
        {},
        rules,
    )
    assert pending == {"azure"} and found[0].attribution == PIPELINE


def test_source_data_needs_the_input_to_fail_the_same_rule(rules):
    dataset = unified(ALIBABA, AZURE)
    failed = verdicts(["RegionName-C-005-C"])
    slices = {"alibaba": verdicts(), "azure": failed}
    found, _ = attribute(dataset, failed, slices, {"azure": verdicts(["RegionName-C-005-C"])}, rules)
    assert found[0].attribution == SOURCE_DATA and found[0].sources == ("azure",)
    found, _ = attribute(dataset, failed, slices, {"azure": verdicts(passed=["RegionName-C-005-C"])}, rules)
    assert found[0].attribution == PIPELINE and "the adapter focus_source_azure makes it fail" in found[0].reason
    found, _ = attribute(dataset, failed, slices, {"azure": Validated(error="polars: cannot read")}, rules)
    assert found[0].attribution == PIPELINE and "could not be validated: polars" in found[0].reason
    found, _ = attribute(dataset, failed, {"alibaba": failed, "azure": verdicts()}, {}, rules)
    assert found[0].attribution == PIPELINE  # Alibaba's rows: no documented gap for RegionName


def test_a_missing_column_and_the_union_alone(rules):
    dataset = unified(ALIBABA, DATACENTER)
    failed = verdicts(["InvoiceId-C-005-C", "InvoiceId-C-001-M"])
    found, _ = attribute(dataset, failed, {"alibaba": failed, "datacenter": failed}, {}, rules)
    by_id = {f.rule_id: f for f in found}
    assert by_id["InvoiceId-C-005-C"].attribution == SOURCE_LACKS  # NOT NULL on a typed null
    assert by_id["InvoiceId-C-005-C"].reason == (
        "alibaba, datacenter: does not deliver InvoiceId (a typed null in the unified view)"
    )
    assert by_id["InvoiceId-C-001-M"].attribution == PIPELINE  # a type check is not a null's doing
    # absent from the dataset (alibaba_focus, FOCUS 1.0): any check naming it could not run
    single = DatasetInput("alibaba_focus", Path("a.parquet"), 10, [alibaba_source({"BilledCost"})])
    found, _ = attribute(single, verdicts(["InvoiceId-C-001-M"]), {}, {}, rules)
    assert found[0].attribution == SOURCE_LACKS and "FOCUS 1.0" in found[0].reason
    # a rule failing on the union but on no source alone (a relation across sources)
    found, _ = attribute(
        dataset, verdicts(["ChargeCategory-C-003-M"]), {"alibaba": verdicts(), "datacenter": verdicts()}, {}, rules
    )
    assert found[0].attribution == PIPELINE and "union" in found[0].reason


def test_validator_defects_apply_to_the_release_they_were_verified_with(rules):
    present = {"BilledCost", "ProviderName", "InvoiceIssuerName"}
    single = DatasetInput("alibaba_focus", Path("a.parquet"), 10, [alibaba_source(present)])
    found, _ = attribute(single, verdicts(["BilledCost-C-005-C"]), {}, {}, rules)
    assert found[0].attribution == VALIDATOR_DEFECT and "Validator defects" in found[0].reason
    # another release: the table does not apply; here Alibaba's numeric InvoiceIssuerName (a documented gap)
    # is what the check compares, else it would be the pipeline's
    found, _ = attribute(single, verdicts(["BilledCost-C-005-C"]), {}, {}, rules, defects={})
    assert found[0].attribution == UPSTREAM_GAP and "InvoiceIssuerName" in found[0].reason
    found, _ = attribute(unified(AZURE), verdicts(["BilledCost-C-005-C"]), {}, {"azure": verdicts()}, rules, defects={})
    assert found[0].attribution == PIPELINE


def test_the_validator_missing_fails_clearly(tmp_path):
    with pytest.raises(ValidatorMissing, match="make conformance"):
        locate(tmp_path / "bin" / "focus-validator")


# --- the Dagster check ----------------------------------------------------------------------


def test_the_check_is_in_the_definitions_only_when_configured(monkeypatch, tmp_path):
    duck = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"), lake_root=str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert conformance_checks(duck) == []
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere" / "focus-validator"))
    with pytest.raises(ValueError, match="no such focus-validator"):
        conformance_checks(duck)
    script = tmp_path / "focus-validator"
    script.write_text("")
    monkeypatch.setenv(ENV_VAR, str(script))
    [check] = conformance_checks(duck)
    assert {key.name for key in check.check_keys} == {CHECK_NAME}
    with pytest.raises(ValueError, match="only the DuckDB warehouse"):
        conformance_checks(AthenaWarehouse.model_construct())


def test_the_check_result_severity_follows_the_attributions():
    def result(*attributions):
        report = DatasetReport(
            "focus_unified",
            3,
            [RuleResult(f"R-{i}", "failed") for i, _ in enumerate(attributions)],
            [Failure(f"R-{i}", "BilledCost", "MUST", "says", a, "why", ()) for i, a in enumerate(attributions)],
        )
        return check_result(ConformanceResult("2.2.1", "model-1.2.0.1.json, FOCUS 1.2", [report]))

    ok, explained, error = result(), result(UPSTREAM_GAP, SOURCE_LACKS), result(SOURCE_LACKS, PIPELINE)
    # failures all explained otherwise pass (counted in the metadata); one of the pipeline's fails
    assert ok.passed and explained.passed and not error.passed
    assert error.severity == dg.AssetCheckSeverity.ERROR
    assert explained.metadata["failures explained (not the pipeline's)"].value == 2
    assert error.metadata["failures explained (not the pipeline's)"].value == 1
    assert error.metadata["failures attributed to the pipeline"].value == 1
    assert error.metadata["focus_unified: failures by attribution"].value[PIPELINE] == 1
    assert "R-1" in error.metadata["report"].value


def test_make_conformance_with_relative_paths_validates(conformance, warehouse):
    """The run above had FOCUS_HOME relative (the default `.focus`): the validator runs in folders
    of its own, so every path it is given is absolute. (Relative paths once left every dataset
    unvalidated.) The report is written under FOCUS_HOME."""
    status, result = installed(conformance)
    assert status == 0 and not result.notes and all(d.error is None for d in result.datasets)
    report = (warehouse / "conformance" / "report.md").read_text()
    assert "Not validated" not in report and "**Failures attributed to the pipeline: 0**." in report
    assert "| alibaba_focus | 2,100 | 578 |" in report
