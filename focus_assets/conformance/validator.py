"""The FinOps Foundation's focus-validator, run from its own virtual environment.

It lives in the checkout's `.venv-validator` (Python 3.12, `conformance/requirements.txt`), made by
`make conformance` and `make test`; FOCUS_VALIDATOR names another `focus-validator` script, and
is the only way an installed package (a wheel, with no checkout) finds one. Facts it
is built on (checked against 2.2.1):

- Offline it knows only the FOCUS 1.2 rules (`--validate-version 1.2 --block-download`).
- It opens `focus_validator/rules/currency_codes.csv` relative to the working directory, so each
  run gets a temporary working directory with a copy from the installed package (where it also
  writes `focus_validator_detailed.log`).
- It exits 0 whatever the rules say: the verdicts are read from its JUnit XML
  (`--output-type unittest`): per rule a testcase named `<rule id> :: <check>`, with a <failure>,
  <skipped> or <error> element, or none when it passed.
- Without `--applicability-criteria` it skips every rule that depends on a provider capability
  (441 of its 578 rules on our data); `ALL` claims every capability, the strictest reading, so
  those rules run too and a column a source lacks shows as a failure to attribute rather than a
  skip.
- Its rules come from a model file in the package (`rules/model-1.2.0.1.json`): each rule's
  column, MUST/SHOULD keyword, the sentence of the specification and the checks, read here to
  attribute failures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# The repository, when the package runs from it (an editable install): `make` builds the
# validator's venv there. Nothing of it ships in the wheel.
CHECKOUT = Path(__file__).resolve().parents[2]
VALIDATOR_VENV = CHECKOUT / ".venv-validator"
ENV_VAR = "FOCUS_VALIDATOR"
# A module of this package, run by path by the validator's own interpreter.
RUNNER = Path(__file__).with_name("_runner.py")
FOCUS_VERSION = "1.2"
APPLICABILITY = "ALL"


def arguments(data_file: Path | str, output: Path | str) -> list[str]:
    """The validator's command line for one file (after the `focus-validator` script's name)."""
    return [
        "--data-file",
        str(data_file),
        "--validate-version",
        FOCUS_VERSION,
        "--block-download",
        "--applicability-criteria",
        APPLICABILITY,
        "--output-type",
        "unittest",
        "--output-destination",
        str(output),
    ]


class ValidatorMissing(RuntimeError):
    """No focus-validator where it was looked for."""


class ValidatorFailed(RuntimeError):
    """The validator crashed or wrote no (readable) report."""


@dataclass(frozen=True)
class Installation:
    script: Path  # the focus-validator script
    python: Path  # its environment's interpreter
    version: str
    package: Path  # the installed focus_validator package
    python_version: str = ""

    @property
    def currency_codes(self) -> Path:
        return self.package / "rules" / "currency_codes.csv"

    @property
    def model_file(self) -> Path:
        """The newest local rule model for FOCUS 1.2 (what `--block-download` validates with)."""
        models = sorted(
            self.package.glob(f"rules/model-{FOCUS_VERSION}*.json"),
            key=lambda p: tuple(int(n) for n in re.findall(r"\d+", p.stem)),
        )
        if not models:
            raise ValidatorFailed(f"no FOCUS {FOCUS_VERSION} rule model in {self.package / 'rules'}")
        return models[-1]


def default_script() -> Path | None:
    """The checkout's .venv-validator script; None when the package is not run from a checkout."""
    if not (CHECKOUT / "pyproject.toml").is_file():
        return None
    return VALIDATOR_VENV / "bin" / "focus-validator"


def configured_script() -> Path | None:
    """FOCUS_VALIDATOR, when set (the Dagster definitions add the conformance check only then)."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value) if value else None


def _clean_environment() -> dict[str, str]:
    """This process's environment without what would make another interpreter import our packages."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _interpreter(script: Path) -> Path:
    """The Python a console script runs with: its #! line, else the python beside it (a venv's bin/)."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(1024)
    except OSError:
        first = b""
    if first.startswith(b"#!"):
        command = first[2:].decode(errors="replace").split()
        if command and Path(command[0]).name.startswith("python") and Path(command[0]).exists():
            return Path(command[0])
    return script.with_name("python")


def locate(script: Path | str | None = None) -> Installation:
    """The validator at `script`, FOCUS_VALIDATOR or .venv-validator, probed in its own Python."""
    script = Path(script) if script else (configured_script() or default_script())
    if script is None:
        raise ValidatorMissing(
            f"focus-validator not found: {ENV_VAR} is not set, and this package is installed, not run from a "
            f"checkout with its {VALIDATOR_VENV.name}. Set {ENV_VAR} to a focus-validator script installed in its "
            "own virtual environment (Python 3.12, conformance/requirements.txt of the repository)."
        )
    python = _interpreter(script)
    if not script.is_file() or not python.exists():
        raise ValidatorMissing(
            f"focus-validator not found at {script} (with its python beside it). `make conformance` or `make test` "
            f"creates {VALIDATOR_VENV.name} with it (Python 3.12, conformance/requirements.txt); or set {ENV_VAR} to a "
            "focus-validator script installed in its own virtual environment."
        )
    done = subprocess.run(
        [str(python), str(RUNNER), "probe"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_environment(),
    )
    if done.returncode != 0:
        raise ValidatorMissing(f"{python} cannot run focus-validator: {done.stderr.strip()[-500:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Installation(script, python, found["version"], Path(found["package"]), found["python"])


@dataclass(frozen=True)
class Job:
    data_file: Path
    output: Path  # the JUnit XML


def run_jobs(
    installation: Installation, jobs: list[Job], workdir: Path, processes: int = 2, timeout_seconds: float = 900
) -> dict[Path, str | None]:
    """Validate each job's file; returns output -> None (written) or the error. The jobs are shared
    among `processes` runners, each in its own working directory with the currency codes."""
    workdir = Path(workdir).resolve()  # the runners run in folders of their own
    groups = [jobs[i::processes] for i in range(max(1, min(processes, len(jobs))))]
    running = []
    for number, group in enumerate(groups):
        folder = workdir / f"runner-{number}"
        (folder / "focus_validator" / "rules").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(installation.currency_codes, folder / "focus_validator" / "rules" / "currency_codes.csv")
        listing = folder / "jobs.json"
        listing.write_text(json.dumps([arguments(job.data_file, job.output) for job in group]))
        process = subprocess.Popen(
            [str(installation.python), str(RUNNER), "run", str(listing)],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_environment(),
        )
        running.append((process, group))
    results: dict[Path, str | None] = {}
    for process, group in running:
        try:
            out, err = process.communicate(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err = f"timed out after {timeout_seconds:.0f} s. {err}"
        reported = {}
        for line in out.splitlines():
            if line.startswith('{"output"'):
                entry = json.loads(line)
                reported[Path(entry["output"])] = entry["error"]
        for job in group:
            if job.output in reported:
                results[job.output] = reported[job.output]
            else:
                results[job.output] = f"the runner stopped (exit {process.returncode}): {err.strip()[-1500:]}"
    return results


# --- the JUnit XML --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    status: str  # passed, failed or skipped; an error (the rule could not run) counts as failed
    message: str = ""
    errored: bool = False
    column: str | None = None  # from the test suite's name (`<rule prefix>-<column>`)


def parse_junit(path: Path | str) -> list[RuleResult]:
    """The verdict of every rule in a focus-validator JUnit XML report."""
    root = ET.parse(path).getroot()
    if root.tag != "testsuites":
        raise ValidatorFailed(f"{path}: not a focus-validator JUnit report (root <{root.tag}>)")
    results = []
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            rule_id = case.get("name", "").split(" :: ")[0].strip()
            prefix = rule_id.rsplit("-", 1)[0]
            suite_name = suite.get("name", "")
            column = suite_name[len(prefix) + 1 :] if suite_name.startswith(prefix + "-") else None
            failure, skipped, error = case.find("failure"), case.find("skipped"), case.find("error")
            if error is not None:
                results.append(RuleResult(rule_id, "failed", error.get("message") or "", True, column))
            elif failure is not None:
                results.append(RuleResult(rule_id, "failed", failure.get("message") or "", False, column))
            elif skipped is not None:
                results.append(RuleResult(rule_id, "skipped", skipped.get("message") or "", False, column))
            else:
                results.append(RuleResult(rule_id, "passed", "", False, column))
    declared = {k: int(root.get(k, -1)) for k in ("tests", "failures", "errors", "skipped")}
    counted = {
        "tests": len(results),
        "failures": sum(r.status == "failed" and not r.errored for r in results),
        "errors": sum(r.errored for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
    }
    if declared != counted:
        raise ValidatorFailed(f"{path}: the totals {declared} do not match the test cases {counted}")
    if len({r.rule_id for r in results}) != len(results):
        raise ValidatorFailed(f"{path}: a rule is reported twice")
    return results


# --- the rule model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check function of a rule, on a column: where it sits (requirement or condition)."""

    function: str
    column: str
    value: object = None
    has_value: bool = False
    role: str = "requirement"


@dataclass(frozen=True)
class Rule:
    rule_id: str
    reference: str  # the column (or dataset) the rule is about
    entity: str  # Column, Dataset, Attribute
    function: str  # Composite, Nullability, Format, Validation, Presence, Type...
    keyword: str  # MUST, SHOULD, MAY, RECOMMENDED...
    must_satisfy: str
    checks: tuple[Check, ...] = ()
    children: tuple[str, ...] = ()  # model rules its requirement refers to
    applicability: tuple[str, ...] = ()
    dynamic: bool = False

    @property
    def columns(self) -> frozenset[str]:
        named = {c.column for c in self.checks}
        return frozenset(named | ({self.reference} if self.entity == "Column" else set()))


def _walk(node: object, role: str, checks: list[Check], children: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, role, checks, children)
        return
    if not isinstance(node, dict):
        return
    function = node.get("CheckFunction")
    if function == "CheckModelRule" and node.get("ModelRuleId"):
        children.append(node["ModelRuleId"])
    for key in ("ColumnName", "ColumnAName", "ColumnBName"):
        if isinstance(node.get(key), str):
            checks.append(Check(function or "", node[key], node.get("Value"), "Value" in node, role))
    for value in node.values():  # Items of AND/OR, and the model's other nestings ({"AND": [...]})
        _walk(value, role, checks, children)


def load_model(path: Path | str) -> tuple[dict[str, Rule], dict[str, str]]:
    """The rules of a focus-validator model file, and its Details (ModelVersion, FOCUSVersion)."""
    model = json.loads(Path(path).read_text(encoding="utf-8"))
    rules = {}
    for rule_id, entry in model["ModelRules"].items():
        criteria = entry.get("ValidationCriteria", {})
        checks: list[Check] = []
        children: list[str] = []
        _walk(criteria.get("Requirement", {}), "requirement", checks, children)
        _walk(criteria.get("Condition", {}), "condition", checks, [])
        rules[rule_id] = Rule(
            rule_id,
            entry.get("Reference", ""),
            entry.get("EntityType", ""),
            entry.get("Function", ""),
            criteria.get("Keyword", ""),
            criteria.get("MustSatisfy", ""),
            tuple(checks),
            tuple(dict.fromkeys(children)),
            tuple(entry.get("ApplicabilityCriteria") or ()),
            entry.get("Type") == "Dynamic",
        )
    return rules, dict(model.get("Details", {}))


@dataclass
class Validated:
    """One file's verdicts."""

    results: dict[str, RuleResult] = field(default_factory=dict)
    error: str | None = None  # the run failed: no verdicts

    def failed(self, rule_id: str) -> bool:
        result = self.results.get(rule_id)
        return result is not None and result.status == "failed"


def read_results(outputs: dict[Path, str | None]) -> dict[Path, Validated]:
    read = {}
    for output, error in outputs.items():
        if error is None and Path(output).is_file():
            try:
                read[output] = Validated({r.rule_id: r for r in parse_junit(output)})
                continue
            except (ET.ParseError, ValidatorFailed) as exc:
                error = str(exc)
        read[output] = Validated(error=error or f"{output} was not written")
    return read


if __name__ == "__main__":  # python -m focus_assets.conformance.validator: where it is, which version
    try:
        found = locate()
    except ValidatorMissing as exc:
        sys.exit(str(exc))
    print(f"focus-validator {found.version} at {found.script} (package {found.package}, model {found.model_file.name})")
