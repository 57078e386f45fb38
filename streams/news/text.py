"""Text helpers of the news stage: traditional to simplified Chinese, Han names in pinyin.

``simplify`` runs OpenCC's ``tw2sp`` (Taiwan phrases too: 位元組 becomes 字节, 軟體
软件) on text that holds a Han character; other text is returned as it is.
``pinyin_name`` spells a Chinese name in Western order ("周畅" -> "Zhou Chang"), from
pypinyin's single-character table, read once on first use without importing pypinyin
(whose phrase tables cost ~60 MB); surnames with a special reading (曾 Zeng, 单 Shan)
come from a short table.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from functools import cache
from pathlib import Path

import opencc

_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
_CONVERTER = opencc.OpenCC("tw2sp")

# surnames whose reading as a surname is not the character's first reading
SURNAME_READINGS = {
    "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha", "朴": "piao",
    "覃": "qin", "翟": "zhai", "盖": "ge", "乐": "yue", "尉": "yu", "召": "shao", "缪": "miao",
    "种": "chong", "繁": "po", "宁": "ning", "柏": "bai", "藏": "zang", "长": "chang", "重": "chong",
    "员": "yun", "沈": "shen", "石": "shi", "万": "wan", "秘": "bi", "华": "hua", "任": "ren",
}  # fmt: skip


def simplify(text: str) -> str:
    """Simplified Chinese (with mainland phrases) for text with Han characters; else ``text``."""
    return _CONVERTER.convert(text) if _HAN.search(text) else text


def _plain(reading: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c))


@cache
def _readings() -> dict[str, str]:
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or spec.origin is None:
        return {}
    raw = json.loads((Path(spec.origin).parent / "pinyin_dict.json").read_text("utf-8"))
    return {chr(int(k)): _plain(v.split(",")[0]) for k, v in raw.items() if 0x3400 <= int(k) <= 0x9FFF}


def pinyin_name(name: str) -> str:
    """ "Zhou Chang" for 周畅, "Ouyang Xiu" for 欧阳修; ``name`` itself if a character has no reading."""
    table = _readings()
    compound = name[:2] in COMPOUND_SURNAMES and len(name) > 2
    surname, given = (name[:2], name[2:]) if compound else (name[:1], name[1:])
    parts = [SURNAME_READINGS.get(c) if i == 0 and not compound else None for i, c in enumerate(surname)]
    parts = [p or table.get(c) for p, c in zip(parts, surname, strict=True)]
    rest = [table.get(c) for c in given]
    if not all(parts) or not all(rest):
        return name
    return f"{''.join(parts).capitalize()} {''.join(rest).capitalize()}".strip()


COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 令狐 慕容 尉迟 公孙 夏侯 端木 独孤 南宫 西门 长孙 宇文".split()
)
