"""The layer between SQL and the machines: one thin module per table.

Each module holds its table's row type (a ``msgspec.Struct`` whose fields are the
table's columns, written once) and one function per named query of
``sql/queries/<table>.sql``. Rows come back typed; the API and the actors call these
functions, never ``db.q`` themselves. psycopg errors become domain errors in one
place, keyed on constraint names (``app.repo.errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from psycopg.rows import class_row

from app import db

T = TypeVar("T")


def one(conn: db.Conn, query: str, params: Mapping[str, Any], row: type[T]) -> T | None:
    """The first row of a named query, as ``row``; None if there is none."""
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(db.q(query), params).fetchone()


def many(conn: db.Conn, query: str, params: Mapping[str, Any], row: type[T]) -> list[T]:
    """Every row of a named query, as ``row``."""
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(db.q(query), params).fetchall()


def run(conn: db.Conn, query: str, params: Mapping[str, Any]) -> int:
    """Run a named statement; the number of rows it changed."""
    return conn.execute(db.q(query), params).rowcount
