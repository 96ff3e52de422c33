"""Response bodies of the service's small documents: health, sign-in, OGC landing and collections,
TileJSON, GeoJSON features. Members not listed may be added later; the listed ones are always there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """A JSON answer: the documented members, and possibly more."""

    model_config = ConfigDict(extra="allow")


class Health(Body):
    status: str = Field(description="ok when the database answers with PostGIS")
    version: str = Field(description="the service's version")
    database: str = Field(description="ok, or what is wrong")
    server_version: str = Field(description="PostgreSQL's version")
    postgis: str = Field(description="PostGIS's version")


class AccessToken(Body):
    access_token: str = Field(description="bearer token for the Authorization header")
    token_type: str = Field(description="always bearer")
    expires_in: int = Field(description="seconds until it expires")


class Me(Body):
    name: str
    role: str = Field(description="viewer, inspector, planner, editor or admin")
    town: str | None = Field(description="9-digit town code the user is held to; null: the whole city")
    signed_in_with: str = Field(description="token, session or password")


class SignedOut(Body):
    signed_out: str = Field(description="the user signed out")
    revoked: bool = Field(description="whether the token or session presented was revoked now")


class Link(Body):
    href: str = Field(description="the linked document's address")
    rel: str = Field(description="how it relates to this one (self, next, alternate, data, …)")
    type: str | None = Field(default=None, description="its media type")
    title: str | None = Field(default=None, description="what it is, for people")


class Landing(Body):
    title: str
    description: str
    links: list[Link]


class Conformance(Body):
    conformsTo: list[str] = Field(description="URIs of the OGC conformance classes implemented")


class Extent(Body):
    spatial: dict[str, Any] = Field(description="bbox (lon/lat, CRS84) and its crs")


class Collection(Body):
    id: str = Field(description="the layer's name")
    title: str
    description: str
    itemType: str
    crs: list[str] = Field(description="CRSs the items may be asked in (`crs`)")
    storageCrs: str
    links: list[Link]
    extent: Extent


class Collections(Body):
    links: list[Link]
    collections: list[Collection]


class JsonSchemaDocument(Body):
    """A JSON Schema (2020-12) of the layer's properties."""

    schema_uri: str = Field(alias="$schema")
    id_uri: str = Field(alias="$id")
    type: str
    properties: dict[str, Any]


class Feature(Body):
    """A GeoJSON Feature (RFC 7946); the layer's `/schema` describes its properties."""

    type: str = Field(pattern="^Feature$")
    id: int | str | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None


class FeatureCollection(Body):
    """A GeoJSON FeatureCollection; OGC API items add numberMatched, numberReturned and links."""

    type: str = Field(pattern="^FeatureCollection$")
    features: list[Feature]


class TileLayer(Body):
    id: str
    fields: dict[str, str] = Field(description="property → its type")
    minzoom: int
    maxzoom: int


class TileJson(Body):
    tilejson: str = Field(description="TileJSON version, 3.0.0")
    name: str
    tiles: list[str] = Field(description="URL template of the tiles")
    minzoom: int
    maxzoom: int
    vector_layers: list[TileLayer]


class EditorRights(Body):
    signed_in: bool
    may_edit: bool
    may_import: bool
    may_inspect: bool = Field(description="signed in through the browser as an inspector or admin")
    inspected_layers: list[str] = Field(description="the layers an inspection may be recorded for")


class FeatureVersion(Body):
    version: int
    operation: str = Field(description="create, update, delete or restore")
    at: str = Field(description="ISO 8601 time of the change")
    user: str | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class FeatureHistory(Body):
    layer: str
    id: int
    versions: list[FeatureVersion] = Field(description="newest first")


class EditOutcome(Body):
    """A dry run's answer: what would be stored, its warnings and consequences; nothing is kept."""

    dry_run: bool
    feature: dict[str, Any] | None
    warnings: list[Any]
    consequences: Any
