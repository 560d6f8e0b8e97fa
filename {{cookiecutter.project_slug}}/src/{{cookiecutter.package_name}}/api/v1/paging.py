"""The query parameters every list endpoint pages with.

`offset` counts rows, so rows added or deleted during a walk shift the pages under it; passing the
last id of a page (`after_id`, or `before_id` for lists that are newest first) gives a walk that
neither repeats nor skips a row.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ...db.models import MAX_ID

MAX_PAGE_SIZE = 100

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
AfterId = Annotated[int, Query(ge=0, le=MAX_ID)]
BeforeId = Annotated[int, Query(ge=1, le=MAX_ID)]
