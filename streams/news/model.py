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
        s = list(self.bias)
        get = self.weights.get
        for f in feats:
            w = get(f)
            if w is not None:
                s = [a + b for a, b in zip(s, w, strict=True)]
        return s

    def probabilities(self, feats: list[str]) -> dict[str, float]:
        s = self.scores(feats)
        top = max(s)
        e = [math.exp(x - top) for x in s]
        total = sum(e)
        return {c: v / total for c, v in zip(self.classes, e, strict=True)}

    def dump(self) -> dict:
        return {"classes": list(self.classes), "bias": self.bias, "weights": self.weights, "meta": self.meta}


GATE = 0.4  # below this probability, a type the kind table does not back is ``other``

# words that make any report a denial or a rumour, whatever move it tells of
DENIED = re.compile(
    r"否认|辟谣|不实|驳斥|误读|误传|澄清|并未|并无|一切正常|传闻|据传|网传|谣言|谣传|传言|假消息|子虚乌有|纯属|^传(?![统输媒感播承奇递])"
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


def decide(probs: dict[str, float], table_kind: str, text: str = "", named: bool = True) -> tuple[str, float]:
    """The type: the model's best, unless it is unsure and the kind table saw no kind
    word, or it is a move or reorg of no one named (no company, no person) that the
    table does not back; a launch is an ``other`` to the model, which the table tells
    apart; a title with a denial word (``DENIED``) is a denial (a summary's is left to the
    model: "Moonshot called the claims baseless" ends a lawsuit's story)."""
    if DENIED.search(NOT_A_DENIAL.sub(" ", text.split("\n", 1)[0])):
        return "denial", max(probs["denial"], 0.9)
    kind = max(probs, key=probs.__getitem__)
    if kind != "other" and probs[kind] < GATE and table_kind in ("other", "launch"):
        kind = "other"
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
