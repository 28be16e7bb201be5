"""Incremental cost: what a sensor tick, a partition registration and a day's run cost as the
history grows.

    python benchmarks/incremental.py [--quick] [--repeat 5]

Everything runs against moto's server on 127.0.0.1 (focus_assets_tests/local_aws.py): S3 and Glue
through boto3, OSS through the OSS-dialect adapter with the real oss2 client. Requests are counted
at the server (the WSGI layer in front of moto), by service and operation.

  1. Sensor tick (`plan_sources_tick`, the sensor's planning) with N = 100, 1,000 and 10,000 export objects
     already in the bucket, laid out as the real export (focus-export/YYYYMM/YYYYMMDDTHHMMSS/<file>:
     a month-to-date snapshot every day, two files each, the final file of a month on the 3rd of
     the next; the newest delivery on 2026-01-05, older months added as N grows): the first tick
     ever (no cursor), a quiet tick (nothing new) and a tick with one new delivery, for the OSS
     store (pull mode: the sensor lists OSS) and the S3 store (push mode: it lists the raw bucket).
  2. Partition registration: `GlueCatalog.register_partitions` for one new delivery on day 1 (an
     empty table) and on day 1,001 (1,000 partitions registered), beside the cost model of
     `MSCK REPAIR TABLE`: listing the whole table prefix in S3 (two files per partition folder).
  3. A day's run: the six assets on the `aws` deployment for one new delivery, with two earlier
     deliveries in the lake, the catalog and both buckets (day 3), and with 997 more (day 1,000): every
     request of the run, by service and operation.

The objects are put into moto's backend directly (fast); every listing goes through HTTP. Prints a
table and a conclusion, and writes the figures to benchmarks/results/incremental.json (with
--quick: benchmarks/.data/incremental-quick.json, not kept).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # focus_assets_tests.local_aws, when run as a script
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

import boto3  # noqa: E402
from dagster_aws.s3 import S3Resource  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.s3.models import s3_backends  # noqa: E402

from focus_assets.alibaba.export_settings import ExportSettings  # noqa: E402
from focus_assets.focus.delivery_watch import plan_sources_tick, utc_now  # noqa: E402
from focus_assets.focus.export_sources import DEFAULT_SOURCE, SourceBuckets  # noqa: E402
from focus_assets.focus.writer import OUTPUT_TABLE  # noqa: E402
from focus_assets.resources.athena import GlueCatalog  # noqa: E402
from focus_assets.resources.stores import OssStore, S3Store  # noqa: E402
from focus_assets.samples.alibaba import delivery_keys, history_deliveries, history_keys  # noqa: E402
from focus_assets_tests.local_aws import FaultPlan, aws_and_oss  # noqa: E402

NEWEST = date(2026, 1, 5)  # the newest delivery already in the bucket
NEW_DELIVERY = ("202601", "20260106T080000")  # the one that arrives between two ticks
FILES = 2  # files per delivery (one per billing account)
HISTORY_START = "2000-01-01"  # the first partition day for the sensor: every delivery of the history runs
BODY = b"\x1f\x8b" + b"\x00" * 18  # content is irrelevant to the sensor
PAGE = 1000  # keys per list page, S3 and OSS alike (OssBucket asks for OSS's maximum)
RAW_PREFIX = "alibaba/"  # push mode: the raw bucket's prefix, which the sensor watches
LAKE_PREFIX = "lake/"


# --- the export's layout (focus_assets.samples.alibaba.history_keys) ------------------------------------


def export_keys(n: int, root: str = "") -> list[str]:
    """The newest `n` export objects, under `root` (the raw bucket's prefix in push mode)."""
    return history_keys(n, f"{root}focus-export", NEWEST, FILES)


def new_delivery_keys(root: str = "") -> list[str]:
    return delivery_keys(*NEW_DELIVERY, f"{root}focus-export", FILES)


def put_directly(bucket: str, keys: list[str], body: bytes = BODY) -> None:
    """Into moto's in-process backend, without HTTP (the bucket is created over HTTP first)."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


# --- measuring ---------------------------------------------------------------------------------------


class CountingStore:
    """The sensor's view of a store's bucket (list_folders, list_objects), counting what the listings return."""

    def __init__(self, store):
        self.bucket, self.folders, self.months, self.objects = store.get_bucket(), 0, 0, 0

    def list_folders(self, prefix: str = "") -> list[str]:
        found = self.bucket.list_folders(prefix)
        self.folders += len(found)
        return found

    def list_objects(self, prefix: str = "", etags: bool = True):
        found = self.bucket.list_objects(prefix, etags)
        self.months += 1
        self.objects += len(found)
        return found


def measured(plan: FaultPlan, action, repeat: int, undo=None) -> tuple[dict[str, int], float, object]:
    """Server-side request counts of one call of `action` (the same on every repeat, checked), the
    median wall time in ms, and the last result; `undo` runs after each call, unmeasured."""
    counts, times, result = [], [], None
    for _ in range(repeat):
        gc.collect()  # a collection of moto's many objects would otherwise land in some timings
        before = plan.calls.copy()
        start = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - start) * 1000)
        counts.append({f"{service} {operation}": n for (service, operation), n in (plan.calls - before).items()})
        if undo:
            undo()
    if any(c != counts[0] for c in counts):
        raise SystemExit(f"request counts differ between repeats: {counts}")
    return counts[0], statistics.median(times), result


def sensor_ticks(plan: FaultPlan, s3, stores: dict, sizes: list[int], repeat: int) -> list[dict]:
    """The three ticks per store and size; each size in buckets of its own."""
    rows = []
    settings = ExportSettings(settle_seconds=0)  # objects put a moment ago count as delivered
    for n in sizes:
        for mode, (make_store, root) in stores.items():
            bucket = f"{mode}-{n}"
            s3.create_bucket(Bucket=bucket)
            keys = export_keys(n, root)
            put_directly(bucket, keys)
            store = make_store(bucket)
            months = sorted({k.split("/")[-3] for k in keys})
            recent = sum(k.split("/")[-3] in months[-2:] for k in keys)
            cursor = None  # the first tick ever; then the cursor it leaves
            for kind in ("first", "quiet", "new"):
                if kind == "new":
                    put_directly(bucket, new_delivery_keys(root))
                    recent += FILES
                listed = []

                def tick(store=store, cursor=cursor, listed=listed):
                    counted = CountingStore(store)
                    source = SourceBuckets(DEFAULT_SOURCE, counted, None, settings.layout("focus-export/"))
                    planned = plan_sources_tick(
                        [source], cursor, now=utc_now(), first_day=HISTORY_START, settle_seconds=settings.settle_seconds
                    )
                    listed.append((counted.folders, counted.months, counted.objects))
                    return planned

                requests, ms, planned = measured(plan, tick, 1 if kind == "first" else repeat)
                runs, next_cursor = [(run.day, run.run_key) for run in planned.runs], planned.cursor
                if planned.skipped or planned.waiting:
                    raise SystemExit(f"objects not run: {(planned.skipped + planned.waiting)[:3]}")
                if kind == "first" and len(runs) != len({k.split("/")[-2][:8] for k in keys}):
                    raise SystemExit(f"the first tick planned {len(runs)} runs")
                if kind == "quiet" and (runs or next_cursor != cursor):
                    raise SystemExit(f"a quiet tick planned {runs}")
                if kind == "new" and [day for day, _ in runs] != ["2026-01-06"]:
                    raise SystemExit(f"the new delivery planned {runs}")
                if kind == "first":
                    cursor = next_cursor  # a quiet tick leaves it as it is, so the new delivery's tick gets it too
                folders, months_listed, objects = listed[0]
                rows.append(
                    {
                        "store": mode,
                        "objects_in_bucket": n,
                        "months_in_bucket": len(months),
                        "objects_in_two_latest_months": recent,
                        "tick": kind,
                        "requests": requests,
                        "list_requests": sum(requests.values()),
                        "month_folders_seen": folders,
                        "months_listed": months_listed,
                        "objects_listed": objects,
                        "ms": round(ms, 1),
                    }
                )
    return rows


def partitions_newest_first(count: int) -> list[tuple[str, str]]:
    """`count` earlier partitions: one per delivery, before NEW_DELIVERY."""
    return list(itertools.islice(history_deliveries(NEWEST), count))


def glue_registration(plan: FaultPlan, endpoint: str, earlier_counts: list[int], repeat: int) -> list[dict]:
    """register_partitions for NEW_DELIVERY with 0 / 1,000 partitions already in the catalog."""
    rows = []
    for earlier in earlier_counts:
        database = f"focus_{earlier}"
        glue = GlueCatalog(region_name="us-east-1", database=database, endpoint_url=endpoint)
        location = f"s3://focus-lake/{LAKE_PREFIX}{OUTPUT_TABLE}/"
        glue.ensure_table(location)
        client = glue.client()
        existing = partitions_newest_first(earlier)
        for start in range(0, len(existing), 100):  # Glue takes at most 100 per batch
            client.batch_create_partition(
                DatabaseName=database,
                TableName=OUTPUT_TABLE,
                PartitionInputList=[
                    {
                        "Values": list(p),
                        "StorageDescriptor": {"Location": f"{location}yearmonth={p[0]}/batch_ts={p[1]}/"},
                    }
                    for p in existing[start : start + 100]
                ],
            )
        registered = len(client.get_partitions(DatabaseName=database, TableName=OUTPUT_TABLE)["Partitions"])
        if registered != earlier:
            raise SystemExit(f"{registered} partitions registered, wanted {earlier}")

        def forget(client=client, database=database):  # each repeat registers the same new partition
            client.delete_partition(DatabaseName=database, TableName=OUTPUT_TABLE, PartitionValues=list(NEW_DELIVERY))

        requests, ms, added = measured(
            plan,
            lambda glue=glue, location=location: glue.register_partitions(location, [NEW_DELIVERY]),
            repeat,
            undo=forget,
        )
        if added != 1:
            raise SystemExit(f"register_partitions added {added}")
        rows.append(
            {
                "partitions_already_registered": earlier,
                "day": earlier + 1,
                "requests": requests,
                "glue_calls": sum(requests.values()),
                "ms": round(ms, 1),
            }
        )
    return rows


def msck_listing(plan: FaultPlan, s3, lake, partition_counts: list[int], repeat: int) -> list[dict]:
    """MSCK REPAIR TABLE's cost model: list the whole table prefix, each partition folder holding
    two Parquet files; a bucket per size."""
    rows = []
    for count in partition_counts:
        bucket = f"lake-{count}"
        s3.create_bucket(Bucket=bucket)
        partitions = [NEW_DELIVERY] + partitions_newest_first(count - 1)
        put_directly(
            bucket,
            [
                f"{LAKE_PREFIX}{OUTPUT_TABLE}/yearmonth={month}/batch_ts={stamp}/part-{i}.parquet"
                for month, stamp in partitions
                for i in range(2)
            ],
        )
        store = lake(bucket).get_bucket()
        requests, ms, listed = measured(plan, lambda store=store: store.list_objects(f"{OUTPUT_TABLE}/"), repeat)
        rows.append(
            {
                "partitions_in_lake": count,
                "objects_in_table_prefix": 2 * count,
                "requests": requests,
                "list_requests": sum(requests.values()),
                "objects_listed": len(listed),
                "ms": round(ms, 1),
            }
        )
    return rows


def day_runs(histories: list[int]) -> list[dict]:
    """The six assets for 2026-01-05 on the aws deployment, after a real run of 2026-01-03 and
    `history` more deliveries put into earlier months (local_aws.add_history)."""
    import dagster as dg
    import pytest

    from focus_assets.alibaba.assets import ASSETS
    from focus_assets.deployment import resources_for
    from focus_assets_tests.local_aws import add_history, aws_deployment

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    rows = []
    for history in histories:
        with (
            tempfile.TemporaryDirectory(prefix="focus-day-run-") as folder,
            pytest.MonkeyPatch.context() as patch,
            aws_deployment(Path(folder), patch) as deployment,
        ):
            resources = resources_for()
            dg.materialize(ASSETS, partition_key="2026-01-03", resources=resources, run_config=quiet)
            add_history(deployment, history)
            before = deployment.faults.calls.copy()
            started = time.perf_counter()
            result = dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources, run_config=quiet)
            seconds = time.perf_counter() - started
            if not result.success:
                raise SystemExit(f"the day's run failed with {history} earlier deliveries")
            requests = {
                f"{service} {operation}": n
                for (service, operation), n in sorted((deployment.faults.calls - before).items())
            }
            rows.append(
                {
                    "earlier_deliveries": history + 2,
                    "day": history + 3,
                    "requests": requests,
                    "total": sum(requests.values()),
                    "seconds": round(seconds, 2),
                }
            )
    return rows


# --- report ------------------------------------------------------------------------------------------

STORES = {"oss": "OSS (pull)", "s3": "S3 raw (push)"}
TICKS = {"first": "first tick, no cursor", "quiet": "quiet tick", "new": "one new delivery"}


def print_day_runs(days: list[dict]) -> None:
    print("\n3. A day's run (the six assets, aws deployment): requests at the servers by service and operation")
    operations = sorted({op for row in days for op in row["requests"]})
    print(f"{'operation':<28}" + "".join(f"{'day ' + format(row['day'], ','):>12}" for row in days))
    for op in operations:
        print(f"{op:<28}" + "".join(f"{row['requests'].get(op, 0):>12}" for row in days))
    print(f"{'all requests':<28}" + "".join(f"{row['total']:>12}" for row in days))
    print(f"{'wall time (s)':<28}" + "".join(f"{row['seconds']:>12.1f}" for row in days))


def print_tables(sensor: list[dict], glue: list[dict], msck: list[dict]) -> None:
    print(
        "\n1. Sensor tick (plan_sources_tick). LIST requests counted at the server; months: billing-month folders the"
    )
    print("   delimiter listing returned / months whose objects were listed; objects: keys those listings returned")
    print(f"{'store':<15}{'objects':>9}  {'tick':<23}{'LIST req':>9}{'months':>8}{'months':>8}{'objects':>9}{'ms':>10}")
    print(f"{'':<15}{'in bucket':>9}  {'':<23}{'':>9}{'seen':>8}{'listed':>8}{'listed':>9}{'(median)':>10}")
    for row in sensor:
        print(
            f"{STORES[row['store']]:<15}{row['objects_in_bucket']:>9,}  {TICKS[row['tick']]:<23}"
            f"{row['list_requests']:>9}{row['month_folders_seen']:>8}{row['months_listed']:>8}"
            f"{row['objects_listed']:>9,}{row['ms']:>10.1f}"
        )
    print("\n2. Registering one new partition with the Glue API (GlueCatalog.register_partitions)")
    print(f"{'day':>7}{'already registered':>20}  {'Glue calls':<44}{'ms (median)':>12}")
    for row in glue:
        calls = ", ".join(f"{k.split(' ')[1]} {v}" for k, v in sorted(row["requests"].items()))
        print(
            f"{row['day']:>7,}{row['partitions_already_registered']:>20,}  {row['glue_calls']:>2} ({calls})"
            f"{'':<{max(0, 39 - len(calls))}}{row['ms']:>12.1f}"
        )
    print("\n   MSCK REPAIR TABLE's cost model: list the whole table prefix in S3 (2 files per partition)")
    print(f"{'partitions in lake':>19}{'objects':>9}{'LIST req':>10}{'objects listed':>16}{'ms (median)':>13}")
    for row in msck:
        print(
            f"{row['partitions_in_lake']:>19,}{row['objects_in_table_prefix']:>9,}{row['list_requests']:>10}"
            f"{row['objects_listed']:>16,}{row['ms']:>13.1f}"
        )


def conclusion(sensor: list[dict], glue: list[dict], msck: list[dict], setup: dict) -> str:
    def pick(store, kind):
        return [r for r in sensor if r["store"] == store and r["tick"] == kind]

    sizes = sorted({r["objects_in_bucket"] for r in sensor})
    flat = {}
    for store in STORES:
        for kind in ("quiet", "new"):
            rows = pick(store, kind)
            flat[store, kind] = (
                len({r["list_requests"] for r in rows}) == 1 and len({r["objects_listed"] for r in rows}) == 1
            )
    quiet = {store: pick(store, "quiet") for store in STORES}
    first = {store: pick(store, "first") for store in STORES}
    glue_flat = (
        len({r["glue_calls"] for r in glue}) == 1
        and len({json.dumps(r["requests"], sort_keys=True) for r in glue}) == 1
    )
    all_flat = all(flat.values())
    recent = quiet["oss"][0]["objects_in_two_latest_months"]
    parts = [
        f"From {sizes[0]:,} to {sizes[-1]:,} export objects ({quiet['oss'][0]['months_in_bucket']} to "
        f"{quiet['oss'][-1]['months_in_bucket']} billing months), a sensor tick is "
        + ("flat" if all_flat else "NOT flat")
        + ": a quiet tick makes "
        + " and ".join(f"{quiet[s][0]['list_requests']} LIST requests on {STORES[s]}" for s in STORES)
        + f" at every size and lists the same {recent} objects, and a tick with one new delivery lists "
        f"{pick('oss', 'new')[0]['objects_listed']} objects in "
        f"{pick('oss', 'new')[0]['list_requests']} requests, because the sensor lists the billing-month folders "
        f"(one delimiter listing, up to {PAGE:,} months a page) and then only the two latest months "
        f"(ceil(objects in a month / {PAGE:,}) requests each) and never the older months the cursor marks final. "
        f"Only the first tick ever, with no cursor, lists every month once ("
        + ", ".join(f"{r['list_requests']} requests at {r['objects_in_bucket']:,}" for r in first["oss"])
        + " on OSS). A quiet tick's wall time on moto: "
        + ", ".join(
            f"{STORES[s]} {quiet[s][0]['ms']:.0f} ms at {sizes[0]:,} and {quiet[s][-1]['ms']:.0f} ms at {sizes[-1]:,}"
            for s in STORES
        )
        + f"; the S3 store builds its boto3 client once (~{setup['s3_client_ms']:.0f} ms, dagster-aws's "
        "S3Resource.get_client), and moto adds time with the bucket's size because it scans every "
        "key to answer a prefix listing, where S3 and OSS look keys up in an index.",
        f"Registering a new partition makes {glue[0]['glue_calls']} Glue calls on day {glue[0]['day']:,} and "
        f"{glue[-1]['glue_calls']} on day {glue[-1]['day']:,} (one GetPartition per new partition, one "
        f"BatchCreatePartition), {glue[0]['ms']:.0f} vs {glue[-1]['ms']:.0f} ms: "
        + ("flat" if glue_flat else "NOT flat")
        + f"; MSCK REPAIR TABLE would list the whole table prefix: "
        f"{msck[0]['list_requests']} LIST request(s) and {msck[0]['objects_listed']:,} objects with "
        f"{msck[0]['partitions_in_lake']:,} partition(s), {msck[-1]['list_requests']} and "
        f"{msck[-1]['objects_listed']:,} objects ({msck[-1]['ms']:.0f} ms here) with "
        f"{msck[-1]['partitions_in_lake']:,}, growing with every day kept (and Hive's checker lists each "
        f"partition folder, so a real MSCK costs more, not less).",
    ]
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: 100 and 1,000 objects, 100 partitions")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measured tick or call; the median is shown")
    parser.add_argument("--json", type=Path, default=None, help="where to write the figures")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000]
    earlier = [0, 100] if args.quick else [0, 1_000]
    lake_partitions = [1, 101] if args.quick else [1, 1_001]
    repeat = args.repeat or (2 if args.quick else 5)
    out = args.json or (
        HERE / ".data" / "incremental-quick.json" if args.quick else HERE / "results" / "incremental.json"
    )

    started = time.perf_counter()
    plan = FaultPlan()  # no faults: only its request counts
    with aws_and_oss(plan) as (aws, oss):
        s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
        s3_resource = S3Resource(endpoint_url=aws, region_name="us-east-1")
        stores = {
            "oss": (
                lambda bucket: OssStore(
                    endpoint=oss, bucket=bucket, access_key_id="LTAI-bench", access_key_secret="bench"
                ),
                "",
            ),
            "s3": (lambda bucket: S3Store(s3=s3_resource, bucket=bucket, prefix=RAW_PREFIX), RAW_PREFIX),
        }
        print(
            f"sensor ticks: {', '.join(f'{n:,}' for n in sizes)} objects, {FILES} files per daily delivery, "
            f"{repeat} runs per tick",
            flush=True,
        )
        sensor = sensor_ticks(plan, s3, stores, sizes, repeat)
        print("partition registration", flush=True)
        glue = glue_registration(plan, aws, earlier, repeat)
        msck = msck_listing(
            plan, s3, lambda bucket: S3Store(s3=s3_resource, bucket=bucket, prefix=LAKE_PREFIX), lake_partitions, repeat
        )
        # What the stores pay before any request: S3Store builds a boto3 client once
        # (dagster-aws's S3Resource.get_client), OssStore an oss2.Bucket per call.
        setup = {
            "s3_client_ms": measured(plan, s3_resource.get_client, max(repeat, 5))[1],
            "oss_bucket_ms": measured(plan, lambda: stores["oss"][0]("oss-100").get_bucket(), max(repeat, 5))[1],
        }
        setup = {k: round(v, 1) for k, v in setup.items()}
    print("a day's run on the aws deployment", flush=True)
    days = day_runs([0, 97] if args.quick else [0, 997])  # day 3 and day 100 or 1,000
    print_tables(sensor, glue, msck)
    print_day_runs(days)
    print(
        f"\n   opening a store, no request: S3Store (its boto3 client, once) {setup['s3_client_ms']:.0f} ms, "
        f"OssStore {setup['oss_bucket_ms']:.1f} ms (median)"
    )
    text = conclusion(sensor, glue, msck, setup) + (
        f" A day's run makes {days[0]['total']} requests on day {days[0]['day']:,} and {days[-1]['total']} on day "
        f"{days[-1]['day']:,}: "
        + ("the same, operation by operation" if days[0]["requests"] == days[-1]["requests"] else "NOT the same")
        + " (it lists only its own deliveries' folders and reads "
        "the ledger rows of their months only)."
    )
    print(f"\n{text}\n\n({time.perf_counter() - started:.0f} s in all)")

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "benchmarks/incremental.py" + (" --quick" if args.quick else ""),
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                },
                "setup": {
                    "server": "moto (in-process, werkzeug, 127.0.0.1); OSS through the OSS-dialect adapter, oss2 client",
                    "files_per_delivery": FILES,
                    "newest_delivery": NEWEST.isoformat(),
                    "new_delivery": list(NEW_DELIVERY),
                    "keys_per_list_page": PAGE,
                    "repeat": repeat,
                    "time": "median wall time of one call, client and server on the same machine",
                },
                "sensor_ticks": sensor,
                "store_setup": setup,
                "glue_register_partitions": glue,
                "msck_cost_model": msck,
                "day_runs": days,
                "conclusion": text,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"figures written to {out.relative_to(HERE.parent) if out.is_relative_to(HERE.parent) else out}")


if __name__ == "__main__":
    main()
