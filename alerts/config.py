"""The alerts config file: routing tree, receivers and inhibition rules (Alertmanager-style).

    route:
      receiver: everything
      group_by: [rule, app_id]
      group_wait: 0s
      routes:
        - {matchers: ['app_id="doubao"'], receiver: market-slack, continue: true}
    receivers:
      - name: everything
        webhook_configs: [{url: "https://hooks.example.com/appwatch", secret_env: APPWATCH_WEBHOOK_SECRET}]
      - name: market-slack
        slack_configs: [{url_env: SLACK_MARKET_URL}]
    inhibit_rules:
      - {source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: [app_id]}
    allow_hosts: [alertmanager.internal]   # private addresses receivers may reach (SSRF guard)

Secrets are never written in the file: ``*_env`` names an environment variable and
``*_file`` a file holding the value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.route import InhibitRule, Route
from core.yamlfile import Duration

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Url = Annotated[str, Field(pattern=r"^https?://")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Secret(_Strict):
    """Exactly one place a secret value comes from (or none, where it is optional)."""

    def _one_of(self, *fields: str, required: bool) -> None:
        given = [f for f in fields if getattr(self, f) is not None]
        if len(given) > 1 or (required and not given):
            raise ValueError(f"give {'exactly' if required else 'at most'} one of {', '.join(fields)}")


class WebhookConfig(_Secret):
    url: Url
    secret_env: EnvName | None = None
    secret_file: str | None = None
    headers: dict[str, str] = {}
    template: str | None = None  # Jinja2 (sandboxed): alert, type, timestamp; `| tojson`

    @model_validator(mode="after")
    def _secret(self) -> WebhookConfig:
        self._one_of("secret_env", "secret_file", required=False)
        if self.template:
            from alerts.notify.webhook import _compile

            _compile(self.template)
        return self


class SlackConfig(_Secret):
    url_env: EnvName | None = None
    url_file: str | None = None
    title: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> SlackConfig:
        self._one_of("url_env", "url_file", required=True)  # the webhook URL is the secret
        return self


class AlertmanagerConfig(_Strict):
    url: Url
    generator_url_base: Url | None = None
    resend_interval: Annotated[Duration, Field(gt=0)] = 60.0  # firing alerts re-pushed this often


class PagerDutyConfig(_Secret):
    routing_key_env: EnvName | None = None
    routing_key_file: str | None = None
    url: Url = "https://events.pagerduty.com/v2/enqueue"

    @model_validator(mode="after")
    def _secret(self) -> PagerDutyConfig:
        self._one_of("routing_key_env", "routing_key_file", required=True)
        return self


class ConsoleConfig(_Strict):
    pass


class JsonlConfig(_Strict):
    path: str


class Receiver(_Strict):
    name: Name
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 4  # notifications in flight at once
    webhook_configs: list[WebhookConfig] = []
    slack_configs: list[SlackConfig] = []
    alertmanager_configs: list[AlertmanagerConfig] = []
    pagerduty_configs: list[PagerDutyConfig] = []
    console_configs: list[ConsoleConfig] = []
    jsonl_configs: list[JsonlConfig] = []


class Global(_Strict):
    # how long an alert without an end (a one-off: spike, rank move, news) counts as
    # firing, for inhibition and while muted; Alertmanager's global resolve_timeout
    resolve_timeout: Annotated[Duration, Field(gt=0)] = 300.0


class AlertsConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: Global = Field(default_factory=Global, alias="global")
    route: Route
    receivers: Annotated[list[Receiver], Field(min_length=1)]
    inhibit_rules: list[InhibitRule] = []
    allow_hosts: list[str] = []

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        names = [r.name for r in self.receivers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate receiver names: {', '.join(dup)}")
        if not self.route.receiver:
            raise ValueError("the root route needs a receiver")
        missing = sorted(set(_receivers_of(self.route)) - set(names))
        if missing:
            raise ValueError(f"routes name unknown receivers: {', '.join(missing)} (known: {', '.join(names)})")
        return self


def _receivers_of(route: Route) -> list[str]:
    found = [route.receiver] if route.receiver else []
    for child in route.routes:
        found += _receivers_of(child)
    return found
