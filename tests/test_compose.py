"""docker-compose.yml as docker-compose renders it (offline: no engine needed): no default password, the
service's own role, the loopback port, migrations before the service, named volumes; the Dockerfile's
inputs and its non-root user. The database set-up itself runs for real in test_deployment_role.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

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


PASSWORDS = {"SANICHAIN_DB_PASSWORD": "role-secret", "SANICHAIN_DB_SUPERUSER_PASSWORD": "super-secret"}
OURS = ("SANICHAIN_", "PORT", "PROMETHEUS_")


def compose_config(
    path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`config` with the passwords set (or `env` instead), none of the caller's own variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return subprocess.run(
        [*compose_command(), "-f", str(path), "config", *args],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=60,
        env={**clean, **(PASSWORDS if env is None else env)},
    )


def rendered(**env: str) -> dict[str, Any]:
    result = compose_config(REPO_ROOT / "docker-compose.yml", env={**PASSWORDS, **env})
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def test_compose_file_is_valid_and_defines_postgis_with_pgrouting_migrations_and_the_service():
    result = compose_config(REPO_ROOT / "docker-compose.yml", "-q")
    assert result.returncode == 0, result.stderr
    services = compose_config(REPO_ROOT / "docker-compose.yml", "--services").stdout.split()
    assert sorted(services) == ["app", "db", "migrate"]
    config = rendered()["services"]
    assert config["db"]["image"].startswith("pgrouting/pgrouting:15-")  # PostGIS with pgRouting (0005)
    assert "healthcheck" in config["db"] and "healthcheck" in config["app"]
    assert config["app"]["restart"] == config["db"]["restart"] == "unless-stopped"


@pytest.mark.parametrize("missing", sorted(PASSWORDS))
def test_compose_refuses_to_start_without_each_password(missing):
    env = {k: v for k, v in PASSWORDS.items() if k != missing}
    result = compose_config(REPO_ROOT / "docker-compose.yml", "-q", env=env)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr
    empty = compose_config(REPO_ROOT / "docker-compose.yml", "-q", env={**env, missing: ""})
    assert empty.returncode != 0


def test_the_service_connects_as_its_own_role_with_the_given_password():
    config = rendered()["services"]
    for name in ("app", "migrate"):
        assert config[name]["environment"]["DATABASE_URL"] == "postgresql://sanichain:role-secret@db:5432/sanichain"
    db = config["db"]["environment"]
    assert db["POSTGRES_USER"] == "postgres" and db["POSTGRES_PASSWORD"] == "super-secret"
    assert db["SANICHAIN_DB_PASSWORD"] == "role-secret"  # for deploy/initdb.sql
    volume = [v for v in config["db"]["volumes"] if v.endswith(":ro") and "initdb" in v]
    script = REPO_ROOT / "deploy" / "initdb.sql"
    assert volume == [f"{script}:/docker-entrypoint-initdb.d/90-sanichain.sql:ro"]


def test_the_published_port_is_the_hosts_loopback_unless_configured():
    assert rendered()["services"]["app"]["ports"] == ["127.0.0.1:8000:8000/tcp"]
    opened = rendered(SANICHAIN_BIND="0.0.0.0", PORT="8080")["services"]["app"]["ports"]
    assert opened == ["0.0.0.0:8080:8000/tcp"]
    assert "ports" not in rendered()["services"]["db"]
    # the host's proxy arrives from the network's gateway: believed while only the host can connect
    assert rendered()["services"]["app"]["environment"]["SANICHAIN_FORWARDED_ALLOW_IPS"] == "*"


def test_migrations_run_once_before_the_service_serves():
    config = rendered()["services"]
    migrate, app = config["migrate"], config["app"]
    assert migrate["image"] == app["image"] == "sanichain:local"
    assert rendered(SANICHAIN_VERSION="0.1.0")["services"]["app"]["image"] == "sanichain:0.1.0"
    assert "sanichain db upgrade &&" in " ".join(migrate["command"])
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert app["depends_on"]["db"] == {"condition": "service_healthy"}
    assert app["command"] == ["sanichain", "serve"]


def test_the_demo_is_loaded_only_when_asked():
    command = " ".join(rendered()["services"]["migrate"]["command"])
    assert 'if [ "$$SANICHAIN_LOAD_DEMO" = yes ]; then sanichain demo load --if-empty; fi' in command
    assert rendered()["services"]["migrate"]["environment"]["SANICHAIN_LOAD_DEMO"] == "no"
    asked = rendered(SANICHAIN_LOAD_DEMO="yes")["services"]["migrate"]["environment"]
    assert asked["SANICHAIN_LOAD_DEMO"] == "yes"


def test_named_volumes_keep_the_database_and_the_import_uploads():
    config = rendered()
    assert set(config["volumes"]) == {"pgdata", "imports"}
    assert "pgdata:/var/lib/postgresql/data:rw" in config["services"]["db"]["volumes"]
    app = config["services"]["app"]
    assert "imports:/var/lib/sanichain/imports:rw" in app["volumes"]
    assert app["environment"]["SANICHAIN_IMPORT_DIR"] == "/var/lib/sanichain/imports"


def test_the_worker_count_passes_through_and_is_unset_by_default():
    assert rendered()["services"]["app"]["environment"]["SANICHAIN_WORKERS"] == ""
    assert rendered(SANICHAIN_WORKERS="3")["services"]["app"]["environment"]["SANICHAIN_WORKERS"] == "3"


def test_compose_validation_rejects_a_broken_file(tmp_path):
    broken = (
        (REPO_ROOT / "docker-compose.yml")
        .read_text()
        .replace("condition: service_completed_successfully", "condition: 42")
    )
    path = tmp_path / "docker-compose.yml"
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "initdb.sql").write_text("")
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


def test_the_image_runs_the_service_as_a_user_of_its_own():
    lines = [line.strip() for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["sanichain"]  # one USER, not root, not switched back
    user_at = lines.index("USER sanichain")
    assert lines.index('CMD ["sanichain", "serve"]') > user_at
    assert not [line for line in lines[user_at:] if line.startswith("RUN ")]  # nothing after it as root
    assert "useradd --system" in (REPO_ROOT / "Dockerfile").read_text()
    # the compose file does not override it
    assert all("user" not in service for service in rendered()["services"].values() if "build" in service)
