#!/usr/bin/python3
"""The DataStax Python driver's side of bench/cql: inserts of a small row with
execute_concurrent_with_args at the given concurrency, after a warm-up.

    bench_py.py <concurrency> <count>

Prints one line: "python <concurrency> <count> <seconds> <cpu seconds>", where
CPU is this process's user + system time (all threads, including the
driver's libev I/O thread) during the measured inserts.
"""
import logging
import os
import resource
import sys
import time
import warnings

warnings.simplefilter("ignore")
logging.getLogger("cassandra").setLevel(logging.ERROR)

from cassandra.auth import PlainTextAuthProvider  # noqa: E402
from cassandra.cluster import Cluster  # noqa: E402
from cassandra.concurrent import execute_concurrent_with_args  # noqa: E402
from cassandra.policies import DCAwareRoundRobinPolicy  # noqa: E402


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    conc, count = int(sys.argv[1]), int(sys.argv[2])
    cluster = Cluster(
        contact_points=[os.environ.get("RV_CQL_HOST", "127.0.0.1")],
        port=int(os.environ.get("RV_CQL_PORT", "9042")), protocol_version=4,
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"),
        auth_provider=PlainTextAuthProvider(os.environ.get("RV_CQL_USER", "cassandra"),
                                            os.environ.get("RV_CQL_PASSWORD", "cassandra")))
    s = cluster.connect("rv_bench")
    stmt = s.prepare("INSERT INTO small (k, v) VALUES (?, ?)")
    base = 10_000_000  # keys apart from rivulet's
    warm = [(base + i, "value-%d" % i) for i in range(min(2000, count))]
    execute_concurrent_with_args(s, stmt, warm, concurrency=conc, raise_on_first_error=True)
    args = [(base + i, "value-%d" % i) for i in range(count)]
    c0, t0 = cpu(), time.monotonic()
    results = execute_concurrent_with_args(s, stmt, args, concurrency=conc,
                                           raise_on_first_error=True)
    t1, c1 = time.monotonic(), cpu()
    bad = sum(1 for ok, _ in results if not ok)
    cluster.shutdown()
    if bad:
        print("python: %d inserts failed" % bad, file=sys.stderr)
        return 1
    print("python %d %d %.6f %.6f" % (conc, count, t1 - t0, c1 - c0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
