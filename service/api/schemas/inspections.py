"""Response bodies of the inspection routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.api.schemas.common import Body

Outcome = Literal["ok", "defects", "out_of_service"]


class ChecklistItem(Body):
    key: str
    label: str = Field(description="in the asked language")


class Checklists(Body):
    checklists: dict[str, list[ChecklistItem]] = Field(description="per facility layer, in the form's order")
    outcomes: list[Outcome]


class Answer(Body):
    key: str
    label: str
    answer: bool | None = Field(description="true: fine; false: a defect; null: not checked")


class InspectedFacility(Body):
    code: str
    name: str = Field(description="name_en with lang=en where the facility has one")


class Position(Body):
    lon: float = Field(description="WGS 84 degrees")
    lat: float = Field(description="WGS 84 degrees")


class PhotoRef(Body):
    number: int = Field(ge=1)
    content_type: Literal["image/jpeg", "image/png", "image/webp"]
    size_bytes: int = Field(gt=0)
    sha256: str
    href: str = Field(description="the photo (signed-in users only)")


class InspectionRecord(Body):
    id: int
    href: str
    layer: str
    feature_id: int
    facility: InspectedFacility | None = Field(description="none if the facility has since been deleted")
    town_code: str | None
    inspector: str = Field(description="the account that recorded it")
    inspected_at: str = Field(description="when the visit was, as the inspector's device said (ISO 8601)")
    recorded_at: str = Field(description="when the service stored it (later when sent from offline)")
    outcome: Outcome
    checklist: list[Answer]
    notes: str
    position: Position | None = Field(description="where the inspector stood, if the phone knew")
    accuracy_m: float | None = Field(description="the phone's stated accuracy of the position, metres")
    distance_m: float | None = Field(description="metres from the facility to the inspector's position")
    photos: list[PhotoRef]


class InspectionList(Body):
    inspections: list[InspectionRecord] = Field(description="newest visit first")
    returned: int
