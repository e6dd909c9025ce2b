"""`/v1/articles`: add or update articles, list them, read one, delete one. The index changes
while the service answers; each write is durable when the response is sent."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, Parameter

from qa.api import validation
from qa.api.errors import READ_ERRORS, WRITE_ERRORS
from qa.api.schemas import ArticleDetail, ArticleList, ArticleSummary, IngestResponse
from qa.api.security import access
from qa.api.service import Service
from qa.api.threads import blocking

MAX_PAGE = 1000
MAX_OFFSET = 10_000_000
ARTICLE_BODY = Body(
    title="One article or a list of articles",
    description='The JSONL fields: {"id": str|int, "title": str, "text": str, "url"?: str, '
    '"published"?: "YYYY-MM-DD", "source"?: str}. A list is ingested all or nothing: the first bad '
    "item rejects the request (422) with its index and the field to fix.",
)


class ArticlesController(Controller):
    """The articles of the index: reads need what `access("read")` needs, writes the API key."""

    path = "/articles"
    tags = ("articles",)

    @post("/", status_code=201, opt=access("write"), raises=WRITE_ERRORS, summary="Add or update articles")
    async def add_articles(self, data: Annotated[Any, ARTICLE_BODY],
                           service: NamedDependency[Service]) -> IngestResponse:
        articles = validation.articles(data)
        return IngestResponse.from_report(await blocking(service.ingest, articles))

    @get("/", opt=access("read"), raises=READ_ERRORS, summary="List the articles (newest first)")
    async def list_articles(
        self,
        service: NamedDependency[Service],
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page size")] = 100,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="Articles to skip")] = 0,
    ) -> ArticleList:
        page, total, total_chunks = await blocking(service.list_articles, limit, offset)
        return ArticleList(articles=[ArticleSummary.from_stored(stored) for stored in page],
                           total=total, total_chunks=total_chunks, limit=limit, offset=offset)

    @get("/{article_id:str}", opt=access("read"), raises=[*READ_ERRORS, NotFoundException],
         summary="One article with its text")
    async def get_article(self, service: NamedDependency[Service], article_id: FromPath[str]) -> ArticleDetail:
        stored = await blocking(service.get_article, article_id)
        if stored is None:
            raise NotFoundException(detail=f"no article with id {article_id!r}")
        return ArticleDetail.from_stored(stored)

    @delete("/{article_id:str}", opt=access("write"), raises=[*WRITE_ERRORS, NotFoundException],
            summary="Delete an article (text and vectors)")
    async def delete_article(self, service: NamedDependency[Service], article_id: FromPath[str]) -> None:
        if not await blocking(service.delete, article_id):
            raise NotFoundException(detail=f"no article with id {article_id!r}")
