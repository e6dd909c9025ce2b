"""`GET /v1/search`: hybrid search over the passages, without answering."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from qa.api import validation
from qa.api.errors import READ_ERRORS
from qa.api.schemas import SearchResponse
from qa.api.security import access
from qa.api.service import Service
from qa.api.threads import blocking
from qa.types import Filters, SearchResult


class SearchController(Controller):
    """Passages without an answer."""

    path = "/search"
    tags = ("search",)

    @get("/", opt=access("read"), raises=READ_ERRORS, summary="Find the passages most relevant to q")
    async def search(
        self,
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
        count = validation.passage_count(k, settings) or settings.search_k
        filters = validation.filters(Filters(
            source=source, published_from=published_from, published_to=published_to, as_of=as_of
        ))
        result = await blocking(service.search, query, count, filters)
        return SearchResponse(results=[SearchResult.from_hit(hit) for hit in result.hits])
