"""Tokens for BM25: jieba words for Chinese, lower-cased, Snowball-stemmed words for Latin text.

English words are stemmed so "refunds"/"refund" and "issued"/"issue" meet: questions rarely use the
document's inflection. Stems are cached (a vocabulary is small next to the token stream).

Traditional Chinese is folded to Simplified first (OpenCC t2s) because jieba's
dictionary is Simplified; without it DRCD-style text splits into single chars.
"""
from __future__ import annotations

import logging
import os
import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z0-9]+(?:[.'_-][A-Za-z0-9]+)*")
_KEEP = re.compile(r"[\w\u3400-\u4dbf\u4e00-\u9fff]", re.UNICODE)
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 或 也 就 都 而 之 其 这 那 个 一 上 下 中 为 以 于 对 由 被 把 从 到 吗 呢 吧 啊 么 什么 哪 "
    "the a an of to in on for and or is are was were be by with as at it this that from which what who how".split())


class _TableT2S:
    """OpenCC's t2s from OpenCC's own dictionaries, in C-speed pieces: its phrase table as one regex
    (longest first, so the same forward maximum matching) and its character table as str.translate.
    Ten times faster than the pure-Python converter (0.05 against 0.52 ms for 300 characters) and
    identical on every passage and question of the eval sets (5,782 texts), which a test re-checks."""

    def __init__(self, folder: str):
        def read(name: str) -> dict[str, str]:
            out: dict[str, str] = {}
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                for line in fh:
                    key, _, values = line.rstrip("\n").partition("\t")
                    if key and values:
                        out[key] = values.split(" ")[0]
            return out

        chars = read("TSCharacters.txt")
        self.phrases = read("TSPhrases.txt")
        if any(len(k) != 1 for k in chars):
            raise ValueError("unexpected multi-character entry in TSCharacters.txt")
        self.table = str.maketrans(chars)
        # characters whose presence can change a text; without any, convert() is the identity
        triggers = {k for k, v in chars.items() if k != v}
        for key, value in self.phrases.items():
            if len(key) == len(value):
                triggers.update(k for k, v in zip(key, value) if k != v)
            elif key != value:
                triggers.update(key)
        self.triggers = frozenset(triggers)
        self.pattern = re.compile("|".join(sorted(map(re.escape, self.phrases), key=len, reverse=True)))

    def convert(self, text: str) -> str:
        out: list[str] = []
        pos = 0
        for m in self.pattern.finditer(text):
            out.append(text[pos:m.start()].translate(self.table))
            out.append(self.phrases[m.group()])
            pos = m.end()
        out.append(text[pos:].translate(self.table))
        return "".join(out)


@lru_cache(maxsize=1)
def _converter():
    import opencc

    try:
        return _TableT2S(os.path.join(os.path.dirname(opencc.__file__), "dictionary"))
    except (OSError, ValueError, re.error):  # another OpenCC build: its own converter
        return opencc.OpenCC("t2s")


def needs_t2s(text: str) -> bool:
    """Whether folding could change `text`: only if it holds a character t2s rewrites (a traditional
    one, or one a phrase rule rewrites, like 覆 in 反覆). Other OpenCC builds: always fold."""
    triggers = getattr(_converter(), "triggers", None)
    return triggers is None or not triggers.isdisjoint(text)


_ALPHA = re.compile(r"^[a-z]+$")


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball (Porter2) stem of a lower-case English word; other tokens unchanged."""
    if len(word) <= 3 or not _ALPHA.match(word):
        return word
    return _stemmer().stemWord(word)


class Tokenizer:
    """Callable text -> tokens; holds its own jieba instance (optional user dictionary)."""

    def __init__(self, user_dict: str | None = None, stopwords: frozenset[str] = STOPWORDS, fold_traditional: bool = True,
                 stem_english: bool = True):
        import jieba

        logging.getLogger("jieba").setLevel(logging.ERROR)
        jieba.setLogLevel(logging.ERROR)
        self._jieba = jieba.Tokenizer()
        if user_dict:
            self._jieba.load_userdict(user_dict)
        self.user_dict = user_dict
        self.stopwords = stopwords
        self.fold_traditional = fold_traditional
        self.stem_english = stem_english

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the same text could tokenise differently (saved term counts are then void)."""
        import hashlib

        import jieba

        dict_state = ""
        if self.user_dict:
            try:
                st = os.stat(self.user_dict)
                dict_state = f"{os.path.abspath(self.user_dict)}:{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                dict_state = f"{self.user_dict}:missing"
        stop = hashlib.sha1("\n".join(sorted(self.stopwords)).encode("utf-8")).hexdigest()[:12]
        return (f"jieba-{getattr(jieba, '__version__', '?')}|search|t2s={self.fold_traditional}|stop={stop}|"
                f"stem={'snowball-en' if self.stem_english else 'no'}|{dict_state}")

    def words(self, text: str) -> list[str]:
        """jieba's precise-mode words of `text` as written (no search-mode sub-words, no stop words
        dropped), from this tokenizer's own dictionary: the global jieba would load a second copy."""
        return [w for w in self._jieba.cut(text, HMM=False) if w.strip()]

    def tokenize(self, text: str) -> list[str]:
        if not text:
            return []
        if self.fold_traditional and _CJK.search(text) and needs_t2s(text):
            text = _converter().convert(text)
        text = text.lower()
        out: list[str] = []
        if _CJK.search(text):
            for tok in self._jieba.cut_for_search(text, HMM=True):
                tok = tok.strip()
                if tok and _KEEP.search(tok) and tok not in self.stopwords:
                    out.append(tok)
        else:
            out = [t for t in _LATIN.findall(text) if t not in self.stopwords]
        if self.stem_english:
            out = [stem(t) for t in out]
        return out


_shared: dict[tuple[str | None, bool], Tokenizer] = {}


def shared_tokenizer(user_dict: str | None = None, stem_english: bool = True) -> Tokenizer:
    """One Tokenizer per user dictionary, stemming choice and process: jieba's dictionary takes ~1 s to load."""
    key = (user_dict, stem_english)
    if key not in _shared:
        _shared[key] = Tokenizer(user_dict=user_dict, stem_english=stem_english)
    return _shared[key]
