# One image for every Python service; the command picks the service (`coursegraph serve users`).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY coursegraph ./coursegraph
COPY coursegraph_cli ./coursegraph_cli
COPY subgraphs ./subgraphs
COPY rest-compat ./rest-compat
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" COURSEGRAPH_HOST=0.0.0.0
RUN useradd --system --uid 10001 coursegraph && mkdir -p /data && chown coursegraph /data
USER coursegraph
ENTRYPOINT ["coursegraph", "serve"]

# The router: Hive Gateway serving the composed supergraph.
FROM node:20-slim AS router
WORKDIR /router
COPY router/package.json router/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY router/ ./
USER node
ENTRYPOINT ["npx", "hive-gateway", "supergraph", "supergraph.graphql", "-c", "gateway.config.ts", "--host", "0.0.0.0"]
