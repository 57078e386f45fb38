"""Read secrets one way: from a value, an environment variable or a file.

* ``secret_from(value=, env=, file=, what=)``: the secret from exactly one source, as a
  ``pydantic.SecretStr`` (its ``repr`` and ``str`` are ``**********``).  ``what`` names
  the field the secret is for (``"APPWATCH_SASL_PASSWORD_FILE"``, ``"params.token_env"``,
  ``"ops slack url"``); every error starts with it.
* ``secret_value(...)``: the same, as the plain text (for a client that needs a ``str``).
* ``SecretError`` (a ``ValueError``): names the field and the source (the variable, the
  file) that is missing, empty or unreadable; never the secret.

A secret read is registered for log redaction with ``redactor`` (anything with
``add(*secrets)``, e.g. a ``core.redact.RedactingFilter``): the CLI passes its own.

Settings (``streams.settings``) come from ``APPWATCH_*`` through pydantic-settings, which
gives ``SecretStr`` fields directly; a ``*_file`` setting and a config's ``*_env`` /
``*_file`` fields are read here.  A connectors YAML may also hold ``${VAR}``: that is
templating of the whole file (any field), not a way to read a secret; a token should be
named with ``token_env`` / ``token_file`` instead, so it is read here and masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

__all__ = ["Registers", "SecretError", "secret_from", "secret_value"]


class SecretError(ValueError):
    """A secret could not be read; the message names the field and the source, never the value."""


class Registers(Protocol):
    """Where a secret read is registered for redaction (``RedactingFilter.add``)."""

    def add(self, *secrets: str) -> None: ...


def secret_from(
    value: str | SecretStr | None = None,
    env: str | None = None,
    file: str | os.PathLike[str] | None = None,
    *,
    what: str = "secret",
    redactor: Registers | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretStr:
    """The secret from exactly one of ``value``, environment variable ``env`` or ``file``.

    A file's trailing newline(s) are stripped (``echo token > file``), nothing else.
    ``environ`` is where ``env`` is looked up (default ``os.environ``).  Raises
    ``SecretError`` starting with ``what`` when none or several sources are given, or
    when the source is missing, empty or unreadable.  The secret is registered with
    ``redactor`` when one is given.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    secret = _read(value, env, file, what, os.environ if environ is None else environ)
    if redactor is not None:
        redactor.add(secret)
    return SecretStr(secret)


def secret_value(
    value: str | SecretStr | None = None,
    env: str | None = None,
    file: str | os.PathLike[str] | None = None,
    *,
    what: str = "secret",
    redactor: Registers | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``secret_from(...)`` as the plain text, for a client that takes a ``str``."""
    return secret_from(value, env, file, what=what, redactor=redactor, environ=environ).get_secret_value()


def _read(value: str | None, env: str | None, file, what: str, environ: Mapping[str, str]) -> str:
    given = [n for n, v in (("value", value), ("env", env), ("file", file)) if v is not None]
    if not given:
        raise SecretError(f"{what}: no source given (set one of value, env, file)")
    if len(given) > 1:
        raise SecretError(f"{what}: give only one of value, env, file (got {', '.join(given)})")
    if value is not None:
        if not value.strip():
            raise SecretError(f"{what}: value is empty")
        return value
    if env is not None:
        return _from_env(env, what, environ)
    return _from_file(Path(os.fspath(file)).expanduser(), what)


def _from_env(name: str, what: str, environ: Mapping[str, str]) -> str:
    if not name:
        raise SecretError(f"{what}: environment variable name is empty")
    got = environ.get(name)
    if got is None:
        raise SecretError(f"{what}: environment variable {name} is not set")
    if not got.strip():
        raise SecretError(f"{what}: environment variable {name} is empty")
    return got


def _from_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretError(f"{what}: file {path} does not exist") from None
    except IsADirectoryError:
        raise SecretError(f"{what}: file {path} is a directory") from None
    except PermissionError:
        raise SecretError(f"{what}: file {path} is not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise SecretError(f"{what}: file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise SecretError(f"{what}: file {path} is unreadable: {exc.strerror or type(exc).__name__}") from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise SecretError(f"{what}: file {path} is empty")
    return text
