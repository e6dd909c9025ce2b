"""`/v1/articles`: add or update articles, list them, read one, delete one. The index changes
while the service answers; each write is durable when the response is sent."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from litestar import delete, get, post
from litestar.exceptions import NotFoundException
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter

from qa.api import validation
from qa.api.errors import READ_ERRORS, WRITE_ERRORS
from qa.api.schemas import ArticleDetail, ArticleList, ArticleSummary, IngestResponse
from qa.api.security import reads, writes
from qa.api.service import Service

MAX_PAGE = 1000
MAX_OFFSET = 10_000_000
ARTICLE_BODY = Body(
    title="One article or a list of articles",
    description='The JSONL fields: {"id": str|int, "title": str, "text": str, "url"?: str, '
    '"published"?: "YYYY-MM-DD", "source"?: str}. A list is ingested all or nothing: the first bad '
    "item rejects the request (422) with its index and the field to fix.",
)


@post("/articles", status_code=201, guards=[writes], raises=WRITE_ERRORS, summary="Add or update articles")
async def add_articles(data: Annotated[Any, ARTICLE_BODY], service: NamedDependency[Service]) -> IngestResponse:
    articles = validation.articles(data)
    report = await anyio.to_thread.run_sync(service.ingest, articles)
    return IngestResponse(
        added=report.added, updated=report.updated, unchanged=report.unchanged,
        metadata_updated=report.metadata_updated, chunks_embedded=report.chunks_embedded,
    )


@get("/articles", sync_to_thread=True, guards=[reads], raises=READ_ERRORS,
     summary="List the articles (newest first)")
def list_articles(
    service: NamedDependency[Service],
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page size")] = 100,
    offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="Articles to skip")] = 0,
) -> ArticleList:
    page, total, total_chunks = service.list_articles(limit, offset)
    return ArticleList(
        articles=[
            ArticleSummary(id=s.article.id, title=s.article.title, url=s.article.url,
                           published=s.article.published, source=s.article.source, chunks=s.n_chunks)
            for s in page
        ],
        total=total, total_chunks=total_chunks, limit=limit, offset=offset,
    )


@get("/articles/{article_id:str}", sync_to_thread=True, guards=[reads], raises=[*READ_ERRORS, NotFoundException],
     summary="One article with its text")
def get_article(service: NamedDependency[Service], article_id: FromPath[str]) -> ArticleDetail:
    stored = service.get_article(article_id)
    if stored is None:
        raise NotFoundException(detail=f"no article with id {article_id!r}")
    a = stored.article
    return ArticleDetail(id=a.id, title=a.title, text=a.text, url=a.url, published=a.published,
                         source=a.source, chunks=stored.n_chunks)


@delete("/articles/{article_id:str}", guards=[writes], raises=[*WRITE_ERRORS, NotFoundException],
        summary="Delete an article (text and vectors)")
async def delete_article(service: NamedDependency[Service], article_id: FromPath[str]) -> None:
    if not await anyio.to_thread.run_sync(service.delete, article_id):
        raise NotFoundException(detail=f"no article with id {article_id!r}")
