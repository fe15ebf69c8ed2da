# Stands in for apache/kafka:3.9.1 (CI only): Debian's JRE and the Kafka jars `coursegraph infra` resolves
# from Maven Central, configured from KAFKA_* variables as the official image is, and run as its uid 1000.
FROM coursegraph-ci/bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --create-home appuser \
    && mkdir -p /var/lib/kafka/data /opt/kafka/config && chown appuser /var/lib/kafka/data /opt/kafka/config
COPY libs /opt/kafka/libs
COPY kafka-entrypoint.sh kafka-broker-api-versions.sh /opt/kafka/bin/
USER 1000
ENTRYPOINT ["/opt/kafka/bin/kafka-entrypoint.sh"]
