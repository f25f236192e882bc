"""Word sets for the extractive answerer, with the same tokeniser BM25 uses."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _tokenizer():
    from retrieval.tokenize import shared_tokenizer

    return shared_tokenizer()


def tokens(text: str) -> set[str]:
    return set(_tokenizer()(text))


def words(text: str) -> list[str]:
    """Precise-mode words with the same jieba instance (see Tokenizer.words)."""
    return _tokenizer().words(text)
