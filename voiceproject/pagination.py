"""Page-number pagination for the list endpoints that take `page` and `limit`."""

from __future__ import annotations

from django.core.paginator import InvalidPage, Page, Paginator
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

INVALID_PAGE = "Invalid page."  # DRF's own paginators answer this


def page_get(rows: QuerySet, *, page: int, limit: int) -> Page:
    """Page `page` (from 1) of `rows`, `limit` to a page.

    A page past the last is refused before any query uses its offset: a huge page number
    would overflow the database's OFFSET.

    Raises:
        NotFound: 404 "Invalid page." for a page past the last (page 1 of nothing is empty).
    """
    try:
        return Paginator(rows, limit).page(page)
    except InvalidPage as exc:
        raise NotFound(INVALID_PAGE) from exc
