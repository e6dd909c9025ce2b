"""The document store on PostgreSQL (psycopg 3): articles, chunks, their vectors, and keyword
search by PostgreSQL full text search, shared by any number of `qa serve` replicas.

Keyword search: each chunk keeps a `tsvector` of its article's title (weight B) and its text
(weight A) under a GIN index; a question's content words (the stop words of the SQLite store
removed) rank chunks by `ts_rank` with length normalisation 2 (rank divided by the chunk's
length): the ranking that found the most gold passages of RealTime QA dev among those measured,
a little more than SQLite's BM25 (docs/scale-out.md, "Keyword ranking"). Only chunks holding one
of the question's less common words are ranked (`keyword_search`; 4x faster at 100k chunks, and
better recall@10 on RealTime QA: "Keyword search cost").

Writes are transactions; writers to one article are serialised by a transaction-scoped advisory
lock on its id (no lock file, no global lock), so replicas may write at once. Chunk ids come from
a sequence, so the vectors can be written to the vector store before the rows commit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import psycopg
import psycopg.conninfo

from qa.docstore import FILTER_OVERFETCH, ChunkRow, Fingerprint, StoredArticle, chunk_from_row
from qa.keywords import COMMON_SHARES, STATS_SECONDS, match_sets, query_terms, widening
from qa.types import Article, Chunk, Filters

SCHEMA = """
CREATE TABLE IF NOT EXISTS qa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE SEQUENCE IF NOT EXISTS qa_write_seq;
CREATE SEQUENCE IF NOT EXISTS qa_chunk_ids;
CREATE TABLE IF NOT EXISTS qa_articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT,
    published TEXT,
    source TEXT,
    text_hash TEXT NOT NULL,
    meta_hash TEXT NOT NULL,
    origin TEXT,
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS qa_articles_origin ON qa_articles(origin text_pattern_ops);
CREATE INDEX IF NOT EXISTS qa_articles_source ON qa_articles(lower(source));
CREATE INDEX IF NOT EXISTS qa_articles_published ON qa_articles(published);
CREATE TABLE IF NOT EXISTS qa_chunks (
    id BIGINT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES qa_articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    vector BYTEA NOT NULL,
    tsv TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS qa_chunks_article ON qa_chunks(article_id);
CREATE INDEX IF NOT EXISTS qa_chunks_tsv ON qa_chunks USING GIN (tsv);
-- chunk ids removed from the rows but maybe not yet from the vector store
CREATE TABLE IF NOT EXISTS qa_removed_chunks (chunk_id BIGINT PRIMARY KEY, seq BIGINT NOT NULL);
-- articles whose source or date changed, maybe not yet in the vector store's copy of them
CREATE TABLE IF NOT EXISTS qa_metadata_sync (article_id TEXT PRIMARY KEY);
"""
_SCHEMA_LOCK = 0x5161_0001  # advisory lock key: replicas starting together create the schema once
TS_CONFIG = "english"
# ts_rank weights {D, C, B, A}: the title (B) counts half as much as the text (A), as the SQLite
# store's bm25(chunks_fts, 0.5, 1.0) does.
RANK_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"
RANK_SQL = f"ts_rank('{RANK_WEIGHTS}', c.tsv, q, 2)"
_TSV_SQL = f"setweight(to_tsvector('{TS_CONFIG}', %s), 'B') || setweight(to_tsvector('{TS_CONFIG}', %s), 'A')"
_CHUNK_COLUMNS = "c.id, c.article_id, c.position, c.start_char, c.end_char, c.text, c.n_tokens"


def ts_query(text: str) -> str:
    """A `websearch_to_tsquery` input that ORs the content words (\\w+ words: nothing to escape)."""
    return " or ".join(query_terms(text))


class PostgresDocStore:
    """A `DocumentStore` on PostgreSQL; one autocommit connection per thread."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.path = _redacted(dsn)  # what messages name (the embedded store names its file)
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._all_lock = threading.Lock()
        self._shares: tuple[float, dict[str, float]] | None = None  # (when read, term_shares())
        self.common_shares: tuple[float, ...] = COMMON_SHARES
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(SCHEMA)
            conn.execute(
                "INSERT INTO qa_meta(key, value) VALUES ('index_id', %s) ON CONFLICT DO NOTHING",
                (uuid.uuid4().hex,),
            )

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.dsn, autocommit=True)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- bookkeeping --------------------------------------------------------------------------
    def seq(self) -> int:
        row = self._conn().execute("SELECT last_value, is_called FROM qa_write_seq").fetchone()
        return int(row[0]) if row and row[1] else 0

    def meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM qa_meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._conn().execute(
            "INSERT INTO qa_meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def index_id(self) -> str:
        return self.meta("index_id") or ""

    def allocate_chunk_ids(self, n: int) -> list[int]:
        """`n` new chunk ids (never handed out twice, also across replicas)."""
        if n <= 0:
            return []
        rows = self._conn().execute(
            "SELECT nextval('qa_chunk_ids') FROM generate_series(1, %s)", (n,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def record_milvus_ts(self, ts: int) -> None:
        """Keep the newest vector-store write timestamp (read by every replica's searches)."""
        if ts:
            self._conn().execute(
                "INSERT INTO qa_meta(key, value) VALUES ('milvus_ts', %s) ON CONFLICT (key) DO UPDATE"
                " SET value = GREATEST(qa_meta.value::bigint, excluded.value::bigint)::text", (str(ts),))

    def milvus_ts(self) -> int:
        return int(self.meta("milvus_ts") or 0)

    def pending_removals(self, limit: int = 10_000) -> list[int]:
        """Chunk ids removed from the rows whose vectors may still be in the vector store."""
        rows = self._conn().execute("SELECT chunk_id FROM qa_removed_chunks ORDER BY chunk_id LIMIT %s",
                                    (limit,)).fetchall()
        return [r[0] for r in rows]

    def pending_metadata(self, limit: int = 1000) -> list[str]:
        """Articles whose metadata changed but may not have reached the vector store's rows."""
        rows = self._conn().execute("SELECT article_id FROM qa_metadata_sync ORDER BY article_id LIMIT %s",
                                    (limit,)).fetchall()
        return [r[0] for r in rows]

    def sync_metadata(self, article_id: str,
                      push: Callable[[np.ndarray, np.ndarray, list[tuple[str | None, str | None]]], None]) -> None:
        """`push(chunk ids, vectors, (source, published) per chunk)` of the article as stored now,
        under its lock (a concurrent writer of the article waits, so it cannot remove these chunks
        from the vector store before they are pushed), then forget the pending sync."""
        conn = self._conn()
        with conn.transaction():
            _lock_article(conn, article_id)
            rows = conn.execute(
                "SELECT c.id, c.vector, a.source, a.published FROM qa_chunks c"
                " JOIN qa_articles a ON a.id = c.article_id WHERE c.article_id = %s ORDER BY c.id",
                (article_id,)).fetchall()
            if rows:
                push(np.array([r[0] for r in rows], dtype=np.int64),
                     np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows]),
                     [(r[2], r[3]) for r in rows])
            conn.execute("DELETE FROM qa_metadata_sync WHERE article_id = %s", (article_id,))

    def scalars_of(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
        """(source, published) of each chunk's article."""
        if not len(chunk_ids):
            return {}
        rows = self._conn().execute(
            "SELECT c.id, a.source, a.published FROM qa_chunks c JOIN qa_articles a ON a.id = c.article_id"
            " WHERE c.id = ANY(%s)", ([int(i) for i in chunk_ids],)).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def forget_removals(self, chunk_ids: Sequence[int]) -> None:
        """The vector store has dropped these ids."""
        if len(chunk_ids):
            self._conn().execute("DELETE FROM qa_removed_chunks WHERE chunk_id = ANY(%s)",
                                 ([int(i) for i in chunk_ids],))

    # -- reads --------------------------------------------------------------------------------
    def get_article(self, article_id: str) -> StoredArticle | None:
        row = self._conn().execute(
            "SELECT a.id, a.title, a.text, a.url, a.published, a.source, a.text_hash, a.meta_hash,"
            " a.origin, (SELECT count(*) FROM qa_chunks c WHERE c.article_id = a.id)"
            " FROM qa_articles a WHERE a.id = %s",
            (article_id,),
        ).fetchone()
        return StoredArticle.from_row(row) if row else None

    def list_articles(self, *, limit: int = 100, offset: int = 0) -> list[StoredArticle]:
        rows = self._conn().execute(
            "SELECT a.id, a.title, '' AS text, a.url, a.published, a.source, a.text_hash,"
            " a.meta_hash, a.origin, (SELECT count(*) FROM qa_chunks c WHERE c.article_id = a.id)"
            " FROM qa_articles a ORDER BY a.published DESC NULLS LAST, a.id LIMIT %s OFFSET %s",
            (limit, offset),
        ).fetchall()
        return [StoredArticle.from_row(row) for row in rows]

    def count(self) -> tuple[int, int]:
        """(articles, chunks)."""
        row = self._conn().execute(
            "SELECT (SELECT count(*) FROM qa_articles), (SELECT count(*) FROM qa_chunks)"
        ).fetchone()
        assert row is not None  # an aggregate always returns a row
        return int(row[0]), int(row[1])

    def fingerprint(self, article_id: str) -> Fingerprint | None:
        row = self._conn().execute(
            "SELECT text_hash, meta_hash, origin FROM qa_articles WHERE id = %s", (article_id,)
        ).fetchone()
        return Fingerprint(*row) if row else None

    def origins_under(self, origin_prefix: str) -> dict[str, str]:
        like = origin_prefix.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._conn().execute(
            "SELECT id, origin FROM qa_articles WHERE origin = %s OR origin LIKE %s",
            (origin_prefix, like + "/%"),
        ).fetchall()
        return dict(rows)

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not len(chunk_ids):
            return {}
        rows = self._conn().execute(
            f"SELECT {_CHUNK_COLUMNS}, a.title, a.url, a.published, a.source FROM qa_chunks c"
            " JOIN qa_articles a ON a.id = c.article_id WHERE c.id = ANY(%s)",
            ([int(i) for i in chunk_ids],),
        ).fetchall()
        return {row[0]: ChunkRow.from_row(row) for row in rows}

    def published_of(self, chunk_ids: Sequence[int]) -> dict[int, str | None]:
        if not len(chunk_ids):
            return {}
        rows = self._conn().execute(
            "SELECT c.id, a.published FROM qa_chunks c JOIN qa_articles a ON a.id = c.article_id"
            " WHERE c.id = ANY(%s)",
            ([int(i) for i in chunk_ids],),
        ).fetchall()
        return dict(rows)

    def chunks_of(self, article_id: str) -> list[Chunk]:
        rows = self._conn().execute(
            f"SELECT {_CHUNK_COLUMNS} FROM qa_chunks c WHERE c.article_id = %s ORDER BY c.position",
            (article_id,),
        ).fetchall()
        return [chunk_from_row(r) for r in rows]

    def filtered_chunk_ids(self, filters: Filters) -> np.ndarray:
        where, params = _filter_sql(filters)
        rows = self._conn().execute(
            f"SELECT c.id FROM qa_chunks c JOIN qa_articles a ON a.id = c.article_id WHERE {where}", params
        ).fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def passing(self, chunk_ids: Sequence[int], filters: Filters) -> set[int]:
        if not len(chunk_ids):
            return set()
        where, params = _filter_sql(filters)
        rows = self._conn().execute(
            "SELECT c.id FROM qa_chunks c JOIN qa_articles a ON a.id = c.article_id"
            f" WHERE c.id = ANY(%s) AND {where}",
            [[int(i) for i in chunk_ids], *params],
        ).fetchall()
        return {row[0] for row in rows}

    def keyword_search(
        self, query: str, limit: int, filters: Filters | None = None, overfetch: int = FILTER_OVERFETCH
    ) -> list[int]:
        """Chunk ids ranked by `RANK_SQL` over title and text; filters are applied in the same
        query (PostgreSQL plans the join).

        Only chunks holding one of the question's less common words are ranked (an OR of all its
        words matches most chunks through the common ones, and ranking every match is what cost):
        first those holding a word in at most `common_shares[0]` of the chunks, ranked by all the
        words; when fewer than `limit` are found, those of the next, wider set follow them."""
        terms = query_terms(query)
        if not terms:
            return []
        where, params = _filter_sql(filters) if filters is not None else ("TRUE", [])
        join = " JOIN qa_articles a ON a.id = c.article_id" if filters is not None and not filters.is_empty() else ""

        def rank(words: list[str]) -> list[int]:
            rows = self._conn().execute(
                f"SELECT c.id FROM qa_chunks c{join}, websearch_to_tsquery('{TS_CONFIG}', %s) m,"
                f" websearch_to_tsquery('{TS_CONFIG}', %s) q"
                f" WHERE c.tsv @@ m AND {where} ORDER BY {RANK_SQL} DESC, c.id LIMIT %s",
                [" or ".join(words), " or ".join(terms), *params, limit],
            ).fetchall()
            return [row[0] for row in rows]

        return widening(self.match_terms(terms), rank, limit)

    def match_terms(self, terms: list[str]) -> list[list[str]]:
        """The successive word sets that pick the chunks to rank (`qa.keywords.match_sets`), with
        each word's share of the chunks from PostgreSQL's own statistics of the column
        (`term_shares`); all of `terms` before the table was first analysed."""
        shares = self.term_shares()
        if not shares:
            return [terms]
        # words without a lexeme (the configuration's stop words) match nothing
        share = {word: max(shares.get(lexeme, 0.0) for lexeme in lexemes)
                 for word, lexemes in self.lexemes(terms).items() if lexemes}
        return match_sets(terms, share, self.common_shares)

    def lexemes(self, words: list[str]) -> dict[str, list[str]]:
        """Each word's lexemes under `TS_CONFIG` (none for the configuration's stop words)."""
        rows = self._conn().execute(
            f"SELECT w, tsvector_to_array(to_tsvector('{TS_CONFIG}', w)) FROM unnest(%s::text[]) w", (words,)
        ).fetchall()
        return {word: list(lexemes) for word, lexemes in rows}

    def term_shares(self) -> dict[str, float]:
        """The share of chunks holding each of the most common lexemes, from `pg_stats` (ANALYZE,
        run by autovacuum, samples the table: no bookkeeping on writes), read again every
        `STATS_SECONDS`; empty before the table was first analysed."""
        cached = self._shares
        if cached is not None and time.monotonic() - cached[0] < STATS_SECONDS:
            return cached[1]
        row = self._conn().execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
            " WHERE schemaname = current_schema() AND tablename = 'qa_chunks' AND attname = 'tsv'"
        ).fetchone()
        shares = dict(zip(row[0], row[1])) if row and row[0] else {}  # the freqs end with 3 summary values
        self._shares = (time.monotonic(), shares)
        return shares

    def vectors_of(self, chunk_ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not len(chunk_ids):
            return {}
        rows = self._conn().execute(
            "SELECT id, vector FROM qa_chunks WHERE id = ANY(%s)", ([int(i) for i in chunk_ids],)
        ).fetchall()
        return {row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows}

    def iter_vectors(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        while True:
            rows = self._conn().execute(
                "SELECT id, vector FROM qa_chunks WHERE id > %s ORDER BY id LIMIT %s", (last, batch)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield (np.array([r[0] for r in rows], dtype=np.int64),
                   np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows]))

    def article_ids(self, after: str = "", limit: int = 1000) -> list[str]:
        """Article ids in order, after `after` (for resumable copies)."""
        rows = self._conn().execute(
            "SELECT id FROM qa_articles WHERE id > %s ORDER BY id LIMIT %s", (after, limit)
        ).fetchall()
        return [r[0] for r in rows]

    # -- writes -------------------------------------------------------------------------------
    def apply(
        self,
        upserts: Iterable[tuple[StoredArticle, Sequence[Chunk], np.ndarray]],
        metadata_updates: Iterable[StoredArticle] = (),
        deletions: Iterable[str] = (),
        chunk_ids: Sequence[Sequence[int]] | None = None,
    ) -> tuple[int, list[int], list[Chunk]]:
        """Apply a batch of writes in ONE transaction. `chunk_ids` (from `allocate_chunk_ids`, one
        list per upsert) are the ids the vectors were stored under; without them ids are drawn here.

        An upsert whose article is stored with the same text and metadata hashes changes nothing
        (idempotent: a retried request writes nothing twice); the ids drawn for it come back among
        the removed ids, so their vectors are dropped too. Returns (seq, removed ids, inserted chunks).
        """
        upserts = list(upserts)
        if chunk_ids is None:
            drawn = iter(self.allocate_chunk_ids(sum(len(chunks) for _, chunks, _ in upserts)))
            chunk_ids = [[next(drawn) for _ in chunks] for _, chunks, _ in upserts]
        conn = self._conn()
        removed: list[int] = []
        inserted: list[Chunk] = []
        with conn.transaction():
            next_value = conn.execute("SELECT nextval('qa_write_seq')").fetchone()
            assert next_value is not None  # nextval always returns a row
            seq = int(next_value[0])
            for (stored, chunks, vectors), ids in zip(upserts, chunk_ids, strict=True):
                _lock_article(conn, stored.article.id)
                if _unchanged(conn, stored):
                    removed += ids
                    continue
                removed += _delete_article(conn, stored.article.id, seq)
                _insert_article(conn, stored)
                inserted += _insert_chunks(conn, stored.article, chunks, vectors, ids, seq)
            for stored in metadata_updates:
                _lock_article(conn, stored.article.id)
                _update_metadata(conn, stored)
                conn.execute("INSERT INTO qa_metadata_sync(article_id) VALUES (%s) ON CONFLICT DO NOTHING",
                             (stored.article.id,))
            for article_id in deletions:
                _lock_article(conn, article_id)
                removed += _delete_article(conn, article_id, seq)
            if removed:
                conn.cursor().executemany(
                    "INSERT INTO qa_removed_chunks(chunk_id, seq) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    [(i, seq) for i in removed],
                )
        return seq, removed, inserted

    def drop_all(self) -> None:
        """Remove every table of this store (tests and benchmarks)."""
        self._conn().execute(
            "DROP TABLE IF EXISTS qa_chunks, qa_articles, qa_removed_chunks, qa_metadata_sync, qa_meta CASCADE;"
            " DROP SEQUENCE IF EXISTS qa_write_seq, qa_chunk_ids"
        )


def _lock_article(conn: psycopg.Connection, article_id: str) -> None:
    # Two replicas writing the same article take turns; different articles never wait.
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (article_id,))


def _unchanged(conn: psycopg.Connection, stored: StoredArticle) -> bool:
    row = conn.execute("SELECT text_hash, meta_hash, origin FROM qa_articles WHERE id = %s",
                       (stored.article.id,)).fetchone()
    return row is not None and (row[0], row[1], row[2]) == (stored.text_hash, stored.meta_hash, stored.origin)


def _delete_article(conn: psycopg.Connection, article_id: str, seq: int) -> list[int]:
    rows = conn.execute("DELETE FROM qa_chunks WHERE article_id = %s RETURNING id", (article_id,)).fetchall()
    conn.execute("DELETE FROM qa_articles WHERE id = %s", (article_id,))
    return [r[0] for r in rows]


def _insert_article(conn: psycopg.Connection, stored: StoredArticle) -> None:
    a = stored.article
    conn.execute(
        "INSERT INTO qa_articles(id, title, text, url, published, source, text_hash, meta_hash, origin)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (a.id, a.title, a.text, a.url, a.published, a.source, stored.text_hash, stored.meta_hash, stored.origin),
    )


def _update_metadata(conn: psycopg.Connection, stored: StoredArticle) -> None:
    a = stored.article
    conn.execute(
        "UPDATE qa_articles SET title = %s, url = %s, published = %s, source = %s, meta_hash = %s,"
        " origin = COALESCE(%s, origin) WHERE id = %s",
        (a.title, a.url, a.published, a.source, stored.meta_hash, stored.origin, a.id),
    )
    conn.execute(
        f"UPDATE qa_chunks SET tsv = setweight(to_tsvector('{TS_CONFIG}', %s), 'B')"
        f" || setweight(to_tsvector('{TS_CONFIG}', text), 'A') WHERE article_id = %s",
        (a.title, a.id),
    )


def _insert_chunks(conn: psycopg.Connection, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
                   ids: Sequence[int], seq: int) -> list[Chunk]:
    rows = [
        (chunk_id, article.id, c.position, c.start, c.end, c.text, c.n_tokens, seq,
         np.asarray(v, dtype=np.float32).tobytes(), article.title, c.text)
        for chunk_id, c, v in zip(ids, chunks, vectors, strict=True)
    ]
    conn.cursor().executemany(
        "INSERT INTO qa_chunks(id, article_id, position, start_char, end_char, text, n_tokens, seq, vector, tsv)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, {_TSV_SQL})",
        rows,
    )
    return [Chunk(id=chunk_id, article_id=article.id, position=c.position, text=c.text, start=c.start,
                  end=c.end, n_tokens=c.n_tokens) for chunk_id, c in zip(ids, chunks)]


def _filter_sql(filters: Filters) -> tuple[str, list[str]]:
    clauses, params = ["TRUE"], []
    if filters.source is not None:
        clauses.append("lower(a.source) = lower(%s)")
        params.append(filters.source)
    if filters.published_from is not None:
        clauses.append("a.published >= %s")
        params.append(filters.published_from)
    if filters.published_to is not None:
        clauses.append("a.published <= %s")
        params.append(filters.published_to)
    if filters.as_of is not None:  # an undated article is not known to be later: it stays
        clauses.append("(a.published IS NULL OR a.published <= %s)")
        params.append(filters.as_of)
    return " AND ".join(clauses), params


def _redacted(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "PostgreSQL"
    info.pop("password", None)
    return "postgresql://{user}@{host}:{port}/{dbname}".format(
        user=info.get("user", ""), host=info.get("host", ""), port=info.get("port", 5432), dbname=info.get("dbname", "")
    )



