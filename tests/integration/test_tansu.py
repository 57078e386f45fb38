"""Tansu reports end offsets per batch; ``true_ends`` finds the real end of each partition."""

import asyncio
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from appwatch.broker import TOPIC_CONFIGS
from streams.tansu import true_ends


def test_true_ends_reads_past_the_reported_end_to_the_last_record(broker):
    topic = f"ends-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, 3, 1, topic_configs=TOPIC_CONFIGS)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=broker, linger_ms=50, batch_size=1 << 20)
    for count in (25, 7):  # two batches on partition 0
        for _ in range(count):
            producer.send(topic, b"x", partition=0)
        producer.flush()
    producer.send(topic, b"x", partition=1)  # one record on partition 1, none on 2
    producer.flush()
    producer.close()
    tps = [TopicPartition(topic, p) for p in range(3)]
    consumer = KafkaConsumer(bootstrap_servers=broker)
    reported = consumer.end_offsets(tps)
    consumer.close()
    assert reported[tps[0]] < 32  # the quirk: the last batch's base + 1
    ends = asyncio.run(true_ends(broker, reported))
    assert ends == {tps[0]: 32, tps[1]: 1, tps[2]: 0}


def test_a_consumer_past_the_end_of_a_log_reads_it_again_from_the_start(broker):
    """Tansu answers a fetch past the end with nothing (Kafka: OFFSET_OUT_OF_RANGE), so a
    position left from a log the broker lost would wait for good; ``rewind`` finds it."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as ATP

    from streams.rewind import rewind

    topic = f"lost-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, 2, 1, topic_configs=TOPIC_CONFIGS)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=broker, linger_ms=50, batch_size=1 << 20)
    for i in range(3):  # one batch: Tansu reports its end as 1
        producer.send(topic, b"%d" % i, partition=0)
    producer.flush()
    producer.close()

    async def run():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=20
        )
        await consumer.start()
        try:
            old, caught_up = ATP(topic, 0), ATP(topic, 1)
            consumer.assign([old, caught_up])
            consumer.seek(old, 2)  # inside the log: Tansu's short end must not fool it
            consumer.seek(caught_up, 0)
            assert await rewind(consumer, lambda ends: true_ends(broker, ends)) == []
            consumer.seek(old, 7)  # where a reader of the lost log had got to
            assert await consumer.getmany(old, timeout_ms=300) == {}  # it would wait for good
            assert await rewind(consumer, lambda ends: true_ends(broker, ends)) == [old]
            got = []
            for _ in range(20):  # a deadline of 20 s
                got += [r.value for r in (await consumer.getmany(old, timeout_ms=1000)).get(old, [])]
                if len(got) >= 3:
                    break
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [b"0", b"1", b"2"]
