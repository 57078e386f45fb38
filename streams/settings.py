"""Settings from the environment (``APPWATCH_*``) and CLI flags, via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from standardwebhooks import Webhook

from alerts.ssrf import Guard


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPWATCH_", extra="ignore")

    broker: str | None = Field(
        None, description="kafka://host:port[,host:port]; unset starts the embedded Tansu broker")
    broker_flavor: Literal["kafka", "tansu"] = "kafka"
    topic_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]*$")] = "appwatch."
    partitions: Annotated[int, Field(ge=1, le=256)] = 4
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] = "appwatch"
    rules: Path | None = None
    allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="hosts receivers may reach although private or loopback (comma-separated)")
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    ingest_token: SecretStr | None = None
    alerts_config: Path | None = Field(None, description="routes, receivers and inhibit rules (YAML)")
    alerts_jsonl: Path | None = Field(None, description="append every alert to this JSONL file")
    console: bool = True
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 6066
    log_level: Literal["debug", "info", "warning", "error"] = "warning"

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        for part in v.split(","):
            hostport = part.removeprefix("kafka://")
            host, sep, port = hostport.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected kafka://host:port[,host:port], got {v!r}")
        return v if v.startswith("kafka://") else f"kafka://{v}"

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _hosts(cls, v):
        return [h.strip() for h in v.split(",") if h.strip()] if isinstance(v, str) else v

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None, info) -> str | None:
        if not v:
            return None
        Guard(frozenset(info.data.get("allow_hosts") or ())).check_url(v)  # BlockedURL is a ValueError
        return v

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        if not v.get_secret_value().startswith("whsec_"):
            raise ValueError("must start with whsec_ (a Standard Webhooks secret)")
        try:
            Webhook(v.get_secret_value())
        except Exception:
            raise ValueError("whsec_ secret is not valid base64") from None
        return v

    @property
    def bootstrap(self) -> str:
        """host:port list for kafka-python and aiokafka."""
        if not self.broker:
            raise RuntimeError("no broker configured")
        return ",".join(p.removeprefix("kafka://") for p in self.broker.split(","))
