"""The alerts config: the shipped example validates; errors name file, line and field."""

from pathlib import Path

import pytest

from alerts.config import AlertsConfig
from alerts.group import routing_labels
from alerts.route import match
from core.alert import Alert
from core.yamlfile import ConfigError, load, parse

EXAMPLE = Path(__file__).parents[2] / "deploy" / "alerts" / "alerts.example.yaml"


def test_the_example_validates_and_routes():
    cfg = load(EXAMPLE, AlertsConfig)
    doubao = Alert(
        alert_id="x",
        rule="download-spike",
        kind="spike",
        severity="critical",
        labels={"app_id": "doubao"},
        event_ts="2024-11-14T00:00:00+08:00",
        summary="s",
    )
    assert [r.receiver for r in match(cfg.route, routing_labels(doubao))] == ["market-slack", "oncall", "everything"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("route: {receiver: nobody}\nreceivers: [{name: a}]\n", "routes name unknown receivers: nobody"),
        ("route: {}\nreceivers: [{name: a}]\n", "the root route needs a receiver"),
        (
            "route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'ftp://x'}]\n",
            "<t>:4: receivers[0](a).webhook_configs[0].url: String should match pattern",
        ),
        (
            "route: {receiver: a}\nreceivers:\n  - name: a\n    pagerduty_configs: [{}]\n",
            "give exactly one of routing_key_env, routing_key_file",
        ),
        (
            "route: {receiver: a, group_interval: 0s}\nreceivers: [{name: a}]\n",
            "<t>:1: route.group_interval: Input should be greater than 0",
        ),
        ("route: {receiver: a}\nreceivers: [{name: a}, {name: a}]\n", "duplicate receiver names: a"),
    ],
)
def test_errors(text, message):
    with pytest.raises(ConfigError) as exc:
        parse(text, AlertsConfig, "<t>")
    assert message in str(exc.value)


def test_the_readme_shows_the_example_config_as_it_is():
    readme = (EXAMPLE.parents[2] / "README.md").read_text()
    body = EXAMPLE.read_text().split("\n", 1)[1]  # without the first comment line
    assert body in readme
