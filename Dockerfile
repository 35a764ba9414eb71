# The one cxflow image: every service and the worker run from it; docker-compose.yml picks each command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY cxflow/ cxflow/
COPY services/ services/
COPY workflows/ workflows/
COPY scripts/ scripts/
COPY deploy/image-help.txt ./

# `pip install .` brings the pinned dependencies and the `cxflow` command. The processes import the
# source tree in /app (first on PYTHONPATH) because Alembic's migrations folders are not package data.
# Bytecode is compiled now because the runtime user cannot write to /app.
RUN pip install . \
    && python -m compileall -q cxflow services workflows

# The code runs as an unprivileged user that owns nothing but the data folder.
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin cxflow \
    && mkdir /data \
    && chown cxflow:cxflow /data

ENV PYTHONPATH=/app \
    CXFLOW_DATA_DIR=/data

USER cxflow

CMD ["cat", "/app/image-help.txt"]
