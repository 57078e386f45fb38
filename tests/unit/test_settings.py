"""Kafka security settings: validated at start-up, passed through to every client."""

import ssl

import pytest
from pydantic import ValidationError

from streams.settings import Settings


def test_plaintext_passes_nothing():
    s = Settings()
    assert s.kafka_config() == {} and s.aiokafka_config() == {} and s.faust_credentials() is None


def test_sasl_needs_mechanism_user_and_password_named_in_the_error():
    with pytest.raises(ValidationError) as exc:
        Settings(security_protocol="SASL_SSL", sasl_username="svc")
    msg = str(exc.value)
    assert "APPWATCH_SASL_MECHANISM" in msg and "APPWATCH_SASL_PASSWORD" in msg
    assert "APPWATCH_SASL_USERNAME" not in msg


def test_sasl_scram_reaches_kafka_python_aiokafka_and_faust(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    s = Settings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512", sasl_username="svc", sasl_password_file=pw
    )
    assert s.kafka_config() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "s3cret",
    }
    assert s.aiokafka_config() == s.kafka_config()
    creds = s.faust_credentials()
    assert creds.username == "svc" and creds.password == "s3cret" and creds.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret" not in repr(s)


def test_the_sasl_password_file_is_read_once_into_sasl_password(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    s = Settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="svc", sasl_password_file=pw)
    assert s.sasl_password.get_secret_value() == "s3cret"  # the CLI registers it with its log redactor
    pw.write_text("rotated\n")
    assert s.kafka_config()["sasl_plain_password"] == "s3cret"


def test_a_bad_sasl_password_file_names_the_variable_and_the_file(tmp_path):
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.write_text("\n")
    for path, what in ((missing, "does not exist"), (empty, "is empty"), (tmp_path, "is a directory")):
        with pytest.raises(ValidationError) as exc:
            Settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="svc", sasl_password_file=path)
        assert f"APPWATCH_SASL_PASSWORD_FILE: file {path} {what}" in str(exc.value)


def test_a_sasl_password_and_a_password_file_are_one_too_many(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("from-file")
    with pytest.raises(ValidationError) as exc:
        Settings(
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="svc",
            sasl_password="from-env",
            sasl_password_file=pw,
        )
    msg = str(exc.value)
    assert "only one of APPWATCH_SASL_PASSWORD and APPWATCH_SASL_PASSWORD_FILE" in msg
    assert "from-env" not in msg and "from-file" not in msg


def test_ssl_files_must_exist_and_become_a_context_for_aiokafka(tmp_path):
    with pytest.raises(ValidationError, match="APPWATCH_SSL_CAFILE: no such file"):
        Settings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")
    import certifi

    s = Settings(security_protocol="SSL", ssl_cafile=certifi.where())
    assert s.kafka_config() == {"security_protocol": "SSL", "ssl_cafile": certifi.where()}
    assert isinstance(s.aiokafka_config()["ssl_context"], ssl.SSLContext)
    assert isinstance(s.faust_credentials().context, ssl.SSLContext)


def test_the_worker_app_gets_the_credentials():
    from appwatch.worker import create_app

    s = Settings(
        broker="kafka://127.0.0.1:9",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="svc",
        sasl_password="pw",
    )
    app = create_app(s)
    assert app.conf.broker_credentials.username == "svc"
