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
        for i in range(count):
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
