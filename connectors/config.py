"""The connectors YAML: ``connectors: [{name, kind, interval, params}]``.

Validated with pydantic through ``core.yamlfile``, so every error is a
``file:line: field: message`` line; ``params`` are checked against the kind's
``Params`` model, and an unknown kind names the line of its ``kind:``.

    connectors:
      - name: apple-cn
        kind: apple_charts
        interval: 1h          # seconds, or 30s / 15m / 1h / 1d
        jitter: 0.1           # each wait is interval * (1 +/- jitter)
        deadline: 5m          # one poll may take this long at the most
        params: {countries: [cn, us], charts: [top-free]}

``${VAR}`` and ``${VAR:-default}`` anywhere in the file are templating from the
environment (a base URL, a list of countries per deployment), done on the text before
it is parsed; an unset variable without a default names its file and line.  It is not
how a secret is read: a token has its own ``token_env`` / ``token_file`` params, read
through ``core.secrets`` when the connector polls (a missing one names the field, the
variable or the file, and the token is masked in logs).  A ``token: ${VAR}`` still
works: the value lands in a ``SecretStr`` field and is masked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_validator,
)

from connectors.base import Connector
from core import yamlfile
from core.yamlfile import ConfigError, Duration  # noqa: F401 - re-exported for callers

Seconds = Annotated[Duration, Field(gt=0)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class Instance(BaseModel):
    """One configured connector instance (``params`` is the kind's Params model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    kind: str
    interval: Seconds = 3600.0
    jitter: float = Field(0.1, ge=0, le=1)
    deadline: Seconds = 300.0  # a poll that has not finished by then is given up (an error)
    params: BaseModel


def _instance_model(kind: str, cls: type[Connector]) -> type[Instance]:
    return create_model(
        f"Instance_{kind}",
        __base__=Instance,
        kind=(Literal[kind], ...),  # type: ignore[valid-type]
        params=(cls.Params, Field(default_factory=dict, validate_default=True)),
    )


def _config_model(kinds: Mapping[str, type[Connector]]) -> type[BaseModel]:
    known = ", ".join(sorted(kinds))

    def unknown(v: str) -> str:
        raise ValueError(f"unknown connector kind {v!r} (known: {known})")

    class Unknown(BaseModel):  # only reached for a kind not in ``kinds``: fails on ``kind``
        model_config = ConfigDict(extra="allow")
        kind: Annotated[str, AfterValidator(unknown)]

    def pick(v: Any) -> str:
        k = v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None)
        return k if k in kinds else "?"

    members = [Annotated[_instance_model(k, c), Tag(k)] for k, c in kinds.items()]
    Item = Annotated[Union[tuple([*members, Annotated[Unknown, Tag("?")]])], Discriminator(pick)]  # noqa: UP007

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        connectors: Annotated[list[Item], Field(min_length=1)]  # type: ignore[valid-type]

        @model_validator(mode="before")
        @classmethod
        def _top(cls, v: Any) -> Any:
            if isinstance(v, list):
                raise ValueError(
                    "the file is a bare list of instances; put it under a top-level "
                    "`connectors:` key: `connectors:` on the first line, then the list "
                    "(`  - name: ...`) indented below it"
                )
            return v

        @field_validator("connectors")
        @classmethod
        def _unique(cls, v: list[Instance]) -> list[Instance]:
            names = [i.name for i in v]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"duplicate connector names: {', '.join(dup)}")
            return v

    return Config


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, source: str, env: dict[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` from the environment, line by line."""
    out, missing = [], []
    for n, line in enumerate(text.splitlines(keepends=True), 1):

        def sub(m: re.Match, n: int = n) -> str:
            if m[1] in env:
                return env[m[1]]
            if m[2] is not None:
                return m[2]
            missing.append(f"{source}:{n}: ${{{m[1]}}} is not set and has no default")
            return ""

        out.append(_VAR.sub(sub, line) if not line.lstrip().startswith("#") else line)
    if missing:
        raise ConfigError("\n".join(missing))
    return "".join(out)


def parse(
    text: str, source: str = "<string>", kinds: Mapping | None = None, env: dict[str, str] | None = None
) -> list[Instance]:
    import os

    from connectors.registry import KINDS

    text = expand(text, source, dict(os.environ) if env is None else env)
    return list(yamlfile.parse(text, _config_model(kinds or KINDS), source).connectors)


def load(path: str | Path, kinds: Mapping | None = None) -> list[Instance]:
    """Read and validate a connectors YAML; ConfigError names file:line: field on failure."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(text, str(path), kinds)
