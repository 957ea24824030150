"""`skinlesion cost` prices issue 19's paid knobs: the WAF web ACL and Cognito threat protection."""

from __future__ import annotations

import json

import pytest

from skinlesion import cli, cost

PRICES = cost.load_prices()


def test_the_waf_and_plus_prices_are_dated_and_sourced() -> None:
    assert PRICES["waf"]["as_of"] and PRICES["cognito"]["plus_as_of"]
    assert "waf" in PRICES["sources"]


def test_waf_costs_its_web_acl_its_rules_and_each_request(capsys) -> None:
    assert cli.main(["cost", "-c", "waf=true", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    waf = PRICES["waf"]
    monthly = waf["web_acl_per_month"] + cost.WAF_RULES * waf["rule_per_month"]
    assert report["settings"]["waf"] is True
    assert report["estimate"]["waf_by_volume"]["100000"] == pytest.approx(
        monthly + 100_000 * waf["per_million_requests"] / 1e6
    )


def test_the_report_marks_waf_and_threat_protection_only_when_chosen(capsys) -> None:
    assert cli.main(["cost"]) == 0
    plain = capsys.readouterr().out
    assert cli.main(["cost", "-c", "waf=true", "-c", "threatProtection=true"]) == 0
    chosen = capsys.readouterr().out

    def marked(report: str, what: str) -> bool:
        (line,) = [row for row in report.splitlines() if what in row]
        return line.startswith("*")

    assert not marked(plain, "WAF web ACL") and marked(chosen, "WAF web ACL")
    assert not marked(plain, "threat protection") and marked(chosen, "threat protection")
    assert "$7.00" in chosen  # $5 web ACL + 2 rules at $1, at 1,000 requests a month
