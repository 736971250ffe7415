# opsroom for production (`opsroom run`): an external PostgreSQL and homeserver, as in
# docker-compose.yml. The embedded extras (Synapse, pgserver) are not installed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . .
RUN pip install . \
 && rm -rf /src \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin opsroom

WORKDIR /
USER opsroom
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]

# SIGTERM stops opsroom cleanly (exit 0)
STOPSIGNAL SIGTERM
CMD ["opsroom", "run", "--config", "/config/opsroom.yaml"]
