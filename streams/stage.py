"""The detect stage: event topics in, in batches, with its own state, outside Faust's
per-message path.

    events.metrics ─┐                               ┌─> internal.control: series alerts, rank
    events.ranks  ──┼─ getmany, group ``G-detect`` ─┤    and news events, "source seen", the
    events.news   ──┘                               │    apps' days of ``market:`` rules
                                                    ├─> dlq: invalid records
                                                    └─> ``G-series-changelog`` (compacted): one
                                                        record per series a batch changed

One batch (``Stage.process``, no I/O): decode every record (msgspec; pydantic only for what
msgspec refuses), fold each metric into its partition's series state (``Engine.metric``,
O(1) per event). ``DetectStage`` sends the batch's control and DLQ records at once (an
alert leaves as soon as its batch is folded) and remembers which series changed. Every
``COMMIT_EVERY`` seconds, and as soon as it has caught up (and before a rebalance or a
stop), it commits, in this order:

1. waits until the broker has every control and DLQ record sent since the last commit;
2. writes each series changed since then to the changelog (one record per series, on
   the partition of its input) and waits;
3. commits the input offsets.

So a series that changed a hundred times in a second is written once, as Kafka Streams
does with its record cache. A crash anywhere replays from the committed offsets, and the
state knows what it holds: each series keeps its last input offset and its recent event
ids, so a replay (or an event published twice) changes nothing that the state already
holds. What the state did not hold yet is folded again and fires the same alerts again,
with the same ids: dispatch delivers an id once.

On assignment the stage restores its partitions from the changelog before it processes
anything (a partition it kept, whose changelog nobody else wrote, is kept as it is); on
revocation it first finishes the batch in hand, commit included.

Exceptions: nothing escapes ``process``; ``DetectStage`` retries writes on
``aiokafka.errors.KafkaError`` until they succeed or the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
)
from mode import Service

from core.events import InvalidEvent, Topics, decode_fast
from streams import dlq, rewind, series, tansu
from streams.engine import Engine, too_far_ahead
from streams.metrics import StreamMetrics
from streams.settings import Settings

log = logging.getLogger(__name__)

MAX_DLQ_KEY = 1024  # bytes of a bad record's key kept on the DLQ (the record must fit the topic)
HEARTBEAT_EVERY = 1.0  # seconds (of Kafka time) between "source seen" records per source
MAX_RECORDS = 10_000  # records per batch
COMMIT_EVERY = 1.0  # seconds between commits (state to the changelog, then input offsets)
SWEEP_EVERY = 1.0  # seconds between looks for threshold breaches whose ``for`` has passed
CHANGELOG_BATCH = 512 * 1024  # bytes per produced record batch (brokers take 1 MB)
CHANGELOG_CONFIG = {"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"}
WRITE_RETRY_MAX = 5.0  # seconds between attempts to write a batch out, at most
MOVES_PER_RECORD = 1000  # market moves per control record (about 250 kB)


class Record(NamedTuple):
    """What ``process`` reads of a consumed record (an aiokafka ``ConsumerRecord`` has it)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms
    key: bytes | None
    value: bytes | None


@dataclass
class Output:
    control: list[bytes] = field(default_factory=list)  # values for the control topic
    dlq: list[tuple[bytes | None, bytes]] = field(default_factory=list)  # (key, value)
    changed: dict[int, set[str]] = field(default_factory=dict)  # partition -> series keys
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> next offset
    alerts: int = 0


class Stage:
    """The stage without Kafka: state per partition of the metrics topic, and ``process``."""

    def __init__(self, engine: Engine, topics: Topics, metrics: StreamMetrics | None = None) -> None:
        self.engine, self.topics, self.metrics = engine, topics, metrics
        self.state: dict[int, dict[str, series.SeriesState]] = {}  # partition -> series key -> state
        self._seen: dict[str, float] = {}  # source -> Kafka time of its last "seen" record
        self.evaluated: dict[str, float] = {}  # rule -> when its evaluations last moved (unix)
        self._counted: dict[str, int] = {}  # rule -> its evaluations when last looked at
        engine.on_rules = lambda: engine.forget_baselines(self.states())

    def states(self) -> Iterable[series.SeriesState]:
        for part in self.state.values():
            yield from part.values()

    def series_count(self) -> int:
        return sum(map(len, self.state.values()))

    def restore(self, partition: int, records: Iterable[tuple[bytes, bytes | None]]) -> int:
        """Replace ``partition``'s state with the changelog's ``records`` (oldest first;
        the last per key wins, a null value deletes). Returns the series restored."""
        latest: dict[bytes, bytes] = {}
        for k, v in records:
            if v is None:
                latest.pop(k, None)
            else:
                latest[k] = v
        state = {}
        for k, v in latest.items():
            try:
                state[k.decode()] = series.decode(v)
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
                log.error("changelog record for %r is unreadable (%s); that series starts again empty", k, exc)
        self.state[partition] = state
        self.engine.earliest_due = float("-inf")  # its pending thresholds are not known yet
        return len(state)

    def drop(self, partition: int) -> None:
        self.state.pop(partition, None)

    def process(self, batch: Mapping[object, Sequence[Record]]) -> Output:
        """Fold one batch (records grouped by partition, each group in offset order).
        Ranks and news go first: a spike in the same batch then finds its news."""
        out, counts = Output(), Counter()
        metrics_topic = self.topics.metrics
        for records in sorted(batch.values(), key=lambda rs: rs[0].topic == metrics_topic):
            if records:
                self._partition(records, out, counts)
        # market rules: the apps' days go to the control agent, where markets meet, a
        # thousand to a record (a record per move would put Faust's per-message cost back)
        moves = self.engine.take_moves()
        for i in range(0, len(moves), MOVES_PER_RECORD):
            out.control.append(orjson.dumps({"moves": moves[i : i + MOVES_PER_RECORD]}))
        if self.metrics:
            self.metrics.count(counts)
        self.note_evaluations(time.time())
        return out

    def note_evaluations(self, now: float) -> None:
        """``now`` for each rule whose evaluation count moved since the last look: once per
        batch or sweep, O(rules), never per event. Rank and news rules are evaluated on the
        control agent, a moment later: the next sweep (every ``SWEEP_EVERY``) notes them."""
        counted, evaluated = self._counted, self.evaluated
        for name, n in self.engine.evaluations.items():
            if counted.get(name) != n:
                counted[name] = n
                evaluated[name] = now

    def _partition(self, records: Sequence[Record], out: Output, counts: Counter) -> None:
        first = records[0]
        topic, part = first.topic, first.partition
        state = self.state.setdefault(part, {}) if topic == self.topics.metrics else None
        changed: set[str] = set()
        engine, metrics, control = self.engine, self.metrics, out.control
        follow = metrics.market_apps if metrics else frozenset()
        for r in records:
            try:
                ev = decode_fast(r.value)
            except InvalidEvent as exc:
                self._dead(out, r, exc.reason, str(exc))
                continue
            at = r.timestamp / 1000
            kind = ev.type
            if kind == "app.metric":
                if state is None:
                    self._dead(
                        out,
                        r,
                        "type:wrong_topic",
                        f"type: an app.metric event on {topic}; metrics go to {self.topics.metrics}",
                    )
                    continue
                alerts = engine.metric(ev, state, observed_at=at, offset=r.offset, changed=changed)
                for a in alerts:
                    control.append(orjson.dumps({"alert": a.model_dump(mode="json")}))
                out.alerts += len(alerts)
            else:
                control.append(orjson.dumps({"event": orjson.loads(r.value), "observed_at": at}))
            counts[(kind, ev.source)] += 1
            if metrics and (follow is None or getattr(ev, "app_id", None) in follow) and not too_far_ahead(ev, at):
                metrics.market(ev)
            if at - self._seen.get(ev.source, 0.0) >= HEARTBEAT_EVERY:
                self._seen[ev.source] = at
                control.append(orjson.dumps({"seen": ev.source, "type": kind, "at": at}))
        if changed:
            out.changed[part] = changed
        out.offsets[(topic, part)] = records[-1].offset + 1

    def sweep(self, now: float) -> Output:
        """The timer: threshold breaches whose ``for`` has passed by ``now`` fire."""
        out = Output()
        for a in self.engine.sweep_series(self.state, now, out.changed):
            out.control.append(orjson.dumps({"alert": a.model_dump(mode="json")}))
            out.alerts += 1
        self.note_evaluations(now)
        return out

    def changelog(self, changed: Mapping[int, Iterable[str]]) -> dict[int, list[tuple[bytes, bytes]]]:
        """The changelog records of the ``changed`` series, per partition (of those still here)."""
        out = {}
        for part, keys in changed.items():
            state = self.state.get(part)
            if state is not None:
                out[part] = [(k.encode(), series.encode(state[k])) for k in keys]
        return out

    def _dead(self, out: Output, r: Record, reason: str, message: str) -> None:
        if self.metrics:
            self.metrics.invalid.labels(reason).inc()
        log.warning("invalid event %s/%d@%d: %s", r.topic, r.partition, r.offset, message)
        out.dlq.append(
            ((r.key or b"")[:MAX_DLQ_KEY] or None, dlq.record(r.value, reason, message, r.topic, r.partition, r.offset))
        )


class _Listener(ConsumerRebalanceListener):
    def __init__(self, stage: DetectStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked) -> None:
        await self.stage.revoked()

    async def on_partitions_assigned(self, assigned) -> None:
        await self.stage.assigned(assigned)


class DetectStage(Service):
    """``Stage`` on Kafka: one consumer in its own group, one producer, the changelog."""

    def __init__(
        self, stage: Stage, settings: Settings, metrics: StreamMetrics, checks: rewind.Checks | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.stage, self.settings, self.metrics = stage, settings, metrics
        self.checks = checks or rewind.Checks()  # positions against the logs' ends (streams.rewind)
        self.checks.add("detect")
        self.topics = stage.topics
        self.group = f"{settings.group}-detect"
        self.changelog = f"{settings.group}-series-changelog"
        self.on_tansu = settings.broker_flavor == "tansu"
        self.lock = asyncio.Lock()
        self.ready = False
        self.assignment: frozenset[TopicPartition] = frozenset()
        self.done: dict[TopicPartition, int] = {}  # next offset to read, per assigned partition
        self.pending: dict[TopicPartition, int] = {}  # offsets to commit next
        self.dirty: dict[int, set[str]] = {}  # partition -> series changed since the last commit
        self.unacked: list = []  # (topic, key, value, future) sent since the last commit
        self.committed_at = time.monotonic()
        self.written: dict[int, int] = {}  # changelog partition -> its end after our last write
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        metrics.series.set_function(stage.series_count)

    def _client(self) -> dict:
        return dict(bootstrap_servers=self.settings.bootstrap, **self.settings.aiokafka_config())

    def _fetch(self) -> dict:
        # Tansu answers a fetch only when its wait ends, even with data there (streams/tansu.py)
        return dict(fetch_max_wait_ms=tansu.FETCH_MAX_WAIT_MS if self.on_tansu else 500)

    async def on_start(self) -> None:
        self.producer = AIOKafkaProducer(acks="all", max_batch_size=CHANGELOG_BATCH, **self._client())
        await self.producer.start()
        group = dict(session_timeout_ms=6_000, heartbeat_interval_ms=500) if self.on_tansu else {}
        self.consumer = AIOKafkaConsumer(
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **group,
            **self._fetch(),
            **self._client(),
        )
        self.consumer.subscribe(list(self.topics.events), listener=_Listener(self))
        await self.consumer.start()

    async def on_stop(self) -> None:
        async with self.lock:  # what was folded is written and committed first
            self.ready = False
            if self.pending:
                try:
                    await self._commit()
                except KafkaError as exc:
                    log.warning("detect stage: the last commit failed (%r); the next owner replays", exc)
            if self.consumer is not None:
                await self.consumer.stop()
            if self.producer is not None:
                await self.producer.stop()

    @Service.task
    async def _consume(self) -> None:
        while not self.should_stop:
            try:
                batch = await self.consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            except ConsumerStoppedError:
                return
            await self.handle(batch)  # an empty one still commits when it is time
            # a broker back without its data: handle() then sees the log went backwards
            await self.checks.run("detect", lambda: rewind.rewind(self.consumer, tansu.ends_corrector(self.settings)))

    @Service.timer(SWEEP_EVERY)
    async def _sweep(self) -> None:
        async with self.lock:
            if self.should_stop or not self.ready:
                return
            out = self.stage.sweep(time.time())
            if out.control:
                await self._send([(self.topics.control, b"c", v) for v in out.control])
                for part, keys in out.changed.items():
                    self.dirty.setdefault(part, set()).update(keys)

    async def handle(self, batch: Mapping[TopicPartition, Sequence]) -> None:
        async with self.lock:
            if self.should_stop:
                return
            batch = {tp: rs for tp, rs in batch.items() if tp in self.assignment}
            for tp, rs in batch.items():
                if tp.topic == self.topics.metrics and rs[0].offset < self.done.get(tp, 0):
                    # the log went backwards under us (a broker that came back empty): the
                    # offsets the series hold belong to a log that is gone
                    log.warning(
                        "detect stage: %s restarts at offset %d, below %d; its series start again",
                        tp,
                        rs[0].offset,
                        self.done[tp],
                    )
                    self.stage.restore(tp.partition, [])
            if batch:
                out = self.stage.process(batch)
                await self._send(
                    [(self.topics.control, b"c", v) for v in out.control]
                    + [(self.topics.dlq, k, v) for k, v in out.dlq]
                )
                for part, keys in out.changed.items():
                    self.dirty.setdefault(part, set()).update(keys)
                for (topic, part), offset in out.offsets.items():
                    tp = TopicPartition(topic, part)
                    self.pending[tp] = self.done[tp] = offset
            # every COMMIT_EVERY seconds, and at once when the stage has caught up (an empty batch)
            if self.pending and (not batch or time.monotonic() - self.committed_at >= COMMIT_EVERY):
                await self._commit()

    async def _send(self, records: list[tuple[str, bytes | None, bytes]]) -> None:
        """Send now, in order (an alert leaves with its batch); ``_commit`` waits for them."""
        for topic, key, value in records:
            try:
                delivered = await self.producer.send(topic, value, key=key)
            except KafkaError as exc:  # not even queued (no metadata): ``_commit`` sends it again
                log.warning("detect stage: could not send to %s (%r)", topic, exc)
                delivered = None
            self.unacked.append((topic, key, value, delivered))

    async def _commit(self) -> None:
        """Control and DLQ records acknowledged, then the changed series, then the offsets.
        Writes are retried until they succeed (or the worker stops)."""
        delay = 0.1
        while True:
            try:
                await self._write()
                break
            except KafkaError as exc:
                if self.should_stop:
                    raise
                log.warning("detect stage: writing out failed (%r); again in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, WRITE_RETRY_MAX)
                again, self.unacked = self.unacked, []
                await self._send([(t, k, v) for t, k, v, _ in again])
        offsets, self.pending = self.pending, {}
        self.committed_at = time.monotonic()
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # the group moved on: the new owner replays from the last commit, and what this
            # worker's state wrote is in the changelog it restores from
            log.warning("detect stage: commit refused (%s); the next owner replays", exc)

    async def _write(self) -> None:
        for topic, *_, delivered in self.unacked:  # alerts are durable before the state that says they fired
            if delivered is None:
                raise KafkaConnectionError(f"a record for {topic} was never sent")
            await delivered
        self.unacked = []
        p, sent = self.producer, []
        for part, records in self.stage.changelog(self.dirty).items():
            batch, n = p.create_batch(), 0
            for k, v in records:
                if batch.append(key=k, value=v, timestamp=None) is None:
                    batch.close()
                    sent.append((part, n, await p.send_batch(batch, self.changelog, partition=part)))
                    batch, n = p.create_batch(), 0
                    batch.append(key=k, value=v, timestamp=None)
                n += 1
            batch.close()
            sent.append((part, n, await p.send_batch(batch, self.changelog, partition=part)))
        for part, n, fut in sent:
            md = await fut
            self.written[part] = max(self.written.get(part, 0), md.offset + n)
        self.dirty = {}

    # -- rebalancing ---------------------------------------------------------------

    async def revoked(self) -> None:
        async with self.lock:  # what was folded is written and committed first
            self.ready = False
            if self.pending:
                await self._commit()

    async def assigned(self, assigned: Iterable[TopicPartition]) -> None:
        async with self.lock:
            self.assignment = frozenset(assigned)
            self.checks.moved("detect")
            self.done = {}  # reading starts again from the committed offsets
            mine = sorted(tp.partition for tp in self.assignment if tp.topic == self.topics.metrics)
            for part in [p for p in self.stage.state if p not in mine]:
                self.stage.drop(part)
                self.written.pop(part, None)
            if mine:
                await self._restore(mine)
            self.ready = True

    async def _restore(self, parts: list[int]) -> None:
        """Read the changelog of ``parts`` whose state is not here, or was written by
        another worker since (its end moved), from the start to its end."""
        started = time.monotonic()
        await self._ensure_changelog()
        reader = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 2**20,
            **self._fetch(),
            **self._client(),
        )
        await reader.start()
        try:
            tps = [TopicPartition(self.changelog, p) for p in parts]
            reader.assign(tps)
            ends = await reader.end_offsets(tps)
            if self.on_tansu:
                ends = await tansu.true_ends(self.settings.bootstrap, ends)
            todo = [
                tp for tp in tps if tp.partition not in self.stage.state or self.written.get(tp.partition) != ends[tp]
            ]
            if not todo:
                return
            starts = await reader.beginning_offsets(todo)
            records: dict[int, list] = {tp.partition: [] for tp in todo}
            pending = set()
            for tp in todo:
                if ends[tp] > starts[tp]:
                    reader.seek(tp, starts[tp])
                    pending.add(tp)
            while pending:
                for tp, got in (await reader.getmany(*pending, timeout_ms=500)).items():
                    records[tp.partition].extend((r.key, r.value) for r in got)
                    if got and got[-1].offset + 1 >= ends[tp]:
                        pending.discard(tp)
        finally:
            await reader.stop()
        restored = sum(self.stage.restore(tp.partition, records[tp.partition]) for tp in todo)
        self.written.update({tp.partition: ends[tp] for tp in todo})
        took = time.monotonic() - started
        self.metrics.restore.set(took)
        self.metrics.restored.inc(restored)
        log.info(
            "detect stage: restored %d series of partitions %s in %.2fs", restored, [tp.partition for tp in todo], took
        )

    async def _ensure_changelog(self) -> None:
        """Create the changelog if it is missing, with the metrics topic's partitions (a broker
        that restarted empty lost it)."""
        parts = self.consumer.partitions_for_topic(self.topics.metrics) or ()
        admin = AIOKafkaAdminClient(**self._client())
        await admin.start()
        try:
            if self.changelog in await admin.list_topics():
                return
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            self.changelog,
                            max(len(parts), 1),
                            self.settings.replication_factor,
                            topic_configs=CHANGELOG_CONFIG,
                        )
                    ]
                )
            except TopicAlreadyExistsError:
                pass
        finally:
            await admin.close()

    def lag(self) -> list[tuple[str, int, int]]:
        """(topic, partition, records behind) for each assigned partition fetched from: its
        end as the last fetch saw it, less what the stage has processed."""
        out = []
        for tp in sorted(self.assignment):
            end = self.consumer.highwater(tp) if self.consumer is not None else None
            if end is not None:
                out.append((tp.topic, tp.partition, max(0, end - self.done.get(tp, end))))
        return out
