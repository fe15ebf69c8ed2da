# The base images are build arguments so that CI, which reaches no image registry, can build from its own
# stand-ins (deploy/ci-images, set by deploy/containers/compose.ci.yml); everyone else gets the official ones.
ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# The web app's npm packages: ES modules the browser loads as they are (nothing is built; ADR 0035).
FROM ${NODE_IMAGE} AS web-packages
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# One image for every Python service and the web app; the command picks it (`coursegraph serve users`).
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# libmagic: the media service detects uploads' real types with it.
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY coursegraph ./coursegraph
COPY coursegraph_cli ./coursegraph_cli
COPY subgraphs ./subgraphs
COPY rest-compat ./rest-compat
COPY --from=web-packages /web/node_modules ./web/node_modules
COPY web/app ./web/app
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" COURSEGRAPH_HOST=0.0.0.0
RUN useradd --system --uid 10001 coursegraph
USER 10001
ENTRYPOINT ["coursegraph", "serve"]

# The router: Hive Gateway serving the composed supergraph.
FROM ${NODE_IMAGE} AS router
WORKDIR /router
COPY router/package.json router/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY router/ ./
USER node
# The gateway itself is the process (no npx in between, which would not forward SIGTERM).
ENTRYPOINT ["/router/node_modules/.bin/hive-gateway", "supergraph", "supergraph.graphql", "-c", "gateway.config.ts", "--host", "0.0.0.0"]
