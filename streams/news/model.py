"""The type model: a multinomial logistic regression over ``features``, as plain JSON.

``model.json`` (package data, written by ``python -m streams.news.train``) holds the
classes, a bias per class and, per feature name, one weight per class. Scoring is a sum
of the weights of the features present, then a softmax: pure Python, no library.
"""

from __future__ import annotations

import json
import math
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


def decide(probs: dict[str, float], table_kind: str) -> tuple[str, float]:
    """The type: the model's best, unless it is unsure and the kind table saw no kind
    word; a launch is an ``other`` to the model, which the table tells apart."""
    kind = max(probs, key=probs.__getitem__)
    if kind != "other" and probs[kind] < GATE and table_kind in ("other", "launch"):
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
