"""Follow-up questions made standalone for retrieval: 「那病假呢？」 after 「年假有几天？」 searches
「病假有几天？」.

One implementation for every interface that carries history (`zhida chat`, the web UI, REST chat
`history`, `/v1` messages). With a language model configured it rewrites the question (prompt
`rewrite_<lang>`); without one, or when it fails, a rule-based rewrite carries the previous question's
subject into the follow-up:

- a new subject that replaces the old one: 「那病假呢？」「第二条呢？」「what about sick leave?」
  (the old question with its subject, or the matching part of it, swapped);
- a pronoun that points back: 「它从什么时候开始计算？」「该押金…」「can it be extended?」;
- a predicate with no subject of its own: 「那到什么时候终止？」「需要多久？」.

Anything else is taken as standalone and left alone. tests/app/test_follow_ups.py measures both
ways on a small written set.
"""
from __future__ import annotations

import re
from typing import Sequence

from app.answering import language_of
from app.config import prompt_template
from app.llms.base import Extractive, LLMError

_END = "？?。.!！ \t"
REWRITE_TIMEOUT_S = 15.0
_LEAD_ZH = re.compile(r"^(那么|那|好的[，,]?|还有|另外|此外|再问一下[，,]?|如果是|要是|若是)")
_PRONOUN_ZH = re.compile(r"^(它们的|它的|它们|它|其|该|这个|这些|这种|此|这)")
# heads that name an attribute of the thing before 的 (期限, 费用 ...): 「那显示器呢？」 keeps the attribute
_ATTRIBUTES = ("期", "费", "价", "标准", "时间", "期限", "价格", "条件", "流程", "要求", "规定", "上限", "下限", "金额",
               "比例", "时长", "范围", "方式", "地点", "工资", "待遇", "天数", "次数", "额度", "年限")
_ORDINAL = re.compile(r"第[零一二三四五六七八九十百千万\d]+[条章节款项编部分篇]")
# words that start a predicate: what follows the subject of a question
_PRED_ZH = {
    "是", "有", "有没有", "是否", "是不是", "能", "能否", "能不能", "可以", "可否", "可不可以", "要", "需要", "需",
    "应", "应当", "应该", "必须", "得", "会", "会不会", "由", "从", "到", "在", "自", "于", "对", "向", "按", "按照",
    "依照", "怎么", "怎样", "怎么样", "如何", "为什么", "为何", "多少", "多久", "多长", "几", "几天", "几年", "几个",
    "什么", "哪", "哪些", "哪里", "哪个", "何时", "谁", "最长", "最短", "最多", "最少", "最高", "最低", "包括",
    "包含", "规定", "指", "算", "适用", "属于", "享有", "享受", "不得", "不能", "不可以", "一般", "通常", "大概",
    "每", "共", "一共", "总共", "还", "也", "都", "已", "被", "给", "多", "怎么办", "呢", "吗", "超过", "不超过",
    "起", "开始", "结束", "终止", "计算", "退", "退还", "交", "提交", "支付", "收取", "延长", "续", "续签",
}
_WH_ZH = re.compile(r"^(什么是|何为|何谓|请问|我想知道|想问一下|关于)")
_REST_EN = re.compile(r"^(what about|how about|and what about|and for|and|what if)\s+"
                      r"(?!(?:if|when|it|its|they|is|are|does|do|can|how|what)\b)(.+)$", re.I)
_PRONOUN_EN = re.compile(r"\b(it|its|they|them|their|this|that|these|those)\b", re.I)
_AUX_EN = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "must", "will", "would",
           "may", "has", "have", "shall"}
_WH_EN = {"what", "how", "when", "where", "who", "which", "why", "whom", "whose"}
_QUANTITY_EN = {"many", "much", "long", "often", "far", "old", "soon", "days", "weeks", "months", "years",
                "hours", "kind", "kinds", "type", "types", "of", "the", "a", "an"}
_VERB_EN = {"get", "gets", "take", "takes", "need", "needs", "work", "apply", "submit", "start", "end", "last",
            "lasts", "cost", "costs", "require", "requires", "cover", "covers", "include", "includes", "be", "pay",
            "allowed", "approved", "extended", "renewed", "returned", "refunded", "paid", "covered", "due",
            "needed", "required", "possible", "available", "valid"}
_ARTICLES = {"the", "a", "an", "this", "that"}


# --- Chinese ---------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    from app.text_tokens import words

    return words(text)


def split_subject_zh(question: str) -> tuple[str, str]:
    """(subject, predicate) of a Chinese question: 「员工的年假」「有几天？」; ("", question) when the
    question opens with its predicate (「哪些人可以…」) and has no subject to carry."""
    q = _WH_ZH.sub("", question.strip())
    m = re.match(r"^什么是(.+?)[？?。]*$", question.strip())
    if m:
        return m.group(1), "是什么？"
    pos = 0
    words = _words(q)
    for i, w in enumerate(words):
        if i > 0 and (w in _PRED_ZH or w[0] in "几") and words[i - 1] != "的":
            subject = q[:pos].rstrip("的，, ")
            return (subject, q[pos:]) if subject else ("", question)
        pos = q.find(w, pos) + len(w)
    return "", question


def _is_predicate_start(text: str) -> bool:
    words = _words(text)
    if not words:
        return False
    return words[0] in _PRED_ZH or words[0][0] in "几" or (len(words) > 1 and words[0] + words[1] in _PRED_ZH)


def merge_subject_zh(old: str, new: str) -> str:
    """The old subject with `new` put in: 「民法典第一条」+「第二条」→「民法典第二条」,
    「员工的年假」+「病假」→「员工的病假」, 「笔记本电脑的保修期」+「显示器」→「显示器的保修期」."""
    new = new.strip(_END + "，,")
    if _ORDINAL.fullmatch(new) and _ORDINAL.search(old):
        return _ORDINAL.sub(new, old, count=1)
    if "的" in old:
        head, _, tail = old.rpartition("的")
        if tail and new[-1] == tail[-1]:
            return f"{head}的{new}"  # the same kind of thing: 员工的年假 -> 员工的病假
        if tail.endswith(_ATTRIBUTES) and "的" not in new:
            return f"{new}的{tail}"  # an attribute of something else: 笔记本电脑的保修期 -> 显示器的保修期
        return new  # 满十年的年休假 + 报销: a new subject altogether
    words = _words(old)
    if len(words) >= 2 and len(_words(new)) == 1 and new[-1] != old[-1]:
        return new + words[-1]  # 「设备保修期」+「电池」→「电池保修期」 (a noun for a noun)
    return new


def _rewrite_zh(question: str, previous: str) -> str:
    subject, predicate = split_subject_zh(previous)
    q = question.strip()
    lead = _LEAD_ZH.match(q)
    rest = q[lead.end():].lstrip("，, ") if lead else q
    if not subject:
        short = len(rest.strip(_END)) <= 6
        return f"{previous} {question}" if (lead or short) else question
    core = rest.rstrip(_END)
    if core.endswith("呢") and not _is_predicate_start(core):  # 「那病假呢？」「第二条呢？」
        new = re.sub(r"(的情况|怎么样|怎么算|如何)?呢$", "", core)
        if new and len(new) <= 16:
            return merge_subject_zh(subject, new) + predicate
    p = _PRONOUN_ZH.match(rest)
    if p:  # 「它从什么时候开始计算？」「这个押金什么时候退？」
        after = rest[p.end():]
        if p.group(1) in ("该", "这个", "这些", "这种", "此", "这"):
            words = _words(after)
            if words and words[0] in subject:
                after = after[len(words[0]):]
        joiner = "的" if p.group(1).endswith("的") else ""
        return subject + joiner + after
    if _is_predicate_start(rest) and (lead or len(core) <= 10):  # 「那到什么时候终止？」「需要多久？」
        return subject + rest
    if lead and len(core) <= 6:  # 「那病假？」
        return merge_subject_zh(subject, core) + predicate
    if len(core) <= 8:  # a short question leans on the conversation: 「逾期了怎么办？」
        return subject + rest
    return question


# --- English ---------------------------------------------------------------------------------

def subject_en(question: str) -> str:
    """The topic of an English question: 'annual leave' in 'How many days of annual leave do staff get?',
    'the probation period' in 'How long is the probation period?'; '' when none is found."""
    words = re.findall(r"[A-Za-z0-9'-]+", question)
    lower = [w.lower() for w in words]
    aux = next((i for i, w in enumerate(lower) if w in _AUX_EN), None)
    if aux is None:  # 'Who approves remote work?': the object
        return " ".join(words[2:]) if lower and lower[0] in _WH_EN and len(words) > 2 else ""
    if lower and lower[0] in _WH_EN and aux > 1:
        pre = words[1:aux]
        while pre and pre[0].lower() in _QUANTITY_EN:
            pre = pre[1:]
        if pre:
            return " ".join(pre)
    post = []
    for w in words[aux + 1:]:
        if w.lower() in _VERB_EN or w.lower() in _AUX_EN:
            break
        post.append(w)
    return " ".join(post)


def _rewrite_en(question: str, previous: str) -> str:
    q = question.strip()
    m = _REST_EN.match(q.rstrip(_END))
    prev = previous.strip()
    if m:  # 'what about sick leave?': swap the matching phrase, or the subject
        new = m.group(2).strip()
        new_words = new.split()
        prev_words = prev.rstrip(_END).split()
        last = new_words[-1].lower()
        for i, w in enumerate(prev_words):
            if w.lower().strip(",") == last:
                start = max(0, i - len(new_words) + 1)
                return " ".join(prev_words[:start] + new_words + prev_words[i + 1:]) + "?"
        subject = subject_en(prev)
        nouns = [w for w in new_words if w.lower() not in _ARTICLES]
        content = [w for w in subject.split() if w.lower() not in _ARTICLES]
        if subject in prev and len(nouns) == 1 and len(content) == 2:  # the laptop warranty -> the monitor warranty
            return prev.replace(subject, subject.replace(content[0], nouns[0], 1), 1)
        if subject and subject in prev:
            m_prep = re.search(r"^(.*\b(?:for|of|on|in|to|about)) ", subject)
            if m_prep and not new.lower().startswith(("for ", "of ", "on ", "in ", "to ")):
                return prev.replace(subject, f"{m_prep.group(1)} {new}", 1)  # the deadline for <new>
            return prev.replace(subject, new, 1)
        return f"{prev} {new}"
    subject = subject_en(prev)
    p = _PRONOUN_EN.search(q)
    if subject and p:
        repl = subject + "'s" if p.group(1).lower() in ("its", "their") else subject
        return q[:p.start()] + repl + q[p.end():]
    if len(q.rstrip(_END)) <= 25:  # a short question leans on the conversation
        return f"{prev} {q}"
    return question


# --- the one entry point ---------------------------------------------------------------------

def rule_rewrite(question: str, previous: str) -> str:
    """The follow-up `question` made standalone from the `previous` (standalone) user question."""
    if not previous.strip():
        return question
    if language_of(question) == "zh":
        return _rewrite_zh(question, previous)
    return _rewrite_en(question, previous)


def _turns(history: Sequence[dict], max_turns: int) -> list[dict]:
    turns = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
    return turns[-2 * max_turns:] if max_turns > 0 else []


def _llm_rewrite(question: str, turns: list[dict], llm) -> str:
    lang = language_of(question)
    convo = "\n".join(f"{m['role']}: {str(m['content'])[:500]}" for m in turns)
    prompt = prompt_template(f"rewrite_{lang}").format(history=convo, question=question)
    try:
        # a hung server costs the rewrite REWRITE_TIMEOUT_S at most (then the rules), not the answer's whole wait
        text = "".join(llm.stream([{"role": "user", "content": prompt}], max_new_tokens=96, max_tokens=96,
                                  timeout_s=REWRITE_TIMEOUT_S)).strip()
    except LLMError:
        return ""
    text = text.splitlines()[0].strip() if text else ""
    return text if 2 <= len(text) <= 300 else ""


def _same(a: str, b: str) -> bool:
    return re.sub(r"[\s？?。.!！，,]", "", a).lower() == re.sub(r"[\s？?。.!！，,]", "", b).lower()


def rewrite_query(question: str, history: Sequence[dict], llm=None, max_turns: int = 6) -> str:
    """A standalone query for retrieval: the LLM rewrites follow-ups when there is one (and answers),
    else the rules above, applied turn by turn so a chain of follow-ups keeps its first subject.

    A model that hands the follow-up back unchanged while the rules found the subject it leans on is
    overruled by the rules: small models echo 「它什么时候退还？」 as often as they rewrite it
    (benchmarks/follow_ups.py with Qwen2.5-Coder-1.5B)."""
    turns = _turns(history, max_turns)
    if not turns:
        return question
    standalone = ""
    for m in turns:
        if m["role"] == "user":
            standalone = rule_rewrite(str(m["content"]), standalone) if standalone else str(m["content"])
    ruled = rule_rewrite(question, standalone)
    if llm is not None and not isinstance(llm, Extractive):
        text = _llm_rewrite(question, turns, llm)
        if text and not (_same(text, question) and not _same(ruled, question)):
            return text
    return ruled
