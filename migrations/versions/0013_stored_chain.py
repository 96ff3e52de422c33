"""The chain computation kept in tables, updated in place by each change (D113).

`chain_generation`, `chain_link_step`, `chain_link_flow` and `chain_facility` hold what
`flows.compute()` puts into temporary tables of the same names, for the city's own parameters; a
computation with other parameters still makes its temporary tables, which shadow these for its
transaction. `chain_node` is a view of every node. Statement triggers on the inventory note each
changed row in `chain_pending`, and whether the change can move tonnes; `service.chain.stored` folds them into the tables. A statement that
changes more rows than an edit would (an import, a load) marks the whole state stale instead, and the
next reader recomputes it; so does TRUNCATE. `chain_state` holds that flag and the parameters the
tables were computed with.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACILITY_LAYERS = ("collection_points", "transfer_stations", "treatment_plants", "manure_centers", "biogas_centers")
WATCHED = ("villages", "livestock_farms", *FACILITY_LAYERS, "chain_links")
MANY_ROWS = 20_000  # more rows than an import the service checks (10,000): recompute all rather than note each
IGNORED = "ARRAY['geom', 'created_at', 'updated_at', 'version']"  # changes that move no tonne

NODE_VIEW = " UNION ALL ".join(
    [
        "SELECT 'villages'::text AS layer, id, code, name, 'operational'::text AS status, town_id FROM villages",
        "SELECT 'livestock_farms', id, code, name, status::text, town_id FROM livestock_farms",
        *(f"SELECT '{layer}', id, code, name, status::text, town_id FROM {layer}" for layer in FACILITY_LAYERS),
    ]
)

# Whether a row's change can move tonnes: a source's or a link's always; a facility's only when a manure
# centre's share passed on changed (its name, capacity or status only change its own figures).
MOVES = "TG_TABLE_NAME IN ('villages', 'livestock_farms', 'chain_links')"
SHARE = "to_jsonb({row}) -> 'forwarded_share'"


def _note(rows: str, note: str) -> str:
    """A statement's rows noted one by one, or the whole state marked stale when there are too many."""
    return f"""
        IF (SELECT count(*) FROM (SELECT FROM {rows} LIMIT {MANY_ROWS + 1}) s) > {MANY_ROWS} THEN
            UPDATE chain_state SET stale = true;
        ELSE
            {note};
        END IF;"""


def _each(rows: str) -> str:
    return f"INSERT INTO chain_pending (layer, id, moves) SELECT TG_TABLE_NAME, id, {MOVES} FROM {rows}"


CHANGED = f"""INSERT INTO chain_pending (layer, id, moves)
            SELECT TG_TABLE_NAME, n.id, {MOVES} OR {SHARE.format(row="n")} IS DISTINCT FROM {SHARE.format(row="o")}
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE to_jsonb(n) - {IGNORED} IS DISTINCT FROM to_jsonb(o) - {IGNORED}"""

NOTE_FUNCTION = f"""
CREATE FUNCTION chain_note_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE chain_state SET stale = true;
    ELSIF TG_OP = 'INSERT' THEN{_note("new_rows", _each("new_rows"))}
    ELSIF TG_OP = 'DELETE' THEN{_note("old_rows", _each("old_rows"))}
    ELSE{_note("new_rows", CHANGED)}
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE chain_state (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            stale boolean NOT NULL DEFAULT true,
            parameters jsonb,
            computed_at timestamptz
        );
        INSERT INTO chain_state DEFAULT VALUES;
        CREATE TABLE chain_pending (layer text NOT NULL, id bigint NOT NULL, moves boolean NOT NULL);
        CREATE TABLE chain_generation (
            stream text NOT NULL, layer text NOT NULL, id bigint NOT NULL, town_id bigint,
            t_per_day float8, pig_equivalents float8, wastewater_m3_per_day float8,
            PRIMARY KEY (layer, id, stream)
        );
        CREATE TABLE chain_link_step (
            id bigint PRIMARY KEY, stream text NOT NULL, source_layer text NOT NULL, source_id bigint NOT NULL,
            target_layer text NOT NULL, target_id bigint NOT NULL, n float8 NOT NULL, share float8 NOT NULL
        );
        CREATE INDEX ix_chain_link_step_source ON chain_link_step (source_layer, source_id, stream);
        CREATE INDEX ix_chain_link_step_target ON chain_link_step (target_layer, target_id);
        CREATE TABLE chain_link_flow (link_id bigint PRIMARY KEY, stream text NOT NULL, flow_t_per_day float8 NOT NULL);
        CREATE TABLE chain_facility (
            layer text NOT NULL, id bigint NOT NULL, code text, name text, status text, capacity float8,
            capacity_unit text, town_id bigint, inflow_t_per_day float8, inflow_by_stream jsonb, utilisation float8,
            PRIMARY KEY (layer, id)
        );
        """
    )
    op.create_index("ix_chain_links_source", "chain_links", ["source_layer", "source_id"])
    op.execute(f"CREATE VIEW chain_node AS {NODE_VIEW}")
    op.execute(NOTE_FUNCTION)
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_chain_inserted AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chain_note_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_chain_updated AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION chain_note_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_chain_deleted AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chain_note_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_chain_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION chain_note_rows()"
        )


def downgrade() -> None:
    for table in WATCHED:
        for event in ("inserted", "updated", "deleted", "truncated"):
            op.execute(f"DROP TRIGGER {table}_chain_{event} ON {table}")
    op.execute("DROP FUNCTION chain_note_rows()")
    op.execute("DROP VIEW chain_node")
    op.drop_index("ix_chain_links_source", table_name="chain_links")
    for table in ("chain_facility", "chain_link_flow", "chain_link_step", "chain_generation", "chain_pending"):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP TABLE chain_state")
