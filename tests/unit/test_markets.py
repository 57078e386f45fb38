"""Each market's days: the zone table, and rules that follow the event's country."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core import markets, yamlfile
from streams.rules import RuleSet


def test_the_table_covers_the_big_markets_in_their_own_zones():
    zones = {c: str(markets.tz(c)) for c in ("cn", "us", "jp", "kr")}
    assert zones == {"cn": "Asia/Shanghai", "us": "America/New_York", "jp": "Asia/Tokyo", "kr": "Asia/Seoul"}
    assert markets.tz("ww") == ZoneInfo("UTC")
    assert markets.tz("zz") == ZoneInfo("UTC")  # not in the table


def test_a_bad_zone_in_the_table_names_the_market_and_line():
    text = "markets:\n  cn: {name: China, timezone: Asia/Shanghai}\n  us: {name: US, timezone: America/Nowhere}\n"
    with pytest.raises(yamlfile.ConfigError, match=r"markets\.yaml:3.*markets\.us\.timezone.*America/Nowhere"):
        yamlfile.parse(text, markets.MarketsFile, "markets.yaml")


def test_a_rule_without_timezone_cuts_each_country_in_its_own_zone():
    rule = yamlfile.parse("rules: [{name: s, kind: spike}]", RuleSet).rules[0]
    instant = datetime(2024, 5, 15, 2, 0, tzinfo=UTC)  # 14 May in New York, 15 May in Shanghai
    assert instant.astimezone(rule.tz("us")).date().isoformat() == "2024-05-14"
    assert instant.astimezone(rule.tz("cn")).date().isoformat() == "2024-05-15"


def test_an_explicit_timezone_wins_for_every_country():
    rule = yamlfile.parse("rules: [{name: s, kind: spike, timezone: Asia/Shanghai}]", RuleSet).rules[0]
    assert rule.tz("us") == rule.tz("cn") == ZoneInfo("Asia/Shanghai")
