"""News understanding: what a headline is about, and who moved from where to where.

The stage is ``streams.enrich`` (entities, people, language, the kind table) with the
parts of this package: ``text`` (traditional to simplified, pinyin names), ``homonyms``
(context that un-names a company), ``features`` and ``model`` (a linear model over
character and word n-grams, trained by ``python -m streams.news.train`` into
``model.json``) and ``roles`` (from_company, to_company).

Types: hire, departure, dispute, reorg, funding, denial, other (and launch, an ``other``
the kind table tells apart). Talent moves are hire, departure and dispute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TYPES = ("hire", "departure", "dispute", "reorg", "funding", "denial", "other")
TALENT = frozenset({"hire", "departure", "dispute"})


@dataclass(frozen=True, slots=True)
class Reading:
    kind: str
    companies: list[str]
    people: list[str]
    lang: str
    from_company: str | None
    to_company: str | None
    person: str | None
    role: str | None
    confidence: float | None


def load_jsonl(path: str | Path) -> list[dict]:
    """The items of a news data file (``#`` lines are comments); a bad line is named."""
    out = []
    for n, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: {exc}") from None
    return out
