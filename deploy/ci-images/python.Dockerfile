# Stands in for python:3.11-slim (CI only): Debian's Python 3.11, `python` and `pip` on PATH.
FROM coursegraph-ci/bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python-is-python3 \
    && rm -rf /var/lib/apt/lists/*
# Debian marks its Python as externally managed; the project's Dockerfile installs uv with pip as it would
# on the official image. uv and pip trust the system store, which holds the host's CA (TLS inspection).
ENV PIP_BREAK_SYSTEM_PACKAGES=1 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt LANG=C.UTF-8
CMD ["python3"]
