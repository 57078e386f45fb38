"""Alertmanager's v2 API on the worker (appwatch/worker/amapi.py), without a web server:
its shapes, filters, scopes and status codes."""

from __future__ import annotations

import asyncio

import pytest

from alerts.config import AlertsConfig
from alerts.silence import Silence
from appwatch.worker.amapi import AmApi, from_am_matcher, gettable_silence, matchers_of, postable_silence
from appwatch.worker.silences import Silences
from core import yamlfile
from core.auth import Tokens
from core.matchers import Matcher
from tests.unit.test_worker_parts import Sent

NOW = 1_731_600_000.0  # 2024-11-14T16:00:00Z
WRITE, READ = "write-token-0123456789abcdef", "read-token-0123456789abcdef"
CONFIG = """
route:
  receiver: all
  group_by: [app_id]
  routes:
    - {matchers: ['app_id="doubao"'], receiver: desk}
receivers: [{name: all}, {name: desk}]
inhibit_rules:
  - {source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: [app_id]}
"""


def entry(app: str, severity: str = "warning", until: float | None = None) -> dict:
    labels = {"app_id": app, "alertname": "download-spike", "severity": severity, "alert_id": f"{app}-{severity}"}
    return {"labels": labels, "until": until, "summary": f"{app} spiked", "startsAt": "2024-11-14T08:00:00+08:00"}


def api(*silences: Silence, firing: dict | None = None) -> tuple[AmApi, Sent]:
    store, sent = Silences(clock=lambda: NOW), Sent()
    store.send, sent.store = sent, store
    for s in silences:
        store.apply(s.id.encode(), s.to_json(), 0)
    config = yamlfile.parse(CONFIG, AlertsConfig)
    return AmApi(Tokens(write=(WRITE,), read=(READ,)), store, firing or {}, config, NOW - 60, lambda: NOW), sent


def silence(**over) -> Silence:
    return Silence(
        **{
            "id": "6a0e1c9e-0000-4000-8000-000000000001",
            "matchers": ['app_id="kimi"'],
            "starts_at": NOW - 60,
            "ends_at": NOW + 3600,
            "created_by": "ops",
            "comment": "launch",
            **over,
        }
    )


def body(payload):
    async def read():
        return payload

    return read


@pytest.mark.parametrize(
    "am,text",
    [
        ({"name": "a", "value": "b", "isRegex": False}, 'a="b"'),
        ({"name": "a", "value": "b", "isRegex": False, "isEqual": False}, 'a!="b"'),
        ({"name": "a", "value": "b.*", "isRegex": True}, 'a=~"b.*"'),
        ({"name": "a", "value": "b.*", "isRegex": True, "isEqual": False}, 'a!~"b.*"'),
    ],
)
def test_matchers_convert_both_ways(am, text):
    m = from_am_matcher(am)
    assert m == Matcher.parse(text)
    assert gettable_silence(silence(matchers=[text]), NOW)["matchers"] == [{**am, "isEqual": am.get("isEqual", True)}]


def test_a_gettable_silence_has_alertmanagers_fields_and_state():
    s = gettable_silence(silence(), NOW)
    assert set(s) == {"id", "status", "updatedAt", "matchers", "startsAt", "endsAt", "createdBy", "comment"}
    assert s["status"] == {"state": "active"} and s["endsAt"] == "2024-11-14T17:00:00.000Z"
    assert gettable_silence(silence(starts_at=NOW + 10), NOW)["status"]["state"] == "pending"
    assert gettable_silence(silence(ends_at=NOW), NOW)["status"]["state"] == "expired"


def test_a_postable_silence_is_checked_naming_the_field():
    ok = postable_silence(
        {
            "matchers": [{"name": "app_id", "value": "kimi", "isRegex": False}],
            "startsAt": "2024-11-14T16:00:00Z",
            "endsAt": "2024-11-14T18:00:00Z",
            "createdBy": "ops",
            "comment": "c",
        },
        NOW,
    )
    assert (ok.starts_at, ok.ends_at - ok.starts_at) == (NOW, 7200)
    with pytest.raises(ValueError, match="missing: comment"):
        postable_silence({"matchers": [], "endsAt": "2024-11-14T18:00:00Z", "createdBy": "ops"}, NOW)
    backwards = {
        "matchers": [{"name": "a", "value": "b", "isRegex": False}],
        "startsAt": "2024-11-14T18:00:00Z",
        "endsAt": "2024-11-14T17:00:00Z",
        "createdBy": "o",
        "comment": "c",
    }
    with pytest.raises(ValueError, match="endsAt"):
        postable_silence(backwards, NOW)


def test_filters_take_amtools_form_and_the_braced_form():
    assert matchers_of(['app_id="kimi"', "severity=~warn.*"]) == [
        Matcher.parse('app_id="kimi"'),
        Matcher.parse('severity=~"warn.*"'),
    ]
    assert matchers_of(['{app_id="kimi",severity!="info"}']) == [
        Matcher.parse('app_id="kimi"'),
        Matcher.parse('severity!="info"'),
    ]


def test_every_route_refuses_without_a_token_and_changes_need_write():
    a, sent = api(silence())

    async def go():
        for answer in (
            a.status(None),
            a.alerts(None, {}, []),
            a.groups(None, {}, []),
            a.list_silences(None, []),
            a.get_silence(None, "x"),
            await a.post_silence(None, body({})),
            await a.delete_silence(None, "x"),
        ):
            assert answer.status == 401 and "Bearer" in answer.headers["WWW-Authenticate"]
        reader = f"Bearer {READ}"
        assert (await a.post_silence(reader, body({}))).status == 403
        assert (await a.delete_silence(reader, silence().id)).status == 403
        assert a.status(reader).status == 200
        assert sent == []

    asyncio.run(go())


def test_silences_are_added_updated_listed_and_expired():
    a, sent = api(silence())
    writer = f"Bearer {WRITE}"

    async def go():
        new = {
            "matchers": [{"name": "app_id", "value": "doubao", "isRegex": False}],
            "endsAt": "2024-11-14T18:00:00Z",
            "createdBy": "ops",
            "comment": "c",
        }
        added = await a.post_silence(writer, body(new))
        assert added.status == 200 and added.body["silenceID"] == sent[-1].id
        updated = await a.post_silence(writer, body({**new, "id": silence().id, "comment": "longer"}))
        assert updated.body == {"silenceID": silence().id} and sent[-1].comment == "longer"
        assert (await a.post_silence(writer, body({**new, "id": "nope"}))).status == 404
        assert (await a.post_silence(writer, body({**new, "matchers": "x"}))).status == 400
        assert (await a.delete_silence(writer, "nope")).status == 404
        deleted = await a.delete_silence(writer, silence().id)
        assert deleted.status == 200 and sent[-1].ends_at == NOW
        assert a.get_silence(writer, "nope").status == 404
        # read back as the worker reads its topic: the update moved the silence to doubao
        assert a.list_silences(writer, ['app_id="kimi"']).body == []
        listed = a.list_silences(writer, ['app_id="doubao"']).body
        assert sorted(s["id"] for s in listed) == sorted([added.body["silenceID"], silence().id])
        assert {s["id"]: s["status"]["state"] for s in listed}[silence().id] == "expired"

    asyncio.run(go())


def test_alerts_show_state_receivers_and_what_mutes_them():
    firing = {
        "kimi-warning": entry("kimi"),
        "doubao-warning": entry("doubao"),
        "doubao-critical": entry("doubao", "critical"),
        "old": entry("tongyi", until=NOW - 1),
    }
    a, _ = api(silence(), firing=firing)
    reader = f"Bearer {READ}"
    got = {x["fingerprint"]: x for x in a.alerts(reader, {}, []).body}
    assert sorted(got) == ["doubao-critical", "doubao-warning", "kimi-warning"]  # "old" has ended
    kimi, doubao = got["kimi-warning"], got["doubao-warning"]
    assert kimi["status"] == {"state": "suppressed", "silencedBy": [silence().id], "inhibitedBy": []}
    assert doubao["status"] == {"state": "suppressed", "silencedBy": [], "inhibitedBy": ["doubao-critical"]}
    assert got["doubao-critical"]["status"]["state"] == "active"
    assert doubao["receivers"] == [{"name": "desk"}] and kimi["receivers"] == [{"name": "all"}]
    assert kimi["annotations"] == {"summary": "kimi spiked"}
    only_active = a.alerts(reader, {"silenced": "false", "inhibited": "false"}, [])
    assert [x["fingerprint"] for x in only_active.body] == ["doubao-critical"]
    assert [x["fingerprint"] for x in a.alerts(reader, {"receiver": "all"}, []).body] == ["kimi-warning"]
    assert a.alerts(reader, {}, ["app_id=~("]).status == 400
    groups = a.groups(reader, {}, []).body
    assert sorted((g["receiver"]["name"], g["labels"]["app_id"], len(g["alerts"])) for g in groups) == [
        ("all", "kimi", 1),
        ("desk", "doubao", 2),
    ]


def test_a_preview_lists_the_firing_alerts_a_silence_would_mute():
    firing = {"kimi-warning": entry("kimi"), "doubao-warning": entry("doubao"), "old": entry("kimi", until=NOW - 1)}
    a, sent = api(firing=firing)

    async def go():
        assert (await a.preview(None, body({"matchers": ['app_id="kimi"']}))).status == 401
        hit = await a.preview(f"Bearer {READ}", body({"matchers": ['app_id=~"k.*"', 'severity="warning"']}))
        assert [x["fingerprint"] for x in hit.body] == ["kimi-warning"]  # "old" is no longer firing
        assert (await a.preview(f"Bearer {READ}", body({"matchers": []}))).status == 400
        bad = await a.preview(f"Bearer {READ}", body({"matchers": ["app_id=~("]}))
        assert bad.status == 400 and "matchers" in bad.body["error"]
        assert sent == []  # a preview changes nothing

    asyncio.run(go())
