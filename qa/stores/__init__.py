"""Storage stacks behind an index: the document-store protocol and the scale-out engines
(PostgreSQL for articles, chunks and keyword search; Milvus for vectors)."""
