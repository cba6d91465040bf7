"""Faust's Kafka transport, with the consumer's fetch long poll as a setting.

Faust builds aiokafka's consumer with fetch_max_wait_ms=1500 and no option to change it.
aiokafka keeps at most one fetch in flight per broker, holding only the partitions that had
nothing buffered when it was sent; a partition the worker drains meanwhile is fetched again
only when that fetch returns, which on quiet partitions is the whole long poll. With one
broker that put up to 1.5 s between a stock command and its reply: the waits of a paced
replay had a p99 of 1.6 s. A shorter poll costs a few idle fetch requests a second.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as driver


def transport_with_fetch_wait(fetch_max_wait_ms: int) -> type[driver.Transport]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when its fetcher starts
            return consumer

    class Consumer(driver.Consumer):
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport
