# Stands in for redis:7 (CI only): Debian's redis-server and redis-cli. The official image builds Redis with
# protected mode off (other containers connect without a password); Debian's keeps it on, so the entrypoint
# turns it off for the command compose.yml gives.
FROM coursegraph-ci/bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
COPY redis-entrypoint.sh /usr/local/bin/
WORKDIR /data
USER redis
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]
