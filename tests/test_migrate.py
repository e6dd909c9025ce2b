"""`qa migrate`: an embedded index copied into Milvus + PostgreSQL (real servers) without
re-embedding, resumable after an interruption."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index import Index
from qa.ingest import Ingestor
from qa.migrate import migrate
from qa.retrieve import Retriever
from qa.settings import Settings
from tests.helpers import TAIWAN_ID
from tests.servers import scale_overrides
from tests.store_corpus import CORPUS, QUERIES

pytestmark = pytest.mark.integration


class Interrupted(Exception):
    pass


def test_migrate_copies_without_re_embedding_and_resumes(seeded_settings: Settings, embedder, postgres,
                                                         milvus_uri: str) -> None:
    source = seeded_settings.replace(recency_weight=0.0)
    with Index.open(source, embedder=embedder) as index:
        Ingestor(index, source).ingest_articles(CORPUS)
        counts = index.docstore.count()
        expected = [[h.article_id for h in Retriever(index, source).search(q, 3).hits] for q in QUERIES]
        ids = sorted(a.article.id for a in index.docstore.list_articles())
        vectors = {a: np.vstack(list(index.docstore.vectors_of([c.id for c in index.docstore.chunks_of(a)]).values()))
                   for a in ids}
    target = source.replace(**scale_overrides(postgres, milvus_uri))

    def stop_after_three(done: int, total: int) -> None:
        if done >= 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        migrate(source, target, batch=1, progress=stop_after_three)
    resumed = migrate(source, target, batch=1)
    assert resumed.copied == counts[0] - 3 and resumed.skipped == 0  # continued from the checkpoint
    again = migrate(source, target, batch=2)
    assert again.copied == 0  # nothing written twice

    with Index.open(target, embedder=embedder) as scale:
        assert scale.docstore.count() == counts and len(scale.vectors) == counts[1]
        for article_id in ids:  # the very vectors, not new embeddings
            chunks = scale.docstore.chunks_of(article_id)
            copied = scale.docstore.vectors_of([c.id for c in chunks])
            assert np.array_equal(np.vstack([copied[c.id] for c in chunks]), vectors[article_id])
        assert [[h.article_id for h in Retriever(scale, target).search(q, 3).hits] for q in QUERIES] == expected


def test_qa_migrate_then_qa_search_on_the_scale_stack(seeded_settings: Settings, tmp_path, postgres,
                                                      milvus_uri: str) -> None:
    from click.testing import CliRunner

    from qa.cli import main

    env = {"QA_INDEX_DIR": str(seeded_settings.index_dir), "QA_TIKTOKEN_CACHE_DIR": str(tmp_path / "tt")}
    env |= {f"QA_{k.upper()}": v for k, v in scale_overrides(postgres, milvus_uri).items() if k != "store"}
    copied = CliRunner().invoke(main, ["migrate", "--to", "scale"], env=env, catch_exceptions=False)
    assert copied.exit_code == 0 and "copied 2 articles" in copied.output
    found = CliRunner().invoke(main, ["search", "China defence budget 7.2%", "--json"], env=env | {"QA_STORE": "scale"},
                               catch_exceptions=False)
    assert found.exit_code == 0 and TAIWAN_ID in found.output
