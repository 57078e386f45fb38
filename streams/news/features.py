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
# a legal matter that is over, beside a hire ("joins ByteDance after his non-compete expires", 竞业期满)
LEGAL_PAST = re.compile(
    r"(?<![a-z])non-?(?:compete|solicit)s?(?: [a-z]+){0,3} (?:expire[sd]?|ran out|lapse[sd]?|ended|is over|was voided|"
    r"buyout|behind (?:him|her|them))(?![a-z])"
    r"|(?<![a-z])(?:arbitration|case|claim|complaint|dispute|fight|suit|lawsuit)s? (?:was |were |had been )"
    r"(?:settled|resolved|dropped|waived|dismissed)|(?<![a-z])had stalled"
    r"|(?<![a-z])(?:after|once|since|who|whom|which)(?: [a-z-]+){0,6} (?:won|beat|settled|freed|waive[sd]?|"
    r"bought out)(?![a-z])|(?<![a-z])(?:ending|waiv(?:es|ed|ing)|buy(?:s|ing)? out)(?: [a-z0-9-]+){0,3} non-?compete"
    r"|竞业(?:期|协议|限制)?[^，。,]{0,6}?(?:期满|到期|结束|届满|已过|豁免)|豁免[^，。,]{0,4}竞业|放弃追究|赎身"
    r"|(?:和解|撤诉|了结|落幕|告终|胜诉|赢下)(?:后|之后)|(?:已|以)(?:和解|撤诉|了结|落幕|告终)|刚赢下|赔付[^，。,]{0,6}后",
    re.I,
)
# a legal action that is the news ("hit with a claim", "blocked by an order", 遭…索赔)
LEGAL_EVENT = re.compile(
    r"(?<![a-z])(?:hit with|blocked by|barred from|ordered to|must (?:pay|return|hand)|faces?|facing|draws?|drew|"
    r"sparks?|sparked|prompts?|triggers?|caught up in|dragged into|embroiled in|sends?|sent|files?|filed|appeals?|"
    r"wins?|won|seeks?|demands?|puts?|keeps?|trails?|countersues?|sues?|sued)(?: [a-z0-9$.,-]+){0,4}? "
    r"(?:non-?compete|non-?solicit|arbitration|claims?|complaints?|(?:law)?suits?|injunctions?|orders?|ruling|"
    r"garden leave|cease-and-desist|filing|damages|disputes?|case|clawback|countersuit|breach|trade-secrets?|papers|"
    r"threats?|challenges?|legal action|legal letters?)"
    r"(?![a-z])|(?<![a-z])(?:alleg(?:es|ed|ing)|accus(?:es|ed|ing)|cries|lawyers|in breach|breach(?:es|ed)|under fire|"
    r"invok(?:es|ed)|vs\.?|v\.)(?![a-z])|遭[^，。,]{0,8}?(?:索赔|起诉|申请|提告|指控|控)|被[^，。,]{0,8}?(?:起诉|索赔|申请|告|追责|追回)"
    r"|(?:申请|提起|发起)[^，。,]{0,4}?(?:仲裁|禁令|诉讼)|律师函|发难|一案|开庭|判令|判赔|裁决|入禀|致函|追责|陷[^，。,]{0,4}纠纷",
    re.I,
)

# words one of which each pattern needs: a cheap test that spares most items the regex
LEGAL_TAGS = (
    (
        "past",
        ("compet", "solicit", "settled", "resolved", "dropped", "waive", "voided", "dismissed", "stalled", "won",
         "beat", "freed", "bought out", "竞业", "豁免", "放弃追究", "赎身", "和解", "撤诉", "了结", "落幕", "告终",
         "胜诉", "赢下", "赔付"),
        LEGAL_PAST,
    ),
    (
        "event",
        ("compet", "solicit", "arbitration", "claim", "complaint", "suit", "injunction", "order", "ruling",
         "garden leave", "cease-and-desist", "filing", "damages", "dispute", "case", "clawback", "breach",
         "trade-secret", "papers", "threat", "challenge", "legal action", "legal letter", "alleg", "accus", "cries",
         "lawyers", "under fire", "invok", "vs", "v.", "遭", "被", "申请", "提起", "发起", "律师函",
         "发难", "一案", "开庭", "判令", "判赔", "裁决", "入禀", "致函", "追责", "陷"),
        LEGAL_EVENT,
    ),
)  # fmt: skip


def tokens(low: str) -> list[str]:
    """The tokens of lower-cased masked text."""
    return _TOKEN.findall(_DIGITS.sub("0", low))


def features(masked: str, hits: list[str]) -> list[str]:
    """Feature names for ``masked`` text and the rules' ``hits`` (tags like ``rule:hire``)."""
    low = masked.lower()
    toks = ["^", *tokens(low), "$"]
    out = [f"r:{h}" for h in hits]
    out += [f"r:legal:{t}" for t, words, rx in LEGAL_TAGS if any(w in low for w in words) and rx.search(low)]
    for n in range(1, MAX_N + 1):
        for i in range(len(toks) - n + 1):
            out.append(" ".join(toks[i : i + n]))
    out.extend(f"s:{t[:5]}" for t in toks if len(t) > 5 and t[0].isascii() and t[0].isalpha())
    return out
