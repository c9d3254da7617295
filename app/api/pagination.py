"""Cursor pagination on (timestamp, id): stable under inserts, one index range scan."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.api.errors import ValidationFailed


def decode(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    """The (timestamp, id) a page starts after; a bad cursor is a 422 naming it."""
    if not cursor:
        return None, None
    try:
        at, _, ident = cursor.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError:
        raise ValidationFailed(
            [("cursor", "cursor", "not a cursor from a previous page")]
        ) from None


def next_cursor(rows: Sequence[dict[str, Any]], limit: int, column: str) -> str | None:
    """The cursor of the page after ``rows``, or None when this page is the last."""
    if len(rows) < limit:
        return None
    last = rows[-1]
    return f"{last[column].isoformat()}|{last['id']}"
