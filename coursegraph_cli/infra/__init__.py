"""Provisioning of the real backing services (PostgreSQL, FerretDB, Kafka, S3) on loopback."""
