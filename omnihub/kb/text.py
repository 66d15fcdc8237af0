"""Text to index terms: jieba's search-mode cut for Chinese, lower-cased words for the rest.

Both the index and the queries go through `terms`, so `退款多久到账` and the entry
"退款一般多久能到账？" meet on the same words (退款, 多久, 到, 账). Search mode also emits
the shorter words inside long ones (中华人民共和国 → 中华, 华人, 人民, 共和, 共和国 …),
which is what lets a short query find a long phrasing. The indexed form is the terms
joined by single spaces: every database then only has to split on spaces.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache

import jieba

__all__ = ["STOPWORDS", "detect_language", "index_text", "terms"]

jieba.setLogLevel(logging.WARNING)
_init_lock = threading.Lock()

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"\w", re.UNICODE)

# Words that carry no meaning for matching a question to an answer: they would make
# every entry a candidate and only add noise to the scores.
STOPWORDS = frozenset("""
a an the is are was were be been am do does did i me my we our you your he she it its they
them their this that these those of to in on at for with by from and or but if so as can
could would should will shall may might must have has had what how when where why which who
whom please pls hi hello hey there there's im i'm i've it's don't can't any some just about
get got into out up than then too very also still yet ok okay thanks thank s t
的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 我 我的 你 你们 您 在 有 和 与 就 都 也 还 要 想 请问 请 一下 这个 那个
这 那 个 么 怎么 如何 什么 可以 能 能否 可否 是否 么样 一 下 吗？ 谢谢 你好 您好
""".split())


def _ensure_loaded() -> None:
    """jieba builds its prefix dictionary on first use (about a second): once, thread-safe."""
    if not jieba.dt.initialized:
        with _init_lock:
            jieba.initialize()


def _normalize(text: str) -> str:
    # NFKC folds full-width letters and digits (ＶＩＰ, １２３) into their ASCII forms.
    return unicodedata.normalize("NFKC", text).lower()


def _stem(word: str) -> str:
    """A deliberately tiny English stemmer, the same on both sides: plural, -ing, -ed, a
    final e and a doubled last consonant go (invoices → invoic, shipping → ship)."""
    if not word.isascii() or not word.isalpha() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


@lru_cache(maxsize=4096)
def terms(text: str) -> tuple[str, ...]:
    """The index terms of `text`, in order, stopwords and punctuation dropped."""
    _ensure_loaded()
    out = []
    for token in jieba.cut_for_search(_normalize(text)):
        token = token.strip()
        if not token or not _WORD.search(token) or token in STOPWORDS:
            continue
        out.append(_stem(token))
        if len(token) > 1 and _CJK.match(token):
            # The characters too: jieba cuts 发顺丰 / 顺丰 or 谁付 / 谁 付 differently by
            # context, and the shared characters still let the two phrasings meet.
            out.extend(ch for ch in token if ch not in STOPWORDS and _CJK.match(ch))
    return tuple(out)


def index_text(text: str) -> str:
    """The space-separated form stored in the index."""
    return " ".join(terms(text))


def detect_language(text: str) -> str:
    """"zh" when the text has Chinese characters, else "en": enough to pick an entry set."""
    return "zh" if _CJK.search(text) else "en"
