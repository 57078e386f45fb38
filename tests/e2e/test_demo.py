"""`appwatch demo` as a new user runs it: embedded broker, alerts on console and webhook, Ctrl-C."""

import os
import signal
import subprocess
import sys

from appwatch.broker import free_port
from connectors import demo as scenario
from tests.conftest import LOGS, wait_until


def test_demo_end_to_end_then_ctrl_c(hooks, tmp_path):
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS / "demo.out"
    env = {**os.environ, "APPWATCH_WEBHOOK_SECRET": hooks.secret, "COLUMNS": "200", "APPWATCH_ALLOW_HOSTS": "localhost"}
    env.pop("APPWATCH_BROKER", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appwatch",
            "demo",
            "--webhook-url",
            hooks.url,
            "--live-seconds",
            "4",
            "--web-port",
            str(free_port()),
        ],
        stdout=open(out, "wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:

        def distinct(reqs):  # a receiver dedups by webhook-id
            return {{k.lower(): v for k, v in h.items()}["webhook-id"] for h, _, _ in reqs}

        hooks.wait(lambda r: len(distinct(r)) >= 7, 90, "the seven alerts of the story")
        alerts = list({msg_id: p["data"] for msg_id, p in hooks.verified()}.values())
        spikes = [a for a in alerts if a["rule"] == "download-spike"]
        assert sorted(a["window_start"][:10] for a in spikes) == ["2024-11-14", str(scenario.LIVE_DAY)]
        assert {a["labels"]["app_id"] for a in spikes} == {"doubao"}
        assert sorted(a["rule"] for a in alerts) == sorted(
            [
                "talent-move",
                "talent-move",
                "user-milestone",
                "download-spike",
                "download-spike",
                "rank-number-one",
                "org-change",
            ]
        )
        wait_until(
            lambda: out.read_text().count("slack #market-desk") >= 4,
            30,
            "the four Doubao alerts at the Slack-shaped receiver",
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = out.read_text()
    assert text.count("ALERT warning download-spike") == 2, text
    assert text.count("ALERT ") == 7
    assert text.count("slack #market-desk") == 4  # the Doubao alerts, routed to the Slack-shaped receiver
    assert "invalid -> DLQ" in text and "│ 5 " in text.split("invalid -> DLQ")[1][:20]
    assert "alerts fired" in text
    assert len({msg_id for msg_id, _ in hooks.verified()}) == 7
