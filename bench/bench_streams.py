"""Benchmark: rebuilding a lost shard from its stream, against ingesting the same events.

Simulates ``--areas`` areas for ``--days``, publishes every event on one shard's stream
(``engine/streams.py``: NATS JetStream or Redis Streams, by ``--bus``), then times a fresh
``ScorecardEngine`` rebuilt from the stream (``StreamFeed.rebuild``: read by sequence, decode,
ingest) against the baseline measured in the same run: the same engine ingesting the same
event batches from memory. The ratio is the price of the round trips and the decoding; the
scorecards of the two are checked equal.

    .venv/bin/python bench/bench_streams.py --areas 50 --days 7 --bus nats://127.0.0.1:4222
"""

from __future__ import annotations

import argparse
import time
import uuid

from polars.testing import assert_frame_equal

from tailguard.engine.streams import ShardStreams, StreamFeed
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--bus", default="nats://127.0.0.1:4222")
    args = parser.parse_args()

    sim = Simulator(NetworkConfig(areas=args.areas, seed=3))
    hours = [sim.step() for _ in range(24 * args.days)]
    events = sum(t.num_rows for t in hours)
    url = f"{args.bus}?stream=bench-{uuid.uuid4().hex[:8]}&batch=5000"
    streams = ShardStreams(url, 1)
    try:
        t = time.perf_counter()
        for table in hours:
            streams.publish(table)
        publish_s = time.perf_counter() - t

        base = ScorecardEngine()
        t = time.perf_counter()
        base_counted = sum(base.ingest(table) for table in hours)
        baseline_s = time.perf_counter() - t

        rebuilt = ScorecardEngine()
        feed = StreamFeed(streams.urls[0], rebuilt)
        t = time.perf_counter()
        counted = feed.rebuild()
        rebuild_s = time.perf_counter() - t
        feed.close()
        assert counted == base_counted, (counted, base_counted)
        assert_frame_equal(base.scorecard(sim.now), rebuilt.scorecard(sim.now))
    finally:
        streams.drop()
        streams.close()
    print(f"{args.areas} areas, {args.days} days: {events:,} events on {args.bus.split(':')[0]}")
    print(f"  publish on the shard's stream      {publish_s:8.2f} s")
    print(f"  baseline: ingest from memory       {baseline_s:8.2f} s")
    print(
        f"  rebuild from the stream            {rebuild_s:8.2f} s  "
        f"({rebuild_s / baseline_s:.2f}x the baseline, {events / rebuild_s:,.0f} events/s)"
    )


if __name__ == "__main__":
    main()
