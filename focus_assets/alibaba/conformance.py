"""The asset check `focus_conformance` on `unified_focus_view`: the FOCUS validator's verdict on
`alibaba_focus` and `focus_unified`, every failure attributed (focus_assets/conformance), the
report as Markdown metadata.

Part of the definitions only when FOCUS_VALIDATOR names a focus-validator script (`make ui` and
`make conformance` set it when `.venv-validator` exists), and only on the DuckDB warehouse: the
validator reads local Parquet exported from the warehouse file. On Athena the views would first
have to be unloaded to Parquet (UNLOAD ... WITH (format = 'PARQUET')) and downloaded; that is not
done, so FOCUS_VALIDATOR with the aws deployment is refused at load rather than ignored.

Fails (ERROR) when a failure is attributed to the pipeline or a dataset could not be validated.
Passes when every failure is explained (an upstream gap, a source that lacks the column or
delivers failing data, a validator defect): those are counted in the metadata, since a check that
fails every day on healthy data teaches people to ignore checks.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ..conformance import ConformanceResult, ValidatorFailed, ValidatorMissing, run_conformance
from ..conformance.attribution import ORDER
from ..conformance.validator import ENV_VAR, configured_script
from ..resources.warehouse import DuckDBWarehouse, Warehouse
from .assets import unified_focus_view
from .partitions import delivery_days

CHECK_NAME = "focus_conformance"


def check_result(result: ConformanceResult) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {
        "report": dg.MetadataValue.md(result.markdown()),
        "validator": f"focus-validator {result.validator_version} ({result.model})",
        "failures attributed to the pipeline": len(result.pipeline_failures()),
        "seconds": round(result.seconds, 1),
    }
    for dataset in result.datasets:
        metadata[f"{dataset.name}: rules passed / failed / skipped"] = (
            f"{dataset.passed} / {dataset.failed} / {dataset.skipped}" if not dataset.error else dataset.error[:500]
        )
        counts = dataset.by_attribution()
        metadata[f"{dataset.name}: failures by attribution"] = dg.MetadataValue.json({a: counts[a] for a in ORDER})
    metadata["failures explained (not the pipeline's)"] = sum(len(d.failures) for d in result.datasets) - len(
        result.pipeline_failures()
    )
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=result.severity != "error",
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def conformance_check(script: Path) -> dg.AssetChecksDefinition:
    def focus_conformance(warehouse: Warehouse) -> dg.AssetCheckResult:
        if not isinstance(warehouse, DuckDBWarehouse):  # refused at load; kept for resources swapped at run time
            raise dg.Failure(description=f"{CHECK_NAME} validates a DuckDB warehouse only, not {warehouse.describe()}")
        try:
            result = run_conformance(warehouse.database, validator=script)
        except (ValidatorMissing, ValidatorFailed) as exc:
            raise dg.Failure(description=f"{CHECK_NAME}: {exc}") from None
        return check_result(result)

    # Partitioned like its asset: the result is the views' after the day's run (see assets.day_check).
    return dg.asset_check(
        asset=unified_focus_view,
        name=CHECK_NAME,
        blocking=False,
        partitions_def=delivery_days,
        description="FOCUS 1.2 conformance of alibaba_focus and focus_unified by the FinOps Foundation's "
        "focus-validator (offline), each failed rule attributed to an upstream gap of Alibaba's "
        "export, a source lacking the column or delivering failing data, a validator defect, or the "
        "pipeline; the report in the metadata. ERROR on a failure attributed to the pipeline.",
    )(focus_conformance)


def conformance_checks(warehouse: Warehouse) -> list[dg.AssetChecksDefinition]:
    """The check when FOCUS_VALIDATOR is set, else none. A setting that cannot work (no such
    script, or a warehouse other than DuckDB) fails the definitions' load, saying why."""
    script = configured_script()
    if script is None:
        return []
    if not script.is_file():
        raise ValueError(
            f"{ENV_VAR}={script}: no such focus-validator script (`make conformance` creates "
            ".venv-validator/bin/focus-validator)"
        )
    if not isinstance(warehouse, DuckDBWarehouse):
        raise ValueError(
            f"{ENV_VAR} is set but the FOCUS conformance check supports only the DuckDB warehouse "
            f"(FOCUS_DEPLOYMENT=local), not {type(warehouse).__name__}: unset {ENV_VAR}"
        )
    return [conformance_check(script)]
