"""A table's spatial (GiST) indexes dropped before a bulk write and built again after it, in the same
transaction: one index build over a million points instead of a million inserts into each index.

Used by the import (large creates) and the national-scale loader. Dropping an index locks its table
against readers until the transaction ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_GIST = """SELECT indexname, indexdef FROM pg_indexes
           WHERE schemaname = current_schema() AND tablename = %s AND indexdef LIKE '%%USING gist%%'
           ORDER BY indexname"""


@contextlib.contextmanager
def rebuilt_after(cursor: Any, table: str) -> Iterator[None]:
    """Inside: `table` without its GiST indexes; after: each built again from its stored definition.
    `cursor` is a psycopg2 cursor of the transaction doing the write."""
    cursor.execute(_GIST, (table,))
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    for _, definition in indexes:
        cursor.execute(definition)
