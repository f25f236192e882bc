"""Values the knowledge layer hands to the app (answering, CLI, API)."""
from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.types import Hit


@dataclass(frozen=True)
class RetrievedChunk:
    """A retrieved passage with everything needed to cite it.

    For numbered legal text the passage belongs to an article (see ingest.Chunk): `unit` is its
    label ("第三百六十七条", "Article 12"; "" for prose) and `parent_text` is the whole article when
    the passage is only a piece of it ("" when the passage is the whole article, has no article, or
    was ingested before articles were recorded). To show or quote the whole unit, use `unit_text`.
    """

    chunk_id: str
    text: str
    source: str  # the document's path (or upload name) as the user knows it
    score: float
    page: int | None = None
    page_end: int | None = None
    heading_path: tuple[str, ...] = ()
    hit: Hit | None = None  # retriever evidence: found_by, dense/sparse/rerank scores
    # the model that produced hit.dense_score: a cosine means different things for different models
    # (e5-small's sit in 0.75-0.95), so whoever judges relevance by it needs to know which
    embedding_model: str = ""
    unit: str = ""
    parent_text: str = ""

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def unit_text(self) -> str:
        """The whole article this passage is part of (the passage itself when it is whole or has none)."""
        return self.parent_text or self.text


@dataclass
class FileResult:
    """One line of an ingest report."""

    path: str
    status: str  # "added" | "updated" | "unchanged" | "removed" | "failed" | "skipped"
    chunks: int = 0
    reason: str = ""  # failure reason, one line
    error_kind: str = ""  # IngestError.kind for failures
    warnings: list[str] = field(default_factory=list)


@dataclass
class SyncReport:
    """What an ingest run did; the CLI prints it, the API returns it as JSON."""

    files: list[FileResult] = field(default_factory=list)
    embedded_chunks: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("added", "updated", "removed", "unchanged", "failed")}
