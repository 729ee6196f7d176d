# syntax=docker/dockerfile:1
# The image of every service: the same file, the service named at build time.
#   docker build --build-arg SERVICE=auth -t ticketing/auth .
# The build context is the repository root: every service depends on the `common` workspace
# package. Only the service's own package and `common` are installed (no test support, no
# other service); the virtualenv also holds `ticketing-admin`, the admin command.
# Stages: `builder` installs the locked dependencies, then the code; `dev` (what `skaffold dev`
# builds) runs from the source tree and restarts when a synced file changes; the last stage is
# the small production image.

# Both stages start from the same Python, pinned by digest (the virtualenv moves between them).
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS builder
ARG SERVICE
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<service>" >&2; exit 1; }
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file or a pyproject.toml changes.
# uv needs the pyproject.toml of every workspace member to read the workspace (metadata only:
# no other member's code is copied or installed).
COPY pyproject.toml uv.lock ./
COPY common/pyproject.toml common/
COPY auth/pyproject.toml auth/
COPY tickets/pyproject.toml tickets/
COPY orders/pyproject.toml orders/
COPY expiration/pyproject.toml expiration/
COPY payments/pyproject.toml payments/
COPY client/pyproject.toml client/
COPY testsupport/pyproject.toml testsupport/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package "$SERVICE" --no-install-workspace
# Then the code: the shared library and this service, installed as ordinary packages.
COPY common/src common/src
COPY ${SERVICE}/src ${SERVICE}/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package "$SERVICE" --no-editable

FROM builder AS dev
ARG SERVICE
# Editable install, so files synced into common/src and <service>/src are the code that runs;
# watchfiles (installed with uvicorn[standard]) restarts the service when a .py file changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package "$SERVICE" \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && chown -R app:app /app/common/src "/app/$SERVICE/src"
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    SERVICE=${SERVICE}
USER 10001
EXPOSE 3000
CMD ["/bin/sh", "-c", "exec watchfiles --target-type command --filter python \"python -m $SERVICE\" common/src \"$SERVICE/src\""]

FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS runtime
ARG SERVICE
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3000 \
    SERVICE=${SERVICE}
USER 10001:10001
EXPOSE 3000
# For a plain `docker run` (Kubernetes uses its own probes): the service answers /healthz.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/healthz\", timeout=2)"]
# `python -m <service>`, the one entry point (exec: the service is PID 1 and gets the signals).
CMD ["/bin/sh", "-c", "exec python -m \"$SERVICE\""]
