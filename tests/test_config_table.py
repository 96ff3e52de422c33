"""The README's configuration table lists exactly the variables the settings classes read, with their
defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from service.chain.parameters import ChainParameters
from service.config import REPO_ROOT, SETTINGS_CLASSES, ChainSettings

TABLE = REPO_ROOT / "README.md"
SERVICE_HEADER = "| variable | default | meaning |"
CONVENTIONS = {"DATABASE_URL", "HOST", "PORT"}  # names every platform already uses


def variables(field_name: str, field: FieldInfo, kind: type[BaseSettings]) -> list[str]:
    """The environment variables one field is read from (pydantic-settings' rules, case-insensitive)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    return [(kind.model_config.get("env_prefix", "") + field_name).upper()]


def read_by_the_classes() -> dict[str, tuple[type[BaseSettings], str]]:
    found: dict[str, tuple[type[BaseSettings], str]] = {}
    for kind in SETTINGS_CLASSES:
        for name, field in kind.model_fields.items():
            for variable in variables(name, field, kind):
                assert variable not in found, f"{variable} is read by two settings"
                found[variable] = (kind, name)
    return found


def tables(path: Path) -> dict[str, list[list[str]]]:
    """Each Markdown table of the file by its header line, as rows of cells."""
    found: dict[str, list[list[str]]] = {}
    header = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
        elif header is None:
            header = line.strip()
            found[header] = []
        elif not line.startswith("|---"):
            found[header].append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return found


def documented() -> dict[str, str]:
    """variable → default cell of the service's table."""
    rows = tables(TABLE)[SERVICE_HEADER]
    names = [re.fullmatch(r"`([A-Z0-9_]+)`", row[0]) for row in rows]
    assert all(names), "one `VARIABLE` per row"
    return {name.group(1): row[1] for name, row in zip(names, rows, strict=True) if name}


def default_of(kind: type[BaseSettings], name: str) -> Any:
    # The chain's overrides default to "unset"; the value used then is the cited parameter.
    if kind is ChainSettings:
        return ChainParameters.model_fields[name].default
    return kind.model_fields[name].default


def test_the_table_lists_exactly_the_variables_the_settings_read():
    listed, read = set(documented()), set(read_by_the_classes())
    assert {"not listed": read - listed, "not read": listed - read} == {
        "not listed": set(),
        "not read": set(),
    }


def test_the_documented_defaults_are_the_classes_defaults():
    classes = read_by_the_classes()
    for variable, cell in documented().items():
        literal = re.fullmatch(r"`([^`]*)`", cell)
        default = default_of(*classes[variable])
        if literal is None:
            assert default in (None, ""), f"{variable}: document the default {default!r} as `{default}`"
        elif isinstance(default, Path):
            assert REPO_ROOT / literal.group(1) == default, variable
        else:
            assert literal.group(1) == str(default), variable


def test_our_variables_share_one_prefix():
    assert [v for v in read_by_the_classes() if v not in CONVENTIONS and not v.startswith("SANICHAIN_")] == []


def test_the_tooling_variables_are_not_settings_of_the_service():
    others = [
        row[0].strip("`")
        for header, rows in tables(TABLE).items()
        if header != SERVICE_HEADER
        for row in rows
    ]
    assert others and set(others).isdisjoint(read_by_the_classes())


def test_the_container_sets_only_variables_the_service_reads():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    names = list(compose["services"]["app"]["environment"])
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    names += re.findall(r"\b([A-Z_]+)=", dockerfile.split("\nENV ", 1)[1].split("\nEXPOSE", 1)[0])
    assert {"DATABASE_URL", "HOST", "PORT"} <= set(names) <= set(read_by_the_classes())
