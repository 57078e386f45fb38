"""appwatch receive's receiver: a bad signature gets 401 and is not shown; a good one is
shown once per webhook-id (a retry of the same notification is not shown again)."""

import asyncio
from datetime import UTC, datetime

import httpx
import orjson
from standardwebhooks import Webhook

from appwatch.broker import free_port
from appwatch.receiver import Receiver, new_secret


def test_signatures_are_checked_and_retries_shown_once():
    async def main():
        secret, shown = new_secret(), []
        receiver = Receiver(secret, lambda payload, latency: shown.append(payload), path="/in")
        url = await receiver.start(free_port())
        try:
            body = orjson.dumps(
                {
                    "type": "alert.firing",
                    "timestamp": "2024-11-14T00:00:00Z",
                    "data": {"alert_id": "a1", "summary": "x"},
                }
            ).decode()
            now = datetime.now(UTC)
            good = {
                "webhook-id": "msg_a1_firing",
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(secret).sign("msg_a1_firing", now, body),
                "content-type": "application/json",
            }
            forged = {**good, "webhook-signature": Webhook(new_secret()).sign("msg_a1_firing", now, body)}
            async with httpx.AsyncClient() as client:
                assert (await client.post(url, content=body, headers=forged)).status_code == 401
                assert (
                    await client.post(url, content=body, headers={"content-type": "application/json"})
                ).status_code == 401
                assert shown == []
                assert (await client.post(url, content=body, headers=good)).status_code == 204
                assert (await client.post(url, content=body, headers=good)).status_code == 204  # a retry
        finally:
            await receiver.stop()
        assert [p["data"]["alert_id"] for p in shown] == ["a1"]

    asyncio.run(main())
