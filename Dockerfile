# syntax=docker/dockerfile:1.7
#
# One image per service, built from the uv workspace:
#
#   docker build --build-arg SERVICE=planner --build-arg OPS_PORT=9102 -t rebalancer/planner .
#
# SERVICE is the workspace package and its console script: gateway-bridge, planner, executor,
# notifier, ib-emulator, console (or ledger, not in compose yet). docker-compose.yml builds all of them with the right arguments.
#
# Stage 1 installs the locked dependencies and the service (non-editable) into /app/.venv with
# uv; stage 2 is a clean slim Python with that venv only: no uv, no compiler, no sources, and a
# non-root user. Base images are pinned; bump them as described in docs/operations.md.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.5.11

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<gateway-bridge|planner|executor|notifier|ib-emulator|ledger|console>" >&2; exit 1)
COPY --from=uv /uv /usr/local/bin/uv
# Byte-compile at build time (faster start), copy instead of hard-linking from the cache
# mount, never download a Python: the base image's interpreter is the one the venv uses.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first (their own layer, cached while only our code changes). The workspace's
# member manifests are needed to resolve the lock, so they come with it.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY services/gateway-bridge/pyproject.toml services/gateway-bridge/pyproject.toml
COPY services/planner/pyproject.toml services/planner/pyproject.toml
COPY services/executor/pyproject.toml services/executor/pyproject.toml
COPY services/notifier/pyproject.toml services/notifier/pyproject.toml
COPY services/ib-emulator/pyproject.toml services/ib-emulator/pyproject.toml
COPY tools/cli/pyproject.toml tools/cli/pyproject.toml
COPY tools/testkit/pyproject.toml tools/testkit/pyproject.toml
COPY services/ledger/pyproject.toml services/ledger/pyproject.toml
COPY services/console/pyproject.toml services/console/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "${SERVICE}"
COPY shared shared
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "${SERVICE}" \
    && test -x "/app/.venv/bin/${SERVICE}" \
    && ln -s "/app/.venv/bin/${SERVICE}" /app/service

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG OPS_PORT=9100
LABEL org.opencontainers.image.title="rebalancer-${SERVICE}" \
      org.opencontainers.image.description="IBKR rebalancer: ${SERVICE}" \
      org.opencontainers.image.licenses="MIT"
# A fixed, unprivileged uid/gid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 rebalancer \
    && useradd --system --uid 10001 --gid rebalancer --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin rebalancer \
    && mkdir -p /data /reports \
    && chown rebalancer:rebalancer /data /reports
# The venv stays owned by root: the service can read it, not change it.
COPY --from=build /app /app
COPY deploy/healthcheck.py /app/healthcheck.py
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REBALANCER_SERVICE=${SERVICE} \
    HEALTHCHECK_URL=http://127.0.0.1:${OPS_PORT}/health
WORKDIR /data
USER rebalancer:rebalancer
# /health answers 200 only when every dependency of the service is healthy (Redis; the IB
# connection for the bridge), so this is the service's real readiness, not an open port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]
ENTRYPOINT ["/app/service"]
