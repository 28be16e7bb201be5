from datetime import UTC, datetime
from decimal import Decimal

import pytest

from focus_assets.focus import values

UTC = UTC


@pytest.mark.parametrize(
    "text, expected, localized",
    [
        ("2026-01-01 00:00:00", datetime(2025, 12, 31, 16, tzinfo=UTC), True),
        ("2026-01-01T00:00:00", datetime(2025, 12, 31, 16, tzinfo=UTC), True),
        ("2026-01-01T00:00:00+08:00", datetime(2025, 12, 31, 16, tzinfo=UTC), False),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, 0, tzinfo=UTC), False),
        ("2026-01-01T00:00:00.123+0800", datetime(2025, 12, 31, 16, 0, 0, 123000, tzinfo=UTC), False),
        ("2026-01-01 08:00", datetime(2026, 1, 1, 0, tzinfo=UTC), True),
        ("2026-01-01", datetime(2025, 12, 31, 16, tzinfo=UTC), True),
        ("2026/1/5 08:00:00", datetime(2026, 1, 5, 0, tzinfo=UTC), True),
        (" 2026-01-01T00:00:00-05:00 ", datetime(2026, 1, 1, 5, tzinfo=UTC), False),
    ],
)
def test_timestamps_without_offset_are_read_in_the_source_timezone(text, expected, localized):
    assert values.parse_timestamp(text, "Asia/Shanghai") == (expected, localized)


@pytest.mark.parametrize("text", ["garbage", "2026-13-01 00:00:00", "2026-02-30", "1/5/2026", "", "20260101 25:00"])
def test_unparseable_timestamps_give_none(text):
    assert values.parse_timestamp(text, "Asia/Shanghai") == (None, False)


def test_localize_off_reads_naive_values_as_utc():
    assert values.parse_timestamp("2026-01-01 00:00:00", "Asia/Shanghai", localize=False) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        False,
    )


def test_billing_month_is_taken_in_the_source_timezone():
    # The last 8 hours of a UTC+8 month are already the next month there.
    assert values.billing_month(datetime(2026, 1, 31, 16, tzinfo=UTC), "Asia/Shanghai") == "202602"
    assert values.billing_month(datetime(2026, 1, 31, 15, 59, tzinfo=UTC), "Asia/Shanghai") == "202601"


def test_names_map_explicitly_then_numeric_default_else_kept():
    assert values.map_name("1001", {}, "Alibaba Cloud") == "Alibaba Cloud"
    assert (
        values.map_name("5010", {"5010": "Alibaba Cloud (Singapore) Private Limited"}, None)
        == "Alibaba Cloud (Singapore) Private Limited"
    )
    assert values.map_name("5020", {}, None) == "5020"  # no default: kept as delivered
    assert values.map_name("Alibaba", {}, "Alibaba Cloud") == "Alibaba"


def test_tags_with_nested_values_are_flattened_to_json_text():
    flat, error = values.flatten_tags_json('{"a":{"b":1},"l":[1,"x"],"n":1e5,"x":NaN,"s":"v","t":true,"z":null}')
    assert error is None
    assert flat == '{"a":"{\\"b\\":1}","l":"[1,\\"x\\"]","n":1e5,"x":"NaN","s":"v","t":true,"z":null}'


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{bad", "invalid JSON"),
        ("[1,2]", "not a JSON object (a JSON list)"),
        ("3", "not a JSON object (a JSON number)"),
        ('"text"', "not a JSON object (a JSON str)"),
    ],
)
def test_tags_that_are_not_objects_are_reported(text, reason):
    flat, error = values.flatten_tags_json(text)
    assert flat is None and error.startswith(reason)


def test_exact_decimals():
    assert values.exact_decimal("1.5E-3") == Decimal("0.0015")
    assert values.exact_decimal(" -12.50 ") == Decimal("-12.50")
    assert values.exact_decimal("NaN") is None and values.exact_decimal("Infinity") is None
    assert values.exact_decimal("1,234.5") is None and values.exact_decimal("¥12") is None
    assert values.round_to_scale(Decimal("0.12345678905")) == Decimal("0.1234567890")  # half to even
    assert values.round_to_scale(Decimal("0.12345678915")) == Decimal("0.1234567892")
    assert values.fits_integer_digits(Decimal("9" * 28)) and not values.fits_integer_digits(Decimal("1" + "0" * 28))
