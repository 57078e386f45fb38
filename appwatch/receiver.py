"""A local webhook receiver that verifies Standard Webhooks signatures (for the demo)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Receiver:
    """Accepts POSTs on ``/hook``; calls ``on_delivery(payload, latency_s)`` once per webhook-id.

    The latency is from the triggering event entering Kafka to receipt here.
    """

    def __init__(
        self,
        secret: str,
        on_delivery: Callable[[dict, float | None], None],
        on_slack: Callable[[dict], None] | None = None,
        path: str = "/hook",
    ) -> None:
        self.on_slack = on_slack
        self.path = path
        self.verifier = Webhook(secret)
        self.on_delivery = on_delivery
        self.seen: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        try:
            payload = self.verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return web.Response(status=401, text="bad signature")
        msg_id = request.headers["webhook-id"]
        if msg_id not in self.seen:  # receiver-side dedup by webhook-id
            self.seen.add(msg_id)
            observed = payload.get("data", {}).get("observed_at")
            self.on_delivery(payload, now - observed if observed else None)
        return web.Response(status=204)

    async def _slack(self, request: web.Request) -> web.Response:
        """A Slack-shaped incoming webhook: JSON with ``text`` and ``blocks``, answers ``ok``."""
        payload = await request.json()
        if self.on_slack:
            self.on_slack(payload)
        return web.Response(text="ok")

    async def start(self, port: int) -> str:
        app = web.Application()
        app.router.add_post(self.path, self._hook)
        app.router.add_post("/slack", self._slack)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
