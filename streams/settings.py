"""Settings from the environment (``APPWATCH_*``) and CLI flags, via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from standardwebhooks import Webhook

from core.auth import ConsoleUser
from core.secrets import secret_from
from core.ssrf import Guard
from core.yamlfile import Duration


class Settings(BaseSettings):
    # an error names the variable, never its value (it may be a token or a secret)
    model_config = SettingsConfigDict(env_prefix="APPWATCH_", extra="ignore", hide_input_in_errors=True)

    broker: str | None = Field(
        None,
        description="kafka://host:port[,host:port]; every command needs it but `appwatch demo` and --embedded",
    )
    broker_flavor: Literal["kafka", "tansu"] = "kafka"
    topic_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]*$")] = "appwatch."
    partitions: Annotated[int, Field(ge=1, le=256)] = 4
    replication_factor: Annotated[int, Field(ge=1, le=16)] = 1  # of the topics appwatch creates
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] = "appwatch"
    rules: Path | None = None
    allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="hosts receivers may reach although private or loopback (comma-separated)"
    )
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    ingest_token: SecretStr | None = Field(None, description="a write token of appwatch serve")
    api_write_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="bearer tokens that may change state and read (comma-separated)"
    )
    api_read_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="bearer tokens that may only read (comma-separated)"
    )
    api_anonymous_read: bool = Field(False, description="reading alerts and silences needs no token")
    console_users: list[ConsoleUser] = Field(
        default_factory=list,
        description='the web console\'s logins, JSON: [{"name": "ana", "password": "$2b$...", "scope": "write"}]',
    )
    console_secret: SecretStr | None = Field(
        None, description="signs the console's session cookies; the same on every worker (else one per process)"
    )
    console_session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12
    console_secure_cookie: bool = Field(False, description="mark the session cookie Secure (behind HTTPS)")
    alerts_config: Path | None = Field(None, description="routes, receivers and inhibit rules (YAML)")
    alerts_jsonl: Path | None = Field(None, description="append every alert to this JSONL file")
    delivered_retention: Annotated[Duration, Field(gt=0)] = Field(
        7 * 86400.0,
        description="how long a group remembers what it notified (replays dedup); "
        "longer than the longest repeat_interval",
    )
    console: bool = True
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 6066
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    # an existing Kafka cluster: passed through to every client (Faust, aiokafka, kafka-python)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        None, description="a file holding the SASL password (read once, at start-up, into sasl_password)"
    )
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

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

    @field_validator("api_write_tokens", "api_read_tokens", mode="before")
    @classmethod
    def _tokens(cls, v):
        tokens = [t.strip() for t in v.split(",") if t.strip()] if isinstance(v, str) else v
        for t in tokens:
            t = t.get_secret_value() if isinstance(t, SecretStr) else t
            if len(t) < 16 or any(c.isspace() or c == "," for c in t):
                raise ValueError(
                    "each token needs 16 characters or more, without spaces or commas "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
                )
        return tokens

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None, info) -> str | None:
        if not v:
            return None
        Guard(frozenset(info.data.get("allow_hosts") or ())).check_url(v)  # BlockedURL is a ValueError
        return v

    @field_validator("sasl_password")
    @classmethod
    def _sasl_password(cls, v: SecretStr | None) -> SecretStr | None:
        return v if v is not None and v.get_secret_value() else None

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

    @model_validator(mode="after")
    def _security(self) -> Settings:
        if self.sasl_password_file is not None:  # SecretError (a ValueError) names the variable and the file
            if self.sasl_password is not None:
                raise ValueError("give only one of APPWATCH_SASL_PASSWORD and APPWATCH_SASL_PASSWORD_FILE")
            self.sasl_password = secret_from(file=self.sasl_password_file, what="APPWATCH_SASL_PASSWORD_FILE")
        if self.security_protocol.startswith("SASL"):
            missing = [f"APPWATCH_{n.upper()}" for n in ("sasl_mechanism", "sasl_username") if getattr(self, n) is None]
            if self.sasl_password is None:
                missing.append("APPWATCH_SASL_PASSWORD (or APPWATCH_SASL_PASSWORD_FILE)")
            if missing:
                raise ValueError(f"security_protocol {self.security_protocol} needs {', '.join(missing)}")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"APPWATCH_{name.upper()}: no such file {path}")
        return self

    def kafka_config(self) -> dict:
        """Security settings for kafka-python clients (plain values: picklable for import workers)."""
        config: dict = {}
        if self.security_protocol == "PLAINTEXT":
            return config
        config["security_protocol"] = self.security_protocol
        if self.security_protocol.startswith("SASL"):
            config |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        if self.security_protocol.endswith("SSL"):
            config |= {
                f"ssl_{k}": str(v)
                for k in ("cafile", "certfile", "keyfile")
                if (v := getattr(self, f"ssl_{k}")) is not None
            }
        return config

    def ssl_context(self):
        if not self.security_protocol.endswith("SSL"):
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(
            cafile=self.ssl_cafile and str(self.ssl_cafile),
            certfile=self.ssl_certfile and str(self.ssl_certfile),
            keyfile=self.ssl_keyfile and str(self.ssl_keyfile),
        )

    def aiokafka_config(self) -> dict:
        """The same for aiokafka, which takes an SSL context instead of files."""
        config = {k: v for k, v in self.kafka_config().items() if not k.startswith("ssl_")}
        if self.security_protocol.endswith("SSL"):
            config["ssl_context"] = self.ssl_context()
        return config

    def faust_credentials(self):
        """``broker_credentials`` for the Faust app, or None."""
        import faust

        config = self.kafka_config()
        if self.security_protocol.startswith("SASL"):
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=config["sasl_plain_password"],
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        return None

    @property
    def bootstrap(self) -> str:
        """host:port list for kafka-python and aiokafka."""
        if not self.broker:
            raise RuntimeError("no broker configured")
        return ",".join(p.removeprefix("kafka://") for p in self.broker.split(","))
