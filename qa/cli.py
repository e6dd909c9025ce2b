"""The `qa` command line: ingest, search, delete, list (and ask, serve, eval)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from qa.embed import EmbeddingModelError, get_embedder
from qa.index import Index, IndexError_
from qa.loaders import ArticleError, normalize_date
from qa.settings import Settings, SettingsError
from qa.types import Filters, SearchHit

console = Console()
err_console = Console(stderr=True)


class UserError(click.ClickException):
    """An error the user can fix; printed without a traceback."""

    def show(self, file: Any = None) -> None:
        err_console.print(f"[bold red]error:[/] {self.message}", highlight=False, soft_wrap=True)


def handles_user_errors(func: Callable) -> Callable:
    """Turn the errors a user can fix into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (IndexError_, EmbeddingModelError, SettingsError, ArticleError) as error:
            raise UserError(str(error)) from error

    return wrapper


def load_settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: Settings = ctx.obj
    return base.replace(**overrides)


def open_index(settings: Settings, *, writable: bool, embedder: bool = True, create: bool = False) -> Index:
    """Open the configured index, loading the embedding model when it is needed."""
    model = get_embedder(settings) if embedder else None
    return Index.open(settings, embedder=model, writable=writable, create=create)


index_option = click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=None,
    help="Index folder (default: embeddings/, or QA_INDEX_DIR).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa")
@click.pass_context
@handles_user_errors
def main(ctx: click.Context) -> None:
    """Answer questions about news articles, with every sentence cited."""
    ctx.obj = Settings.from_env()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@click.option("--no-sync", is_flag=True, help="Keep articles whose files are gone from PATHS.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on a terminal.")
@click.pass_context
@handles_user_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], index_dir: Path | None, no_sync: bool,
           progress: bool) -> None:
    """Ingest articles from files and folders (.txt .md .jsonl .jsonl.gz .html)."""
    from qa.ingest import Ingestor

    settings = load_settings(ctx, index_dir=index_dir)
    with open_index(settings, writable=True, create=True) as index:
        report = Ingestor(index, settings, progress=progress).ingest_paths(list(paths), sync=not no_sync)
        n_articles, n_chunks = index.docstore.count()
    for problem in report.problems:
        err_console.print(f"[yellow]skipped[/] {problem}", highlight=False, soft_wrap=True)
    table = Table(title=f"Ingest into {settings.index_dir}", show_header=True)
    for column in ("added", "updated", "metadata", "unchanged", "deleted", "problems",
                   "chunks embedded", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(*(str(len(x)) for x in (report.added, report.updated, report.metadata_updated,
                                           report.unchanged, report.deleted, report.problems)),
                  str(report.chunks_embedded), f"{report.seconds:.1f}")
    console.print(table)
    console.print(f"The index now holds {n_articles} articles in {n_chunks} chunks.")
    if report.accepted == 0 and report.problems:
        raise UserError("nothing could be ingested: fix the problems listed above")


@main.command()
@click.argument("question")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="How many passages.")
@click.option("--source", default=None, help="Only articles from this source.")
@click.option("--from", "published_from", default=None, help="Published on or after (YYYY-MM-DD).")
@click.option("--to", "published_to", default=None, help="Published on or before (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@index_option
@click.pass_context
@handles_user_errors
def search(ctx: click.Context, question: str, k: int | None, source: str | None,
           published_from: str | None, published_to: str | None, as_json: bool,
           index_dir: Path | None) -> None:
    """Find the passages most relevant to QUESTION."""
    from qa.retrieve import Retriever

    settings = load_settings(ctx, index_dir=index_dir)
    filters = make_filters(source, published_from, published_to)
    with open_index(settings, writable=False) as index:
        result = Retriever(index, settings).search(question, k or settings.search_k, filters)
    if as_json:
        click.echo(json.dumps({"results": [hit_json(h) for h in result.hits]}, ensure_ascii=False, indent=2))
        return
    if not result.hits:
        console.print("No passages found.")
        return
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("article")
    table.add_column("published")
    table.add_column("span", justify="right")
    table.add_column("passage", ratio=1)
    for rank, hit in enumerate(result.hits, start=1):
        table.add_row(str(rank), f"{hit.score:.4f}", f"{hit.title}\n[dim]{hit.article_id}[/]",
                      hit.published or "", f"{hit.start}-{hit.end}", shorten(hit.text, 400))
    console.print(table)


@main.command()
@click.argument("article_ids", nargs=-1, required=True)
@index_option
@click.pass_context
@handles_user_errors
def delete(ctx: click.Context, article_ids: tuple[str, ...], index_dir: Path | None) -> None:
    """Delete articles (their text and vectors) by id."""
    settings = load_settings(ctx, index_dir=index_dir)
    with open_index(settings, writable=True, embedder=False) as index:
        deleted = index.delete(list(article_ids))
    for article_id in article_ids:
        if article_id in deleted:
            console.print(f"deleted {article_id}")
        else:
            err_console.print(f"[yellow]not found[/] {article_id}")
    if not deleted:
        raise UserError("no such article")


@main.command(name="list")
@click.option("--limit", type=click.IntRange(1), default=50)
@index_option
@click.pass_context
@handles_user_errors
def list_articles(ctx: click.Context, limit: int, index_dir: Path | None) -> None:
    """List the articles in the index."""
    settings = load_settings(ctx, index_dir=index_dir)
    with open_index(settings, writable=False, embedder=False) as index:
        stored = index.docstore.list_articles(limit=limit)
        n_articles, n_chunks = index.docstore.count()
    table = Table(title=f"{n_articles} articles, {n_chunks} chunks in {settings.index_dir}")
    for column in ("id", "title", "source", "published", "chunks"):
        table.add_column(column)
    for item in stored:
        a = item.article
        table.add_row(a.id, a.title, a.source or "", a.published or "", str(item.n_chunks))
    console.print(table)


@main.command()
@click.argument("question")
@click.option("-k", "k", type=click.IntRange(1, 50), default=None, help="How many passages to retrieve.")
@click.option("--model", default=None, help="Answer backend: extractive (default), openai, local, or a plugin.")
@click.option("--source", default=None, help="Only articles from this source.")
@click.option("--from", "published_from", default=None, help="Published on or after (YYYY-MM-DD).")
@click.option("--to", "published_to", default=None, help="Published on or before (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer object the HTTP API returns.")
@index_option
@click.pass_context
@handles_user_errors
def ask(ctx: click.Context, question: str, k: int | None, model: str | None, source: str | None,
        published_from: str | None, published_to: str | None, as_json: bool, index_dir: Path | None) -> None:
    """Answer QUESTION from the articles, citing the passages behind every sentence."""
    from qa.answer import Answerer
    from qa.answer_types import AskRequest
    from qa.backends import BackendError, UnknownBackendError

    settings = load_settings(ctx, index_dir=index_dir)
    request = AskRequest(question=question, k=k, model=model,
                         filters=make_filters(source, published_from, published_to))
    with open_index(settings, writable=False) as index:
        try:
            answer = Answerer(index, settings).ask(request)
        except (BackendError, UnknownBackendError) as error:
            raise UserError(str(error)) from error
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(answer), indent=2).decode())
        return
    console.print(answer.answer, highlight=False, soft_wrap=True)
    if answer.citations:
        console.print()
        table = Table(title="Sources", show_lines=True)
        for column in ("#", "article", "published", "span", "quote"):
            table.add_column(column)
        for citation in answer.citations:
            table.add_row(f"[{citation.marker}]", f"{citation.title}\n[dim]{citation.article_id}[/]",
                          citation.published or "", f"{citation.start}-{citation.end}", citation.quote)
        console.print(table)


def make_filters(source: str | None, published_from: str | None, published_to: str | None) -> Filters:
    """Validated search filters (dates normalized to YYYY-MM-DD)."""
    return Filters(
        source=source,
        published_from=normalize_date(published_from) if published_from else None,
        published_to=normalize_date(published_to) if published_to else None,
    )


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """A search hit as the documented JSON object."""
    data = msgspec.to_builtins(hit)
    return {key: data[key] for key in ("article_id", "chunk_id", "title", "text", "score", "start",
                                       "end", "published", "url", "source")}


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
