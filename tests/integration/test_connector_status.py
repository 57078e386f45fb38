"""`appwatch connect --once` against a fake App Store chart feed on 127.0.0.1; a running
worker then answers GET /api/v1/connectors with that instance's status from the topic."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest

from tests.conftest import terminate, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

READ = "r-" + "9a8b7c6d5e4f3a2b1c0d"
APPS = [
    ("6459478672", "豆包 - 字节跳动旗下 AI 智能助手", "Beijing Chuntian Zhiyun Technology Co., Ltd."),
    ("6480446430", "腾讯元宝", "Tencent Technology (Shenzhen) Company Limited"),
    ("6474233312", "Kimi智能助手", "Beijing Moonshot AI Technology Co., Ltd."),
]


def feed() -> dict:
    """rss.applemarketingtools.com's cn top-free chart, three apps."""
    url = "https://rss.applemarketingtools.com/api/v2/cn/apps/top-free/3/apps.json"
    return {
        "feed": {
            "title": "热门免费 App",
            "id": url,
            "author": {"name": "Apple", "url": "https://www.apple.com/"},
            "links": [{"self": url}],
            "copyright": "Copyright © 2024 Apple Inc. 保留所有权利。",
            "country": "cn",
            "icon": "https://www.apple.com/favicon.ico",
            "updated": "Tue, 26 Nov 2024 04:33:35 +0000",
            "results": [
                {
                    "artistName": artist,
                    "id": app_id,
                    "name": name,
                    "releaseDate": "2023-08-07",
                    "kind": "apps",
                    "artworkUrl100": f"https://is1-ssl.mzstatic.com/image/thumb/Purple/{app_id}/100x100bb.png",
                    "genres": [{"genreId": "6007", "name": "效率", "url": "https://itunes.apple.com/genre/id6007"}],
                    "url": f"https://apps.apple.com/cn/app/id{app_id}",
                }
                for app_id, name, artist in APPS
            ],
        }
    }


def test_a_worker_lists_the_status_a_connector_wrote(broker, topics, start_worker, local_server, tmp_path):
    local_server.expect_request("/api/v2/cn/apps/top-free/3/apps.json").respond_with_json(feed())
    cfg = tmp_path / "connectors.yaml"
    cfg.write_text(f"""
connectors:
  - name: apple-cn
    kind: apple_charts
    params: {{base_url: "{local_server.url_for("/api/v2")}", countries: [cn], charts: [top-free], limit: 3}}
""")
    w = start_worker(topics, APPWATCH_API_READ_TOKENS=READ)
    url = f"{w.url}/api/v1/connectors"
    assert httpx.get(url, timeout=5).status_code == 401

    env = {
        **os.environ,
        "APPWATCH_BROKER": f"kafka://{broker}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    argv = [sys.executable, "-m", "appwatch", "connect", "--once", "--config", str(cfg)]
    proc = subprocess.Popen(
        [*argv, "--state-dir", str(tmp_path / "state")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        terminate(proc)
    assert proc.returncode == 0, out.decode() + err.decode()

    def listed():
        answer = httpx.get(url, headers={"Authorization": f"Bearer {READ}"}, timeout=5)
        assert answer.status_code == 200, answer.text
        return [s for s in answer.json() if s["name"] == "apple-cn"]

    [status] = wait_until(listed, 30, "the worker lists apple-cn")
    assert (status["outcome"], status["health"], status["kind"]) == ("ok", "ok", "apple_charts"), status
    assert status["published"] == 3 and status["last_error"] is None and status["next_run"] is None
    assert status["last_ok"] == status["last_fetch"] > 0
    assert (status["host"], status["pid"]) == (socket.gethostname(), proc.pid)
