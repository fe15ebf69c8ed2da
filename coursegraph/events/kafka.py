"""How every Kafka client of a service connects: plaintext on a private network, or TLS and SASL
(PLAIN or SCRAM) for a managed cluster. One place, so that producers, consumers and the admin client of
every service connect the same way."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

from coursegraph.settings import ServiceSettings


@dataclass(frozen=True)
class KafkaConnection:
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None  # the cluster's CA, when it is not in the system's trust store

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> "KafkaConnection":
        password = settings.kafka_sasl_password
        return cls(
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=password.get_secret_value() if password else None,
            ssl_cafile=settings.kafka_ssl_cafile,
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        if self.security_protocol.startswith("SASL_"):
            options.update(
                sasl_mechanism=self.sasl_mechanism or "PLAIN",
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options


PLAINTEXT = KafkaConnection()
