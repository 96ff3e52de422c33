"""Users: add, list, disable, change role; a password checked by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from service.accounts.passwords import hash_password, verify_password
from service.errors import BadParameter, Conflict, NotFound
from service.vocabulary import ROLES

MAX_NAME_LENGTH = 64


class UnknownUser(NotFound):
    """No user of that name."""


@dataclass(frozen=True)
class UserInfo:
    """A user as shown to an admin: never the password hash."""

    id: int
    name: str
    role: str
    town: str | None  # the town's code when the role is limited to one town
    disabled: bool
    created_at: datetime


_SELECT = """
    SELECT u.id, u.name, u.role, t.code AS town, u.disabled, u.created_at
    FROM users u LEFT JOIN towns t ON t.id = u.town_id
"""


def _info(row: Any) -> UserInfo:
    return UserInfo(row.id, row.name, row.role, row.town, row.disabled, row.created_at)


def check_name(name: str) -> str:
    if not name.strip():
        raise BadParameter("name", "must not be blank")
    if name != name.strip() or any(not ch.isprintable() or ch.isspace() for ch in name):
        raise BadParameter("name", f"{name!r}: no spaces or control characters")
    if len(name) > MAX_NAME_LENGTH:
        raise BadParameter("name", f"must be at most {MAX_NAME_LENGTH} characters")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadParameter("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def town_id(conn: Connection, code: str | None) -> int | None:
    """The id of the town with this code; None for no town (the whole city)."""
    if code is None:
        return None
    found = conn.execute(text("SELECT id FROM towns WHERE code = :code"), {"code": code}).scalar()
    if found is None:
        raise BadParameter("town", f"no town with code {code!r}")
    return int(found)


def get(conn: Connection, name: str) -> UserInfo:
    row = conn.execute(text(_SELECT + " WHERE u.name = :name"), {"name": name}).one_or_none()
    if row is None:
        raise UnknownUser(f"user: no user named {name!r}")
    return _info(row)


def add(conn: Connection, name: str, role: str, password: str, town: str | None = None) -> UserInfo:
    """A new user; `town` (a town's code) limits the role to that town. A taken name is a Conflict."""
    check_name(name)
    check_role(role)
    tid = town_id(conn, town)
    password_hash = hash_password(password)
    new_id = conn.execute(
        text(
            "INSERT INTO users (name, password_hash, role, town_id) VALUES (:name, :hash, :role, :town_id) "
            "ON CONFLICT (name) DO NOTHING RETURNING id"
        ),
        {"name": name, "hash": password_hash, "role": role, "town_id": tid},
    ).scalar()
    if new_id is None:
        raise Conflict(f"name: a user named {name!r} already exists")
    return get(conn, name)


def list_all(conn: Connection) -> list[UserInfo]:
    return [_info(row) for row in conn.execute(text(_SELECT + " ORDER BY u.name"))]


def disable(conn: Connection, name: str) -> UserInfo:
    """The user can no longer sign in, and none of their tokens is accepted (at once)."""
    found = conn.execute(
        text("UPDATE users SET disabled = true WHERE name = :name RETURNING id"), {"name": name}
    ).scalar()
    if found is None:
        raise UnknownUser(f"user: no user named {name!r}")
    return get(conn, name)


def set_role(conn: Connection, name: str, role: str, town: str | None = None) -> UserInfo:
    """A new role, limited to `town` when given, else for the whole city (a previous town is lifted)."""
    check_role(role)
    tid = town_id(conn, town)
    found = conn.execute(
        text("UPDATE users SET role = :role, town_id = :town_id WHERE name = :name RETURNING id"),
        {"name": name, "role": role, "town_id": tid},
    ).scalar()
    if found is None:
        raise UnknownUser(f"user: no user named {name!r}")
    return get(conn, name)


def check_password(conn: Connection, name: str, password: str) -> UserInfo | None:
    """The enabled user with this name and password, else None; as slow for an unknown name."""
    row = conn.execute(
        text("SELECT password_hash, disabled FROM users WHERE name = :name"), {"name": name}
    ).one_or_none()
    matches = verify_password(password, row.password_hash if row is not None else None)
    if row is None or not matches or row.disabled:
        return None
    return get(conn, name)
