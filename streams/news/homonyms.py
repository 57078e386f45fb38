"""Homonyms resolved by context: a name shared with a racing driver, a food, an ingot...

A company is dropped from an item when every mention of it is one of its ambiguous
names below and the text has one of the context words of that name's other meaning
("Kimi takes pole at Monza": Kimi the driver, not Moonshot AI's app). A mention of the
company by another name ("Moonshot AI's Kimi") keeps it.
"""

from __future__ import annotations

import re

_EN = r"(?<![a-z])(?:{})(?![a-z])"


def _ctx(zh: str, en: str) -> re.Pattern:
    return re.compile("|".join([*zh.split(), _EN.format("|".join(en.split("|")))]), re.I)


# company (a trailing space: another entry of it) -> (ambiguous names, lower-cased; the other meaning's context)
AMBIGUOUS: dict[str, tuple[frozenset[str], re.Pattern]] = {
    "Moonshot AI": (
        frozenset({"kimi"}),
        _ctx(
            "车手 赛车 大奖赛 杆位 领奖台 梅赛德斯 法拉利 排位赛 方程式 莱科宁 安东内利 赛道 夺冠 车队 圈速 F1",
            "f1|formula (?:1|one)|grand prix|gp|pole|podium|laps?|races?|raced|racing|driver|mercedes|ferrari|"
            "alfa romeo|lotus|sauber|monza|silverstone|monaco|raikkonen|räikkönen|antonelli|qualifying|"
            "championship|iceman|paddock|circuit|overtakes?|sprint|team principal|f2|karting",
        ),
    ),
    "ByteDance": (
        frozenset({"豆包", "doubao"}),
        _ctx(
            "包子 早餐 早点 面点 蒸 馅 红豆 豆沙 好吃 美食 做法 食谱 小吃 点心 甜品 "
            "猫 狗 宠物 小名 昵称 网名 外号 绰号 萌宠 铲屎",
            "nickname|nicknamed|cat|dog|puppy|kitten|pet|bun|buns|recipe|steamed|bakery|snack|dumplings?|"
            "pastry|breakfast|panda|dubbed",
        ),
    ),
    "Tencent": (
        frozenset({"元宝", "yuanbao"}),
        _ctx(
            "春节 年夜饭 饺子 财神 招财 纸钱 祭祖 黄金 金条 古代 铜钱 银两 压岁 "
            "吉祥 造型 寓意 金店 首饰 文物 出土 考古 摆件",
            "ingots?|gold|lunar new year|dumplings?|jewel(?:le)?ry|antique|archaeolog\\w*|coins?",
        ),
    ),
    "Alibaba": (
        frozenset({"夸克", "quark"}),
        _ctx(
            "粒子 物理学 物理学家 胶子 强子 质子 中子 对撞机",
            "particles?|physics|physicists?|cern|collider|gluons?|hadrons?|protons?|neutrons?|lhc",
        ),
    ),
    "Alibaba ": (frozenset({"阿里"}), _ctx("拳王 拳击 新疆 西藏 高原 阿里地区", "boxing|boxer|muhammad")),
    "Apple": (
        frozenset({"苹果", "apple"}),
        _ctx(
            "水果 果园 果农 富士 种植 丰收 斤 亩 苹果汁 苹果派 吃苹果 红富士", "fruit|orchards?|pie|cider|harvest|juice"
        ),
    ),
    "Anthropic": (
        frozenset({"claude"}),
        _ctx("莫奈 画家 油画", "monet|painter|painting|debussy|van damme|shannon|lelouch|chabrol|rains|composer|actor"),
    ),
    "Xiaomi": (frozenset({"小米"}), _ctx("粥 谷子 杂粮 种植 亩 丰收 农户 小米加步枪", "millet|porridge")),
}


def drop(s: str, mentions: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``mentions`` without the companies whose every mention is a homonym here."""
    gone = set()
    for company in {c for _, _, c in mentions}:
        entries = [e for k, e in AMBIGUOUS.items() if k.strip() == company]
        homonym = {n for names, context in entries if context.search(s) for n in names}
        if homonym and all(s[a:b].lower() in homonym for a, b, c in mentions if c == company):
            gone.add(company)
    return [m for m in mentions if m[2] not in gone] if gone else mentions
