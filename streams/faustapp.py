"""The Faust app class the worker runs: Faust's, with one consumer fix, measured.

aiokafka does not fetch from a broker again until ``prefetch_backoff`` (100 ms) has passed
while any partition it fetched from that broker still holds records the application has
not taken. Faust fetches its tables' changelog partitions and, once they are recovered,
never takes those records: every table write (dispatch writes two per alert) left records
behind, and every hop through Faust (control, alerts) waited in 100 ms steps. Event ->
signed webhook p99 was 160-200 ms at 300 events/s with the default, 38 ms with 5 ms
(``bench/latency.py``). The broker's own fetch wait still bounds each fetch.
"""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

PREFETCH_BACKOFF = 0.005  # seconds; aiokafka's default is 0.1


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def on_start(self) -> None:
        await super().on_start()
        self._consumer._fetcher._prefetch_backoff = PREFETCH_BACKOFF


class Consumer(faust_aiokafka.Consumer):
    thread_class = ConsumerThread

    def _new_consumer_thread(self):
        return self.thread_class(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    transport_class = Transport

    def _new_transport(self):
        return self.transport_class(self.conf.broker_consumer, self)
