"""The rules of the domain a feature must follow beyond its columns' types: status transitions, a
farm's head count with its species, and which layers a chain link may join in its stream.

Pure functions over the merged properties (the stored feature's, overlaid with the edit's); the
validator adds what needs the database (references, positions). Each returns (field, message) pairs.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from service.chain.parameters import ALLOWED_SKIPS, STAGES
from service.models import SOURCE_COLUMNS, TARGET_COLUMNS
from service.models.facilities import LARGE_FARM_THRESHOLDS

Problem = tuple[str, str]

# The lifecycle (docs/decisions.md D83): planned → under_construction → operational ⇄ suspended;
# any state but closed may close; a closed facility is reopened only as planned again.
TRANSITIONS: dict[str, frozenset[str]] = {
    "planned": frozenset({"under_construction", "closed"}),
    "under_construction": frozenset({"operational", "closed"}),
    "operational": frozenset({"suspended", "closed"}),
    "suspended": frozenset({"operational", "closed"}),
    "closed": frozenset({"planned"}),
}
BASIS_WORDS = {"sold_per_year": "animals sold per year", "on_hand": "head on hand"}


def status_transition(old: Any, new: Any) -> Problem | None:
    """The change of status from the stored feature's to the edit's, when the lifecycle forbids it."""
    if old == new or old not in TRANSITIONS or new not in TRANSITIONS:
        return None
    if new in TRANSITIONS[old]:
        return None
    if old == "closed":
        return (
            "properties.status",
            f"closed facilities are reopened explicitly: set status to 'planned' (not {new!r}), "
            "then follow the lifecycle planned → under_construction → operational",
        )
    allowed = ", ".join(sorted(TRANSITIONS[old]))
    return (
        "properties.status",
        f"a facility that is {old!r} cannot become {new!r}: allowed next states are {allowed} "
        "(lifecycle: planned → under_construction → operational ⇄ suspended → closed)",
    )


def head_count_basis(species: Any) -> str | None:
    threshold = LARGE_FARM_THRESHOLDS.get(species) if isinstance(species, str) else None
    return threshold[0] if threshold else None


def species_change(old_species: Any, new_species: Any, head_count_given: bool) -> Problem | None:
    """A farm whose species changes to one counted another way must say its new head count."""
    old_basis, new_basis = head_count_basis(old_species), head_count_basis(new_species)
    if head_count_given or old_basis is None or new_basis is None or old_basis == new_basis:
        return None
    return (
        "properties.head_count",
        f"required when species changes from {old_species} ({BASIS_WORDS[old_basis]}) to "
        f"{new_species} ({BASIS_WORDS[new_basis]}): give the head count as {BASIS_WORDS[new_basis]}",
    )


def link_endpoints(merged: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The source and target columns a link sets (non-null)."""
    sources = [c for c in SOURCE_COLUMNS if merged.get(c) is not None]
    targets = [c for c in TARGET_COLUMNS if merged.get(c) is not None]
    return sources, targets


def chain_link(merged: dict[str, Any]) -> tuple[list[Problem], list[str]]:
    """Errors and warnings of a link's shape: one source, one target, layers its stream joins, not self."""
    problems: list[Problem] = []
    warnings: list[str] = []
    sources, targets = link_endpoints(merged)
    for kind, columns, every in (("source", sources, SOURCE_COLUMNS), ("target", targets, TARGET_COLUMNS)):
        if len(columns) != 1:
            field = f"properties.{columns[1]}" if len(columns) > 1 else "properties"
            given = ", ".join(columns) if columns else "none"
            problems.append(
                (
                    field,
                    f"a link has exactly one {kind}: set one of {', '.join(every)} "
                    f"and the others to null (given: {given})",
                )
            )
    stream = merged.get("stream")
    if len(sources) != 1 or len(targets) != 1 or stream not in STAGES:
        return problems, warnings
    source, target = sources[0], targets[0]
    source_layer, target_layer = SOURCE_COLUMNS[source], TARGET_COLUMNS[target]
    stages = STAGES[stream]
    joined = ", ".join(f"{layer} → {after}" for layer, after in _adjacent(stream))
    if source_layer not in stages:
        problems.append(
            (f"properties.{source}", f"{source_layer} take no part in the {stream} chain ({joined})")
        )
    if target_layer not in stages:
        problems.append(
            (f"properties.{target}", f"{target_layer} take no part in the {stream} chain ({joined})")
        )
    if source_layer in stages and target_layer in stages:
        gap = stages[target_layer] - stages[source_layer]
        if gap <= 0:
            problems.append(
                (
                    f"properties.{target}",
                    f"a {stream} link runs downstream: {source_layer} feed {_next(stream, source_layer)}, "
                    f"not {target_layer} ({joined})",
                )
            )
        elif gap > 1 and (stream, source_layer, target_layer) not in ALLOWED_SKIPS:
            warnings.append(
                f"the link from {source_layer} to {target_layer} skips {gap - 1} stage(s) "
                f"of the {stream} chain"
            )
    if source_layer == target_layer and merged[source] == merged[target]:
        problems.append((f"properties.{target}", "a facility never feeds itself: source and target are one"))
    return problems, warnings


def _adjacent(stream: str) -> list[tuple[str, str]]:
    ordered = sorted(STAGES[stream], key=STAGES[stream].__getitem__)
    return list(pairwise(ordered))


def _next(stream: str, layer: str) -> str:
    stage = STAGES[stream][layer] + 1
    return " or ".join(name for name, n in STAGES[stream].items() if n == stage) or "nothing"
