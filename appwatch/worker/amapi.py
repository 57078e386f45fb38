"""Alertmanager's v2 API on the worker, for the routes ``amtool`` uses, with Alertmanager's
field names and status codes. The alerts are the firing set every worker reads whole
(``internal.firing``) and the silences are the silences topic's, so each worker answers
with the same view of the whole deployment.

    GET    /api/v2/status
    GET    /api/v2/alerts            filter, active, silenced, inhibited, receiver
    GET    /api/v2/alerts/groups     the same filters
    GET    /api/v2/silences          filter
    POST   /api/v2/silences          a new silence, or an update of one by its id
    GET    /api/v2/silence/{id}
    DELETE /api/v2/silence/{id}      expire it

and appwatch's own ``POST /api/v1/silences/preview``: the firing alerts given matchers would mute.

Reads need a read token, changes a write token (``core.auth``), as on /api/v1/silences.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import faust

from alerts.config import AlertsConfig
from alerts.notify.alertmanager import parse_ts, rfc3339
from alerts.pipeline import firing_now
from alerts.route import inhibitors, match
from alerts.silence import Silence
from core.auth import Caller, Tokens
from core.matchers import Matcher

from ..http import Answer, caller, denied, reply
from .silences import Silences

VERSION = "0.1.0"  # appwatch's; amtool only shows it


def iso(t: float) -> str:
    return rfc3339(datetime.fromtimestamp(t, UTC))


def parse_time(text: str) -> float:
    return parse_ts(text).timestamp()


def am_matcher(m: Matcher) -> dict:
    return {"name": m.name, "value": m.value, "isRegex": m.op in ("=~", "!~"), "isEqual": m.op in ("=", "=~")}


def from_am_matcher(d: Mapping) -> Matcher:
    regex, equal = bool(d.get("isRegex")), d.get("isEqual", True) is not False
    op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(regex, equal)]
    return Matcher(name=d["name"], op=op, value=d["value"])


def silence_state(s: Silence, now: float) -> str:
    return "expired" if s.ends_at <= now else ("pending" if s.starts_at > now else "active")


def gettable_silence(s: Silence, now: float) -> dict:
    return {
        "id": s.id,
        "status": {"state": silence_state(s, now)},
        "updatedAt": iso(s.starts_at),
        "matchers": [am_matcher(m) for m in s.matchers],
        "startsAt": iso(s.starts_at),
        "endsAt": iso(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    }


def postable_silence(body: Mapping, now: float) -> Silence:
    """A Silence from Alertmanager's postableSilence; ValueError naming the field."""
    if not isinstance(body, Mapping):
        raise ValueError("the body must be a JSON object (a postableSilence)")
    missing = [f for f in ("matchers", "endsAt", "createdBy", "comment") if f not in body]
    if missing:
        raise ValueError(f"missing: {', '.join(missing)}")
    if not isinstance(body["matchers"], list) or not all(isinstance(m, Mapping) for m in body["matchers"]):
        raise ValueError("matchers: a list of {name, value, isRegex, isEqual}")
    fields = {
        "matchers": [from_am_matcher(m) for m in body["matchers"]],
        "starts_at": parse_time(body["startsAt"]) if body.get("startsAt") else now,
        "ends_at": parse_time(body["endsAt"]),
        "created_by": body["createdBy"],
        "comment": body["comment"],
    }
    if body.get("id"):
        fields["id"] = body["id"]
    s = Silence(**fields)
    if s.ends_at <= s.starts_at:
        raise ValueError("endsAt: the silence must end after it starts")
    return s


def matchers_of(filters: list[str]) -> list[Matcher]:
    """``filter`` query values: ``name="value"`` each (amtool sends one per matcher); a
    value wrapped in braces (``{a="b",c="d"}``) holds several."""
    out = []
    for f in filters:
        f = f.strip()
        if f.startswith("{") and f.endswith("}"):
            out += [Matcher.parse(part) for part in re.split(r",(?=\s*\w+\s*[=!])", f[1:-1]) if part.strip()]
        elif f:
            out.append(Matcher.parse(f))
    return out


def equals(s: Silence) -> dict[str, str]:
    """The labels a silence names with ``=``: what Alertmanager filters silences on."""
    return {m.name: m.value for m in s.matchers if m.op == "="}


def flag(query: Mapping, name: str, default: bool = True) -> bool:
    value = query.get(name)
    return default if value is None else value.lower() == "true"


class AmApi:
    def __init__(
        self,
        tokens: Tokens,
        silences: Silences,
        firing: Mapping[str, dict],
        config: AlertsConfig,
        started: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tokens, self.silences, self.firing, self.config = tokens, silences, firing, config
        self.started, self.clock = started, clock

    def status(self, who: Caller | str | None) -> Answer:
        if (no := denied(self.tokens, who, "read", plain=True)) is not None:
            return no
        version = dict(version=VERSION, revision="", branch="", buildUser="appwatch", buildDate="", goVersion="")
        return Answer(
            200,
            {
                "cluster": {"name": "appwatch", "status": "ready", "peers": []},
                "versionInfo": version,
                "config": {"original": ""},
                "uptime": iso(self.started),
            },
        )

    def alerts(self, who: Caller | str | None, query: Mapping, filters: list[str]) -> Answer:
        if (no := denied(self.tokens, who, "read", plain=True)) is not None:
            return no
        try:
            wanted = matchers_of(filters)
            receiver = re.compile(query["receiver"]) if query.get("receiver") else None
        except (ValueError, re.error) as exc:
            return Answer(400, f"bad filter: {exc}")
        out = []
        for alert in self._gettable():
            labels, state = alert["labels"], alert["status"]
            if not all(m.matches(labels.get(m.name, "")) for m in wanted):
                continue
            if receiver and not any(receiver.fullmatch(r["name"]) for r in alert["receivers"]):
                continue
            if not flag(query, "silenced") and state["silencedBy"]:
                continue
            if not flag(query, "inhibited") and state["inhibitedBy"]:
                continue
            if not flag(query, "active") and state["state"] == "active":
                continue
            out.append(alert)
        return Answer(200, out)

    def groups(self, who: Caller | str | None, query: Mapping, filters: list[str]) -> Answer:
        answer = self.alerts(who, query, filters)
        if answer.status != 200:
            return answer
        grouped: dict[tuple, dict] = {}
        for alert in answer.body:
            for route in match(self.config.route, alert["labels"]):
                labels = route.group_labels(alert["labels"])
                key = (route.receiver, tuple(sorted(labels.items())))
                group = grouped.setdefault(key, {"labels": labels, "receiver": {"name": route.receiver}, "alerts": []})
                group["alerts"].append(alert)
        return Answer(200, list(grouped.values()))

    def _gettable(self) -> list[dict]:
        now = self.clock()
        live = {aid: f for aid, f in list(self.firing.items()) if firing_now(f, now)}
        sources = {aid: f["labels"] for aid, f in live.items()}
        out = []
        for aid, f in sorted(live.items(), key=lambda kv: kv[1].get("startsAt", "")):
            labels = f["labels"]
            silenced = [s.id for s in self.silences.by_id.values() if s.mutes(labels, now)]
            inhibited = inhibitors(labels, {k: v for k, v in sources.items() if k != aid}, self.config.inhibit_rules)
            starts = f.get("startsAt") or iso(now)
            out.append(
                {
                    "labels": labels,
                    "annotations": {"summary": f["summary"]} if f.get("summary") else {},
                    "fingerprint": aid,
                    "startsAt": starts,
                    "updatedAt": starts,
                    "endsAt": iso(f["until"]) if f.get("until") else "0001-01-01T00:00:00.000Z",
                    "generatorURL": "",
                    "receivers": [{"name": r.receiver} for r in match(self.config.route, labels)],
                    "status": {
                        "state": "suppressed" if silenced or inhibited else "active",
                        "silencedBy": silenced,
                        "inhibitedBy": inhibited,
                    },
                }
            )
        return out

    def list_silences(self, who: Caller | str | None, filters: list[str]) -> Answer:
        if (no := denied(self.tokens, who, "read", plain=True)) is not None:
            return no
        try:
            wanted = matchers_of(filters)
        except ValueError as exc:
            return Answer(400, f"bad filter: {exc}")
        now = self.clock()
        found = [s for s in self.silences.by_id.values() if all(w.matches(equals(s).get(w.name, "")) for w in wanted)]
        return Answer(200, [gettable_silence(s, now) for s in sorted(found, key=lambda s: s.ends_at)])

    def get_silence(self, who: Caller | str | None, silence_id: str) -> Answer:
        if (no := denied(self.tokens, who, "read", plain=True)) is not None:
            return no
        s = self.silences.by_id.get(silence_id)
        return Answer(404, "silence not found") if s is None else Answer(200, gettable_silence(s, self.clock()))

    async def post_silence(self, who: Caller | str | None, body) -> Answer:
        if (no := denied(self.tokens, who, "write", plain=True)) is not None:
            return no
        try:
            s = postable_silence(await body(), self.clock())
        except (ValueError, KeyError, TypeError) as exc:
            return Answer(400, str(exc))
        if "id" in s.model_fields_set and s.id not in self.silences.by_id:
            return Answer(404, f"silence {s.id} not found")
        await self.silences.publish(s)
        return Answer(200, {"silenceID": s.id})

    async def preview(self, who: Caller | str | None, body) -> Answer:
        """The firing alerts a silence with these matchers would mute now (appwatch's own
        route: ``POST /api/v1/silences/preview`` with ``{"matchers": ['app_id="kimi"', ...]}``)."""
        if (no := denied(self.tokens, who, "read", plain=True)) is not None:
            return no
        try:
            payload = await body()
            matchers = [Matcher.model_validate(m) for m in payload["matchers"]]
        except (ValueError, KeyError, TypeError) as exc:
            return Answer(400, {"error": f"matchers: {exc}"})
        if not matchers:
            return Answer(400, {"error": "matchers: at least one"})
        hit = [a for a in self._gettable() if all(m.matches(a["labels"].get(m.name, "")) for m in matchers)]
        return Answer(200, hit)

    async def delete_silence(self, who: Caller | str | None, silence_id: str) -> Answer:
        if (no := denied(self.tokens, who, "write", plain=True)) is not None:
            return no
        ended = self.silences.ended(silence_id)
        if ended is None:
            return Answer(404, "silence not found")
        await self.silences.publish(ended)
        return Answer(200, None)

    def install(self, app: faust.App) -> None:
        api = self

        @app.page("/api/v2/status")
        class StatusView(faust.web.View):
            async def get(self, request):
                return reply(self, api.status(caller(request)))

        @app.page("/api/v2/alerts")
        class AlertsView(faust.web.View):
            async def get(self, request):
                return reply(self, api.alerts(caller(request), request.query, request.query.getall("filter", [])))

        @app.page("/api/v2/alerts/groups")
        class GroupsView(faust.web.View):
            async def get(self, request):
                return reply(self, api.groups(caller(request), request.query, request.query.getall("filter", [])))

        @app.page("/api/v2/silences")
        class SilencesView(faust.web.View):
            async def get(self, request):
                return reply(self, api.list_silences(caller(request), request.query.getall("filter", [])))

            async def post(self, request):
                return reply(self, await api.post_silence(caller(request), request.json))

        @app.page("/api/v1/silences/preview")
        class PreviewView(faust.web.View):
            async def post(self, request):
                return reply(self, await api.preview(caller(request), request.json))

        @app.page("/api/v2/silence/{silence_id}")
        class SilenceView(faust.web.View):
            async def get(self, request, silence_id):
                return reply(self, api.get_silence(caller(request), silence_id))

            async def delete(self, request, silence_id):
                return reply(self, await api.delete_silence(caller(request), silence_id))
