# The sanichain service. Used by docker-compose.yml next to a PostGIS container.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY migrations ./migrations
COPY gis_data ./gis_data
# Editable install: migrations and demo data are found next to the package.
RUN pip install --no-cache-dir -e .

ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"
# With DATABASE_URL set, `run` migrates, loads the demo into an empty inventory and serves.
CMD ["sanichain", "run"]
