"""Alibaba services to FOCUS 1.2 ServiceCategory and ServiceSubcategory.

The map is data shipped in the package, `alibaba_services.csv`: one row per Alibaba product code
(the billing ProductCode, matched against x_CommodityCode) and service name, with its FOCUS 1.2
category and subcategory and the public page its name (and code) comes from. A row is matched by
code first, then by name (both case-insensitive). A service the map lacks gets `Other (<category>)`
and is counted, so the map can grow (docs/focus-upgrade.md).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .schema import SERVICE_SUBCATEGORIES

MAP_FILE = "alibaba_services.csv"
COLUMNS = ["product_code", "service_name", "service_category", "service_subcategory", "source"]


class ServiceMapError(ValueError):
    """The service map has a row FOCUS does not allow, or two rows that disagree."""


@dataclass(frozen=True)
class ServiceMap:
    by_code: dict[str, tuple[str, str]]  # lower-case product code -> (category, subcategory)
    by_name: dict[str, tuple[str, str]]  # lower-case service name -> (category, subcategory)
    rows: int


def other_subcategory(category: str) -> str | None:
    """The `Other (...)` subcategory of a FOCUS 1.2 category; None for a category FOCUS lacks."""
    return f"Other ({category})" if category in SERVICE_SUBCATEGORIES else None


def parse_service_map(text: str, origin: str = MAP_FILE) -> ServiceMap:
    """Read and check the map: every pair allowed by FOCUS 1.2, a code or name never mapped two ways."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != COLUMNS:
        raise ServiceMapError(f"{origin}: the header must be {','.join(COLUMNS)}, not {reader.fieldnames}")
    by_code: dict[str, tuple[str, str]] = {}
    by_name: dict[str, tuple[str, str]] = {}
    rows = 0
    for line, row in enumerate(reader, start=2):
        pair = (row["service_category"], row["service_subcategory"])
        if pair[1] not in SERVICE_SUBCATEGORIES.get(pair[0], ()):
            raise ServiceMapError(f"{origin}, line {line}: {pair[0]} > {pair[1]} is not a FOCUS 1.2 subcategory")
        if not row["service_name"]:
            raise ServiceMapError(f"{origin}, line {line}: service_name is empty")
        for key, mapping, column in (
            (row["product_code"].lower(), by_code, "product_code"),
            (row["service_name"].lower(), by_name, "service_name"),
        ):
            if key and mapping.setdefault(key, pair) != pair:
                raise ServiceMapError(f"{origin}, line {line}: {column} {key!r} is mapped to {mapping[key]} before")
        rows += 1
    return ServiceMap(by_code, by_name, rows)


@cache
def service_map() -> ServiceMap:
    """The map shipped in the package."""
    return parse_service_map((resources.files("focus_assets.focus") / MAP_FILE).read_text(encoding="utf-8"))
