"""The download-spike rule written with Quix Streams, for the head-to-head (a bench-only job).

    python -m bench.quix_spike --broker HOST:PORT --topic T --alerts A --group G \
        --events N --status FILE [--state-dir DIR]

The same rule as appwatch's ``download-spike`` (streams/rules/default.yaml): the day's
running total of ``downloads`` per series (the message key, ``app_id|country``) against
the median of the 7 days before it; fires once per series and day when the total
reaches 2x a median of at least 1000 with at least 5 of the 7 days present. Written the
way Quix Streams suggests: JSON deserializer, event time from ``ts``, a tumbling 1-day
window ``sum().current()``, then a stateful ``apply`` that keeps the trailing daily
totals, and ``to_topic`` for the alerts.

Quix windows are aligned to UTC days; the harness's events sit at 04:00 UTC
(12:00+08:00), so the days are the same as appwatch's Asia/Shanghai days.

It writes ``--status`` (JSON) when it consumes its first message and when it has
consumed ``--events`` messages, and every 2000 in between:
{"first": unix_time, "done": unix_time, "n": count, "at": unix_time of n}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from datetime import datetime, timedelta

DAY_MS = 86_400_000
RATIO, BASELINE_DAYS, MIN_HISTORY, MIN_BASELINE, LATENESS_DAYS = 2.0, 7, 5, 1000.0, 2


def spike(window: dict, key: bytes, timestamp: int, headers, state) -> dict | None:
    day, total = window["start"], window["value"]
    days: dict = state.get("days", {})
    fired: list = state.get("fired", [])
    days[str(day)] = total
    newest = max(int(d) for d in days)
    cutoff = newest - (BASELINE_DAYS + LATENESS_DAYS) * DAY_MS
    days = {d: v for d, v in days.items() if int(d) >= cutoff}
    fired = [d for d in fired if int(d) >= cutoff]
    alert = None
    if str(day) not in fired:
        history = [days[k] for b in range(BASELINE_DAYS, 0, -1) if (k := str(day - b * DAY_MS)) in days]
        if len(history) >= MIN_HISTORY:
            base = statistics.median(history)
            if base >= MIN_BASELINE and total >= RATIO * base:
                fired.append(str(day))
                alert = {
                    "rule": "download-spike",
                    "key": key.decode(),
                    "day_start_ms": day,
                    "value": total,
                    "baseline": base,
                    "ratio": total / base,
                }
    state.set("days", days)
    state.set("fired", fired)
    return alert


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--alerts", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--commit-interval", type=float, default=2.8)  # Faust's default, for a fair end
    args = ap.parse_args()
    logging.getLogger("quixstreams").setLevel(logging.WARNING)

    from quixstreams import Application

    seen = 0
    status: dict = {}

    def write_status() -> None:
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f)
        os.replace(tmp, args.status)

    def on_processed(topic: str, partition: int, offset: int) -> None:
        nonlocal seen
        seen += 1
        if seen == 1:
            status["first"] = time.time()
            write_status()
        elif seen == args.events:
            status.update(done=time.time(), n=seen, at=time.time())
            write_status()
        elif seen % 2000 == 0:
            status.update(n=seen, at=time.time())
            write_status()

    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval,
        state_dir=args.state_dir,
        loglevel="WARNING",
        on_message_processed=on_processed,
        # as appwatch does on Tansu (streams/app.py TANSU): short group timeouts,
        # or the first join takes ~25 s
        consumer_extra_config={"session.timeout.ms": 2000, "heartbeat.interval.ms": 500},
    )

    def event_time(value, headers, timestamp, timestamp_type) -> int:
        return int(datetime.fromisoformat(value["ts"]).timestamp() * 1000)

    events = app.topic(args.topic, value_deserializer="json", timestamp_extractor=event_time)
    alerts = app.topic(args.alerts, value_serializer="json")
    sdf = app.dataframe(events)
    sdf = sdf.filter(lambda v: v.get("type") == "app.metric" and v.get("metric") == "downloads")
    sdf = sdf.apply(lambda v: v["value"])
    sdf = sdf.tumbling_window(timedelta(days=1)).sum().current()
    sdf = sdf.apply(spike, stateful=True, metadata=True)
    sdf = sdf.filter(lambda a: a is not None)
    sdf.to_topic(alerts)
    app.run()


if __name__ == "__main__":
    main()
