"""docker-compose.yml stays valid (checked offline by docker-compose); the Dockerfile's inputs exist."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from service.config import REPO_ROOT


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    pytest.fail(
        "neither docker-compose nor the docker compose plugin is installed "
        "(scripts/setup.sh test installs it)"
    )


def compose_config(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "-f", str(path), "config", *args],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=60,
    )


def test_compose_file_is_valid_and_defines_postgis_with_pgrouting_and_the_service():
    result = compose_config(REPO_ROOT / "docker-compose.yml", "-q")
    assert result.returncode == 0, result.stderr
    services = compose_config(REPO_ROOT / "docker-compose.yml", "--services").stdout.split()
    assert sorted(services) == ["app", "db"]
    rendered = compose_config(REPO_ROOT / "docker-compose.yml").stdout
    assert "pgrouting/pgrouting:15-" in rendered  # PostGIS image with pgRouting (migration 0005)
    assert "service_healthy" in rendered
    assert rendered.count("healthcheck:") == 2


def test_compose_validation_rejects_a_broken_file(tmp_path):
    broken = (
        (REPO_ROOT / "docker-compose.yml").read_text().replace("condition: service_healthy", "condition: 42")
    )
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken.replace("build: .", "build: " + str(REPO_ROOT)))
    result = compose_config(path, "-q")
    assert result.returncode != 0
    assert "condition" in result.stderr


def test_dockerfile_copies_only_paths_that_exist():
    copies = [
        line.split()[1:-1]
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    sources = [src for srcs in copies for src in srcs]
    assert {"service", "migrations", "gis_data", "alembic.ini", "pyproject.toml"} <= set(sources)
    assert [s for s in sources if not (REPO_ROOT / s).exists()] == []
