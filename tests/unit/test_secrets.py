"""Reading secrets (core.secrets): one source of value, env or file; SecretStr; errors name the field."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from core.redact import RedactingFilter
from core.secrets import SecretError, secret_from, secret_value

TOKEN = "xoxb-1234567890-abcdefGHIJKL"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_secret_from_value_env_file(monkeypatch, tmp_path):
    got = secret_from("v4lue")
    assert isinstance(got, SecretStr) and got.get_secret_value() == "v4lue"
    assert "v4lue" not in repr(got) and "v4lue" not in str(got)
    assert secret_from(SecretStr("v4lue")).get_secret_value() == "v4lue"
    monkeypatch.setenv("APPWATCH_TEST_TOKEN", TOKEN)
    assert secret_from(env="APPWATCH_TEST_TOKEN").get_secret_value() == TOKEN
    path = tmp_path / "token"
    path.write_text(WHSEC + "\n")
    assert secret_value(file=path) == WHSEC
    assert secret_value(file=str(path)) == WHSEC
    path.write_text(" spaced \r\n\n")
    assert secret_value(file=path) == " spaced "  # only trailing newlines are stripped


def test_env_is_looked_up_in_the_mapping_given():
    assert secret_value(env="ST_TOKEN", environ={"ST_TOKEN": TOKEN}) == TOKEN
    with pytest.raises(SecretError, match="^params.token_env: environment variable ST_TOKEN is not set$"):
        secret_from(env="ST_TOKEN", what="params.token_env", environ={})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "no source given"),
        ({"value": "a", "env": "B"}, "only one of value, env, file .got value, env"),
        ({"value": ""}, "value is empty"),
        ({"value": "  \n"}, "value is empty"),
        ({"env": ""}, "environment variable name is empty"),
        ({"env": "APPWATCH_TEST_UNSET_VAR"}, "environment variable APPWATCH_TEST_UNSET_VAR is not set"),
        ({"env": "APPWATCH_TEST_EMPTY_VAR"}, "environment variable APPWATCH_TEST_EMPTY_VAR is empty"),
    ],
)
def test_secret_from_errors_name_the_field_and_the_source(monkeypatch, kwargs, match):
    monkeypatch.delenv("APPWATCH_TEST_UNSET_VAR", raising=False)
    monkeypatch.setenv("APPWATCH_TEST_EMPTY_VAR", "")
    with pytest.raises(SecretError, match=match) as info:
        secret_from(**kwargs, what="webhook secret")
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("webhook secret: ")


def test_secret_from_file_errors(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SecretError, match=f"^APPWATCH_X_FILE: file {missing} does not exist$"):
        secret_from(file=missing, what="APPWATCH_X_FILE")
    with pytest.raises(SecretError, match="is a directory"):
        secret_from(file=tmp_path)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SecretError, match=f"file {empty} is empty"):
        secret_from(file=empty)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + TOKEN.encode())
    with pytest.raises(SecretError, match="not UTF-8") as info:
        secret_from(file=binary)
    assert TOKEN not in str(info.value)


def test_an_unreadable_file_says_so(tmp_path, monkeypatch):
    with pytest.raises(SecretError, match=f"token_file: file {tmp_path} is a directory"):
        secret_from(file=tmp_path, what="token_file")
    locked = tmp_path / "locked"
    locked.write_text(TOKEN)

    def denied(self, *args, **kwargs):  # chmod 0 does not stop root, who runs CI
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(locked), "read_text", denied)
    with pytest.raises(SecretError, match=f"token_file: file {locked} is not readable .permission denied."):
        secret_from(file=locked, what="token_file")


def test_a_secret_read_is_registered_with_the_redactor_given():
    redactor = RedactingFilter()
    secret_from(value=TOKEN, redactor=redactor)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (TOKEN,), None)
    assert redactor.filter(record) and record.getMessage() == "token ***"
