# Stands in for postgres:16 (CI only): Debian's PostgreSQL 15 (bookworm's), configured from the same
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB variables by postgres-entrypoint.sh.
FROM coursegraph-ci/bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
# A new named volume takes this directory's owner, so postgres can initialise it.
USER postgres
ENTRYPOINT ["postgres-entrypoint.sh"]
