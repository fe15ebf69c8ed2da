# Stands in for redis:7 (CI only): Debian's redis-server and redis-cli.
FROM coursegraph-ci/bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /data
USER redis
CMD ["redis-server"]
