"""`focus-assets convert`: the transform without Dagster; `focus-assets policies`: the IAM and RAM
policies of the aws deployment for the configuration in the environment; `focus-assets
sample-delivery`: a sample Alibaba delivery stamped now (or at a given time), to watch the sensor
pick it up.

    focus-assets convert FILE_OR_DIR... --out DIR [--source-timezone TZ] [--batch-ts STAMP]
    focus-assets policies [--account-id ID] [--only NAME]
    focus-assets sample-delivery --into DIR [--at TIME] [--parts N]

Prints the reconciliation as JSON on stdout. Exit status: 0 when every input was read and
reconciles; 1 when something does not reconcile; 2 when an input cannot be read (one line on
stderr naming the file, and the line and column where they apply); 3 on an internal error (one
line naming the input being converted).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

# numpy, which pyarrow loads, starts OpenBLAS's threads, which spin for a while looking for work,
# taking a core's time from the transform. Nothing here does linear algebra; set before
# the first import of numpy, and only for this command's own process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from . import policies as policy_files
from .focus.delivery import DeliveryError
from .focus.export_layout import EXPORT_SUFFIXES
from .focus.names import UnsafeNameError
from .focus.reconcile import Reconciliation
from .focus.settings import Derivations, Repairs, TransformSettings
from .focus.source import ExportFileError
from .focus.transform import convert_object

REPAIR_NAMES = [f.name for f in fields(Repairs)]
DERIVATION_NAMES = [f.name for f in fields(Derivations)]


def find_exports(arguments: list[str]) -> list[tuple[Path, str]]:
    """(file, object key) for each export file. A directory is searched recursively and its files
    are keyed by their path relative to it, as they would be in the bucket."""
    found: list[tuple[Path, str]] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(EXPORT_SUFFIXES)):
                found.append((file, file.relative_to(path).as_posix()))
        elif path.is_file():
            found.append((path, path.as_posix()))
        else:
            raise ExportFileError(argument, "no such file or directory")
    return found


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        raw, sep, name = value.partition("=")
        if not sep:
            raise SystemExit(f"focus-assets: error: {option} takes KEY=VALUE, got {value!r}")
        pairs[raw] = name
    return pairs


def _switched(switches, given: list[str], option: str, names: list[str]):
    """`switches` (a Repairs or Derivations) with the NAME=on|off of `option` applied."""
    states = _pairs(given, option)
    for name, state in states.items():
        if name not in names or state not in ("on", "off"):
            raise SystemExit(f"focus-assets: error: {option} takes NAME=on|off with NAME one of {', '.join(names)}")
    return replace(switches, **{name: state == "on" for name, state in states.items()})


def settings_from_args(args: argparse.Namespace) -> TransformSettings:
    settings = TransformSettings(source_timezone=args.source_timezone, typing_threads=args.typing_threads)
    if args.promoted_tags is not None:
        settings = replace(settings, promoted_tags=tuple(t.strip() for t in args.promoted_tags.split(",") if t.strip()))
    if args.key_pattern:
        settings = replace(settings, key_pattern=args.key_pattern)
    return replace(
        settings,
        repairs=_switched(settings.repairs, args.repair, "--repair", REPAIR_NAMES),
        derivations=_switched(settings.derivations, args.derive, "--derive", DERIVATION_NAMES),
        provider_names=_pairs(args.provider_name, "--provider-name"),
        publisher_names=_pairs(args.publisher_name, "--publisher-name"),
        invoice_issuer_names=_pairs(args.invoice_issuer_name, "--invoice-issuer-name"),
    )


def convert(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except UnsafeNameError as exc:
        print(f"focus-assets: error: {exc}", file=sys.stderr)
        return 2
    total = Reconciliation()
    objects = []
    key = None
    try:
        for file, key in find_exports(args.inputs):
            modified = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)
            report = convert_object(file, key, Path(args.out), settings, batch_ts=args.batch_ts, last_modified=modified)
            for member in report.members:
                objects.append(member.to_dict())
                total.merge(member.reconciliation)
    except (ExportFileError, DeliveryError) as exc:
        print(f"focus-assets: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours: still one line, naming the input
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"focus-assets: internal error while converting {key}: {type(exc).__name__}: {detail}", file=sys.stderr)
        return 3
    if not objects:
        print(
            "focus-assets: error: no export files (.csv, .csv.gz, .zip) found in " + " ".join(args.inputs),
            file=sys.stderr,
        )
        return 2
    summary = {"objects": objects, "total": total.to_dict()}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if not summary["total"]["reconciled"]:
        print(
            "focus-assets: error: output does not reconcile with input: " + "; ".join(total.mismatches()),
            file=sys.stderr,
        )
        return 1
    return 0


def policies(args: argparse.Namespace) -> int:
    """Print the policies rendered for the environment's configuration, as JSON: all of them by
    name, or (--only) the one policy document, ready for `aws iam create-policy`."""
    environ = dict(os.environ)
    if args.account_id:
        environ["AWS_ACCOUNT_ID"] = args.account_id
    try:
        rendered = policy_files.render_all(environ, args.only)
    except ValueError as exc:  # a missing setting, or an unsafe value (UnsafeNameError)
        print(f"focus-assets: error: {exc}", file=sys.stderr)
        return 2
    # --only: the document itself, unless several export sources each have one (then by name)
    print(json.dumps(next(iter(rendered.values())) if args.only and len(rendered) == 1 else rendered, indent=2))
    return 0


def sample_delivery(args: argparse.Namespace) -> int:
    """Write one month-to-date delivery, as Alibaba would at `--at` (default: now), into the export
    folder `--into`; print its keys."""
    from .samples.alibaba import ACCOUNTS, SampleDelivery, write_delivery

    moment = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if moment.tzinfo is None:
        print("focus-assets: error: --at needs an offset, e.g. 2026-12-03T00:30:00+08:00", file=sys.stderr)
        return 2
    local = moment.astimezone(ZoneInfo(args.source_timezone))
    stamp = local.strftime("%Y%m%dT%H%M%S")
    # The month to date through yesterday; on the 1st, the whole previous month.
    covered = local - timedelta(days=1)
    month = covered.strftime("%Y%m")
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    for part in range(1, args.parts + 1):
        name = f"{account}_{site}_BillingItemDetail_{month}" + (f"_{part}" if args.parts > 1 else "")
        delivery = SampleDelivery(f"{args.prefix.strip('/')}/{month}/{stamp}/{name}.csv.gz", month, stamp, covered.day)
        write_delivery(Path(args.into), delivery, rows_per_day=args.rows_per_day, seed=7 + part)
        print(delivery.key)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="focus-assets", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("convert", help="Alibaba FOCUS export files -> typed Parquet, with reconciliation")
    c.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    c.add_argument("--out", required=True, metavar="DIR", help="output root (tables are folders under it)")
    c.add_argument(
        "--source-timezone",
        default="Asia/Shanghai",
        metavar="TZ",
        help="timezone of timestamps written without an offset (default: Asia/Shanghai)",
    )
    c.add_argument("--batch-ts", metavar="STAMP", help="delivery stamp for every input, e.g. 20260105T080000")
    c.add_argument(
        "--typing-threads",
        type=int,
        default=TransformSettings.typing_threads,
        metavar="N",
        help="pieces parsed and typed at once, one per core (default: %(default)s)",
    )
    c.add_argument("--key-pattern", metavar="REGEX", help="regex with named groups yearmonth and batch_ts")
    c.add_argument(
        "--promoted-tags",
        metavar="A,B,...",
        help="tags to extract as columns (default: Brand,Project,Owner,CostCenter,Environment,Application)",
    )
    c.add_argument("--provider-name", action="append", default=[], metavar="RAW=NAME")
    c.add_argument("--publisher-name", action="append", default=[], metavar="RAW=NAME")
    c.add_argument("--invoice-issuer-name", action="append", default=[], metavar="RAW=NAME")
    c.add_argument(
        "--repair",
        action="append",
        default=[],
        metavar="NAME=on|off",
        help="switch a repair on or off (repeatable): " + ", ".join(REPAIR_NAMES),
    )
    c.add_argument(
        "--derive",
        action="append",
        default=[],
        metavar="NAME=on|off",
        help="switch a FOCUS 1.2 derivation on or off (repeatable): " + ", ".join(DERIVATION_NAMES),
    )
    c.set_defaults(run=convert)
    p = commands.add_parser(
        "policies",
        help="the IAM and RAM policies of the aws deployment, for the configuration "
        "in the environment (the FOCUS_* variables of the README)",
    )
    p.add_argument(
        "--account-id",
        metavar="ID",
        help="the AWS account of the Glue catalog and the Athena workgroup (default: $AWS_ACCOUNT_ID)",
    )
    p.add_argument("--only", choices=sorted(policy_files.POLICIES), help="print this policy document alone")
    p.set_defaults(run=policies)
    s = commands.add_parser(
        "sample-delivery",
        help="write a sample Alibaba delivery stamped now into an export "
        "folder (e.g. .focus/oss), to watch the sensor run it",
    )
    s.add_argument(
        "--into", required=True, metavar="DIR", help="the export bucket's folder (local deployment: FOCUS_HOME/oss)"
    )
    s.add_argument("--at", metavar="TIME", help="the delivery's time with its offset (default: now)")
    s.add_argument("--prefix", default="focus-export", help="the export prefix (default: %(default)s)")
    s.add_argument(
        "--source-timezone",
        default="Asia/Shanghai",
        metavar="TZ",
        help="Alibaba's timezone, in which folders are stamped (default: %(default)s)",
    )
    s.add_argument("--parts", type=int, default=1, metavar="N", help="objects in the delivery (default: 1)")
    s.add_argument("--rows-per-day", type=int, default=60, metavar="N", help="rows per day of the month to date")
    s.set_defaults(run=sample_delivery)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gc.freeze()  # the modules just imported are never garbage: the collector need not walk them again
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
