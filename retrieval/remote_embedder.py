"""Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (Xinference, vLLM,
text-embeddings-inference, Ollama, hosted APIs), so embedding work can run on GPU
servers while Zhida itself stays on a CPU box.

Named `openai:<model>` (base URL from settings) or `openai:<model>@<base_url>`.
Texts go out in batches; connection errors, timeouts, HTTP 429 and 5xx are
retried with exponential backoff (honouring a short `Retry-After`); anything
else, or a server that keeps failing, is a `ModelLoadError` naming the server.
Vectors are checked for shape and L2-normalised here, whatever the server does.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import httpx
import numpy as np

from retrieval.errors import ModelLoadError

log = logging.getLogger(__name__)

PREFIX = "openai:"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RemoteSettings:
    """How to reach the embedding server (the app builds this from config + env)."""

    base_url: str | None = None  # used when the name has no @<base_url>
    api_key: str | None = None
    batch_size: int = 64
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 0.5


class RemoteEmbeddingError(ModelLoadError):
    """The embedding server failed, or answered something that is not embeddings."""


def parse_remote_name(name: str, default_base_url: str | None = None) -> tuple[str, str]:
    """`openai:<model>[@<base_url>]` -> (model, base_url)."""
    rest = name[len(PREFIX):] if name.startswith(PREFIX) else name
    model, _, base_url = rest.partition("@")
    base_url = base_url or default_base_url or ""
    if not model.strip():
        raise ModelLoadError(f"remote embedding name {name!r} has no model; write openai:<model>[@<base_url>]")
    if not base_url.startswith(("http://", "https://")):
        raise ModelLoadError(f"remote embedding model {name!r} needs a server: write openai:{model}@http://host:port/v1 "
                             "or set embedding.remote.base_url")
    return model.strip(), base_url.rstrip("/")


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class RemoteEmbedder:
    """The `Embedder` protocol over HTTP. `dim` is learnt from the first answer (one probe if asked first)."""

    def __init__(self, model: str, base_url: str, *, model_id: str | None = None, api_key: str | None = None,
                 batch_size: int = 64, timeout_s: float = 60.0, max_retries: int = 4, backoff_s: float = 0.5,
                 max_backoff_s: float = 20.0, dim: int | None = None, query_prefix: str = "",
                 document_prefix: str = "", sleep: Callable[[float], None] = time.sleep):
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        self.model_id = model_id or f"{PREFIX}{model}"
        self.batch_size = max(1, int(batch_size))
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self._sleep = sleep
        self._dim = int(dim) if dim else None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._embed(["dimension probe"])
        return int(self._dim)

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        return self._embed([self.document_prefix + t for t in texts], show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([self.query_prefix + text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.query_prefix + t for t in texts])

    def close(self) -> None:
        self._client.close()

    # --- internals
    def _embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if show_progress and len(texts) > self.batch_size:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding (remote)", unit="batch", leave=False)
        parts = [self._batch(texts[s:s + self.batch_size]) for s in starts]
        return np.concatenate(parts)

    def _batch(self, texts: list[str]) -> np.ndarray:
        data = self._post({"model": self.model, "input": texts})
        try:
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            vecs = np.asarray([d["embedding"] for d in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteEmbeddingError(f"the embedding server at {self.base_url} answered something that is not "
                                       f"an embeddings list ({type(exc).__name__}: {exc})") from exc
        if vecs.ndim != 2 or vecs.shape[0] != len(texts) or vecs.shape[1] == 0:
            raise RemoteEmbeddingError(f"the embedding server at {self.base_url} returned {vecs.shape[0] if vecs.ndim else 0} "
                                       f"vectors of shape {vecs.shape[1:]} for {len(texts)} texts")
        if self._dim is None:
            self._dim = int(vecs.shape[1])
        elif vecs.shape[1] != self._dim:
            raise RemoteEmbeddingError(f"the embedding server at {self.base_url} returned {vecs.shape[1]}-dim vectors "
                                       f"for model {self.model!r}, expected {self._dim}; is another model behind it?")
        if not np.isfinite(vecs).all():
            raise RemoteEmbeddingError(f"the embedding server at {self.base_url} returned non-finite numbers")
        return _normalise(vecs)

    def _post(self, body: dict) -> dict:
        last = ""
        for attempt in range(self.max_retries + 1):
            wait = min(self.max_backoff_s, self.backoff_s * (2 ** attempt))
            try:
                resp = self._client.post(self.url, json=body)
            except httpx.TransportError as exc:  # connect refused/reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 400:
                    try:
                        return resp.json()
                    except ValueError as exc:
                        raise RemoteEmbeddingError(f"the embedding server at {self.base_url} answered non-JSON "
                                                   f"({resp.text[:120]!r})") from exc
                detail = resp.text[:200].strip()
                if resp.status_code not in RETRY_STATUS:
                    raise RemoteEmbeddingError(f"the embedding server at {self.url} answered HTTP "
                                               f"{resp.status_code} for model {self.model!r}: {detail}")
                last = f"HTTP {resp.status_code}: {detail}"
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.replace(".", "", 1).isdigit():
                    wait = min(self.max_backoff_s, max(wait, float(retry_after)))
            if attempt < self.max_retries:
                log.warning("embedding server %s: %s; retry %d/%d in %.1fs", self.base_url, last, attempt + 1,
                            self.max_retries, wait)
                self._sleep(wait)
        raise RemoteEmbeddingError(f"the embedding server at {self.base_url} failed {self.max_retries + 1} times "
                                   f"(last: {last}); check that it is running and serves model {self.model!r}")


def load_remote(name: str, settings: RemoteSettings | None = None) -> RemoteEmbedder:
    settings = settings or RemoteSettings()
    model, base_url = parse_remote_name(name, settings.base_url)
    return RemoteEmbedder(model, base_url, model_id=name, api_key=settings.api_key, batch_size=settings.batch_size,
                          timeout_s=settings.timeout_s, max_retries=settings.max_retries, backoff_s=settings.backoff_s)
