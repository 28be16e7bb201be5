"""FOCUS 1.2 columns derived from what Alibaba delivers: the service map, ServiceCategory and
ServiceSubcategory, PricingCurrency and the account types; each a switch, each flagged per row."""

import csv
import io
from importlib import resources

import polars as pl
import pytest

from focus_assets.focus.derivations import ALIBABA_CLOUD_ACCOUNT, MEMBER_ACCOUNT
from focus_assets.focus.rules import focus_rule_violations
from focus_assets.focus.schema import SERVICE_SUBCATEGORIES
from focus_assets.focus.services import MAP_FILE, ServiceMapError, parse_service_map, service_map
from focus_assets.focus.settings import Derivations, TransformSettings

from .helpers import convert_text, csv_text

ROWS = [
    # a delivered category is kept; the map gives the subcategory
    {"x_CommodityCode": "ecs", "ServiceName": "Elastic Compute Service", "ServiceCategory": "Compute"},
    # Alibaba left the category null: derived from the code
    {"x_CommodityCode": "ECS", "ServiceName": "Elastic Compute Service", "ServiceCategory": ""},
    # no code in the map: matched by name, case-insensitively
    {"x_CommodityCode": "", "ServiceName": "object storage service", "ServiceCategory": ""},
    # a service the map lacks, its category delivered
    {"x_CommodityCode": "acme_widget", "ServiceName": "Acme Widget", "ServiceCategory": "Storage"},
    # a service the map lacks, no category
    {"x_CommodityCode": "acme_widget", "ServiceName": "Acme Widget", "ServiceCategory": ""},
    # the map files ApsaraDB RDS under Databases; Alibaba delivered another category, which wins
    {"x_CommodityCode": "rds", "ServiceName": "ApsaraDB RDS", "ServiceCategory": "Analytics"},
]
ACCOUNTS = [
    {"BillingAccountId": "1111", "SubAccountId": "1111", "BillingCurrency": "CNY"},
    {"BillingAccountId": "1111", "SubAccountId": "2222", "BillingCurrency": "USD"},
    {"BillingAccountId": "1111", "SubAccountId": "", "BillingCurrency": "CNY"},
]


def typed_rows(tmp_path, rows, derivations: Derivations | None = None):
    settings = TransformSettings(derivations=derivations or Derivations())
    report, typed, _ = convert_text(tmp_path, csv_text(rows), settings=settings)
    [member] = report.members
    return member, typed.sort("x_SourceLine")


def changes(typed, prefixes=("Service", "Pricing", "BillingAccountType", "SubAccountType")):
    return [sorted(c for c in row if c.startswith(prefixes)) for row in typed["x_SourceChanges"].to_list()]


def test_service_category_and_subcategory(tmp_path):
    member, typed = typed_rows(tmp_path, ROWS)
    assert typed["ServiceCategory"].to_list() == ["Compute", "Compute", "Storage", "Storage", "Other", "Analytics"]
    assert typed["ServiceSubcategory"].to_list() == [
        "Virtual Machines",
        "Virtual Machines",
        "Object Storage",
        "Other (Storage)",
        "Other (Other)",
        "Other (Analytics)",
    ]
    assert [[c for c in row if c.startswith("Service")] for row in changes(typed)] == [
        ["ServiceSubcategory:derived"],
        ["ServiceCategory:derived", "ServiceSubcategory:derived"],
        ["ServiceCategory:derived", "ServiceSubcategory:derived"],
        ["ServiceSubcategory:unmapped"],
        ["ServiceCategory:derived", "ServiceSubcategory:unmapped"],
        ["ServiceSubcategory:category_differs"],
    ]
    # what the map lacks is counted, so it can grow
    assert member.to_dict()["services_not_in_the_map"] == {"acme_widget / Acme Widget": 2}
    assert member.repairs["ServiceCategory:derived"] == 3


def test_pricing_currency_and_account_types(tmp_path):
    _, typed = typed_rows(tmp_path, ACCOUNTS)
    assert typed["PricingCurrency"].to_list() == ["CNY", "USD", "CNY"]
    assert typed["BillingAccountType"].to_list() == [ALIBABA_CLOUD_ACCOUNT] * 3
    assert typed["SubAccountType"].to_list() == [ALIBABA_CLOUD_ACCOUNT, MEMBER_ACCOUNT, None]
    assert [[c for c in row if not c.startswith("Service")] for row in changes(typed)] == [
        ["BillingAccountType:derived", "PricingCurrency:derived", "SubAccountType:derived"],
        ["BillingAccountType:derived", "PricingCurrency:derived", "SubAccountType:derived"],
        ["BillingAccountType:derived", "PricingCurrency:derived"],
    ]


@pytest.mark.parametrize("switch", ["service_categories", "pricing_currency", "account_types"])
def test_each_derivation_is_a_switch(tmp_path, switch):
    columns = {
        "service_categories": ["ServiceSubcategory"],
        "pricing_currency": ["PricingCurrency"],
        "account_types": ["BillingAccountType", "SubAccountType"],
    }
    off = Derivations(**{switch: False})
    _, typed = typed_rows(tmp_path, [{**a, **r} for a, r in zip(ACCOUNTS * 2, ROWS, strict=True)], off)
    for name in columns[switch]:
        assert typed[name].null_count() == typed.height, name
    flagged = {c.split(":")[0] for row in changes(typed) for c in row}
    assert not flagged & set(columns[switch]) and flagged  # the other derivations still ran
    if switch == "service_categories":  # the delivered category as it came, nulls included
        assert typed["ServiceCategory"].to_list() == ["Compute", None, None, "Storage", None, "Analytics"]


def test_the_service_map_is_valid_sourced_and_covers_the_common_services():
    known = service_map()
    assert known.rows >= 60
    text = (resources.files("focus_assets.focus") / MAP_FILE).read_text()
    sources = [row["source"] for row in csv.DictReader(io.StringIO(text))]
    assert all(s.startswith("https://") for s in sources), "every row names the public page it comes from"
    for name in (
        "elastic compute service",
        "object storage service",
        "apsaradb rds",
        "server load balancer",
        "application load balancer",
        "network load balancer",
        "alibaba cloud cdn",
        "virtual private cloud",
        "elastic ip address",
        "nat gateway",
        "container service for kubernetes",
        "function compute",
        "maxcompute",
        "polardb",
        "tair (redis oss-compatible)",
        "simple log service",
        "cloudmonitor",
        "web application firewall",
        "anti-ddos",
        "cloud firewall",
        "dataworks",
        "hologres",
    ):
        category, subcategory = known.by_name[name]
        assert subcategory in SERVICE_SUBCATEGORIES[category], name


@pytest.mark.parametrize(
    "row, message",
    [
        ("ecs,Elastic Compute Service,Compute,Object Storage,https://x", "line 3: Compute > Object Storage is not"),
        ("ecs,ECS again,Storage,Object Storage,https://x", "line 3: product_code 'ecs' is mapped to"),
        ("xyz,,Compute,Virtual Machines,https://x", "line 3: service_name is empty"),
    ],
)
def test_a_bad_map_row_is_refused_naming_its_line(row, message):
    header = "product_code,service_name,service_category,service_subcategory,source"
    good = "ecs,Elastic Compute Service,Compute,Virtual Machines,https://x"
    with pytest.raises(ServiceMapError, match=message.replace("(", r"\(")):
        parse_service_map("\n".join([header, good, row]), "alibaba_services.csv")


def test_the_focus_rules_check_holds_subcategories_to_their_category(tmp_path):
    _, typed = typed_rows(tmp_path, ROWS)
    rule = "ServiceSubcategory not one of its ServiceCategory's"
    assert rule not in focus_rule_violations(typed.lazy()).violations
    broken = typed.with_columns(pl.lit("Object Storage").alias("ServiceSubcategory"))  # Compute > Object Storage
    assert focus_rule_violations(broken.lazy()).violations[rule] == 4  # all but the two Storage rows
