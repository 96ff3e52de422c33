"""Private copies of the tables a what-if changes, so that it never writes to (or locks) the inventory.

A temporary table named like a real one hides it for the rest of the transaction: PostgreSQL looks up
unqualified table names in the session's temporary schema first. The scenario then updates its copies
with the same SQL as before, and the coverage, flow and assignment queries, which name their tables
unqualified, read the copies without knowing. The copies are filled from the transaction's snapshot
with plain reads: no row lock is taken, so a real writer neither waits for a scenario nor makes one
wait. They vanish with the transaction (ON COMMIT DROP, and a rollback drops them too).

`LIKE … INCLUDING ALL` keeps defaults, check constraints, unique indexes, GIST indexes and generated
columns (a link's `target_layer`, `target_id` follow its target column); triggers and foreign keys are
not copied: a link's line is not read by a scenario, and new sites reference real towns and villages.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

WRITABLE_COLUMNS_SQL = """
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = :table AND is_generated = 'NEVER'
    ORDER BY ordinal_position"""


def shadow(conn: Connection, table: str) -> None:
    """Hide `table` (a name from the models, never request text) behind a private copy of its rows."""
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    real = f'"{conn.execute(text("SELECT current_schema()")).scalar_one()}".{table}'
    columns = ", ".join(conn.execute(text(WRITABLE_COLUMNS_SQL), {"table": table}).scalars())
    conn.execute(text(f"CREATE TEMP TABLE {table} (LIKE {real} INCLUDING ALL) ON COMMIT DROP"))
    # from here on the bare name means the copy
    conn.execute(text(f"INSERT INTO pg_temp.{table} ({columns}) SELECT {columns} FROM {real}"))
    # ids of rows the scenario adds continue after the real ones (the copy's identity starts at 1)
    next_id = conn.execute(text(f"SELECT coalesce(max(id), 0) + 1 FROM pg_temp.{table}")).scalar_one()
    conn.execute(text(f"ALTER TABLE pg_temp.{table} ALTER COLUMN id RESTART WITH {int(next_id)}"))
    conn.execute(text(f"ANALYZE pg_temp.{table}"))
