from datetime import UTC, datetime

import pytest

from focus_assets.focus.delivery import DeliveryError, normalize_batch_ts, resolve_delivery
from focus_assets.focus.settings import DEFAULT_KEY_PATTERN


@pytest.mark.parametrize(
    "key, yearmonth, batch_ts",
    [
        ("focus/202601/20260105T080000/123_1_BillingItemDetail_202601.csv.gz", "202601", "20260105T080000"),
        ("bills/yearmonth=202601/batch_ts=20260105T080000/part.csv", "202601", "20260105T080000"),
        ("2026-01/2026-01-05T08:00:00Z/a.zip", "202601", "20260105T080000"),
        ("export/202512/20260103/x.zip", "202512", "20260103T000000"),
        ("202601/20260105_0800/x.csv", "202601", "20260105T080000"),
    ],
)
def test_billing_month_and_delivery_stamp_come_from_the_key(key, yearmonth, batch_ts):
    delivery = resolve_delivery(key, DEFAULT_KEY_PATTERN)
    assert (delivery.yearmonth, delivery.batch_ts, delivery.batch_ts_source) == (yearmonth, batch_ts, "key")


def test_without_a_stamp_in_the_key_the_last_modified_time_is_used_and_said():
    delivery = resolve_delivery(
        "flat/123_1_BillingItemDetail_202601.zip",
        DEFAULT_KEY_PATTERN,
        last_modified=datetime(2026, 1, 5, 9, 30, 15, tzinfo=UTC),
    )
    assert (delivery.yearmonth, delivery.batch_ts, delivery.batch_ts_source) == (
        "202601",
        "20260105T093015",
        "last_modified",
    )


def test_an_explicit_stamp_wins_and_a_key_without_month_leaves_it_to_the_rows():
    delivery = resolve_delivery("some/file.csv", DEFAULT_KEY_PATTERN, batch_ts="2026-01-05")
    assert (delivery.yearmonth, delivery.batch_ts, delivery.batch_ts_source) == (None, "20260105T000000", "argument")


def test_a_custom_pattern():
    pattern = r"bill_(?P<yearmonth>\d{4}-\d{2})/run-(?P<batch_ts>\d{8})/"
    delivery = resolve_delivery("bill_2026-01/run-20260105/x.csv", pattern)
    assert (delivery.yearmonth, delivery.batch_ts) == ("202601", "20260105T000000")


def test_no_stamp_anywhere_is_an_error_naming_the_key():
    with pytest.raises(DeliveryError, match="flat/x.csv"):
        resolve_delivery("flat/x.csv", DEFAULT_KEY_PATTERN)


@pytest.mark.parametrize("text", ["2026", "20261305", "2026-01-32", "abc"])
def test_bad_stamps_are_refused(text):
    with pytest.raises(DeliveryError):
        normalize_batch_ts(text)
