"""The worker's HTTP API: ``/api/v1/silences`` (read: list; write: add, expire) behind
tokens (``core.auth``), and ``/metrics``. The handlers answer (status, body, headers) and
are tested without a web server; ``install`` puts them on Faust's."""

from __future__ import annotations

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerts.silence import Silence
from core.auth import Caller, Tokens

from ..http import Answer, caller, denied, reply
from .silences import Silences


class Api:
    def __init__(self, tokens: Tokens, silences: Silences) -> None:
        self.tokens, self.silences = tokens, silences

    def list(self, who: Caller | str | None) -> Answer:
        return denied(self.tokens, who, "read") or Answer(200, [s.model_dump() for s in self.silences.current()])

    async def add(self, who: Caller | str | None, body) -> Answer:
        if (no := denied(self.tokens, who, "write")) is not None:
            return no
        try:
            s = Silence.model_validate(await body())
        except ValueError as exc:
            return Answer(400, {"error": str(exc)})
        await self.silences.publish(s)
        return Answer(201, s.model_dump())

    async def expire(self, who: Caller | str | None, silence_id: str) -> Answer:
        if (no := denied(self.tokens, who, "write")) is not None:
            return no
        ended = self.silences.ended(silence_id)
        if ended is None:
            return Answer(404, {"error": f"no silence {silence_id}"})
        await self.silences.publish(ended)
        return Answer(200, ended.model_dump())

    def install(self, app: faust.App, registry: CollectorRegistry) -> None:
        api = self

        @app.page("/api/v1/silences")
        class SilencesView(faust.web.View):
            async def get(self, request):
                return reply(self, api.list(caller(request)))

            async def post(self, request):
                return reply(self, await api.add(caller(request), request.json))

        @app.page("/api/v1/silences/{silence_id}/expire")
        class ExpireView(faust.web.View):
            async def post(self, request, silence_id):
                return reply(self, await api.expire(caller(request), silence_id))

        @app.page("/metrics")
        async def metrics_view(web, request):
            return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])
