"""The least-privilege policies of the `aws` deployment, rendered for one configuration.

`docs/policies/aws-iam-pipeline.json` is the IAM policy of the pipeline's role (S3, Glue,
Athena); `docs/policies/alibaba-ram-export-reader.json` the RAM policy that reads the export (list
and get under the export prefix, nothing else). `aws-iam-function.json` and
`alibaba-ram-function.json` are those of the push mode's Function Compute handler (its AWS keys:
copy into the raw bucket under the export prefix; its RAM role: get under the export prefix).
Their `${NAME}` placeholders are named after the environment variables the aws deployment reads,
plus `AWS_ACCOUNT_ID` and the bucket and prefix of `FOCUS_ATHENA_OUTPUT`. Every value is checked
with `focus.names` before it goes into an ARN (a `*` or `${...}` in a prefix would widen the
grant). Pure: no Dagster, no cloud call.

The templates ship in the wheel as the package `focus_assets.policy_templates` (pyproject.toml
maps docs/policies/ there, where the docs link to them) and are read with `importlib.resources`.

    focus-assets policies [--account-id ID] [--only NAME]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .focus import names
from .focus.export_sources import DEFAULT_SOURCE, SETTING, parse_sources

POLICY_DIR = resources.files("focus_assets.policy_templates")  # docs/policies/ in the repository
# The pipeline's two, and the two of the push mode's Function Compute handler (docs/function_compute.md).
POLICIES = {
    name: POLICY_DIR / f"{name}.json"
    for name in ("aws-iam-pipeline", "alibaba-ram-export-reader", "aws-iam-function", "alibaba-ram-function")
}

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

# Each placeholder and the rule its value must follow; a placeholder without a rule is refused.
RULES: dict[str, Callable[[str, str], str]] = {
    "AWS_ACCOUNT_ID": names.aws_account_id,
    "FOCUS_AWS_REGION": names.aws_region,
    "FOCUS_RAW_BUCKET": names.bucket,
    "FOCUS_LAKE_BUCKET": names.bucket,
    "FOCUS_OSS_BUCKET": names.bucket,
    "FOCUS_ATHENA_OUTPUT_BUCKET": names.bucket,
    "FOCUS_RAW_PREFIX": names.key_prefix,
    "FOCUS_LAKE_PREFIX": names.key_prefix,
    "FOCUS_OSS_PREFIX": names.key_prefix,
    "FOCUS_EXPORT_PREFIX": names.key_prefix,
    "FOCUS_ATHENA_OUTPUT_PREFIX": names.key_prefix,
    "FOCUS_ATHENA_DATABASE": names.athena_database,
    "FOCUS_ATHENA_WORKGROUP": names.workgroup,
}
# The defaults of the aws deployment (focus_assets/deployment.py, README "Configuration").
DEFAULTS = {
    "FOCUS_RAW_PREFIX": "",
    "FOCUS_LAKE_PREFIX": "",
    "FOCUS_OSS_PREFIX": "",
    "FOCUS_EXPORT_PREFIX": "focus-export/",
    "FOCUS_ATHENA_DATABASE": "focus",
    "FOCUS_ATHENA_WORKGROUP": "primary",
}
# Placeholders that come from another setting.
_DERIVED = {"FOCUS_ATHENA_OUTPUT_BUCKET": "FOCUS_ATHENA_OUTPUT", "FOCUS_ATHENA_OUTPUT_PREFIX": "FOCUS_ATHENA_OUTPUT"}


class PolicyError(ValueError):
    """A policy that cannot be rendered: a value is missing, or a placeholder has no rule."""


def _substitute(node, values: Mapping[str, str]):
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
    return node


def render_policy(path: Traversable | str, values: Mapping[str, str]) -> dict:
    """The policy at `path` with every placeholder replaced by its checked value."""
    path = Path(path) if isinstance(path, str) else path
    text = path.read_text()
    wanted = set(_PLACEHOLDER.findall(text))
    unruled = sorted(wanted - RULES.keys())
    if unruled:
        raise PolicyError(f"{path.name}: no rule to check {', '.join(unruled)}")
    missing = sorted({_DERIVED.get(name, name) for name in wanted if values.get(name) is None})
    if missing:
        raise PolicyError(f"{path.name} needs {', '.join(missing)}")
    checked = {name: RULES[name](values[name], _DERIVED.get(name, name)) for name in wanted}
    return _substitute(json.loads(text), checked)


def values_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The placeholders' values from the same environment variables the aws deployment reads."""
    values = {name: environ.get(name) or default for name, default in DEFAULTS.items()}
    values.update({name: environ[name] for name in RULES if environ.get(name) and name not in _DERIVED})
    if environ.get("FOCUS_ATHENA_OUTPUT"):
        bucket, prefix = names.split_s3_uri(environ["FOCUS_ATHENA_OUTPUT"], "FOCUS_ATHENA_OUTPUT")
        values.update(FOCUS_ATHENA_OUTPUT_BUCKET=bucket, FOCUS_ATHENA_OUTPUT_PREFIX=prefix)
    return values


# The policies of one Alibaba account's export bucket: with several export sources, one per source.
PER_SOURCE = ("alibaba-ram-export-reader", "alibaba-ram-function")


def render_all(environ: Mapping[str, str], only: str | None = None) -> dict[str, dict]:
    """Every policy (or the one named `only`), rendered for the configuration in `environ`. With
    FOCUS_EXPORT_SOURCES, each source with an OSS bucket gets its own RAM policies, named
    `<policy>-<source>` (the default source's keep their names): each account grants its own."""
    values = values_from_environment(environ)
    sources = parse_sources(environ[SETTING]) if environ.get(SETTING, "").strip() else None
    rendered = {}
    for name, path in POLICIES.items():
        if only not in (None, name):
            continue
        if sources is None or name not in PER_SOURCE:
            rendered[name] = render_policy(path, values)
            continue
        for source in sources:
            if source.oss_bucket is None:  # push mode: read from the raw bucket, no OSS grant here
                continue
            own = {
                **values,
                "FOCUS_OSS_BUCKET": source.oss_bucket,
                "FOCUS_OSS_PREFIX": source.oss_prefix,
                "FOCUS_EXPORT_PREFIX": source.export_prefix,
            }
            rendered[name if source.name == DEFAULT_SOURCE else f"{name}-{source.name}"] = render_policy(path, own)
    return rendered
