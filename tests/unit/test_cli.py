"""The CLI as a user runs it: backtest output, bad input, bad config."""

import subprocess
import sys

import orjson
import pytest

from appwatch.broker import free_port
from connectors import demo

APPWATCH = [sys.executable, "-m", "appwatch"]


def run(*args, env=None, timeout=60):
    import os

    return subprocess.run([*APPWATCH, *args], capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "seed.jsonl"
    assert run("demo", "--export", str(path)).returncode == 0
    return path


STORY = [  # (rule, day, app or kind) in event-time order
    ("talent-move", "2024-11-08", "hire"),
    ("user-milestone", "2024-11-13", "doubao"),
    ("talent-move", "2024-11-13", "dispute"),
    ("download-spike", "2024-11-14", "doubao"),
    ("rank-number-one", "2024-11-15", "doubao"),
    ("org-change", "2024-11-21", "reorg"),
    ("download-spike", str(demo.LIVE_DAY), "doubao"),
]


def test_backtest_on_the_seed_fires_the_story_and_nothing_else(seed):
    r = run("backtest", "--events", str(seed))
    alerts = [orjson.loads(line) for line in r.stdout.splitlines()]
    got = [(a["rule"], a["event_ts"][:10], a["labels"].get("app_id") or a["labels"]["kind"]) for a in alerts]
    assert got == STORY  # nothing for Kimi, Tongyi, Wenxiaoyan or ChatGPT: the flat controls
    spike = alerts[3]
    assert spike["value"] >= 2 * spike["baseline"]
    # correlation: the spike carries the ByteDance hiring story of the week before
    assert [c["title"] for c in spike["context"]] == ["ByteDance hires core tech lead of Alibaba's Tongyi Qianwen"]
    dispute = alerts[2]
    assert dispute["labels"] == {
        "kind": "dispute",
        "companies": "Alibaba",
        "people": "Zhuo Chang",
        "from_company": "Alibaba",
        "to_company": "",
        "person": "Zhuo Chang",
        "role": "engineer",
        "lang": "zh",
        "confidence": dispute["labels"]["confidence"],
    }
    assert float(dispute["labels"]["confidence"]) >= 0.5
    hire = alerts[0]
    assert (hire["labels"]["from_company"], hire["labels"]["to_company"]) == ("Alibaba", "ByteDance")
    # the malformed lines at the end are reported with their line numbers, and make it fail
    err = r.stderr.decode()
    n = len(seed.read_bytes().splitlines())
    assert f"seed.jsonl:{n - 3}: value: Input should be greater than or equal to 0" in err
    assert f"seed.jsonl:{n - 2}: app_id: Field required" in err
    assert "5 invalid, 7 alerts" in err
    assert r.returncode == 1


def test_backtest_of_the_seed_published_twice_prints_each_alert_once(seed, tmp_path):
    """Redelivery changes nothing: the story twice over is the story, every alert once."""
    once = run("backtest", "--events", str(seed))
    twice_file = tmp_path / "twice.jsonl"
    twice_file.write_bytes(seed.read_bytes() * 2)
    twice = run("backtest", "--events", str(twice_file))
    assert twice.stdout == once.stdout and len(twice.stdout.splitlines()) == len(STORY)
    n_events = len(seed.read_bytes().splitlines()) - 5  # the last five lines are malformed
    assert f"{n_events} events, {n_events} repeated, 10 invalid, 7 alerts" in twice.stderr.decode()


def test_one_days_deltas_published_twice_fire_no_false_spike(tmp_path):
    def ev(day, value, mode="total", hour=0):
        return orjson.dumps(
            dict(
                event_id=f"d{day}:{hour}:{mode}",
                type="app.metric",
                source="t",
                ts=f"2024-11-{day:02d}T{hour:02d}:00:00+08:00",
                app_id="a",
                platform="all",
                country="cn",
                metric="downloads",
                value=value,
                period="day",
                mode=mode,
            )
        )

    history = [ev(d, 10_000) for d in range(1, 8)]
    deltas = [ev(8, 2_500, "delta", h) for h in (6, 12, 18, 23)]  # a normal day: 10,000
    path = tmp_path / "deltas.jsonl"
    path.write_bytes(b"\n".join([*history, *deltas, *deltas]) + b"\n")
    r = run("backtest", "--events", str(path))
    assert r.returncode == 0 and r.stdout == b"", r.stdout  # 20,000 would be 2x the baseline
    assert "11 events, 4 repeated, 0 invalid, 0 alerts" in r.stderr.decode()


def test_backtest_output_is_ordered_by_event_ts_and_clean_input_exits_0(tmp_path):
    def series(app, spike_day):
        for day in range(1, 11):
            yield orjson.dumps(
                dict(
                    event_id=f"{app}{day}",
                    type="app.metric",
                    source="t",
                    ts=f"2024-11-{day:02d}T00:00:00+08:00",
                    app_id=app,
                    platform="all",
                    country="cn",
                    metric="downloads",
                    value=5000 if day == spike_day else 1000,
                    period="day",
                )
            )

    path = tmp_path / "two.jsonl"  # a's spike is detected first but happened later
    path.write_bytes(b"\n".join([*series("a", 10), *series("b", 9)]) + b"\n")
    r = run("backtest", "--events", str(path))
    assert r.returncode == 0, r.stderr
    alerts = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert [a["labels"]["app_id"] for a in alerts] == ["b", "a"]


def test_backtest_with_a_rules_file(tmp_path, seed):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: big-spike\n    kind: spike\n    params: {ratio: 2.5}\n")
    r = run("backtest", "--events", str(seed), "--rules", str(rules))
    alerts = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert [a["window_start"][:10] for a in alerts] == ["2024-11-14"]  # 2.9x passes, 2.1x does not
    assert len(alerts) == 1  # only this rule runs
    assert alerts[0]["rule"] == "big-spike"


def test_a_bad_rules_file_names_file_line_rule_and_field(tmp_path, seed):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: s\n    kind: spike\n    params:\n      ratio: 0.5\n")
    r = run("backtest", "--events", str(seed), "--rules", str(rules))
    assert r.returncode == 2
    assert f"{rules}:5: rules[0](s).params.ratio: Input should be greater than 1" in r.stderr.decode()


def test_a_bad_config_fails_at_start_up_with_a_readable_message():
    r = run("worker", env={"APPWATCH_WEBHOOK_SECRET": "hunter2", "APPWATCH_PARTITIONS": "0"})
    err = r.stderr.decode()
    assert r.returncode == 2
    assert "APPWATCH_WEBHOOK_SECRET" in err and "whsec_" in err
    assert "APPWATCH_PARTITIONS" in err


def test_a_private_webhook_url_is_refused_unless_allowed():
    r = run("worker", env={"APPWATCH_WEBHOOK_URL": "http://169.254.169.254/latest/meta-data/"})
    assert r.returncode == 2
    assert "APPWATCH_WEBHOOK_URL" in r.stderr.decode() and "link-local" in r.stderr.decode()
    r = run("demo", "--webhook-url", "http://127.0.0.1:9/hook", "--duration", "1")
    assert r.returncode == 2 and "loopback" in r.stderr.decode()


def test_help_lists_every_command():
    out = run("--help").stdout.decode()
    for cmd in ("broker", "worker", "demo", "publish", "backtest"):
        assert cmd in out


@pytest.mark.parametrize(
    "command",
    [
        ["import", "events.jsonl"],
        ["connect", "--once", "--config", "c.yaml"],
        ["serve"],
        ["worker"],
        ["publish", "events.jsonl"],
    ],
)
def test_without_a_broker_every_command_but_the_demo_refuses_and_writes_nothing(command, tmp_path):
    """Regression: import, connect and serve used to start a memory-only broker, publish into
    it, exit 0 and record their checkpoints, so a rerun against the real broker published nothing."""
    (tmp_path / "events.jsonl").write_bytes(
        orjson.dumps(
            dict(
                event_id="e1",
                type="app.metric",
                source="t",
                ts="2024-11-14T00:00:00+08:00",
                app_id="a",
                platform="all",
                country="cn",
                metric="downloads",
                value=1,
                period="day",
            )
        )
        + b"\n"
    )
    (tmp_path / "c.yaml").write_text(
        "connectors: [{name: hn, kind: hn_search, params: {base_url: 'http://127.0.0.1:9', queries: [x]}}]\n"
    )  # loopback only
    import os

    env = {k: v for k, v in os.environ.items() if k != "APPWATCH_BROKER"}
    env["APPWATCH_INGEST_TOKEN"] = "tok"
    r = subprocess.run([*APPWATCH, *command], capture_output=True, timeout=60, cwd=tmp_path, env=env)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "APPWATCH_BROKER is not set" in err and "--embedded" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "events.jsonl"]  # no checkpoint, no state


@pytest.mark.parametrize(
    "config,retention,longest",
    [
        (None, "1h", "the default repeat_interval (14400s)"),
        (
            "route: {receiver: r, repeat_interval: 2d}\nreceivers: [{name: r}]\n",
            "1d",
            "the longest repeat_interval of {path} (172800s)",
        ),
        (
            "route: {receiver: r, routes: [{receiver: r, repeat_interval: 12h}]}\nreceivers: [{name: r}]\n",
            "12h",
            "the longest repeat_interval of {path} (43200s)",
        ),
    ],
)
def test_a_dedup_retention_not_longer_than_the_repeat_interval_is_refused_at_start(
    config, retention, longest, tmp_path
):
    """A group forgets what it notified after APPWATCH_DELIVERED_RETENTION: shorter than a
    repeat_interval, a replay after it would notify again. Refused before anything starts."""
    env = {
        "APPWATCH_BROKER": "kafka://127.0.0.1:9",
        "APPWATCH_DELIVERED_RETENTION": retention,
        "APPWATCH_WEB_PORT": str(free_port()),
    }  # not 6066, which something else may hold
    path = tmp_path / "alerts.yaml"
    if config:
        path.write_text(config)
        env["APPWATCH_ALERTS_CONFIG"] = str(path)
    r = run("worker", env=env)
    err = " ".join(r.stderr.decode().split())
    assert r.returncode == 2, err
    assert f"must be longer than {longest.format(path=path)}: a group forgets what it notified after it" in err


@pytest.mark.parametrize(
    "matcher, shown",
    [
        ('app_id=~"(a+)+[bc]"', "(a+)+[bc]"),  # a refused regex, its brackets kept
        ('app_id=~"[a-z"', "bad matcher 'app_id=~\"[a-z\"'"),  # a regex that does not compile
    ],
)
def test_an_error_shows_a_regex_as_written(matcher, shown):
    """Error text goes through rich; brackets in it must not be taken for markup."""
    r = run("silence", "add", "-m", matcher, "--comment", "x", env={"APPWATCH_BROKER": "kafka://127.0.0.1:1"})
    assert r.returncode == 2 and shown in r.stderr.decode(), r.stderr.decode()


def test_check_config_fails_naming_an_unset_variable_the_file_needs(tmp_path):
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(
        "route: {receiver: chat}\nreceivers:\n  - name: chat\n    slack_configs: [{url_env: APPWATCH_TEST_SLACK_URL}]\n"
    )
    r = run("alerts", "check-config", str(cfg), env={"APPWATCH_TEST_SLACK_URL": ""})
    assert r.returncode == 2 and "APPWATCH_TEST_SLACK_URL" in r.stderr.decode(), r.stderr.decode()
    assert b"ok" not in r.stdout
    ok = run(
        "alerts", "check-config", str(cfg), env={"APPWATCH_TEST_SLACK_URL": "https://hooks.slack.com/services/T0/B0/x"}
    )
    assert ok.returncode == 0 and b"ok  receiver chat" in ok.stdout


def test_an_unsigned_webhook_is_warned_about_once_at_start(tmp_path):
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(
        "route: {receiver: hook}\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs: [{url: 'https://receiver.example/in'}]\n"
    )
    r = run("alerts", "check-config", str(cfg))
    assert r.returncode == 0 and r.stderr.decode().count("sent unsigned") == 1, r.stderr.decode()
    assert "hook/webhook/0" in r.stderr.decode()
