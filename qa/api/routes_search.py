"""`GET /v1/search`: hybrid search over the passages, without answering."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from qa.api import validation
from qa.api.errors import READ_ERRORS
from qa.api.schemas import SearchResponse
from qa.api.security import reads
from qa.api.service import Service
from qa.types import Filters, SearchResult


@get("/search", sync_to_thread=True, guards=[reads], raises=READ_ERRORS, summary="Find the passages most relevant to q")
def search(
    service: NamedDependency[Service],
    q: FromQuery[str],
    k: FromQuery[int | None] = None,
    source: FromQuery[str | None] = None,
    published_from: FromQuery[str | None] = None,
    published_to: FromQuery[str | None] = None,
    as_of: FromQuery[str | None] = None,
) -> SearchResponse:
    """`{"results": [{article_id, chunk_id, title, text, score, start, end, published, url, source}]}`."""
    settings = service.settings
    query = validation.question(q, settings, field="q")
    count = validation.k(k, settings) or settings.search_k
    filters = validation.filters(Filters(
        source=source, published_from=published_from, published_to=published_to, as_of=as_of
    ))
    result = service.search(query, count, filters)
    return SearchResponse(results=[SearchResult.from_hit(hit) for hit in result.hits])
