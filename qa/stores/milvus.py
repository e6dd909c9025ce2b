"""A `VectorStore` on a Milvus collection (pymilvus), shared by every replica.

One collection holds (chunk id, vector) rows, inner-product metric over normalized vectors. The
index type and its build and search parameters come from settings. Every request carries the
configured consistency level: `Strong` (the default) makes each search wait until the query
nodes have applied every write acknowledged before it, from any replica, so an article written or
deleted through one replica is found (or gone) in the next search on all of them. `Bounded`
(Milvus' default) can serve a deleted row for a moment; `Session` only guarantees it within the
client (replica) that wrote. Strong costs up to one Milvus time tick (200 ms by default) per
search, because the query node waits for a tick newer than the request. `Session` here is the
shared session: `guarantee` (set by `qa.stores.scale_index`) gives the newest write timestamp
that any replica recorded in PostgreSQL before acknowledging its write, and the search waits only
for that: read-after-write across replicas, without the wait when nothing was written lately.

Filters run inside Milvus: each row also holds its article's source (`source`, ASCII letters
lowercased) and published day (`published`, days since 0001-01-01, 0 when undated), and
`search_filtered` turns the store's `Filters` into one boolean expression, so a filtered search is
one Milvus call. A collection created before those fields existed has only (id, vector): there
`search_filtered` answers None and the caller applies filters the way the FAISS stack does
(`qa.retrieve`: an over-fetched search filtered by the document store, else a search restricted to
the allowed chunk ids). docs/scale-out.md says how to rebuild such a collection.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.client.ts_utils import get_collection_ts
from pymilvus.exceptions import MilvusException

from qa.types import Filters

log = logging.getLogger("qa.stores.milvus")
INSERT_BATCH = 5_000
MAX_TOPK = 16_384  # Milvus' limit on k
IN_FILTER_BATCH = 200_000  # allowed ids per `id in [...]` filter expression
SOURCE_FIELD, PUBLISHED_FIELD = "source", "published"
SOURCE_BYTES = 512  # longest source kept (UTF-8 bytes); a longer one is stored as "" (none)
UNDATED = 0  # the published day of an undated article (real days are >= 1)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
Scalars = tuple[str | None, str | None]  # an article's (source, published), as stored in the rows


def source_key(source: str | None) -> str:
    """What the `source` field holds: ASCII letters lowercased (as `lower()` does in SQLite and in
    C-locale PostgreSQL), "" when there is none or it is longer than `SOURCE_BYTES`."""
    key = (source or "").translate(_ASCII_LOWER)
    return key if len(key.encode("utf-8", "surrogatepass")) <= SOURCE_BYTES else ""


def day_number(published: str | None) -> int:
    """What the `published` field holds: the proleptic Gregorian day of a YYYY-MM-DD date (the
    loaders store every date so), `UNDATED` when there is none or it does not start with one."""
    try:
        return dt.date.fromisoformat(published[:10]).toordinal() if published else UNDATED
    except ValueError:
        return UNDATED


def quoted(text: str) -> str:
    """`text` as a double-quoted Milvus string literal: quote and backslash escaped, everything but
    printable ASCII as \\u / \\U escapes (the expression grammar and Go's unquoting both read them),
    so no input can end the literal or change the expression."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def filter_expression(filters: Filters) -> str | None:
    """`filters` as a Milvus boolean expression over the scalar fields, with the document store's
    meaning (`_filter_sql` in qa.stores.postgres); None when it cannot say the same thing exactly
    (a source with non-ASCII characters, whose lowercasing depends on the database's locale, or
    one too long to store; a date that is not YYYY-MM-DD): the caller then filters by chunk ids."""
    clauses = []
    if filters.source is not None:
        key = source_key(filters.source)
        if not key or not key.isascii():
            return None
        clauses.append(f"{SOURCE_FIELD} == {quoted(key)}")
    days = {}
    for name in ("published_from", "published_to", "as_of"):
        value = getattr(filters, name)
        if value is not None:
            if len(value) != 10 or day_number(value) == UNDATED:
                return None
            days[name] = day_number(value)
    if "published_from" in days:  # undated (0) is before every day: left out, as NULL >= x is
        clauses.append(f"{PUBLISHED_FIELD} >= {days['published_from']}")
    if "published_to" in days:  # undated left out, as NULL <= x is
        clauses.append(f"{PUBLISHED_FIELD} >= 1 and {PUBLISHED_FIELD} <= {days['published_to']}")
    if "as_of" in days:  # an undated article is not known to be later: it stays
        clauses.append(f"{PUBLISHED_FIELD} <= {days['as_of']}")
    return " and ".join(clauses) if clauses else None


class MilvusStore:
    """Inner-product search over normalized vectors keyed by int64 chunk ids, in Milvus."""

    def __init__(
        self,
        uri: str,
        collection: str,
        dimension: int,
        *,
        token: str = "",
        index_type: str = "HNSW",
        index_params: dict | None = None,
        search_params: dict | None = None,
        consistency: str = "Strong",
        timeout: float = 30.0,
    ) -> None:
        self.dimension = dimension
        self.synced_seq = 0
        self.collection = collection
        self.index_type = index_type
        self.index_params = index_params or {}
        self.search_params = search_params or {}
        self.consistency = consistency
        self.timeout = timeout
        self.client = MilvusClient(uri=uri, token=token, timeout=timeout)
        self.guarantee: Callable[[], int] | None = None  # Session: the newest write ts of all replicas
        self.has_scalars = False  # whether rows hold source and published (see the module docstring)
        self._ensure_collection()

    @classmethod
    def from_settings(cls, settings: object, dimension: int) -> MilvusStore:
        """A store on the Milvus that `settings` (`qa.settings.Settings`) names."""
        s = settings
        return cls(
            s.milvus_uri, s.milvus_collection, dimension, token=s.milvus_token,  # type: ignore[attr-defined]
            index_type=s.milvus_index,  # type: ignore[attr-defined]
            index_params=json.loads(s.milvus_index_params or "{}"),  # type: ignore[attr-defined]
            search_params=json.loads(s.milvus_search_params or "{}"),  # type: ignore[attr-defined]
            consistency=s.milvus_consistency,  # type: ignore[attr-defined]
        )

    def _ensure_collection(self) -> None:
        if not self.client.has_collection(self.collection):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
            schema.add_field(SOURCE_FIELD, DataType.VARCHAR, max_length=SOURCE_BYTES)
            schema.add_field(PUBLISHED_FIELD, DataType.INT64)
            index = self.client.prepare_index_params()
            index.add_index(field_name="vector", index_type=self.index_type, metric_type="IP",
                            params=self.index_params)
            try:
                self.client.create_collection(self.collection, schema=schema, index_params=index,
                                              consistency_level=self.consistency)
            except MilvusException as error:  # another replica created it first
                if not self.client.has_collection(self.collection):
                    raise
                log.debug("collection %s created concurrently: %s", self.collection, error)
        else:
            held = self._dimension_held()
            if held is not None and held != self.dimension:
                raise ValueError(f"Milvus collection {self.collection!r} holds {held}-dimensional vectors, "
                                 f"the configured model makes {self.dimension}")
        names = {field.get("name") for field in self.client.describe_collection(self.collection).get("fields", [])}
        self.has_scalars = {SOURCE_FIELD, PUBLISHED_FIELD} <= names
        self.client.load_collection(self.collection)

    def _dimension_held(self) -> int | None:
        for field in self.client.describe_collection(self.collection).get("fields", []):
            if field.get("name") == "vector":
                return int(field.get("params", {}).get("dim", 0)) or None
        return None

    # -- writes ---------------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray, scalars: Sequence[Scalars] | None = None) -> None:
        """Store vectors under their chunk ids (an id already there is replaced: idempotent), with
        their articles' (source, published), one per row; a collection that holds those fields
        needs them (a row without would escape every filter)."""
        if len(ids) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, the store holds {self.dimension}")
        if self.has_scalars and (scalars is None or len(scalars) != len(ids)):
            raise ValueError(f"collection {self.collection!r} needs the source and published date of each row")
        for start in range(0, len(ids), INSERT_BATCH):
            rows = [{"id": int(i), "vector": v} for i, v in
                    zip(ids[start:start + INSERT_BATCH], vectors[start:start + INSERT_BATCH].tolist())]
            if self.has_scalars:
                assert scalars is not None  # checked above
                for row, (source, published) in zip(rows, scalars[start:start + INSERT_BATCH]):
                    row[SOURCE_FIELD], row[PUBLISHED_FIELD] = source_key(source), day_number(published)
            self.client.upsert(self.collection, rows, timeout=self.timeout)

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by chunk id; unknown ids are ignored."""
        keys = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        for start in range(0, len(keys), INSERT_BATCH):
            self.client.delete(self.collection, ids=keys[start:start + INSERT_BATCH], timeout=self.timeout)

    def last_write_ts(self) -> int:
        """The Milvus timestamp of this process's latest write to the collection (0: none)."""
        return int(get_collection_ts(self.collection) or 0)

    def _consistency(self) -> dict:
        if self.consistency == "Session" and self.guarantee is not None:
            return {"consistency_level": "Customized", "guarantee_timestamp": self.guarantee() or 1}
        return {"consistency_level": self.consistency}

    def drop(self) -> None:
        """Remove the whole collection (tests and benchmarks)."""
        self.client.drop_collection(self.collection)

    # -- searching --------------------------------------------------------------------------------
    def __len__(self) -> int:
        # Strong: a count is rare (stats, checks), and count(*) under a customized timestamp
        # was seen to still count a just-deleted row on Milvus 2.3.5
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"],
                                 timeout=self.timeout, consistency_level="Strong")
        return int(rows[0]["count(*)"]) if rows else 0

    def search_filtered(self, queries: np.ndarray, k: int, filters: Filters) -> tuple[np.ndarray, np.ndarray] | None:
        """Top-k (scores, ids) per query among the rows that pass `filters`, in one Milvus search;
        None when this collection cannot tell (no scalar fields, or `filter_expression` declines)."""
        expression = filter_expression(filters) if self.has_scalars else None
        return None if expression is None else self._search(queries, k, [expression])

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; missing results have id -1."""
        if allowed_ids is not None and len(allowed_ids) == 0:
            return self._search(queries, k, [])
        filters = [""] if allowed_ids is None else [
            "id in [" + ",".join(str(int(i)) for i in allowed_ids[s:s + IN_FILTER_BATCH]) + "]"
            for s in range(0, len(allowed_ids), IN_FILTER_BATCH)
        ]
        return self._search(queries, k, filters)

    def _search(self, queries: np.ndarray, k: int, filters: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Top-k over the union of one search per filter expression (none: no results)."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        n, k = len(queries), max(k, 0)
        scores = np.full((n, k), -np.inf, np.float32)
        found = np.full((n, k), -1, np.int64)
        if k == 0 or n == 0 or not filters:
            return scores, found
        search_params = dict(self.search_params)
        if self.index_type.upper() == "HNSW":  # Milvus refuses an ef below k (an over-fetch asks for more)
            search_params["ef"] = max(int(search_params.get("ef", 0)), min(k, MAX_TOPK))
        params = {"metric_type": "IP", "params": search_params}
        hits: list[list[tuple[float, int]]] = [[] for _ in range(n)]
        for expression in filters:
            result = self.client.search(
                self.collection, data=queries.tolist(), limit=min(k, MAX_TOPK), filter=expression,
                search_params=params, timeout=self.timeout, **self._consistency(),
            )
            for row, row_hits in enumerate(result):
                hits[row] += [(float(h["distance"]), int(h["id"])) for h in row_hits]
        for row, row_hits in enumerate(hits):
            best = sorted(row_hits, key=lambda h: (-h[0], h[1]))[:k]
            scores[row, : len(best)] = [s for s, _ in best]
            found[row, : len(best)] = [i for _, i in best]
        return scores, found

    def save(self, path: Path) -> None:
        """Nothing to write: Milvus persists every acknowledged write itself."""

    @property
    def needs_retraining(self) -> bool:
        return False
