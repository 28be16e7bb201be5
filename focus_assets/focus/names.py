"""Names that end up in SQL, in policies or in paths, checked before they are used.

A database, table, workgroup, bucket, key prefix, object key or promoted tag that breaks its
rule is refused with `UnsafeNameError`, whose one-line message names the setting, the value
(repr) and the rule. The rules are allow-lists, so quotes, semicolons, spaces, comment markers
and Unicode lookalikes never reach a SQL statement or an IAM/RAM resource (where `*`, `?` and
`${...}` would widen a grant).

Keys: configured prefixes allow only `A-Za-z0-9._=-` between slashes. A key listed in a bucket
is the exporter's to name, so it may hold any printable character, `%` included: nothing in this
project decodes percent-escapes, so `%2e%2e/x` is a folder literally named `%2e%2e`, not `..`.
What a listed key may not hold is anything that walks out of a folder or changes meaning on the
way to a path: `.` or `..` segments, a leading `/`, backslashes, empty segments, control or
invisible characters (also after NFKC normalisation, which turns `．．` into `..`), and glob
characters (`*?[]`), which polars and DuckDB expand in paths.

Pure Python: no Dagster, no cloud client.
"""

from __future__ import annotations

import re
import unicodedata


class UnsafeNameError(ValueError):
    """A name that is not safe to put in SQL, a policy or a path."""


_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_SEGMENT = re.compile(r"[A-Za-z0-9._=-]+")
MAX_KEY_BYTES = 1024  # S3 and OSS

# kind -> (pattern for re.fullmatch, the rule in words)
RULES: dict[str, tuple[str, str]] = {
    "athena_database": (r"[a-z0-9_]{1,255}", "lowercase letters, digits and '_', 1 to 255 characters"),
    "table_name": (
        rf"(?=.{{1,255}}\Z){_IDENTIFIER}(?:\.{_IDENTIFIER})?",
        "an identifier [A-Za-z_][A-Za-z0-9_]*, or database.table, at most 255 characters",
    ),
    "workgroup": (
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
        "1 to 128 letters, digits, '.', '_' and '-', starting with a letter or digit",
    ),
    "bucket": (
        r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        "3 to 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, no '..'",
    ),
    "tag_key": (
        r"[A-Za-z][A-Za-z0-9_]{0,62}",
        "a letter, then up to 62 letters, digits or '_' (the tag becomes the column x_Tag<Key>)",
    ),
    "export_source": (
        r"[a-z][a-z0-9_]{0,39}",
        "a lowercase letter, then up to 39 lowercase letters, digits or '_' (it names files and raw folders)",
    ),
    "env_var": (r"[A-Za-z_][A-Za-z0-9_]{0,127}", "an environment variable name [A-Za-z_][A-Za-z0-9_]*"),
    "aws_region": (r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", "an AWS region such as us-east-1"),
    "aws_account_id": (r"[0-9]{12}", "12 digits"),
}


def _refused(setting: str, value: object, rule: str) -> UnsafeNameError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:60] + f"... ({len(value) if isinstance(value, str) else '?'} characters)"
    return UnsafeNameError(f"{setting}={shown} is refused: {rule}")


def check(kind: str, value: object, setting: str) -> str:
    """`value` if it follows the rule `kind` of RULES, else UnsafeNameError."""
    pattern, rule = RULES[kind]
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise _refused(setting, value, rule)
    return value


def athena_database(value: object, setting: str = "FOCUS_ATHENA_DATABASE") -> str:
    return check("athena_database", value, setting)


def table_name(value: object, setting: str = "table") -> str:
    return check("table_name", value, setting)


def workgroup(value: object, setting: str = "FOCUS_ATHENA_WORKGROUP") -> str:
    return check("workgroup", value, setting)


def bucket(value: object, setting: str = "bucket") -> str:
    return check("bucket", value, setting)


def tag_key(value: object, setting: str = "promoted tag") -> str:
    return check("tag_key", value, setting)


def export_source(value: object, setting: str = "FOCUS_EXPORT_SOURCES") -> str:
    return check("export_source", value, setting)


def env_var(value: object, setting: str = "FOCUS_EXPORT_SOURCES") -> str:
    return check("env_var", value, setting)


def aws_region(value: object, setting: str = "FOCUS_AWS_REGION") -> str:
    return check("aws_region", value, setting)


def aws_account_id(value: object, setting: str = "AWS_ACCOUNT_ID") -> str:
    return check("aws_account_id", value, setting)


_PREFIX_RULE = (
    f"a relative folder: segments of letters, digits, '.', '_', '-' or '=' between '/', "
    f"no empty, '.' or '..' segment, at most {MAX_KEY_BYTES} characters"
)


def key_prefix(value: object, setting: str = "prefix") -> str:
    """A configured key prefix, normalised as a folder: '' or 'a/b/'."""
    if value == "":
        return ""
    if not isinstance(value, str) or len(value) > MAX_KEY_BYTES:
        raise _refused(setting, value, _PREFIX_RULE)
    segments = value.removesuffix("/").split("/")
    if not all(_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
        raise _refused(setting, value, _PREFIX_RULE)
    return "/".join(segments) + "/"


def _key_problem(key: str) -> str | None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    for form in dict.fromkeys((key, unicodedata.normalize("NFKC", key))):
        if not form.isprintable():
            return "control or invisible characters"
        if "\\" in form:
            return "a backslash"
        if any(c in form for c in "*?[]"):
            return "a glob character (*?[]), which readers expand"
        if form.startswith("/"):
            return "an absolute key (leading '/')"
        segments = form.removesuffix("/").split("/")
        if "" in segments:
            return "an empty segment ('//')"
        if any(s in (".", "..") for s in segments):
            return "a '.' or '..' segment"
    return None


def object_key(key: object, setting: str = "object key") -> str:
    """A key listed in a bucket, safe to use as a relative path: returned unchanged."""
    if not isinstance(key, str) or not key:
        raise _refused(setting, key, "empty")
    problem = _key_problem(key)
    if problem:
        raise _refused(setting, key, f"a key must be relative and plain; this one has {problem}")
    return key


def s3_uri(value: object, setting: str = "FOCUS_ATHENA_OUTPUT") -> str:
    """`s3://bucket/` or `s3://bucket/prefix/`, normalised with its trailing '/'."""
    bucket_name, prefix = split_s3_uri(value, setting)
    return f"s3://{bucket_name}/{prefix}"


def split_s3_uri(value: object, setting: str = "FOCUS_ATHENA_OUTPUT") -> tuple[str, str]:
    """(bucket, prefix as '' or 'a/b/') of an s3:// URI, each checked."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        raise _refused(setting, value, "an s3://bucket/prefix/ URI")
    bucket_name, _, prefix = value.removeprefix("s3://").partition("/")
    try:
        return bucket(bucket_name, "bucket"), key_prefix(prefix, "prefix")
    except UnsafeNameError as exc:
        raise _refused(setting, value, f"not an s3://bucket/prefix/ URI ({exc})") from None
