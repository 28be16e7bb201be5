"""Names that reach SQL, policies or paths: the rules of focus_assets/focus/names.py."""

import pytest

from focus_assets.focus import names
from focus_assets.focus.names import UnsafeNameError
from focus_assets.focus.schema import promoted_tag_column
from focus_assets.focus.settings import TransformSettings

# Strings that try to leave an identifier, a quoted literal or a path, or look like a name and
# are not (Cyrillic 'о', fullwidth letters, a zero-width space, a right-to-left override).
INJECTIONS = [
    "focus; DROP TABLE x",
    "a' OR '1'='1",
    'x" --',
    "`x`",
    "a b",
    "f\u043ecus",
    "\uff46ocus",
    "fo\u200bcus",
    "focus\u202e",
    "x\ny",
    "x\x00",
    "",
    "a" * 1100,
    "${AWS_ACCOUNT_ID}",
    "a*",
]
TRAVERSALS = [
    "../etc",
    "a/../../b",
    "/abs",
    "a\\..\\b",
    "a/./b",
    "..",
    ".",
    "a//b",
    "\uff0e\uff0e/etc",
    "a\uff0f\uff0e\uff0e\uff0fb",
]

NAMED = [  # function, a valid value (what it returns), its setting name
    (names.athena_database, "focus_2026", "FOCUS_ATHENA_DATABASE"),
    (names.table_name, "cur_focus_12", "FOCUS_SOURCE_AWS_FOCUS_1_2_TABLE"),
    (names.workgroup, "finops-team.v2", "FOCUS_ATHENA_WORKGROUP"),
    (names.bucket, "my-lake.bucket-1", "FOCUS_LAKE_BUCKET"),
    (names.tag_key, "CostCenter", "promoted_tags"),
]


@pytest.mark.parametrize("check, valid, setting", NAMED, ids=[f[0].__name__ for f in NAMED])
def test_valid_names_are_returned_unchanged(check, valid, setting):
    assert check(valid, setting) == valid


@pytest.mark.parametrize("value", INJECTIONS + TRAVERSALS)
@pytest.mark.parametrize("check, valid, setting", NAMED, ids=[f[0].__name__ for f in NAMED])
def test_injections_and_traversals_are_refused_naming_the_setting(check, valid, setting, value):
    with pytest.raises(UnsafeNameError) as refused:
        check(value, setting)
    message = str(refused.value)
    assert message.startswith(f"{setting}=") and "is refused: " in message and "\n" not in message
    assert repr(value)[:40] in message  # the value, as repr (long ones shortened)


def test_the_rules_in_detail():
    assert names.table_name("glue_db.cur_focus") == "glue_db.cur_focus"
    for bad in ("1table", "a.b.c", "a.", ".a", "a-b"):
        with pytest.raises(UnsafeNameError):
            names.table_name(bad)
    for bad in ("Focus", "focus-db"):
        with pytest.raises(UnsafeNameError, match="lowercase letters"):
            names.athena_database(bad)
    assert names.athena_database("a" * 255) and names.workgroup("w" * 128) and names.tag_key("T" * 63)
    for check, too_long in (
        (names.athena_database, "a" * 256),
        (names.workgroup, "w" * 129),
        (names.tag_key, "T" * 64),
        (names.table_name, "t" * 256),
        (names.bucket, "b" * 64),
    ):
        with pytest.raises(UnsafeNameError):
            check(too_long)
    for bad in ("ab", "-abc", "abc-", "a..b", "ABC", "a_b", "a b c"):
        with pytest.raises(UnsafeNameError, match="3 to 63"):
            names.bucket(bad, "FOCUS_RAW_BUCKET")
    assert names.bucket("abc") == "abc"
    with pytest.raises(UnsafeNameError, match=r"^FOCUS_ATHENA_DATABASE=None is refused"):
        names.athena_database(None)


def test_key_prefixes_are_normalised_as_folders():
    assert names.key_prefix("") == ""
    assert names.key_prefix("a") == "a/"
    assert names.key_prefix("a/b/") == "a/b/"
    assert names.key_prefix("yearmonth=202601/focus-export_v1.2") == "yearmonth=202601/focus-export_v1.2/"


@pytest.mark.parametrize("value", [v for v in INJECTIONS + TRAVERSALS if v] + ["%2e%2e/", "a/%2e%2e/b", "/"])
def test_key_prefixes_refuse_injections_traversals_and_percent(value):
    # A configured prefix allows A-Za-z0-9._=- between slashes only: '%' (and so '%2e%2e') is
    # refused outright, as are '*' and '${...}', which would widen an IAM or RAM grant.
    with pytest.raises(UnsafeNameError) as refused:
        names.key_prefix(value, "FOCUS_RAW_PREFIX")
    assert str(refused.value).startswith("FOCUS_RAW_PREFIX=") and "relative folder" in str(refused.value)


@pytest.mark.parametrize(
    "key",
    [
        "focus-export/202601/20260105T080000/1234_26842_BillingItemDetail_202601.zip",
        "账单/202601/bill 1.csv.gz",  # any printable character, spaces and CJK included
        "it's; DROP TABLE x.csv",  # quotes are data here: keys never reach SQL text
        "%2e%2e/x.csv",  # not decoded anywhere: a folder literally named '%2e%2e'
        "folder/",  # a folder marker
        "a/.hidden/...",
    ],
)
def test_object_keys_that_are_plain_relative_paths_are_accepted_verbatim(key):
    assert names.object_key(key) == key


@pytest.mark.parametrize(
    "key", TRAVERSALS + ["", "a\x00b", "a\tb", "a\u202eb", "a*", "a?", "a[1].csv", "é" * 600, "a\ud800"]
)
def test_object_keys_that_leave_their_folder_or_hide_characters_are_refused(key):
    with pytest.raises(UnsafeNameError) as refused:
        names.object_key(key)
    assert str(refused.value).startswith("object key=")


def test_s3_uris():
    assert names.s3_uri("s3://results-bucket/athena/out") == "s3://results-bucket/athena/out/"
    assert names.s3_uri("s3://results-bucket") == "s3://results-bucket/"
    assert names.split_s3_uri("s3://results-bucket/a/b/") == ("results-bucket", "a/b/")
    for bad in (
        "https://results-bucket/x",
        "s3://Results/x",
        "s3://results-bucket/../x",
        "s3://results-bucket//x",
        "s3://results-bucket/x'; DROP",
        "s3://bucket*/x",
        "results-bucket/x",
        None,
    ):
        with pytest.raises(UnsafeNameError, match="^FOCUS_ATHENA_OUTPUT="):
            names.s3_uri(bad)


def test_promoted_tags_are_checked_where_they_become_columns():
    assert promoted_tag_column("CostCenter").name == "x_TagCostCenter"
    with pytest.raises(UnsafeNameError, match="^promoted tag="):
        promoted_tag_column('a" VARCHAR, evil')
    with pytest.raises(UnsafeNameError, match=r"^promoted_tags='cost-center' is refused"):
        TransformSettings(promoted_tags=("Brand", "cost-center"))
    with pytest.raises(UnsafeNameError, match=r"^promoted_tags='brand' is refused: it repeats 'Brand'"):
        TransformSettings(promoted_tags=("Brand", "brand"))
    assert TransformSettings(promoted_tags=("Team",)).promoted_tags == ("Team",)


def test_source_tables_are_checked_before_they_reach_the_sql(tmp_path):
    import duckdb

    from focus_assets.sql_layer import SourceTable, apply_to_duckdb, configured_sql, load_objects

    [adapter] = [o for o in load_objects() if o.name == "focus_source_azure"]
    assert "FROM azure_focus" in configured_sql(adapter, {"azure": SourceTable("azure_focus")}).replace("\n", " ")
    with pytest.raises(UnsafeNameError, match=r"^FOCUS_SOURCE_AZURE_TABLE='x; DROP TABLE y' is refused"):
        configured_sql(adapter, {"azure": SourceTable("x; DROP TABLE y")})
    # On DuckDB the source's file path is a quoted literal: a quote in it stays in the literal.
    folder = tmp_path / "it's here"
    folder.mkdir()
    (folder / "costs.csv").write_text("BilledCost\n1\n")
    with duckdb.connect() as connection:
        apply_to_duckdb(
            connection, tmp_path / "lake", {"datacenter": SourceTable("dc_costs", folder / "costs.csv")}, names=set()
        )
        assert connection.execute("SELECT BilledCost FROM dc_costs").fetchall() == [("1",)]
        with pytest.raises(UnsafeNameError, match="^FOCUS_SOURCE_DATACENTER_TABLE="):
            apply_to_duckdb(
                connection, tmp_path / "lake", {"datacenter": SourceTable('dc" AS SELECT 1; --', folder)}, names=set()
            )


def test_convert_refuses_an_unsafe_promoted_tag_in_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "focus_assets.cli",
            "convert",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--promoted-tags",
            "Brand,x VARCHAR); DROP TABLE t; --",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("focus-assets: error: promoted_tags='x VARCHAR); DROP TABLE t; --' is refused")
