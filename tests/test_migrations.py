"""Alembic: upgrade from empty creates everything, downgrade removes it, and models and schema agree."""

from __future__ import annotations

from sqlalchemy import text

from service import migrate
from service.db import make_engine
from service.models import LAYERS, Base
from service.schema_check import schema_drift

OUR_TABLES = set(Base.metadata.tables)
NON_SPATIAL = {
    "planning_scenarios",
    "users",
    "api_tokens",
    "audit_log",
    "feature_history",
    "imports",
    "inspection_photos",
}


def _tables_and_extension(url: str) -> tuple[set[str], bool]:
    engine = make_engine(url)
    with engine.connect() as conn:
        tables = set(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
        postgis = conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")).scalar()
    engine.dispose()
    return tables, bool(postgis)


def test_upgrade_head_on_an_empty_database_creates_postgis_and_every_table(database_factory):
    url = database_factory()
    assert _tables_and_extension(url) == (set(), False)
    migrate.upgrade(url)
    tables, postgis = _tables_and_extension(url)
    assert postgis
    assert tables >= OUR_TABLES
    assert set(LAYERS) <= tables


def test_every_geometry_column_has_a_gist_index(empty_engine):
    with empty_engine.connect() as conn:
        missing = (
            conn.execute(
                text(
                    """
                SELECT f_table_name FROM geometry_columns g
                WHERE NOT EXISTS (
                    SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                    JOIN pg_am am ON am.oid = c.relam JOIN pg_attribute a
                      ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                    WHERE i.indrelid = (quote_ident(g.f_table_name))::regclass
                      AND a.attname = g.f_geometry_column AND am.amname = 'gist')
                """
                )
            )
            .scalars()
            .all()
        )
        declared = conn.execute(
            text("SELECT f_table_name, type, srid FROM geometry_columns ORDER BY 1")
        ).all()
    assert missing == []
    assert {row[0] for row in declared} == OUR_TABLES - NON_SPATIAL
    assert {row[2] for row in declared} == {4326}


def test_downgrade_base_removes_tables_functions_and_postgis(database_factory):
    url = database_factory()
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    tables, postgis = _tables_and_extension(url)
    assert tables == {"alembic_version"}
    assert not postgis
    engine = make_engine(url)
    with engine.connect() as conn:
        functions = conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'sanichain_%'")).all()
    engine.dispose()
    assert functions == []
    migrate.upgrade(url)  # and back up again, cleanly
    assert _tables_and_extension(url)[0] >= OUR_TABLES


def test_autogenerate_finds_no_drift_between_models_and_migrations(empty_database_url):
    assert schema_drift(empty_database_url) == []


def test_drift_check_notices_a_column_the_models_do_not_have(empty_database_url):
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE villages ADD COLUMN stray integer"))
    engine.dispose()
    drift = schema_drift(empty_database_url)
    assert any(d[0] == "remove_column" and d[3].name == "stray" for d in drift)
