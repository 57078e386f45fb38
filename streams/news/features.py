"""Features of a headline for the type model: token n-grams plus the rules' hits.

The text the features see has its company mentions replaced by ``Ⓒ`` and its people by
``Ⓟ`` (so "ByteDance hires" and "字节跳动挖走" teach about every company), digits by ``0``
and is lower-cased. Tokens are single Han characters and Latin words, so n-grams of
tokens are character n-grams in Chinese and word n-grams in English; an English word
also gives its first five letters (a cheap stem: "poached", "poaching" -> "poach").
"""

from __future__ import annotations

import re

COMPANY, PERSON = "Ⓒ", "Ⓟ"
_TOKEN = re.compile(r"[\u3400-\u9fff]|[a-z][a-z'\-]*|0+|[ⒸⓅ]|[^\sa-z0-9\u3400-\u9fff]")
_DIGITS = re.compile(r"\d+")
MAX_N = 3


def tokens(masked: str) -> list[str]:
    return _TOKEN.findall(_DIGITS.sub("0", masked.lower()))


def features(masked: str, hits: list[str]) -> list[str]:
    """Feature names for ``masked`` text and the rules' ``hits`` (tags like ``rule:hire``)."""
    toks = ["^", *tokens(masked), "$"]
    out = [f"r:{h}" for h in hits]
    for n in range(1, MAX_N + 1):
        for i in range(len(toks) - n + 1):
            out.append(" ".join(toks[i : i + n]))
    out.extend(f"s:{t[:5]}" for t in toks if len(t) > 5 and t[0].isascii() and t[0].isalpha())
    return out
