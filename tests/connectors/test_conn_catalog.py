"""The shipped app catalog: lookups by store id and name, and slugs for unknown apps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import catalog
from connectors.catalog import slug_for
from core.yamlfile import ConfigError

APP_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def test_shipped_catalog():
    cat = catalog.shipped()
    assert set(cat.apps) == {"doubao", "kimi", "tongyi", "wenxiaoyan", "yuanbao", "chatgpt"}
    assert {a: app.company for a, app in cat.apps.items()} == {
        "doubao": "ByteDance",
        "kimi": "Moonshot AI",
        "tongyi": "Alibaba",
        "wenxiaoyan": "Baidu",
        "yuanbao": "Tencent",
        "chatgpt": "OpenAI",
    }
    assert cat.get("yuanbao").names["zh"] == "腾讯元宝"
    assert catalog.load() is cat


@pytest.mark.parametrize(
    "kwargs, app_id",
    [
        ({"ios": 6459478672}, "doubao"),
        ({"ios": "6474233312", "name": "anything"}, "kimi"),
        ({"android": "com.aliyun.tongyi"}, "tongyi"),
        ({"android": "com.Baidu.NewApp"}, "wenxiaoyan"),
        ({"name": "腾讯元宝"}, "yuanbao"),
        ({"name": "豆包 - 字节跳动旗下 AI 智能助手"}, "doubao"),
        ({"name": "ＣｈａｔＧＰＴ"}, "chatgpt"),  # full-width
        ({"name": "Kimi"}, "kimi"),
        ({"name": "文小言：百度 AI 助手"}, "wenxiaoyan"),
    ],
)
def test_lookup(kwargs, app_id):
    assert catalog.shipped().app_id(**kwargs) == app_id


@pytest.mark.parametrize(
    "kwargs, slug",
    [
        ({"name": "WPS Office", "ios": 599852710}, "wps-office"),
        ({"name": "Threads, an Instagram app"}, "threads-an-instagram-app"),
        ({"name": "Café Sàlut!"}, "cafe-salut"),
        ({"name": "抖音", "ios": 1142110895}, "ios-1142110895"),
        ({"name": "拼多多", "android": "com.xunmeng.Pinduoduo"}, "android-com.xunmeng.pinduoduo"),
        ({"name": "小红书 2024", "ios": "741292507"}, "ios-741292507"),  # digits are not letters
        ({"name": "Soul-星球 App"}, "soul-app"),
    ],
)
def test_unknown_apps_get_stable_slugs(kwargs, slug):
    assert catalog.shipped().app_id(**kwargs) == slug
    assert APP_ID.match(slug)


def test_long_names_stay_valid_and_distinct():
    a, b = slug_for("x" * 80 + " one"), slug_for("x" * 80 + " two")
    assert a != b and APP_ID.match(a) and APP_ID.match(b) and len(a) <= 64


def test_no_letters_and_no_store_id_is_an_error():
    with pytest.raises(ValueError, match="no ASCII letters"):
        slug_for("豆包")


@given(st.text(max_size=120), st.integers(min_value=1, max_value=10**12))
def test_any_name_gives_a_valid_app_id(name, store_id):
    assert APP_ID.match(catalog.shipped().app_id(name=name, ios=store_id))


def test_a_catalog_file_with_errors_names_the_line(tmp_path):
    f = tmp_path / "catalog.yaml"
    f.write_text(
        "apps:\n  Bad_Id:\n    company: X\n    names: {en: X}\n"
        "  ok:\n    company: Y\n    names: {en: Y}\n    stores: {ios: abc}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        catalog.load(f)
    msg = str(err.value)
    assert f"{f}:3: apps.Bad_Id.[key]: String should match pattern" in msg  # the entry's body
    assert f"{f}:8: apps.ok.stores: Value error, ios store id must be numeric" in msg
