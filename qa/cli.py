"""The `qa` command line: ingest, search, delete, list (and ask, serve, eval)."""

from __future__ import annotations

import errno
import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from qa.embed import EmbeddingModelError
from qa.index import Index, IndexProblem
from qa.loaders import ArticleError
from qa.settings import Settings, SettingsError
from qa.types import FilterError, Filters, SearchResult

if TYPE_CHECKING:
    from qa.components import Components

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
        except (IndexProblem, EmbeddingModelError, SettingsError, ArticleError, FilterError) as error:
            raise UserError(str(error)) from error
        except sqlite3.Error as error:  # outside a write: a damaged or locked docs.sqlite
            raise UserError(f"the document store cannot be used: {error}. If docs.sqlite is damaged, restore "
                            "it from a backup or rebuild the index with `qa ingest`") from error
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
                raise
            raise UserError(f"{error.strerror}: {error.filename or 'a file of the index'}") from error

    return wrapper


def load_settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: Settings = ctx.obj
    return base.replace(**overrides)


def components(settings: Settings) -> Components:
    """The command's composition root: loads the embedding model (`qa.components`)."""
    from qa.components import Components

    return Components(settings)


index_option = click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=None,
    help="Index folder (default: embeddings/, or QA_INDEX_DIR).",
)


def filter_options(command: Callable) -> Callable:
    """The --source/--from/--to/--as-of search filters shared by `search` and `ask`."""
    for option in reversed([
        click.option("--source", default=None, help="Only articles from this source."),
        click.option("--from", "published_from", default=None, help="Published on or after (YYYY-MM-DD)."),
        click.option("--to", "published_to", default=None, help="Published on or before (YYYY-MM-DD)."),
        click.option("--as-of", "as_of", default=None,
                     help="Ask as of this day (YYYY-MM-DD): later articles are left out, freshness counts from it."),
    ]):
        command = option(command)
    return command


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
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal only; --progress also in logs).")
@click.pass_context
@handles_user_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], index_dir: Path | None, no_sync: bool,
           progress: bool | None) -> None:
    """Ingest articles from files and folders (.txt .md .jsonl .jsonl.gz .html)."""
    settings = load_settings(ctx, index_dir=index_dir)
    with components(settings) as root, root.open_index(writable=True, create=True) as index:
        report = root.ingestor(index, progress=progress).ingest_paths(list(paths), sync=not no_sync)
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
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@index_option
@click.pass_context
@handles_user_errors
def search(ctx: click.Context, question: str, k: int | None, source: str | None,
           published_from: str | None, published_to: str | None, as_of: str | None, as_json: bool,
           index_dir: Path | None) -> None:
    """Find the passages most relevant to QUESTION."""
    settings = load_settings(ctx, index_dir=index_dir)
    filters = make_filters(source, published_from, published_to, as_of)
    with components(settings) as root, root.open_index(writable=False) as index:
        result = root.retriever(index).search(question, k or settings.search_k, filters)
    if as_json:
        results = msgspec.to_builtins([SearchResult.from_hit(hit) for hit in result.hits])
        click.echo(json.dumps({"results": results}, ensure_ascii=False, indent=2))
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
    with Index.open(settings, embedder=None, writable=True) as index:  # no model needed
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
    with Index.open(settings, embedder=None, writable=False) as index:
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
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer object the HTTP API returns.")
@index_option
@click.pass_context
@handles_user_errors
def ask(ctx: click.Context, question: str, k: int | None, model: str | None, source: str | None,
        published_from: str | None, published_to: str | None, as_of: str | None, as_json: bool,
        index_dir: Path | None) -> None:
    """Answer QUESTION from the articles, citing the passages behind every sentence."""
    from qa.answer_types import AskRequest
    from qa.backends import BackendError, UnknownBackendError

    settings = load_settings(ctx, index_dir=index_dir)
    request = AskRequest(question=question, k=k, model=model,
                         filters=make_filters(source, published_from, published_to, as_of))
    with components(settings) as root, root.open_index(writable=False) as index:
        try:
            answer = root.answerer(index).ask(request)
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


def make_filters(source: str | None, published_from: str | None, published_to: str | None,
                 as_of: str | None) -> Filters:
    """Validated search filters (`Filters.normalized`, the API's rule too)."""
    return Filters(source=source, published_from=published_from, published_to=published_to, as_of=as_of).normalized()


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1, or QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8000, or QA_PORT).")
@index_option
@click.option("--model", default=None, help="Default answer backend: extractive, openai, local, or a plugin.")
@click.pass_context
@handles_user_errors
def serve(ctx: click.Context, host: str | None, port: int | None, index_dir: Path | None,
          model: str | None) -> None:
    """Run the HTTP API (one worker): /v1/ask, /v1/search, /v1/articles, /v1/chat/completions."""
    import uvicorn

    from qa.api import create_app
    from qa.api.security import server_options, startup_summary

    settings = load_settings(ctx, host=host, port=port, index_dir=index_dir, model=model)
    Index.check_files(settings)  # a damaged index is one line here, not a traceback from the server
    app = create_app(settings)
    where = "Milvus + PostgreSQL (QA_STORE=scale)" if settings.store == "scale" else settings.index_dir
    err_console.print(f"serving {where} on http://{settings.host}:{settings.port} "
                      f"(OpenAPI at /schema)", highlight=False)
    for line in startup_summary(settings):
        err_console.print(f"  {line}", highlight=False)
    uvicorn.run(app, host=settings.host, port=settings.port, workers=1, timeout_graceful_shutdown=10,
                **server_options(settings))


@main.command()
@click.option("--to", "to", type=click.Choice(["scale"]), default="scale", show_default=True,
              help="The stack to copy into (its addresses from QA_POSTGRES_DSN, QA_MILVUS_*).")
@index_option
@click.pass_context
@handles_user_errors
def migrate(ctx: click.Context, to: str, index_dir: Path | None) -> None:
    """Copy the embedded index (--index DIR) into Milvus + PostgreSQL, without re-embedding.
    Resumable: run it again after an interruption."""
    from qa.migrate import migrate as copy_index

    source = load_settings(ctx, index_dir=index_dir)
    if not source.postgres_dsn:
        raise UserError("set QA_POSTGRES_DSN (and QA_MILVUS_URI) to the stack to copy into")
    report = copy_index(source, source.replace(store=to))
    console.print(f"copied {report.copied} articles ({report.chunks} chunks), {report.skipped} already there, "
                  f"in {report.seconds:.1f} s")


@main.command(name="eval")
@click.argument("questions_path", metavar="QUESTIONS.jsonl[.gz]", type=click.Path(path_type=Path, exists=True,
                                                                                   dir_okay=False))
@click.option("--corpus", "corpora", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="Articles to ingest into a scratch index for this run (repeatable); "
                   "without it the current index is used, read-only.")
@click.option("--corpus-limit", "corpus_limits", type=click.IntRange(1), multiple=True,
              help="Only the first N articles of each --corpus file (streamed). Give it once for "
                   "every corpus, or once per --corpus, in the same order.")
@click.option("--keep-index", "keep_index", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With --corpus: build the scratch index in this folder and keep it (a rerun only "
                   "embeds what is new) instead of a temporary folder.")
@click.option("--k", "k", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Passages per question (recall@k).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Ask only the first N questions.")
@click.option("--model", default=None, help="Answer backend: extractive (default), openai, local, or a plugin.")
@click.option("--split", default=None,
              help='Only questions of this split (default: every question whose split isn\'t "heldout").')
@click.option("--question-dates/--no-question-dates", default=True, show_default=True,
              help="Ask each question as of its own \"date\" (--as-of): later articles are left out and "
                   "\"this week\" means the week it was asked.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--records", "records_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write one JSON line per question (answer, retrieved ids, scores) to this file.")
@click.option("--leave-out-gold", is_flag=True,
              help="Also ask every answerable question with its gold article(s) left out of the "
                   "results: it should then be refused (refusal on unanswerable questions).")
@click.option("--progress/--no-progress", default=None,
              help="Show progress bars (default: on a terminal only; --progress also in logs).")
@click.option("--independent-judge", is_flag=True,
              help="Also judge citations with the local LLM (P(yes) >= 0.5), a scorer the answerer does "
                   "not use: needs the local extra; ~1 s per cited sentence.")
@index_option
@click.pass_context
@handles_user_errors
def eval_command(ctx: click.Context, questions_path: Path, corpora: tuple[Path, ...], corpus_limits: tuple[int, ...],
                 keep_index: Path | None, k: int, limit: int | None, model: str | None, split: str | None,
                 question_dates: bool, as_json: bool, records_path: Path | None, leave_out_gold: bool,
                 progress: bool | None, independent_judge: bool, index_dir: Path | None) -> None:
    """Evaluate retrieval, answers, citations, refusals and latency on a question set.

    Questions are JSONL lines {"id", "question", "answers", "gold_ids", "split", ...}; a question
    with no answers and no gold_ids (or "answerable": false) should be refused. Questions with
    answers but no gold_ids are skipped (their evidence is unknown).
    """
    from qa.backends import BackendError, UnknownBackendError
    from qa.evaluate import QuestionFileError, load_questions, run_eval, select_questions
    from qa.evaluate.run import eval_index
    from qa.ingest import IngestReport
    from qa.types import LoadProblem

    if (corpus_limits or keep_index) and not corpora:
        raise UserError("--corpus-limit and --keep-index only apply with --corpus")
    if len(corpus_limits) not in (0, 1, len(corpora)):
        raise UserError(f"give --corpus-limit once, or once per --corpus ({len(corpora)} times), "
                        f"not {len(corpus_limits)} times")
    per_corpus: list[int | None] = list(corpus_limits) or [None]
    per_corpus = per_corpus * len(corpora) if len(per_corpus) == 1 else per_corpus
    if corpora and index_dir is not None:
        raise UserError("--corpus builds a scratch index, --index evaluates an existing one: give one "
                        "of them (--keep-index DIR keeps the scratch index)")
    try:
        questions, heldout = select_questions(load_questions(questions_path), split)
    except QuestionFileError as error:
        raise UserError(str(error)) from error
    if heldout:
        err_console.print(f'note: skipped {heldout} questions of split "heldout" (reserved for acceptance '
                          "checks; --split heldout evaluates them)", highlight=False)
    if not questions:
        raise UserError(f"no questions to evaluate in {questions_path}"
                        + (f" with split {split!r}" if split else ""))

    def problem(item: LoadProblem) -> None:
        err_console.print(f"[yellow]skipped[/] {item}", highlight=False, soft_wrap=True)

    def ingested(path: Path, report: IngestReport) -> None:
        err_console.print(f"{path}: {report.accepted} articles ({len(report.added)} new, "
                          f"{report.chunks_embedded} chunks embedded in {report.seconds:.0f} s)", highlight=False)

    with eval_index(load_settings(ctx, index_dir=index_dir), corpora, per_corpus, keep_index, progress=progress,
                    on_problem=problem, on_ingested=ingested) as (settings, root, index):
        n_articles, n_chunks = index.docstore.count()
        independent = None
        if independent_judge:
            from qa.support import JudgeScorer, LexicalSemanticScorer

            if settings.support_scorer == "judge":
                raise UserError("--independent-judge: the answers are already checked by the LLM judge "
                                "(QA_SUPPORT_SCORER=judge), so it would not be independent")
            independent = JudgeScorer(root.backends.local(), LexicalSemanticScorer(root.embedder))
        try:
            result = run_eval(index, settings, questions, k=k, model=model, limit=limit, progress=progress,
                              question_dates=question_dates, split=split, leave_out_gold=leave_out_gold,
                              records_path=records_path, components=root, independent=independent)
        except (BackendError, UnknownBackendError) as error:
            raise UserError(str(error)) from error

    if as_json:
        data = result.to_dict(records=False)
        data["index"] = {"articles": n_articles, "chunks": n_chunks}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_eval_report(result, f"{questions_path.name}: {result.n_questions} questions "
                              f"({result.n_answerable} answerable, {result.n_unanswerable} unanswerable"
                              + (f", {result.n_skipped} without gold_ids skipped" if result.n_skipped else "")
                              + f"), model {result.model}, k={result.k}, split {split or 'all but heldout'}, "
                              f"as of {'each question date' if question_dates else 'today'}"
                              + (f", first {limit}" if limit else "") + ", "
                              f"index {n_articles} articles / {n_chunks} chunks")


def print_eval_report(result: Any, title: str) -> None:
    """The metrics of an `EvalReport` as rich tables."""

    def fmt(value: Any) -> str:
        return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    table = Table(title=title, title_justify="left")
    for column in ("group", "metric"):
        table.add_column(column, justify="left")
    for column in ("value", "over"):
        table.add_column(column, justify="right")
    rows = [
        ("retrieval", f"recall@{result.k}", result.recall_at_k, f"{result.n_retrieval} questions"),
        ("", f"answer recall@{result.k}", result.answer_recall_at_k, "a passage holds a gold answer"),
        ("", "MRR@10", result.mrr, ""),
        ("", "nDCG@10", result.ndcg_at_10, ""),
        ("answers", "contains gold", result.contains_gold, f"{result.n_answers} questions"),
        ("", "contains gold, gold text has it", result.contains_gold_gold_has_answer,
         f"{result.n_gold_has_answer} questions"),
        ("", "token F1", result.token_f1, ""),
        ("citations", "citation recall", result.citation_recall,
         f"{result.n_cited_answers} answers, {result.n_sentences} sentences"),
        ("", "citation precision", result.citation_precision, f"{result.n_citations} citations"),
        *([("", "recall, independent judge", result.independent_citation_recall, result.independent_judge or ""),
           ("", "precision, independent judge", result.independent_citation_precision, "")]
          if result.independent_judge else []),
        ("refusals", "unanswerable refused", result.unanswerable_refused, f"{result.n_unanswerable} questions"),
        ("", "answerable refused", result.answerable_refused, f"{result.n_answerable} questions"),
        ("", "  gold text has it: refused", result.answerable_refused_gold_has_answer,
         f"{result.n_gold_has_answer} questions"),
        ("", "gold left out: refused", result.left_out_refused, f"{result.n_left_out} questions"),
        ("", "  no passage holds it: refused", result.left_out_unanswered_refused,
         f"{result.n_left_out_unanswered} questions"),
        ("", "  another passage does: answered", result.left_out_elsewhere_answered,
         f"{result.n_left_out_elsewhere} questions"),
    ]
    for i, (group, metric, value, over) in enumerate(rows):
        last_of_group = i + 1 < len(rows) and rows[i + 1][0] != ""
        table.add_row(group, metric, fmt(value), over, end_section=last_of_group)
    console.print(table)
    latency = Table(title=f"Latency (ms), {result.seconds:.0f} s in all", title_justify="left")
    for column in ("stage", "p50", "p95"):
        latency.add_column(column, justify="left" if column == "stage" else "right")
    for stage, values in result.latency_ms.items():
        latency.add_row(stage.removesuffix("_ms"), f"{values['p50']:.1f}", f"{values['p95']:.1f}")
    console.print(latency)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
