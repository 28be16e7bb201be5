"""The bad-input corpus (corpus.py): every case has exactly its expected outcome, and no row is
lost on the way; a failing object fails its Dagster partition with one line and publishes nothing."""

import re

import dagster as dg
import pytest

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import local_resources
from focus_assets.focus.source import ExportFileError
from focus_assets.focus.transform import convert_object
from focus_assets.samples.alibaba import sample_deliveries, write_delivery

from .corpus import CASES, Failed, Quarantined, Typed, summary
from .helpers import read_outputs

FOLDER = "focus-export/202601/20260106T080000/"

# Every case the corpus was asked for: deleting one makes this fail.
REQUIRED_CASES = {
    "truncated.csv.gz",
    "corrupt.zip",
    "zip_without_csv.zip",
    "empty_object.csv",
    "header_only.csv",
    "html_error_page.csv",
    "pdf_file.csv",
    "semicolon_delimited.csv",
    "duplicated_header_column.csv",
    "missing_billedcost.csv",
    "latin1_bytes.csv",
    "too_many_fields.csv",
    "too_few_fields.csv",
    "unterminated_quote.csv",
    "embedded_newlines.csv",
    "bom.csv",
    "crlf.csv",
    "money_thousands_separator.csv",
    "money_currency_symbol.csv",
    "money_nan.csv",
    "money_infinity.csv",
    "timestamp_space_no_offset.csv",
    "timestamp_iso_t_no_offset.csv",
    "timestamp_iso_z.csv",
    "timestamp_offset_0800.csv",
    "timestamp_milliseconds.csv",
    "timestamp_slashes.csv",
    "timestamp_garbage.csv",
    "tags_invalid_json.csv",
    "tags_nested_object.csv",
    "tags_array.csv",
    "tags_duplicate_keys.csv",
    "tags_very_long.csv",
    "tags_unicode.csv",
    "one_mb_field.csv",
    "zip_bomb.zip",
}


def test_the_corpus_has_every_required_case_once():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert REQUIRED_CASES - set(names) == set()


def test_the_corpus_size_quoted_in_the_readme():
    assert summary() == {"cases": 46, "Typed": 20, "Quarantined": 10, "Failed": 16}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case(tmp_path, case):
    key = FOLDER + case.name
    source = tmp_path / "in" / key
    source.parent.mkdir(parents=True)
    source.write_bytes(case.build())
    out = tmp_path / "out"
    expected = case.expected

    if isinstance(expected, Failed):
        with pytest.raises(ExportFileError) as caught:
            convert_object(source, key, out, case.settings)
        message = str(caught.value)
        assert re.fullmatch(re.escape(key) + expected.message_regex, message), message
        assert not [p for p in out.rglob("*") if p.is_file()]  # no Parquet of the object, no staging file
        return

    report = convert_object(source, key, out, case.settings)
    typed, quarantined = read_outputs(report, "output"), read_outputs(report, "quarantine_output")
    reconciliation = report.reconciliation
    assert reconciliation.mismatches() == []  # rows and money per currency: read = written + quarantined
    assert (reconciliation.rows_written, reconciliation.rows_quarantined) == (typed.height, quarantined.height)

    if isinstance(expected, Typed):
        assert typed.height == expected.rows and quarantined.is_empty()
        for column, values in expected.values.items():
            assert typed[column].to_list() == values, column
    else:
        assert isinstance(expected, Quarantined)
        assert typed.height == expected.typed_rows
        [row] = quarantined.to_dicts()
        assert (row["x_SourceObject"], row["x_SourceLine"], row["column"]) == (key, expected.line, expected.column)
        assert row["reason"].startswith(expected.reason_startswith), row["reason"]
        assert row["raw_values"][expected.column] == expected.raw
        assert dict(report.members[0].quarantined_by_column) == {expected.column: 1}


def test_a_failing_object_fails_its_partition_in_one_line_and_publishes_nothing_of_the_day(tmp_path):
    """truncated.csv.gz beside a good delivery of 5 January: the partition fails with a dg.Failure
    naming the object and the problem, and the views keep showing only the day before."""
    deliveries = {d.batch_ts: d for d in sample_deliveries()}
    for stamp in ("20260104T070000", "20260105T080000"):
        write_delivery(tmp_path / "oss", deliveries[stamp])
    bad_key = "focus-export/202601/20260105T080000/truncated.csv.gz"
    (tmp_path / "oss" / bad_key).write_bytes(next(c for c in CASES if c.name == "truncated.csv.gz").build())
    resources = local_resources(tmp_path)
    assert dg.materialize(ASSETS, partition_key="2026-01-04", resources=resources).success

    result = dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "typed_focus_parquet"
    error = failure.step_failure_data.error
    message = error.message.strip()
    assert error.cls_name == "Failure", error.cls_name
    assert "\n" not in message, message
    assert f"{bad_key}: corrupt or truncated compressed data" in message
    current = resources["warehouse"].query("SELECT DISTINCT batch_ts FROM alibaba_focus WHERE yearmonth = '202601'")
    assert current == [("20260104T070000",)]  # nothing of 5 January, neither the bad object nor the good one
