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
    s = Settings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512", sasl_username="svc",
                 sasl_password_file=pw)
    assert s.kafka_config() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                "sasl_plain_username": "svc", "sasl_plain_password": "s3cret"}
    assert s.aiokafka_config() == s.kafka_config()
    creds = s.faust_credentials()
    assert creds.username == "svc" and creds.password == "s3cret" and creds.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret" not in repr(s)


def test_ssl_files_must_exist_and_become_a_context_for_aiokafka(tmp_path):
    with pytest.raises(ValidationError, match="APPWATCH_SSL_CAFILE: no such file"):
        Settings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")
    import certifi

    s = Settings(security_protocol="SSL", ssl_cafile=certifi.where())
    assert s.kafka_config() == {"security_protocol": "SSL", "ssl_cafile": certifi.where()}
    assert isinstance(s.aiokafka_config()["ssl_context"], ssl.SSLContext)
    assert isinstance(s.faust_credentials().context, ssl.SSLContext)


def test_the_worker_app_gets_the_credentials():
    from streams.app import create_app

    s = Settings(broker="kafka://127.0.0.1:9", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                 sasl_username="svc", sasl_password="pw")
    app = create_app(s)
    assert app.conf.broker_credentials.username == "svc"
