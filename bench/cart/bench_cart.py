#!/usr/bin/python3
"""bench/cart: the shopping-cart service end to end.

For every topology (parallel, serial, atomic) and mode (duplicates,
idempotent) on real Kafka + Cassandra, publishes N commands for C carts, runs
`rivulet-cart run` until the topic is drained, and reports commands per second
(over the busy span the program itself reports), its CPU seconds per 10,000
commands and its peak resident memory. The baseline, measured in the same run
over the same topic, is kcat reading the records (the Kafka read ceiling on
this machine). Then the embedded default (mock Kafka + SQLite) through
`rivulet-cart demo`.

usage: bench_cart.py RIVULET_CART [N] [CARTS]
needs: tools/services/services start all
"""
import os
import re
import resource
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "cart"))
import cart_e2e as e2e  # noqa: E402  (the publisher and the command generator)


def child_usage():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def kcat_read(topic, n):
    kcat = "kcat" if subprocess.call(["sh", "-c", "command -v kcat >/dev/null"]) == 0 else "kafkacat"
    t0 = time.time()
    out = subprocess.run([kcat, "-b", e2e.BOOTSTRAP, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "x"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600).stdout
    took = time.time() - t0
    assert len(out) == n, "kcat read %d of %d records" % (len(out), n)
    return n / took


def run_one(binary, topology, mode, n, carts):
    run_id = "%d" % (time.time() * 1000 % 10**9)
    topic = "bench-cart-%s-%s-%s" % (topology, mode, run_id)
    ks = "rv_bench_%s_%s_%s" % (topology, mode, run_id)
    e2e.create_topic(topic, 4)
    e2e.publish(topic, e2e.random_commands(n, carts, 7))
    kcat_rate = kcat_read(topic, n)
    args = e2e.cart_args(topic, ks, "g-" + topic, topology, mode,
                         ["-o", "cart.lanes=64", "-o", "cart.log.parallelism=128"])
    cpu0 = child_usage()
    p = subprocess.run([e2e.BINARY, "run", "--idle-exit", "3000"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=1800)
    cpu = child_usage() - cpu0
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert p.returncode == 0, p.stderr[-2000:]
    m = re.findall(r"processed (\d+) \((\d+)/s\)", p.stderr)
    done, rate = int(m[-1][0]), int(m[-1][1])
    assert done == n, "processed %d of %d" % (done, n)
    return rate, cpu * 10000.0 / n, rss_kib / 1024.0, kcat_rate


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    carts = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    e2e.BINARY = binary
    print("rivulet-cart end to end: %d commands, %d carts, real Kafka 4.1 + Cassandra 5.0 on 127.0.0.1" % (n, carts))
    print("%-10s %-11s %12s %14s %10s %14s %8s" % ("topology", "mode", "commands/s", "CPU s/10k cmd",
                                                  "peak RSS", "kcat reads/s", "ratio"))
    for topology in ("parallel", "serial", "atomic"):
        for mode in ("duplicates", "idempotent"):
            rate, cpu, rss, kcat = run_one(binary, topology, mode, n, carts)
            print("%-10s %-11s %12d %14.2f %7.1f MiB %14.0f %8.3f" % (topology, mode, rate, cpu, rss, kcat,
                                                                      rate / kcat), flush=True)
    # The peak RSS above is the largest of any child so far (getrusage keeps the maximum).
    p = subprocess.run([binary, "demo", "--commands", str(n), "--carts", str(carts)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=1800)
    m = re.findall(r"processed (\d+) \((\d+)/s\)", p.stderr + p.stdout)
    print("embedded default (mock Kafka + SQLite, parallel, duplicates): %s commands/s (second run of the demo)"
          % (m[-1][1] if m else "?"))
    print("demo verdict: " + (p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "?"))


if __name__ == "__main__":
    main()
