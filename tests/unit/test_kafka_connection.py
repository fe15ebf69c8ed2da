"""Every Kafka client connects the way the settings say: plaintext, TLS, or SASL (PLAIN, SCRAM) over
either (issue 11: managed clusters)."""

import ssl

import pytest
from pydantic import ValidationError

from coursegraph.events.kafka import KafkaConnection
from coursegraph.settings import ServiceSettings


def test_plaintext_by_default() -> None:
    assert KafkaConnection.from_settings(ServiceSettings()).client_options() == {
        "security_protocol": "PLAINTEXT"
    }


def test_sasl_over_tls_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SASL_USERNAME", "coursegraph")
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SASL_PASSWORD", "s3cret")
    options = KafkaConnection.from_settings(ServiceSettings()).client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("coursegraph", "s3cret")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode is ssl.CERT_REQUIRED


def test_an_unknown_protocol_or_mechanism_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValidationError):
        ServiceSettings()
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("COURSEGRAPH_KAFKA_SASL_MECHANISM", "GSSAPI")
    with pytest.raises(ValidationError):
        ServiceSettings()
