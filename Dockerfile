# The sanichain service. Used by docker-compose.yml next to a PostGIS container (docs/deployment.md).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY migrations ./migrations
COPY gis_data ./gis_data
# Editable install: migrations and demo data are found next to the package.
RUN pip install --no-cache-dir -e .

# The service never runs as root: a system user of its own, which may write its import uploads only
# (the code stays root's, read-only to it).
RUN useradd --system --create-home --home-dir /home/sanichain --shell /usr/sbin/nologin sanichain \
    && mkdir -p /var/lib/sanichain/imports \
    && chown -R sanichain:sanichain /var/lib/sanichain
USER sanichain

ENV HOST=0.0.0.0 \
    PORT=8000 \
    SANICHAIN_IMPORT_DIR=/var/lib/sanichain/imports
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"
# Serves a database migrated beforehand (the compose file's `migrate` service: `sanichain db upgrade`).
CMD ["sanichain", "serve"]
