"""The document store: articles, chunks, their vectors and a BM25 keyword index, in SQLite.

SQLite is the source of truth. Every write is one transaction stamped with a sequence number,
so a vector store that lags behind can catch up from `changes_since(seq)`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.keywords import COMMON_SHARES, PRUNE_MIN_CHUNKS, STATS_SECONDS, match_sets, query_terms, widening
from qa.types import Article, Chunk, Filters

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT,
    published TEXT,
    source TEXT,
    text_hash TEXT NOT NULL,
    meta_hash TEXT NOT NULL,
    origin TEXT,
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS articles_origin ON articles(origin);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
-- covers what filters and freshness read, so they never walk past an article's text
CREATE INDEX IF NOT EXISTS articles_dates ON articles(id, published, source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS chunks_seq ON chunks(seq);
CREATE TABLE IF NOT EXISTS removed_chunks (chunk_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, text, tokenize='porter unicode61');
"""

# A filtered search first looks this many times deeper without the filter, then filters: as fast
# as no filter for filters that let most passages through (a date, a big source).
FILTER_OVERFETCH = 4

# Joins chunks, looked up by id, to the article columns filters and freshness read, through the
# covering index: SQLite would otherwise pick the primary key and read each article row past its
# full text (3x slower for 200 chunks). Scans of every chunk are left to the planner.
_JOIN_ARTICLE_DATES = "JOIN articles a INDEXED BY articles_dates ON a.id = c.article_id"


@dataclass(frozen=True)
class StoredArticle:
    """An article row with the hashes and origin used for incremental ingest."""

    article: Article
    text_hash: str
    meta_hash: str
    origin: str | None
    n_chunks: int = 0

    @classmethod
    def from_row(cls, row: Sequence) -> StoredArticle:
        """From (id, title, text, url, published, source, text_hash, meta_hash, origin, n_chunks):
        the column order both document stores select."""
        return cls(article=Article(id=row[0], title=row[1], text=row[2], url=row[3], published=row[4],
                                   source=row[5]),
                   text_hash=row[6], meta_hash=row[7], origin=row[8], n_chunks=row[9])


@dataclass(frozen=True)
class Fingerprint:
    """The hashes and origin of a stored article."""

    text_hash: str
    meta_hash: str
    origin: str | None


@dataclass(frozen=True)
class ChunkRow:
    """A chunk joined with the metadata of its article."""

    chunk: Chunk
    title: str
    url: str | None
    published: str | None
    source: str | None

    @classmethod
    def from_row(cls, row: Sequence) -> ChunkRow:
        """From (id, article_id, position, start, end, text, n_tokens, title, url, published, source)."""
        return cls(chunk=chunk_from_row(row), title=row[7], url=row[8], published=row[9], source=row[10])


def chunk_from_row(row: Sequence) -> Chunk:
    """A chunk from (id, article_id, position, start, end, text, n_tokens, ...)."""
    return Chunk(id=row[0], article_id=row[1], position=row[2], start=row[3], end=row[4], text=row[5],
                 n_tokens=row[6])


@dataclass(frozen=True)
class Changes:
    """What happened in the store after a sequence number: vectors to add and ids to remove."""

    seq: int
    added_ids: np.ndarray
    added_vectors: np.ndarray
    removed_ids: np.ndarray


class DocStore:
    """SQLite-backed store; one connection per thread, writes serialized by a lock."""

    def __init__(self, path: Path, prune_min_chunks: int = PRUNE_MIN_CHUNKS) -> None:
        """`prune_min_chunks`: from this many chunks on, keyword search ranks only the chunks
        holding a less common word of the question (`keyword_search`)."""
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self.common_shares: tuple[float, ...] = COMMON_SHARES
        self.prune_min_chunks = prune_min_chunks
        self._stats: tuple[float, int, dict[str, int]] | None = None  # (when, chunks, word -> chunks)
        conn = self._conn()
        conn.executescript(SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('seq', '0')")
        # The identity the vector file must carry to be this store's (see qa.vectorstore).
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('index_id', ?)", (uuid.uuid4().hex,))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- reads --------------------------------------------------------------------------------
    def seq(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key='seq'").fetchone()
        return int(row[0]) if row else 0

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table (`seq`, `index_id`, `manifest`...)."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            self._conn().execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def index_id(self) -> str:
        """This store's identity, made when it was created."""
        return self.meta("index_id") or ""

    def get_article(self, article_id: str) -> StoredArticle | None:
        row = self._conn().execute(
            "SELECT a.id, a.title, a.text, a.url, a.published, a.source, a.text_hash, a.meta_hash,"
            " a.origin, (SELECT count(*) FROM chunks c WHERE c.article_id = a.id)"
            " FROM articles a WHERE a.id = ?",
            (article_id,),
        ).fetchone()
        return StoredArticle.from_row(row) if row else None

    def list_articles(self, *, limit: int = 100, offset: int = 0) -> list[StoredArticle]:
        rows = self._conn().execute(
            "SELECT a.id, a.title, '' AS text, a.url, a.published, a.source, a.text_hash,"
            " a.meta_hash, a.origin, (SELECT count(*) FROM chunks c WHERE c.article_id = a.id)"
            " FROM articles a ORDER BY a.published DESC, a.id LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [StoredArticle.from_row(row) for row in rows]

    def count(self) -> tuple[int, int]:
        """(articles, chunks)."""
        conn = self._conn()
        return (
            conn.execute("SELECT count(*) FROM articles").fetchone()[0],
            conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
        )

    def fingerprint(self, article_id: str) -> Fingerprint | None:
        """What incremental ingest compares, without reading the article's text."""
        row = self._conn().execute(
            "SELECT text_hash, meta_hash, origin FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return Fingerprint(*row) if row else None

    def origins_under(self, origin_prefix: str) -> dict[str, str]:
        """{article id: origin} of the articles ingested from files at or under `origin_prefix`."""
        like = origin_prefix.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._conn().execute(
            "SELECT id, origin FROM articles WHERE origin = ? OR origin LIKE ? ESCAPE '\\'",
            (origin_prefix, like + "/%"),
        ).fetchall()
        return dict(rows)

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRow]:
        """Chunks with their article metadata, by id (missing ids are left out)."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn().execute(
            "SELECT c.id, c.article_id, c.position, c.start, c.end, c.text, c.n_tokens,"
            " a.title, a.url, a.published, a.source FROM chunks c JOIN articles a"
            f" ON a.id = c.article_id WHERE c.id IN ({marks})",
            [int(i) for i in chunk_ids],
        ).fetchall()
        return {row[0]: ChunkRow.from_row(row) for row in rows}

    def published_of(self, chunk_ids: Sequence[int]) -> dict[int, str | None]:
        """The published date (YYYY-MM-DD or None) of each chunk's article, by chunk id."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn().execute(
            f"SELECT c.id, a.published FROM chunks c {_JOIN_ARTICLE_DATES} WHERE c.id IN ({marks})",
            [int(i) for i in chunk_ids],
        ).fetchall()
        return {row[0]: row[1] for row in rows}

    def chunks_of(self, article_id: str) -> list[Chunk]:
        rows = self._conn().execute(
            "SELECT id, article_id, position, start, end, text, n_tokens FROM chunks"
            " WHERE article_id = ? ORDER BY position",
            (article_id,),
        ).fetchall()
        return [chunk_from_row(r) for r in rows]

    def filtered_chunk_ids(self, filters: Filters) -> np.ndarray:
        """Ids of the chunks whose article passes `filters`."""
        where, params = _filter_sql(filters)
        rows = self._conn().execute(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}", params
        ).fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def passing(self, chunk_ids: Sequence[int], filters: Filters) -> set[int]:
        """The chunk ids among `chunk_ids` whose article passes `filters`."""
        if not len(chunk_ids):
            return set()
        where, params = _filter_sql(filters)
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn().execute(
            f"SELECT c.id FROM chunks c {_JOIN_ARTICLE_DATES} WHERE c.id IN ({marks}) AND {where}",
            [*(int(i) for i in chunk_ids), *params],
        ).fetchall()
        return {row[0] for row in rows}

    def keyword_search(
        self, query: str, limit: int, filters: Filters | None = None, overfetch: int = FILTER_OVERFETCH
    ) -> list[int]:
        """Chunk ids ranked by BM25 over title and text (any query term may match).

        In an index of `prune_min_chunks` or more, only chunks holding one of the question's less
        common words are ranked (`match_terms`): an OR of all its words matches most chunks
        through the common ones, and FTS5 scores every match. They are ranked by all the words;
        the less common ones count twice, as FTS5 scores each phrase of "(rare) AND (all)". When a
        word set finds fewer than `limit`, the chunks of the next, wider set follow."""
        terms = query_terms(query)
        if not terms:
            return []

        def rank(words: list[str]) -> list[int]:
            match = or_match(terms) if words == terms else f"({or_match(words)}) AND ({or_match(terms)})"
            return self._ranked(match, limit, filters, overfetch)

        return widening(self.match_terms(terms), rank, limit)

    def match_terms(self, terms: list[str]) -> list[list[str]]:
        """The successive word sets that pick the chunks to rank (`qa.keywords.match_sets`); all
        of `terms` in an index under `prune_min_chunks` chunks."""
        chunks, counts = self._term_counts(terms)
        if chunks < self.prune_min_chunks:
            return [terms]
        return match_sets(terms, {t: counts[t] / chunks for t in terms if counts[t]}, self.common_shares)

    def _term_counts(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """(chunks in the index, chunks holding each term), counted by FTS5 (which stems the
        words as the index did) and kept `STATS_SECONDS`; below `prune_min_chunks` no word is
        counted."""
        stats = self._stats
        if stats is None or time.monotonic() - stats[0] >= STATS_SECONDS:
            chunks = self._conn().execute("SELECT count(*) FROM chunks").fetchone()[0]
            stats = self._stats = (time.monotonic(), chunks, {})
        _, chunks, counts = stats
        if chunks >= self.prune_min_chunks:
            for term in terms:
                if term not in counts:
                    counts[term] = self._conn().execute(
                        "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (or_match([term]),)).fetchone()[0]
        return chunks, counts

    def _ranked(self, match: str, limit: int, filters: Filters | None, overfetch: int) -> list[int]:
        """Chunk ids matching the FTS5 expression `match`, by BM25. With filters, the unfiltered
        ranking `overfetch` times deeper is filtered first (joining every match to its article is
        what costs); only when too few of those pass does the ranking join and filter all matches."""
        if filters is None or filters.is_empty():
            return self._bm25(match, limit)
        ranked = self._bm25(match, limit * overfetch)
        passing = self.passing(ranked, filters)
        kept = [chunk_id for chunk_id in ranked if chunk_id in passing][:limit]
        if len(kept) == limit or len(ranked) < limit * overfetch:
            return kept
        where, params = _filter_sql(filters)
        rows = self._conn().execute(
            "SELECT f.rowid FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
            " JOIN articles a ON a.id = c.article_id"
            f" WHERE chunks_fts MATCH ? AND {where} ORDER BY bm25(chunks_fts, 0.5, 1.0) LIMIT ?",
            [match, *params, limit],
        ).fetchall()
        return [row[0] for row in rows]

    def _bm25(self, match: str, limit: int) -> list[int]:
        rows = self._conn().execute(
            "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 0.5, 1.0) LIMIT ?",
            [match, limit],
        ).fetchall()
        return [row[0] for row in rows]

    def changes_since(self, seq: int) -> Changes:
        """Vectors added and chunk ids removed after `seq`, for a vector store to catch up."""
        conn = self._conn()
        current = self.seq()
        added = conn.execute(
            "SELECT id, vector FROM chunks WHERE seq > ? ORDER BY id", (seq,)
        ).fetchall()
        removed = conn.execute("SELECT chunk_id FROM removed_chunks WHERE seq > ?", (seq,)).fetchall()
        vectors = (
            np.vstack([np.frombuffer(row[1], dtype=np.float32) for row in added])
            if added
            else np.zeros((0, 0), dtype=np.float32)
        )
        return Changes(
            seq=current,
            added_ids=np.array([row[0] for row in added], dtype=np.int64),
            added_vectors=vectors,
            removed_ids=np.array([row[0] for row in removed], dtype=np.int64),
        )

    def vectors_of(self, chunk_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by chunk id."""
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn().execute(
            f"SELECT id, vector FROM chunks WHERE id IN ({marks})", [int(i) for i in chunk_ids]
        ).fetchall()
        return {row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows}

    def iter_vectors(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (ids, vectors) in batches, for rebuilding a vector store."""
        last = 0
        while True:
            rows = self._conn().execute(
                "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield (
                np.array([r[0] for r in rows], dtype=np.int64),
                np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows]),
            )

    # -- writes -------------------------------------------------------------------------------
    def apply(
        self,
        upserts: Iterable[tuple[StoredArticle, Sequence[Chunk], np.ndarray]],
        metadata_updates: Iterable[StoredArticle] = (),
        deletions: Iterable[str] = (),
    ) -> tuple[int, list[int], list[Chunk]]:
        """Apply a batch of writes in ONE transaction: all of them land, or none.

        Returns (new seq, removed chunk ids, inserted chunks with ids).
        """
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                seq = self.seq() + 1
                removed: list[int] = []
                inserted: list[Chunk] = []
                for stored, chunks, vectors in upserts:
                    removed += self._delete_article(conn, stored.article.id, seq)
                    self._insert_article(conn, stored)
                    inserted += self._insert_chunks(conn, stored.article, chunks, vectors, seq)
                for stored in metadata_updates:
                    self._update_metadata(conn, stored)
                for article_id in deletions:
                    removed += self._delete_article(conn, article_id, seq)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (str(seq),))
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): a second ROLLBACK would
                # fail with "no transaction is active" and hide the real error.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        return seq, removed, inserted

    def replace_vectors(self, chunk_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Overwrite stored vectors (a repair: the chunks and the sequence number stay)."""
        with self._write_lock:
            self._conn().executemany(
                "UPDATE chunks SET vector = ? WHERE id = ?",
                [(np.asarray(v, dtype=np.float32).tobytes(), int(i)) for i, v in zip(chunk_ids, vectors)],
            )

    def prune_removed(self, up_to_seq: int) -> None:
        """Forget removal records a persisted vector store no longer needs."""
        with self._write_lock:
            self._conn().execute("DELETE FROM removed_chunks WHERE seq <= ?", (up_to_seq,))

    @staticmethod
    def _delete_article(conn: sqlite3.Connection, article_id: str, seq: int) -> list[int]:
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))]
        if ids:
            marks = ",".join("?" * len(ids))
            conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
            conn.executemany(
                "INSERT OR REPLACE INTO removed_chunks(chunk_id, seq) VALUES (?, ?)",
                [(i, seq) for i in ids],
            )
        conn.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
        conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return ids

    @staticmethod
    def _insert_article(conn: sqlite3.Connection, stored: StoredArticle) -> None:
        a = stored.article
        conn.execute(
            "INSERT INTO articles(id, title, text, url, published, source, text_hash, meta_hash, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.id, a.title, a.text, a.url, a.published, a.source, stored.text_hash, stored.meta_hash,
             stored.origin),
        )

    @staticmethod
    def _update_metadata(conn: sqlite3.Connection, stored: StoredArticle) -> None:
        a = stored.article
        conn.execute(
            "UPDATE articles SET title = ?, url = ?, published = ?, source = ?, meta_hash = ?,"
            " origin = COALESCE(?, origin) WHERE id = ?",
            (a.title, a.url, a.published, a.source, stored.meta_hash, stored.origin, a.id),
        )
        conn.execute(
            "UPDATE chunks_fts SET title = ? WHERE rowid IN (SELECT id FROM chunks WHERE article_id = ?)",
            (a.title, a.id),
        )

    @staticmethod
    def _insert_chunks(
        conn: sqlite3.Connection, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray, seq: int
    ) -> list[Chunk]:
        inserted = []
        for chunk, vector in zip(chunks, vectors, strict=True):
            cursor = conn.execute(
                "INSERT INTO chunks(article_id, position, start, end, text, n_tokens, seq, vector)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (article.id, chunk.position, chunk.start, chunk.end, chunk.text, chunk.n_tokens, seq,
                 np.asarray(vector, dtype=np.float32).tobytes()),
            )
            chunk_id = cursor.lastrowid
            conn.execute(
                "INSERT INTO chunks_fts(rowid, title, text) VALUES (?, ?, ?)",
                (chunk_id, article.title, chunk.text),
            )
            inserted.append(
                Chunk(id=chunk_id, article_id=article.id, position=chunk.position, text=chunk.text,
                      start=chunk.start, end=chunk.end, n_tokens=chunk.n_tokens)
            )
        return inserted


def or_match(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression that ORs `words` (\\w+ words, quoted, so safe)."""
    return " OR ".join(f'"{w}"' for w in words)


def _filter_sql(filters: Filters) -> tuple[str, list[str]]:
    clauses, params = ["1"], []
    if filters.source is not None:
        clauses.append("a.source = ? COLLATE NOCASE")
        params.append(filters.source)
    if filters.published_from is not None:
        clauses.append("a.published >= ?")
        params.append(filters.published_from)
    if filters.published_to is not None:
        clauses.append("a.published <= ?")
        params.append(filters.published_to)
    if filters.as_of is not None:  # an undated article is not known to be later: it stays
        clauses.append("(a.published IS NULL OR a.published <= ?)")
        params.append(filters.as_of)
    return " AND ".join(clauses), params


