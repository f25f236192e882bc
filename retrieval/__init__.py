"""Retrieval: embedders, FAISS dense index, BM25 sparse index, fusion and reranking.

Knows nothing of files or knowledge bases: takes ids, texts and vectors.
"""
from retrieval.dense import DenseIndex, DenseSettings
from retrieval.embedders import HashingEmbedder, load_embedder
from retrieval.errors import ModelLoadError
from retrieval.fusion import adaptive_fusion, reciprocal_rank_fusion, weighted_fusion
from retrieval.rerank import load_reranker
from retrieval.retriever import HybridRetriever
from retrieval.sparse import BM25Index
from retrieval.tokenize import Tokenizer
from retrieval.types import Embedder, Hit, Reranker

__all__ = ["BM25Index", "DenseIndex", "DenseSettings", "Embedder", "HashingEmbedder", "Hit", "HybridRetriever",
           "ModelLoadError", "Reranker", "Tokenizer", "load_embedder", "load_reranker", "reciprocal_rank_fusion", "adaptive_fusion",
           "weighted_fusion"]
