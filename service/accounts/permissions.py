"""What each role may do, and the town a town-limited role is held to.

One table, read by the API (each state-changing route names its action) and printed in the README.
Roles are not a ladder: a planner may run siting but not edit, an editor may edit but not run siting;
an admin may do everything.
"""

from __future__ import annotations

from enum import StrEnum

from service.accounts.tokens import Principal
from service.errors import Forbidden


class Action(StrEnum):
    sign_out = "sign_out"
    plan = "plan"  # what-if scenarios and siting: minutes of database and solver time
    propose_assignments = "propose_assignments"  # the chain assignment dry run
    assign_chain = "assign_chain"  # writing chain links
    edit_inventory = "edit_inventory"
    import_data = "import_data"
    record_inspection = "record_inspection"
    read_audit = "read_audit"  # personal data: who did what, from where
    manage_accounts = "manage_accounts"


ALLOWED: dict[Action, tuple[str, ...]] = {
    Action.sign_out: ("viewer", "inspector", "planner", "editor", "admin"),
    Action.plan: ("planner", "admin"),
    Action.propose_assignments: ("planner", "editor", "admin"),
    Action.assign_chain: ("editor", "admin"),
    Action.edit_inventory: ("editor", "admin"),
    Action.import_data: ("editor", "admin"),
    Action.record_inspection: ("inspector", "admin"),
    Action.read_audit: ("admin",),
    Action.manage_accounts: ("admin",),
}

# Actions whose effect reaches the whole city: a role limited to one town may not take them.
CITY_WIDE = frozenset({Action.assign_chain, Action.import_data, Action.manage_accounts, Action.read_audit})


def allowed_roles(action: Action) -> tuple[str, ...]:
    return ALLOWED[action]


def may(principal: Principal | None, action: Action, *, in_browser: bool = False) -> bool:
    """Whether to offer `action` to `principal` (the same rule as `check`, as an answer). `in_browser`:
    only through a browser session, for pages whose script sends the session's CSRF token."""
    return (
        principal is not None
        and (principal.kind == "session" or not in_browser)
        and principal.role in ALLOWED[action]
        and (principal.town is None or action not in CITY_WIDE)
    )


def check(principal: Principal, action: Action) -> None:
    """Forbidden unless the principal's role may take `action` (anywhere it is limited to)."""
    if principal.role not in ALLOWED[action]:
        raise Forbidden(
            f"role {principal.role!r} may not {action.value.replace('_', ' ')}; "
            f"allowed: {', '.join(ALLOWED[action])}"
        )
    if principal.town is not None and action in CITY_WIDE:
        raise Forbidden(
            f"{action.value.replace('_', ' ')} reaches the whole city; "
            f"{principal.name!r} is limited to town {principal.town}"
        )


def check_town(principal: Principal, town_code: str | None) -> None:
    """Forbidden when a town-limited principal touches what lies outside their town. `town_code` is
    the town the database derived for the feature (never a value taken from the request)."""
    if principal.town is not None and town_code != principal.town:
        where = f"town {town_code}" if town_code else "no town"
        raise Forbidden(f"{principal.name!r} is limited to town {principal.town}; this lies in {where}")
