"""The type model: a multinomial logistic regression over ``features``, as plain JSON.

``model.json`` (package data, written by ``python -m streams.news.train``) holds the
classes, a bias per class and, per feature name, one weight per class. Scoring is a sum
of the weights of the features present, then a softmax: pure Python, no library.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from pathlib import Path

MODEL_FILE = "model.json"


class Model:
    def __init__(self, data: dict) -> None:
        self.classes: tuple[str, ...] = tuple(data["classes"])
        self.bias: list[float] = list(data["bias"])
        self.weights: dict[str, list[float]] = data["weights"]
        self.meta: dict = data.get("meta", {})

    def scores(self, feats: list[str]) -> list[float]:
        get = self.weights.get
        rows = [w for w in map(get, feats) if w is not None]
        if not rows:
            return list(self.bias)
        return [b + sum(col) for b, col in zip(self.bias, zip(*rows, strict=True), strict=True)]

    def probabilities(self, feats: list[str]) -> dict[str, float]:
        s = self.scores(feats)
        top = max(s)
        e = [math.exp(x - top) for x in s]
        total = sum(e)
        return {c: v / total for c, v in zip(self.classes, e, strict=True)}

    def dump(self) -> dict:
        return {"classes": list(self.classes), "bias": self.bias, "weights": self.weights, "meta": self.meta}


GATE = 0.45  # below this probability, a type the kind table does not back is ``other``
TIE = 0.05  # ... and one within this of the table's kind gives way to it (by 5-fold CV)

# words that make any report a denial or a rumour, whatever move it tells of
DENIED = re.compile(
    r"否认|辟谣|不实|驳斥|误读|误传|澄清|并未|并无|一切正常|传闻|据传|网传|谣言|谣传|传言|假消息|子虚乌有|纯属|^传(?![统输媒感播承奇递])"
    r"|说法不准确|不准确|不属实|没有依据|毫无依据|没有这回事|(?<![a-z])no such plan"
    r"|(?<![a-z])(?:den(?:y|ies|ied|ying)|rumou?r(?:s|ed)?|false|fake|untrue|not true|refut(?:es|ed)|"
    r"rebut(?:s|ted)?|unfounded|baseless|groundless|inaccurate|misleading|"
    r"dismiss(?:es|ed)? (?:the )?(?:reports?|rumou?rs?|speculation)|"
    r"(?:has|have|did|had) not (?:left|quit|poach(?:ed)?|joined|been)|"
    r"(?:hasn't|didn't) (?:left|quit|poach|join))(?![a-z])",
    re.I,
)


# "denied" of a court's or an official's answer, not of a report
NOT_A_DENIAL = re.compile(
    r"(?:injunction|request|bid|appeal|motion|petition|application|claim|bail|visa|access)s? (?:is |was |were )?denied"
    r"|denied (?:an? |the )?(?:injunction|request|bid|appeal|motion|petition|application|bail|visa|access)"
    r"|den(?:y|ies|ied|ying) (?:any )?wrongdoing",
    re.I,
)


# a denial inside a lawsuit's story is the dispute's ("StepFun calls lawsuit 'baseless'", 被告否认全部指控)
LAWSUIT = re.compile(
    r"诉讼|起诉|被诉|诉前|诉至|状告|仲裁|应诉|官司|法院|(?<![a-z])(?:lawsuits?|su(?:es|ed|ing)|suit|court|arbitration|"
    r"injunction|litigation)(?![a-z])",
    re.I,
)

# a dispute is told with at least one of these words ("engineers who joined X" alone is a hire)
LEGAL = re.compile(
    r"竞业|竞争|仲裁|诉|索赔|索偿|律师|禁令|禁制令|判|法院|法庭|赔|违约|秘密|机密|和解|被告|原告|追责|发函|致函|去函|纠纷|官司|"
    r"侵权|入禀|提告|指控|控告|被控|追讨|追回|回购|法律|维权|对簿|公堂|合同|协议|条款|保密|挖角|争议|交涉|案|责令|补偿|口水战|交锋|开撕|互撕|"
    r"撕破脸|指责|抗议|叫板"
    r"|(?<![a-z])(?:non-?competes?|non-?solicits?|no-poach|arbitrat\w*|tribunal|lawsuits?|su(?:e|es|ed|ing)|suits?|"
    r"countersu\w*|courts?|judges?|ruling|rules|ruled|injunctions?|restrain\w*|settle\w*|claims?|complain\w*|"
    r"cease-and-desist|garden leave|claw\w*|trade[- ]secrets?|secrets|damages|breach\w*|legal|litigat\w*|plaintiffs?|"
    r"defendants?|alleg\w*|accus\w*|poach\w*|raid\w*|disputes?|fight\w*|row|feud|case|order(?:ed|s)?|barred|bars?|"
    r"blocks?|blocked|compensation|pay|pays|owes?|contract\w*|lawyers?|filing|filed|files|papers|enjoin\w*|probe|"
    r"confidential\w*|wrongdoing|infring\w*|misappropriat\w*|stolen|stole|took|demands?|seeks?|wins? [\d.,]+|"
    r"appeal\w*|spat|foul|objects?|objected|protests?|tussle|clash\w*|battle\w*|wrangl\w*|standoff|war of words)"
    r"(?![a-z])",
    re.I,
)

MONEY = re.compile(
    r"融资|增资|估值|领投|跟投|注资|募资|募集|上市|递表|基金|联合实验室|合资|战略投资|入股|持股"
    r"|(?<![a-z])(?:funds?|fundraising|raises?|raised|raising|rounds?|valuation|valued|ipo|listing|stake|invests?|"
    r"investment|joint lab|joint venture|backs|backed|backing|capital)(?![a-z])",
    re.I,
)
REORG_WORD = re.compile(r"重组|架构调整|组织调整|(?<![a-z])(?:restructur|reorganiz|reorganis)", re.I)
DENIES_SUING = re.compile(
    r"否认.{0,6}(?:起诉|诉讼)|(?<![a-z])den(?:y|ies|ied) (?:suing|it (?:will )?sue|plans to sue)", re.I
)


def _merge(probs: dict[str, float], source: str, into: str) -> dict[str, float]:
    """``source``'s probability counted for ``into``."""
    return {**probs, into: probs[into] + probs[source], source: 0.0}


def decide(probs: dict[str, float], table_kind: str, text: str = "", named: bool = True) -> tuple[str, float]:
    """The type: the model's best, unless it is unsure and the kind table saw no kind
    word, or it is unsure and within ``TIE`` of the table's kind (the table's), or it is
    a move or reorg of no one named (no company, no person) that the table does not back;
    a launch is an ``other`` to the model, which the table tells apart; a title with a
    denial word (``DENIED``) is a denial, unless it tells of a lawsuit (``LAWSUIT``), which
    is a dispute whoever denies what in it, but for a denial of suing (``DENIES_SUING``);
    a summary's denial word is left to the model."""
    title = text.split("\n", 1)[0]
    lawsuit = LAWSUIT.search(title) is not None and not DENIES_SUING.search(title)
    if DENIED.search(NOT_A_DENIAL.sub(" ", title)) and not lawsuit:
        return "denial", max(probs["denial"], 0.9)
    if lawsuit:  # a party denying a lawsuit's claims: the dispute's story
        probs = _merge(probs, "denial", "dispute")
    if MONEY.search(title) and not REORG_WORD.search(title):  # a unit raising money, a fund, a joint lab
        probs = _merge(probs, "reorg", "funding")
    picked = _pick(probs, table_kind, named)
    # no legal word: a dispute's probability goes to the likelier of a hire and a departure
    # (the words are looked for only when that changes the answer)
    merged = _pick(_merge(probs, "dispute", max(("hire", "departure"), key=probs.__getitem__)), table_kind, named)
    if merged != picked and not LEGAL.search(text):
        return merged
    return picked


def _pick(probs: dict[str, float], table_kind: str, named: bool) -> tuple[str, float]:
    kind = max(probs, key=probs.__getitem__)
    if kind != "other" and probs[kind] < GATE and table_kind in ("other", "launch"):
        kind = "other"
    elif probs[kind] < GATE and probs.get(table_kind, 0.0) >= probs[kind] - TIE:
        kind = table_kind  # a near tie: the table's kind
    if not named and kind in ("hire", "departure", "reorg") and table_kind != kind:
        kind = "other"
    if kind == "other" and table_kind == "launch":
        return "launch", probs[kind]
    return kind, probs[kind]


def load(path: str | Path | None = None) -> Model | None:
    """The shipped model (None when it has not been trained yet), or the one at ``path``."""
    if path is not None:
        return Model(json.loads(Path(path).read_text("utf-8")))
    res = resources.files(__package__).joinpath(MODEL_FILE)
    return Model(json.loads(res.read_text("utf-8"))) if res.is_file() else None
