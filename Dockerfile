# syntax=docker/dockerfile:1
#
# relaywarden container image.
#   docker build -t relaywarden .
#   docker run -p 8080:8080 -v relaywarden-data:/data -e RELAYWARDEN_ADMIN_TOKEN=... relaywarden
# RELAYWARDEN_ADMIN_TOKEN is required: the image listens on 0.0.0.0, and `relaywarden serve`
# refuses to start on a non-loopback address without it (design.md, "Configuration").

# ---- builder: build the project wheel and install it with its dependencies into a venv ----
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY receiver ./receiver
COPY handlers ./handlers

RUN python -m venv /opt/relaywarden \
    && python -m pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/relaywarden/bin/pip install /tmp/wheels/relaywarden-*.whl \
    && rm -rf /tmp/wheels

# ---- final: the venv on the same slim base, no compilers, pip caches or sources ----
FROM python:3.11.11-slim-bookworm

ENV PATH=/opt/relaywarden/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RELAYWARDEN_HOST=0.0.0.0 \
    RELAYWARDEN_PORT=8080 \
    RELAYWARDEN_DATABASE_URL=sqlite:////data/relaywarden.db

RUN groupadd --system --gid 10001 relaywarden \
    && useradd --system --uid 10001 --gid relaywarden --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin relaywarden \
    && mkdir /data \
    && chown relaywarden:relaywarden /data

COPY --from=builder /opt/relaywarden /opt/relaywarden

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# Python's urllib instead of curl (not in the slim image). urlopen raises on any status that is
# not 2xx and on a refused connection, so the exit status is the health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RELAYWARDEN_PORT', '8080'), timeout=4)"]

CMD ["relaywarden", "serve"]
