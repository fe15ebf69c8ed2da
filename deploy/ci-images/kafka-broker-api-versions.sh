#!/bin/sh
# The official image's script of this name (compose.yml's health check runs it).
exec java -Xmx128m -cp '/opt/kafka/libs/*' kafka.admin.BrokerApiVersionsCommand "$@"
