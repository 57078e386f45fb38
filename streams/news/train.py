"""Train the type model: ``python -m streams.news.train [--data FILE] [--out FILE] [--cv K]``.

Reads ``streams/news/data/train.jsonl`` (never the test set), reads each headline with
the stage's own entity and rule parts (so the features are those seen at run time), fits
a multinomial logistic regression with L2 by full-batch Adam in numpy (a training-time
dependency only: the model is plain JSON, scored in pure Python) and writes
``streams/news/model.json``. ``--cv K`` prints, on K held-out folds, what ``make eval``
prints of the test set: accuracy, talent moves and org changes P/R per language, and the
directed moves whose from and to are both right (then each miss); nothing is written.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from streams import enrich
from streams.news import TALENT, TYPES, load_jsonl, roles
from streams.news.features import features
from streams.news.model import Model, decide

HERE = Path(__file__).parent
DATA = HERE / "data" / "train.jsonl"
OUT = HERE / "model.json"
L2, STEPS, RATE, MIN_COUNT = 3e-4, 400, 0.05, 2  # L2 by 5-fold CV (1e-3, 3e-3: lower)


def featurize(items: list[dict]) -> tuple[list[list[str]], list[str]]:
    """The features of each item, and its masked text (as the stage reads them)."""
    stage = enrich.load(model=None)
    stage.model = None
    feats, texts = [], []
    for it in items:
        text = enrich._Text(it["title"], it.get("summary"))
        mentions, known = stage._entities(text)
        people = stage._people(text, known)
        hits, _ = stage.tags(text, mentions, people)
        texts.append(enrich._mask(text.s, mentions, people))
        feats.append(features(texts[-1], hits))
    return feats, texts


def fit(feats: list[list[str]], labels: list[str], l2: float = L2, steps: int = STEPS) -> Model:
    import numpy as np

    counts = Counter(f for fs in feats for f in set(fs))
    vocab = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= MIN_COUNT))}
    classes = list(TYPES)
    rows = [[vocab[f] for f in fs if f in vocab] for fs in feats]
    flat = np.array([i for r in rows for i in r], dtype=np.int64)
    owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    y = np.zeros((len(rows), len(classes)))
    y[np.arange(len(rows)), [classes.index(label) for label in labels]] = 1
    w = np.zeros((len(vocab), len(classes)))
    b = np.zeros(len(classes))
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, steps + 1):
        z = np.zeros((len(rows), len(classes)))
        np.add.at(z, owner, w[flat])
        z += b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        d = (p - y) / len(rows)
        gw = np.zeros_like(w)
        np.add.at(gw, flat, d[owner])
        grads = [gw + l2 * w, d.sum(0)]
        for k, (param, g) in enumerate(zip((w, b), grads, strict=True)):
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            param -= RATE * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
    names = sorted(vocab, key=vocab.get)
    weights = {f: [round(float(x), 4) for x in w[vocab[f]]] for f in names if np.abs(w[vocab[f]]).max() >= 1e-3}
    meta = {"l2": l2, "steps": steps, "min_count": MIN_COUNT, "items": len(rows), "features": len(weights)}
    return Model({"classes": classes, "bias": [round(float(x), 4) for x in b], "weights": weights, "meta": meta})


def cross_validate(items: list[dict], feats: list[list[str]], texts: list[str], k: int, seed: int = 7) -> dict:
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    predicted: dict[int, str] = {}
    for fold in range(k):
        test = set(order[fold::k])
        train = [i for i in order if i not in test]
        model = fit([feats[i] for i in train], [items[i]["type"] for i in train])
        for i in test:
            table = next(f[len("r:table:") :] for f in feats[i] if f.startswith("r:table:"))
            kind = decide(model.probabilities(feats[i]), table, texts[i], "r:nobody" not in feats[i])[0]
            predicted[i] = "other" if kind == "launch" else kind
    return predicted


def report(items: list[dict], predicted: dict[int, str], verbose: bool = True) -> dict:
    """The eval's groups on held-out predictions: talent/org P/R per language, directions."""
    right = sum(predicted[i] == it["type"] for i, it in enumerate(items))
    out = {"accuracy": round(right / len(items), 4)}
    print(f"accuracy {out['accuracy']:.3f} over {len(items)}")
    for lang in ("zh", "en"):
        for name, group in (("talent", TALENT), ("org", {"reorg"})):
            idx = [i for i, it in enumerate(items) if it["lang"] == lang]
            tp = sum(predicted[i] in group and items[i]["type"] in group for i in idx)
            fp = sum(predicted[i] in group and items[i]["type"] not in group for i in idx)
            fn = sum(predicted[i] not in group and items[i]["type"] in group for i in idx)
            out[f"{lang} {name}"] = (round(tp / max(1, tp + fp), 4), round(tp / max(1, tp + fn), 4))
            print(f"  {lang} {name}: P {out[f'{lang} {name}'][0]:.3f} R {out[f'{lang} {name}'][1]:.3f}")
    wrong_dir = _directions(items, predicted)
    print(f"  directions right {wrong_dir[0]}/{wrong_dir[1]}")
    out["directions"] = wrong_dir[:2]
    if verbose:
        for i, it in enumerate(items):
            if predicted[i] != it["type"]:
                print(f"    {it['type']:>9} -> {predicted[i]:<9} {it['title']}")
        for line in wrong_dir[2]:
            print(line)
    return out


def _directions(items: list[dict], predicted: dict[int, str]) -> tuple[int, int, list[str]]:
    """Directed moves (gold talent type, both sides named) whose from and to are right."""
    stage = enrich.load(model=None)
    n, right, lines = 0, 0, []
    for i, it in enumerate(items):
        if it["type"] not in TALENT or not it.get("from_company") or not it.get("to_company"):
            continue
        n += 1
        text = enrich._Text(it["title"], it.get("summary"))
        mentions = stage._entities(text)[0]
        got = roles.move(text.s, predicted[i], mentions, text.title_end)  # as read() with its own kind
        if got == (it["from_company"], it["to_company"]):
            right += 1
        else:
            gold = f"{it['from_company']}->{it['to_company']}"
            lines.append(f"    dir {gold} got {got[0]}->{got[1]} [{predicted[i]}] {it['title']}")
    return right, n, lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m streams.news.train", description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cv", type=int, default=0, help="K-fold cross-validation only; nothing is written")
    args = ap.parse_args(argv)
    items = load_jsonl(args.data)
    feats, texts = featurize(items)
    if args.cv:
        report(items, cross_validate(items, feats, texts, args.cv))
        return
    model = fit(feats, [it["type"] for it in items])
    args.out.write_text(json.dumps(model.dump(), ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8")
    print(f"wrote {args.out}: {model.meta['features']} features from {len(items)} items")


if __name__ == "__main__":
    main()
