#!/bin/sh
# As the official image does: each KAFKA_FOO_BAR variable becomes the broker property foo.bar; the log dir is
# formatted once (KRaft) with a new cluster id; then the broker runs in the foreground.
set -eu
config=/opt/kafka/config/server.properties
env | sed -n 's/^KAFKA_\([A-Z0-9_]*\)=\(.*\)$/\1=\2/p' | while IFS='=' read -r key value; do
    printf '%s=%s\n' "$(echo "$key" | tr 'A-Z_' 'a-z.')" "$value"
done > "$config"
printf 'log4j.rootLogger=INFO, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\n%s\n' \
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout' > /opt/kafka/config/log4j.properties
java_opts="-Xmx512m -Djava.awt.headless=true -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties"
if [ ! -f "${KAFKA_LOG_DIRS}/meta.properties" ]; then
    # `--cluster-id=…` in one word: an id starting with "-" would otherwise read as an option.
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    java $java_opts -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
        "--cluster-id=$cluster_id" -c "$config" --ignore-formatted
fi
exec java $java_opts -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
