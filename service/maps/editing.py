"""Editing from the map: what a page embeds for its edit form, and who may open it.

Pages are cached and shared by every reader (`service.maps.cache`), so a page carries only what is the
same for everyone: the layer's writable fields and the feature's id and town. Who is signed in, and the
session's CSRF token, the page's script asks for when it runs (`GET /maps/editor`, then `/auth/me`).
"""

from __future__ import annotations

from typing import Any

from service.accounts.permissions import Action, may
from service.accounts.tokens import Principal
from service.editing.fields import EDITABLE_LAYERS, writable
from service.maps.map_rows import POINT_LAYERS
from service.vocabulary import INSPECTED_LAYERS

# Layers with a page of their own that may be edited there (the city map's popups link to it).
MAP_EDITABLE: tuple[str, ...] = tuple(name for name in POINT_LAYERS if name in EDITABLE_LAYERS)


# What an inspector corrects most, first; the layer's own properties follow in catalogue order.
FIRST = ("name", "status", "capacity", "capacity_unit", "name_en", "operator", "commissioned_on", "code")


def form_fields(layer: str) -> list[dict[str, Any]]:
    """The layer's writable properties: name, kind and allowed values."""
    fields = writable(layer)
    order = [name for name in FIRST if name in fields] + [name for name in fields if name not in FIRST]
    return [
        {
            "name": name,
            "kind": fields[name].kind,
            "vocabulary": list(v) if (v := fields[name].vocabulary) else None,
        }
        for name in order
    ]


def facility_form(layer: str, feature_id: int, town_code: str | None) -> dict[str, Any]:
    """The edit form of one feature's page."""
    return {
        "layers": list(MAP_EDITABLE),
        "layer": layer,
        "id": feature_id,
        "town_code": town_code,
        "fields": form_fields(layer),
    }


def popup_links() -> dict[str, Any]:
    """The city and town maps: an edit link in the popups of the layers that have an edit form."""
    return {"layers": list(MAP_EDITABLE)}


def may_edit(principal: Principal | None) -> dict[str, Any]:
    """Whether to offer the edit form (and the import page's link): a reader who is not signed in gets
    an answer, not a 401 (the page asks on every load; a 401 would be an error in every anonymous
    reader's console). Imports reach the whole city, so a town-limited editor gets no import link."""
    return {
        "signed_in": principal is not None,
        "may_edit": may(principal, Action.edit_inventory),
        # the inspection form works with the browser's session (its CSRF token)
        "may_inspect": may(principal, Action.record_inspection, in_browser=True),
        "may_import": may(principal, Action.import_data),
        "inspected_layers": list(INSPECTED_LAYERS),
    }
