# Stands in for mongo:7 (CI only): the project's FerretDB build (MongoDB wire protocol over SQLite), the one
# the tests run on. Its data goes to /data/db, the volume compose.yml mounts there.
FROM coursegraph-ci/bookworm
COPY ferretdb /usr/local/bin/ferretdb
RUN useradd --system --uid 1002 ferretdb && mkdir -p /data/db /state && chown ferretdb /data/db /state
USER 1002
ENTRYPOINT ["ferretdb", "--listen-addr=:27017", "--handler=sqlite", "--sqlite-url=file:/data/db/", \
    "--state-dir=/state", "--telemetry=disable", "--debug-addr=127.0.0.1:8088"]
