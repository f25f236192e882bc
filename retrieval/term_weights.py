"""How much each word of a query counts in BM25: by how informative it is in Chinese at large.

BM25's idf is the corpus's own, and a corpus of one kind of text gets it backwards for the words a
person asks with: in a statute 「给」「再」「以后」 are rare, so a colloquial question's function words
outweigh its content words (for 「买房签了协议以后，怎样防止卖家把房子再处分给别人？」 plain BM25 scores
the construction-contract article, which holds 给 four times, 13.2 against 7.3 for the article on
预告登记; weighted, 8.6 against 7.3: closer, not yet reversed). A word's
idf in the language at large is a prior no single corpus can distort; jieba ships one (analyse/idf.txt,
~270k words, from a large general corpus), where function words sit at 2-5 and content words at 6-12.

Each query term's BM25 weight is scaled by ``clip((general_idf - LOW) / (HIGH - LOW), 0, 1)``; a word
the table does not hold (a name, a number, an English or rare word) counts fully. Documents are indexed
as before: only the query side changes, so existing indexes need no rebuild.

LOW 2 / HIGH 5 was chosen the way the fusion gate was (retrieval.fusion.ShareGate): the largest
worst-case lead of hybrid over the better single retriever across cmrc2018_trial, drcd_dev and
dureader_robust_dev at once, checked on the Civil Code questions, never per set. Lab lists with
e5-small (hybrid MRR@10 cmrc / drcd / DuReader, Civil Code gold article first of 35): off .9878 / .9602 /
.9217, 29; 2-5 .9886 / .9597 / .9224, 30; 3-5 .9880 / .9584 / .9241, 31; 3-6 .9876 / .9575 / .9211, 31;
2-4 .9883 / .9599 / .9220, 29. Moving either cut-off by 0.5 keeps every set within 0.0007 of 2-5 and
ranks 29-31 Civil Code articles first. The question 2-5 wins is 「分公司以自己名义做生意欠下的责任最终由谁
承担？」 (公司 and 自己 weigh half, and the article on 分支机构 comes first). A stronger weighting (higher
LOW or HIGH) wins more Civil Code questions and loses on drcd, whose Traditional-Chinese questions copy
words (中国, 美国, 时候) that news text uses often.
"""
from __future__ import annotations

from functools import lru_cache

# general idf at or below LOW: the word does not count; at or above HIGH: it counts fully
LOW = 2.0
HIGH = 5.0


@lru_cache(maxsize=1)
def general_idf() -> tuple[dict[str, float], float]:
    """jieba's idf table of general Chinese and its median (what jieba gives a word it lacks), loaded
    once per process (~0.5 s): the refusal rule (app.evidence) reads the same table."""
    import jieba.analyse

    table = jieba.analyse.default_tfidf
    return table.idf_freq, table.median_idf


def general_term_weight(token: str) -> float:
    """0..1: how much `token` (a BM25 query token) counts. A word the table lacks gets its median idf
    (~11.7, far above HIGH): a name, a number or an English word counts fully."""
    idf, median = general_idf()
    return min(1.0, max(0.0, (idf.get(token, median) - LOW) / (HIGH - LOW)))
