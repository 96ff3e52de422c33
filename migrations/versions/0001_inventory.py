"""Inventory: areas, facility layers and chain links, with PostGIS and the triggers they need.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES = (
    "cities", "towns", "communities", "villages", "collection_points", "transfer_stations",
    "treatment_plants", "manure_centers", "biogas_centers", "livestock_farms", "public_toilets",
    "chain_links",
)

# Endpoint columns of chain_links and the layer each one points at (see service/models/chain.py).
LINK_ENDPOINTS = {
    "source": (
        ("source_village_id", "villages"),
        ("source_farm_id", "livestock_farms"),
        ("source_collection_point_id", "collection_points"),
        ("source_transfer_station_id", "transfer_stations"),
        ("source_manure_center_id", "manure_centers"),
    ),
    "target": (
        ("target_collection_point_id", "collection_points"),
        ("target_transfer_station_id", "transfer_stations"),
        ("target_treatment_plant_id", "treatment_plants"),
        ("target_manure_center_id", "manure_centers"),
        ("target_biogas_center_id", "biogas_centers"),
    ),
}


def _endpoint_geom_sql(side: str) -> str:
    lookups = ",\n        ".join(
        f"(SELECT geom FROM {table} WHERE id = NEW.{column})" for column, table in LINK_ENDPOINTS[side]
    )
    return f"COALESCE(\n        {lookups})"


def _create_functions_and_triggers() -> None:
    # updated_at follows every UPDATE, whoever makes it (API, CLI, psql).
    op.execute(
        """
        CREATE FUNCTION sanichain_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$;
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_touch_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION sanichain_touch_updated_at()"
        )
    # A link's line is derived from its endpoints; left NULL when an endpoint is missing so the
    # foreign key, not this trigger, reports the dangling reference.
    op.execute(
        f"""
        CREATE FUNCTION sanichain_chain_link_geom() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            src geometry;
            dst geometry;
        BEGIN
            src := {_endpoint_geom_sql("source")};
            dst := {_endpoint_geom_sql("target")};
            IF src IS NOT NULL AND dst IS NOT NULL THEN
                NEW.geom := ST_MakeLine(src, dst);
            END IF;
            RETURN NEW;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER chain_links_geom BEFORE INSERT OR UPDATE ON chain_links "
        "FOR EACH ROW EXECUTE FUNCTION sanichain_chain_link_geom()"
    )
    # When a source or target moves, its links' lines follow (the trigger above redraws them).
    op.execute(
        """
        CREATE FUNCTION sanichain_refresh_link_geom() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            link_column text;
        BEGIN
            FOREACH link_column IN ARRAY TG_ARGV LOOP
                EXECUTE format('UPDATE chain_links SET geom = NULL WHERE %I = $1', link_column) USING NEW.id;
            END LOOP;
            RETURN NULL;
        END $$;
        """
    )
    columns_by_table: dict[str, list[str]] = {}
    for endpoints in LINK_ENDPOINTS.values():
        for column, table in endpoints:
            columns_by_table.setdefault(table, []).append(column)
    for table, columns in columns_by_table.items():
        args = ", ".join(f"'{c}'" for c in columns)
        op.execute(
            f"CREATE TRIGGER {table}_refresh_links AFTER UPDATE OF geom ON {table} FOR EACH ROW "
            f"WHEN (OLD.geom IS DISTINCT FROM NEW.geom) EXECUTE FUNCTION sanichain_refresh_link_geom({args})"
        )


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table('cities',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{6}$'", name=op.f('ck_cities_code_format')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_cities_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_cities_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_cities_geom_lonlat_range')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_cities_name_not_blank')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cities')),
    sa.UniqueConstraint('code', name=op.f('uq_cities_code'))
    )
    op.create_geospatial_index('idx_cities_geom', 'cities', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('towns',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('city_id', sa.BigInteger(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{9}$'", name=op.f('ck_towns_code_format')),
    sa.CheckConstraint("kind IN ('subdistrict', 'town', 'development_zone')", name=op.f('ck_towns_kind_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_towns_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_towns_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_towns_geom_lonlat_range')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_towns_name_not_blank')),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_towns_city_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_towns')),
    sa.UniqueConstraint('code', name=op.f('uq_towns_code'))
    )
    op.create_geospatial_index('idx_towns_geom', 'towns', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_towns_city_id'), 'towns', ['city_id'], unique=False)
    op.create_geospatial_table('biogas_centers',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=True),
    sa.Column('biogas_m3_per_day', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('t/d', 'm3/d')", name=op.f('ck_biogas_centers_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_biogas_centers_code_format')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_biogas_centers_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_biogas_centers_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_biogas_centers_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_biogas_centers_geom_lonlat_range')),
    sa.CheckConstraint('biogas_m3_per_day IS NULL OR biogas_m3_per_day >= 0', name=op.f('ck_biogas_centers_biogas_non_negative')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_biogas_centers_capacity_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_biogas_centers_name_not_blank')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_biogas_centers_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_biogas_centers')),
    sa.UniqueConstraint('code', name=op.f('uq_biogas_centers_code'))
    )
    op.create_geospatial_index('idx_biogas_centers_geom', 'biogas_centers', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_biogas_centers_town_id'), 'biogas_centers', ['town_id'], unique=False)
    op.create_geospatial_table('communities',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{12}$'", name=op.f('ck_communities_code_format')),
    sa.CheckConstraint("kind IN ('rural', 'urban')", name=op.f('ck_communities_kind_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_communities_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_communities_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_communities_geom_lonlat_range')),
    sa.CheckConstraint('households IS NULL OR households >= 0', name=op.f('ck_communities_households_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_communities_name_not_blank')),
    sa.CheckConstraint('population IS NULL OR population >= 0', name=op.f('ck_communities_population_non_negative')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_communities_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_communities')),
    sa.UniqueConstraint('code', name=op.f('uq_communities_code')),
    sa.UniqueConstraint('id', 'town_id', name='uq_communities_id_town_id')
    )
    op.create_geospatial_index('idx_communities_geom', 'communities', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_communities_town_id'), 'communities', ['town_id'], unique=False)
    op.create_geospatial_table('livestock_farms',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('species', sa.Text(), nullable=False),
    sa.Column('head_count', sa.Integer(), nullable=False),
    sa.Column('head_count_basis', sa.Text(), sa.Computed("CASE species WHEN 'pig' THEN 'sold_per_year' WHEN 'beef' THEN 'sold_per_year' WHEN 'sheep' THEN 'sold_per_year' WHEN 'broiler' THEN 'sold_per_year' WHEN 'dairy' THEN 'on_hand' WHEN 'layer' THEN 'on_hand' END", persisted=True), nullable=True),
    sa.Column('is_large_scale', sa.Boolean(), sa.Computed("head_count >= CASE species WHEN 'pig' THEN 500 WHEN 'beef' THEN 50 WHEN 'sheep' THEN 200 WHEN 'broiler' THEN 10000 WHEN 'dairy' THEN 100 WHEN 'layer' THEN 2000 END", persisted=True), nullable=True),
    sa.Column('manure_facility_type', sa.Text(), server_default='none', nullable=False),
    sa.Column('has_manure_facility', sa.Boolean(), sa.Computed("manure_facility_type <> 'none'", persisted=True), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('m3', 't/d')", name=op.f('ck_livestock_farms_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_livestock_farms_code_format')),
    sa.CheckConstraint("manure_facility_type IN ('none', 'storage_lagoon', 'dry_manure_shed', 'composting', 'anaerobic_digester', 'fermentation_bed', 'solid_liquid_separation')", name=op.f('ck_livestock_farms_manure_facility_known')),
    sa.CheckConstraint("species IN ('pig', 'dairy', 'beef', 'sheep', 'layer', 'broiler')", name=op.f('ck_livestock_farms_species_known')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_livestock_farms_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_livestock_farms_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_livestock_farms_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_livestock_farms_geom_lonlat_range')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_livestock_farms_capacity_non_negative')),
    sa.CheckConstraint('head_count >= 0', name=op.f('ck_livestock_farms_head_count_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_livestock_farms_name_not_blank')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_livestock_farms_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_livestock_farms')),
    sa.UniqueConstraint('code', name=op.f('uq_livestock_farms_code'))
    )
    op.create_geospatial_index('idx_livestock_farms_geom', 'livestock_farms', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_livestock_farms_town_id'), 'livestock_farms', ['town_id'], unique=False)
    op.create_geospatial_table('manure_centers',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('accepts_fecal_sludge', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('accepts_manure', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('process', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('t/d', 'm3/d')", name=op.f('ck_manure_centers_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_manure_centers_code_format')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_manure_centers_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_manure_centers_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_manure_centers_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_manure_centers_geom_lonlat_range')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_manure_centers_capacity_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_manure_centers_name_not_blank')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_manure_centers_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manure_centers')),
    sa.UniqueConstraint('code', name=op.f('uq_manure_centers_code'))
    )
    op.create_geospatial_index('idx_manure_centers_geom', 'manure_centers', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_manure_centers_town_id'), 'manure_centers', ['town_id'], unique=False)
    op.create_geospatial_table('public_toilets',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('stalls')", name=op.f('ck_public_toilets_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_public_toilets_code_format')),
    sa.CheckConstraint("kind IN ('new', 'rebuilt')", name=op.f('ck_public_toilets_kind_known')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_public_toilets_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_public_toilets_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_public_toilets_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_public_toilets_geom_lonlat_range')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_public_toilets_capacity_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_public_toilets_name_not_blank')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_public_toilets_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_toilets')),
    sa.UniqueConstraint('code', name=op.f('uq_public_toilets_code'))
    )
    op.create_geospatial_index('idx_public_toilets_geom', 'public_toilets', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_public_toilets_town_id'), 'public_toilets', ['town_id'], unique=False)
    op.create_geospatial_table('transfer_stations',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('station_class', sa.Text(), sa.Computed("CASE WHEN capacity IS NULL THEN NULL WHEN capacity < 30 THEN 'collection_station' WHEN capacity < 150 THEN 'small' WHEN capacity <= 450 THEN 'medium' ELSE 'large' END", persisted=True), nullable=True),
    sa.Column('compression', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('campaign', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('t/d')", name=op.f('ck_transfer_stations_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_transfer_stations_code_format')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_transfer_stations_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_transfer_stations_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_transfer_stations_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_transfer_stations_geom_lonlat_range')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_transfer_stations_capacity_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_transfer_stations_name_not_blank')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_transfer_stations_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_stations')),
    sa.UniqueConstraint('code', name=op.f('uq_transfer_stations_code'))
    )
    op.create_geospatial_index('idx_transfer_stations_geom', 'transfer_stations', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_transfer_stations_town_id'), 'transfer_stations', ['town_id'], unique=False)
    op.create_geospatial_table('treatment_plants',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=True),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('phase', sa.SmallInteger(), nullable=True),
    sa.Column('power_mw', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('t/d')", name=op.f('ck_treatment_plants_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_treatment_plants_code_format')),
    sa.CheckConstraint("kind IN ('incineration', 'landfill')", name=op.f('ck_treatment_plants_kind_known')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_treatment_plants_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_treatment_plants_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_treatment_plants_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_treatment_plants_geom_lonlat_range')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_treatment_plants_capacity_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_treatment_plants_name_not_blank')),
    sa.CheckConstraint('phase IS NULL OR phase >= 1', name=op.f('ck_treatment_plants_phase_positive')),
    sa.CheckConstraint('power_mw IS NULL OR power_mw >= 0', name=op.f('ck_treatment_plants_power_non_negative')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_treatment_plants_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_plants')),
    sa.UniqueConstraint('code', name=op.f('uq_treatment_plants_code'))
    )
    op.create_geospatial_index('idx_treatment_plants_geom', 'treatment_plants', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_treatment_plants_town_id'), 'treatment_plants', ['town_id'], unique=False)
    op.create_geospatial_table('villages',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('toilets_rebuilt', sa.Integer(), server_default='0', nullable=False),
    sa.Column('waste_rate_kg_per_person_day', sa.Numeric(precision=5, scale=3), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_villages_code_format')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_villages_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_villages_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_villages_geom_lonlat_range')),
    sa.CheckConstraint('households >= 0', name=op.f('ck_villages_households_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_villages_name_not_blank')),
    sa.CheckConstraint('population >= 0', name=op.f('ck_villages_population_non_negative')),
    sa.CheckConstraint('toilets_rebuilt <= households', name=op.f('ck_villages_toilets_rebuilt_le_households')),
    sa.CheckConstraint('toilets_rebuilt >= 0', name=op.f('ck_villages_toilets_rebuilt_non_negative')),
    sa.CheckConstraint('waste_rate_kg_per_person_day IS NULL OR waste_rate_kg_per_person_day BETWEEN 0 AND 5', name=op.f('ck_villages_waste_rate_range')),
    sa.ForeignKeyConstraint(['community_id', 'town_id'], ['communities.id', 'communities.town_id'], name='fk_villages_community_id_town_id'),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_villages_town_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_villages')),
    sa.UniqueConstraint('code', name=op.f('uq_villages_code')),
    sa.UniqueConstraint('id', 'town_id', name='uq_villages_id_town_id')
    )
    op.create_geospatial_index('idx_villages_geom', 'villages', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_villages_community_id'), 'villages', ['community_id'], unique=False)
    op.create_index(op.f('ix_villages_town_id'), 'villages', ['town_id'], unique=False)
    op.create_geospatial_table('collection_points',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='operational', nullable=False),
    sa.Column('capacity', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('capacity_unit', sa.Text(), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('town_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), server_default='bin_station', nullable=False),
    sa.Column('village_id', sa.BigInteger(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('t/d')", name=op.f('ck_collection_points_capacity_unit_known')),
    sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", name=op.f('ck_collection_points_code_format')),
    sa.CheckConstraint("kind IN ('bin_station', 'collection_room', 'container_point')", name=op.f('ck_collection_points_kind_known')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'operational', 'suspended', 'closed')", name=op.f('ck_collection_points_status_known')),
    sa.CheckConstraint('NOT ST_IsEmpty(geom)', name=op.f('ck_collection_points_geom_not_empty')),
    sa.CheckConstraint('ST_IsValid(geom)', name=op.f('ck_collection_points_geom_valid')),
    sa.CheckConstraint('ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90', name=op.f('ck_collection_points_geom_lonlat_range')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_collection_points_capacity_non_negative')),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_collection_points_name_not_blank')),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_collection_points_town_id')),
    sa.ForeignKeyConstraint(['village_id', 'town_id'], ['villages.id', 'villages.town_id'], name='fk_collection_points_village_id_town_id'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_points')),
    sa.UniqueConstraint('code', name=op.f('uq_collection_points_code'))
    )
    op.create_geospatial_index('idx_collection_points_geom', 'collection_points', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_collection_points_town_id'), 'collection_points', ['town_id'], unique=False)
    op.create_index(op.f('ix_collection_points_village_id'), 'collection_points', ['village_id'], unique=False)
    op.create_geospatial_table('chain_links',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('stream', sa.Text(), nullable=False),
    sa.Column('source_village_id', sa.BigInteger(), nullable=True),
    sa.Column('source_farm_id', sa.BigInteger(), nullable=True),
    sa.Column('source_collection_point_id', sa.BigInteger(), nullable=True),
    sa.Column('source_transfer_station_id', sa.BigInteger(), nullable=True),
    sa.Column('source_manure_center_id', sa.BigInteger(), nullable=True),
    sa.Column('target_collection_point_id', sa.BigInteger(), nullable=True),
    sa.Column('target_transfer_station_id', sa.BigInteger(), nullable=True),
    sa.Column('target_treatment_plant_id', sa.BigInteger(), nullable=True),
    sa.Column('target_manure_center_id', sa.BigInteger(), nullable=True),
    sa.Column('target_biogas_center_id', sa.BigInteger(), nullable=True),
    sa.Column('source_layer', sa.Text(), sa.Computed("CASE WHEN source_village_id IS NOT NULL THEN 'villages' WHEN source_farm_id IS NOT NULL THEN 'livestock_farms' WHEN source_collection_point_id IS NOT NULL THEN 'collection_points' WHEN source_transfer_station_id IS NOT NULL THEN 'transfer_stations' WHEN source_manure_center_id IS NOT NULL THEN 'manure_centers' END", persisted=True), nullable=True),
    sa.Column('source_id', sa.BigInteger(), sa.Computed('COALESCE(source_village_id, source_farm_id, source_collection_point_id, source_transfer_station_id, source_manure_center_id)', persisted=True), nullable=True),
    sa.Column('target_layer', sa.Text(), sa.Computed("CASE WHEN target_collection_point_id IS NOT NULL THEN 'collection_points' WHEN target_transfer_station_id IS NOT NULL THEN 'transfer_stations' WHEN target_treatment_plant_id IS NOT NULL THEN 'treatment_plants' WHEN target_manure_center_id IS NOT NULL THEN 'manure_centers' WHEN target_biogas_center_id IS NOT NULL THEN 'biogas_centers' END", persisted=True), nullable=True),
    sa.Column('target_id', sa.BigInteger(), sa.Computed('COALESCE(target_collection_point_id, target_transfer_station_id, target_treatment_plant_id, target_manure_center_id, target_biogas_center_id)', persisted=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("stream IN ('domestic_waste', 'fecal_sludge', 'manure')", name=op.f('ck_chain_links_stream_known')),
    sa.CheckConstraint('NOT (source_collection_point_id = target_collection_point_id OR source_transfer_station_id = target_transfer_station_id OR source_manure_center_id = target_manure_center_id)', name=op.f('ck_chain_links_not_self')),
    sa.CheckConstraint('num_nonnulls(source_village_id, source_farm_id, source_collection_point_id, source_transfer_station_id, source_manure_center_id) = 1', name=op.f('ck_chain_links_one_source')),
    sa.CheckConstraint('num_nonnulls(target_collection_point_id, target_transfer_station_id, target_treatment_plant_id, target_manure_center_id, target_biogas_center_id) = 1', name=op.f('ck_chain_links_one_target')),
    sa.ForeignKeyConstraint(['source_collection_point_id'], ['collection_points.id'], name=op.f('fk_chain_links_source_collection_point_id')),
    sa.ForeignKeyConstraint(['source_farm_id'], ['livestock_farms.id'], name=op.f('fk_chain_links_source_farm_id')),
    sa.ForeignKeyConstraint(['source_manure_center_id'], ['manure_centers.id'], name=op.f('fk_chain_links_source_manure_center_id')),
    sa.ForeignKeyConstraint(['source_transfer_station_id'], ['transfer_stations.id'], name=op.f('fk_chain_links_source_transfer_station_id')),
    sa.ForeignKeyConstraint(['source_village_id'], ['villages.id'], name=op.f('fk_chain_links_source_village_id')),
    sa.ForeignKeyConstraint(['target_biogas_center_id'], ['biogas_centers.id'], name=op.f('fk_chain_links_target_biogas_center_id')),
    sa.ForeignKeyConstraint(['target_collection_point_id'], ['collection_points.id'], name=op.f('fk_chain_links_target_collection_point_id')),
    sa.ForeignKeyConstraint(['target_manure_center_id'], ['manure_centers.id'], name=op.f('fk_chain_links_target_manure_center_id')),
    sa.ForeignKeyConstraint(['target_transfer_station_id'], ['transfer_stations.id'], name=op.f('fk_chain_links_target_transfer_station_id')),
    sa.ForeignKeyConstraint(['target_treatment_plant_id'], ['treatment_plants.id'], name=op.f('fk_chain_links_target_treatment_plant_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_links'))
    )
    op.create_geospatial_index('idx_chain_links_geom', 'chain_links', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_chain_links_source_collection_point_id'), 'chain_links', ['source_collection_point_id'], unique=False)
    op.create_index(op.f('ix_chain_links_source_farm_id'), 'chain_links', ['source_farm_id'], unique=False)
    op.create_index(op.f('ix_chain_links_source_manure_center_id'), 'chain_links', ['source_manure_center_id'], unique=False)
    op.create_index(op.f('ix_chain_links_source_transfer_station_id'), 'chain_links', ['source_transfer_station_id'], unique=False)
    op.create_index(op.f('ix_chain_links_source_village_id'), 'chain_links', ['source_village_id'], unique=False)
    op.create_index('ix_chain_links_target', 'chain_links', ['target_layer', 'target_id'], unique=False)
    op.create_index(op.f('ix_chain_links_target_biogas_center_id'), 'chain_links', ['target_biogas_center_id'], unique=False)
    op.create_index(op.f('ix_chain_links_target_collection_point_id'), 'chain_links', ['target_collection_point_id'], unique=False)
    op.create_index(op.f('ix_chain_links_target_manure_center_id'), 'chain_links', ['target_manure_center_id'], unique=False)
    op.create_index(op.f('ix_chain_links_target_transfer_station_id'), 'chain_links', ['target_transfer_station_id'], unique=False)
    op.create_index(op.f('ix_chain_links_target_treatment_plant_id'), 'chain_links', ['target_treatment_plant_id'], unique=False)
    op.create_index('uq_chain_links_stream_source_target', 'chain_links', ['stream', 'source_layer', 'source_id', 'target_layer', 'target_id'], unique=True)
    _create_functions_and_triggers()


def downgrade() -> None:
    op.drop_index('uq_chain_links_stream_source_target', table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_target_treatment_plant_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_target_transfer_station_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_target_manure_center_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_target_collection_point_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_target_biogas_center_id'), table_name='chain_links')
    op.drop_index('ix_chain_links_target', table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_source_village_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_source_transfer_station_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_source_manure_center_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_source_farm_id'), table_name='chain_links')
    op.drop_index(op.f('ix_chain_links_source_collection_point_id'), table_name='chain_links')
    op.drop_geospatial_index('idx_chain_links_geom', table_name='chain_links', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('chain_links')
    op.drop_index(op.f('ix_collection_points_village_id'), table_name='collection_points')
    op.drop_index(op.f('ix_collection_points_town_id'), table_name='collection_points')
    op.drop_geospatial_index('idx_collection_points_geom', table_name='collection_points', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('collection_points')
    op.drop_index(op.f('ix_villages_town_id'), table_name='villages')
    op.drop_index(op.f('ix_villages_community_id'), table_name='villages')
    op.drop_geospatial_index('idx_villages_geom', table_name='villages', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('villages')
    op.drop_index(op.f('ix_treatment_plants_town_id'), table_name='treatment_plants')
    op.drop_geospatial_index('idx_treatment_plants_geom', table_name='treatment_plants', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('treatment_plants')
    op.drop_index(op.f('ix_transfer_stations_town_id'), table_name='transfer_stations')
    op.drop_geospatial_index('idx_transfer_stations_geom', table_name='transfer_stations', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('transfer_stations')
    op.drop_index(op.f('ix_public_toilets_town_id'), table_name='public_toilets')
    op.drop_geospatial_index('idx_public_toilets_geom', table_name='public_toilets', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('public_toilets')
    op.drop_index(op.f('ix_manure_centers_town_id'), table_name='manure_centers')
    op.drop_geospatial_index('idx_manure_centers_geom', table_name='manure_centers', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('manure_centers')
    op.drop_index(op.f('ix_livestock_farms_town_id'), table_name='livestock_farms')
    op.drop_geospatial_index('idx_livestock_farms_geom', table_name='livestock_farms', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('livestock_farms')
    op.drop_index(op.f('ix_communities_town_id'), table_name='communities')
    op.drop_geospatial_index('idx_communities_geom', table_name='communities', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('communities')
    op.drop_index(op.f('ix_biogas_centers_town_id'), table_name='biogas_centers')
    op.drop_geospatial_index('idx_biogas_centers_geom', table_name='biogas_centers', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('biogas_centers')
    op.drop_index(op.f('ix_towns_city_id'), table_name='towns')
    op.drop_geospatial_index('idx_towns_geom', table_name='towns', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('towns')
    op.drop_geospatial_index('idx_cities_geom', table_name='cities', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('cities')
    op.execute("DROP FUNCTION IF EXISTS sanichain_refresh_link_geom()")
    op.execute("DROP FUNCTION IF EXISTS sanichain_chain_link_geom()")
    op.execute("DROP FUNCTION IF EXISTS sanichain_touch_updated_at()")
    # PostGIS goes too, unless something outside the inventory still uses it.
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM geometry_columns) THEN
                DROP EXTENSION IF EXISTS postgis;
            END IF;
        END $$;
        """
    )
