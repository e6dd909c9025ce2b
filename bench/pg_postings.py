"""Issue 15, a lead not shipped: the PostgreSQL keyword leg's ranking read from a postings table
instead of the rows. `ts_rank(weights, tsv, q, 2)` is a sum over the question's lexemes of a
per-(lexeme, chunk) term (PostgreSQL's calc_rank_or) divided by the chunk's length, so each
(lexeme, chunk) pair's share can be stored once, beside an index that covers it; ranking then
sums index entries and never reads a chunk row. This script builds that table from `qa_chunks`
on the bench/pg_keyword.py corpus and times it against `PostgresDocStore.keyword_search` (the
same candidates: chunks holding a word of the rare set; the same score: every question lexeme).

    PYTHONPATH=. python bench/pg_postings.py --chunks 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg_keyword import load  # noqa: E402
from bench.stores import dev_questions  # noqa: E402
from qa.keywords import query_terms  # noqa: E402
from qa.stores.postgres import RANK_WEIGHTS, PostgresDocStore  # noqa: E402
from tests.servers import postgres_server  # noqa: E402

D, C, B, A = (float(w) for w in RANK_WEIGHTS.strip("{}").split(","))
# calc_rank_or: per lexeme, (max weight + sum(weight_j / j^2) - max weight / j_max^2) / (pi^2 / 6)
SHARE_SQL = f"""
CREATE TABLE qa_postings AS
SELECT t.lexeme, c.id AS chunk_id,
       ((g.wmax + g.wsum - g.wmax / (g.jmax * g.jmax)) / 1.64493406685 / l.len)::real AS share
FROM qa_chunks c JOIN chunk_lengths l ON l.id = c.id, unnest(c.tsv) t,
LATERAL (SELECT sum(w / (j * j)) AS wsum, max(w) AS wmax, (array_agg(j ORDER BY w DESC, j))[1] AS jmax
         FROM (SELECT CASE x WHEN 'A' THEN {A} WHEN 'B' THEN {B} WHEN 'C' THEN {C} ELSE {D} END AS w,
                      j::float8 AS j
               FROM unnest(t.weights) WITH ORDINALITY AS u(x, j)) s) g
ORDER BY 1, 2
"""


def build_postings(conn: psycopg.Connection) -> float:
    """qa_postings (lexeme, chunk, share of the rank) with a covering index; seconds taken."""
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '2GB'")
    conn.execute("CREATE TEMP TABLE chunk_lengths AS SELECT id, (SELECT sum(coalesce(array_length(positions, 1), 1))"
                 " FROM unnest(tsv)) AS len FROM qa_chunks")
    conn.execute("ALTER TABLE chunk_lengths ADD PRIMARY KEY (id)")
    conn.execute(SHARE_SQL)
    conn.execute("CREATE INDEX qa_postings_lexeme ON qa_postings (lexeme) INCLUDE (chunk_id, share)")
    conn.execute("DROP TABLE chunk_lengths")
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE qa_postings")  # the visibility map, for index-only scans
    conn.autocommit = False
    return time.perf_counter() - started


def postings_search(store: PostgresDocStore, query: str, limit: int) -> list[int]:
    """`keyword_search`'s first word set and ranking, summed from qa_postings."""
    terms = query_terms(query)
    if not terms:
        return []
    by_word = store.lexemes(terms)
    rare = {lexeme for word in store.match_terms(terms)[0] for lexeme in by_word.get(word, [])}
    every = {lexeme for lexemes in by_word.values() for lexeme in lexemes}
    rows = store._conn().execute(
        "WITH candidates AS MATERIALIZED (SELECT DISTINCT chunk_id FROM qa_postings WHERE lexeme = ANY(%s))"
        " SELECT p.chunk_id FROM qa_postings p JOIN candidates USING (chunk_id) WHERE p.lexeme = ANY(%s)"
        " GROUP BY p.chunk_id ORDER BY sum(p.share) DESC, p.chunk_id LIMIT %s",
        (sorted(rare), sorted(every), limit)).fetchall()
    return [row[0] for row in rows]


def timed(search: Callable[[str], list[int]], questions: list[str]) -> tuple[list[float], list[list[int]]]:
    times, results = [], []
    for question in questions:
        started = time.perf_counter()
        results.append(search(question))
        times.append((time.perf_counter() - started) * 1000)
    return times, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=200_000)
    args = parser.parse_args()
    questions = dev_questions(200)
    with tempfile.TemporaryDirectory() as tmp, postgres_server(Path(tmp) / "pg") as pg:
        store = PostgresDocStore(pg.dsn())
        print(f"{args.chunks} rows, {load(store, args.chunks):.0f} rows/s", flush=True)
        store._conn().execute("ANALYZE qa_chunks")
        store._conn().commit()
        print(f"postings built in {build_postings(store._conn()):.0f} s", flush=True)
        size = store._conn().execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('qa_postings')),"
                                     " pg_size_pretty(pg_total_relation_size('qa_chunks')) FROM qa_postings").fetchone()
        print(f"postings: {size[0]} rows, {size[1]} with their index (qa_chunks: {size[2]})", flush=True)
        for round_ in range(2):
            rows_times, by_rows = timed(lambda q: store.keyword_search(q, 100), questions)
            postings_times, by_postings = timed(lambda q: postings_search(store, q, 100), questions)
            print(f"round {round_}: keyword_search p50 {statistics.median(rows_times):.1f} ms,"
                  f" p99 {np.percentile(rows_times, 99):.1f}; postings p50 {statistics.median(postings_times):.1f} ms,"
                  f" p99 {np.percentile(postings_times, 99):.1f}", flush=True)
        for k in (10, 100):
            overlap = [len(set(a[:k]) & set(b[:k])) / min(k, len(a)) for a, b in zip(by_rows, by_postings) if a]
            print(f"top-{k} overlap with keyword_search: {statistics.mean(overlap):.3f}", flush=True)
        store.close()


if __name__ == "__main__":
    main()
