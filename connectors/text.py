"""Text helpers for news sources: HTML -> plain text, and a zh/en language guess."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# tags whose end (or start, for void tags) separates words
_BREAKS = {
    "br",
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "img",
    "figure",
    "figcaption",
    "section",
    "article",
    "header",
    "footer",
    "table",
    "dd",
    "dt",
}
_SKIP = {"script", "style", "noscript", "template"}  # their text is not prose


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities unescaped by the stdlib
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_startendtag(self, tag, attrs):
        if tag in _BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str | None) -> str:
    """Visible text of an HTML fragment: tags dropped, entities unescaped, spaces collapsed."""
    if not html:
        return ""
    p = _Text()
    p.feed(html)
    p.close()
    return squash("".join(p.parts))


def squash(text: str | None) -> str:
    """Whitespace (newlines, NBSP, ideographic space) collapsed to single spaces, trimmed."""
    return " ".join((text or "").split())


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def _han(ch: str) -> bool:
    """A CJK ideograph (the unified blocks, their extensions, compatibility ideographs)."""
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def detect_lang(text: str) -> str | None:
    """``zh`` or ``en`` (None when there are neither Han characters nor Latin words).

    One Han character carries about half an English word, and Chinese headlines are
    full of Latin names (Kimi, GPT-4o), so the text is ``zh`` when it has at least
    half as many Han characters as Latin words. Deterministic; no model.
    """
    han = sum(1 for ch in text if _han(ch))
    words = len(_LATIN_WORD.findall(text))
    if han and 2 * han >= words:
        return "zh"
    if words:
        return "en"
    return None
