"""The national-scale loader builds each table's spatial indexes after its COPY: afterwards they are
there, as the migrations define them, and spatial queries use them."""

from __future__ import annotations

from sqlalchemy import text

from service.db import make_engine
from service.synthetic import national_scale

GIST = """SELECT tablename, indexname, indexdef FROM pg_indexes
          WHERE schemaname = 'public' AND indexdef LIKE '%USING gist%' ORDER BY 1, 2"""


def test_the_national_loader_leaves_every_spatial_index_as_migrated_and_in_use(
    database_factory, migrated_template, tmp_path
):
    url = database_factory(migrated_template)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            migrated = conn.execute(text(GIST)).all()
        assert len(migrated) >= 10
        national_scale.generate(tmp_path, villages=300, farms=900, stations=4)
        counts = national_scale.load(url, tmp_path)
        assert counts["livestock_farms"] == 900
        with engine.connect() as conn:
            assert conn.execute(text(GIST)).all() == migrated
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                conn.execute(
                    text(
                        "EXPLAIN SELECT count(*) FROM villages "
                        "WHERE ST_DWithin(geom::geography, ST_MakePoint(116, 36)::geography, 5000)"
                    )
                ).scalars()
            )
            assert "ix_villages_geog" in plan
    finally:
        engine.dispose()
