#!/usr/bin/python3
"""End-to-end tests of rivulet-cart against real Apache Kafka and Cassandra.

Everything that checks rivulet here is code we did not write: commands are
published with confluent-kafka (librdkafka's Python binding) and python3-avro,
the results are read with the DataStax Python driver, and the expected carts
come from a reference model written here in Python, independently of the C
domain code. rivulet-cart itself runs as a child process, as a user runs it,
and is killed with SIGKILL when a test wants a crash.

Usage: cart_e2e.py RIVULET_CART_BINARY [TEST ...]
Servers: Kafka at RV_KAFKA_BOOTSTRAP (127.0.0.1:9092), Cassandra at
RV_CQL_HOST:RV_CQL_PORT (127.0.0.1:9042) with RV_CQL_USER/RV_CQL_PASSWORD
(cassandra/cassandra). A missing server fails the tests; it never skips them.
Ends with the line "N passed, N failed".
"""
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
import uuid

import avro.io
import avro.schema
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get("RV_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
CQL_HOST = os.environ.get("RV_CQL_HOST", "127.0.0.1")
CQL_PORT = int(os.environ.get("RV_CQL_PORT", "9042"))
CQL_USER = os.environ.get("RV_CQL_USER", "cassandra")
CQL_PASSWORD = os.environ.get("RV_CQL_PASSWORD", "cassandra")
BINARY = None
RUN_ID = "%d%04d" % (int(time.time()) % 100000, random.randint(0, 9999))

# The wire contract, written out by hand (not taken from rivulet).
SCHEMA = avro.schema.parse(json.dumps({
    "type": "record", "name": "ShoppingCartCmd", "namespace": "rivulet.cart",
    "fields": [
        {"name": "action", "type": "string"},
        {"name": "cartId", "type": "string"},
        {"name": "ownerOrItem", "type": "string"},
        {"name": "count", "type": ["null", "int"], "default": None},
    ]}))


def encode(action, cart, arg, count=None):
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(
        {"action": action, "cartId": str(cart), "ownerOrItem": str(arg), "count": count},
        avro.io.BinaryEncoder(buf))
    return buf.getvalue()


# ------------------------------------------------------------ reference model

class Cart:
    """The cart rules, as the README states them, applied exactly once."""

    def __init__(self):
        self.exists = False
        self.deleted = False
        self.owner = None
        self.version = -1
        self.items = {}

    def apply(self, action, arg, count):
        live = self.exists and not self.deleted
        if action == "Insert":
            self.version = self.version + 1 if self.exists else 0
            self.exists, self.deleted, self.owner, self.items = True, False, arg, {}
            return True
        if not live:
            return False
        if action == "SetOwner":
            self.owner = arg
        elif action == "AddItem":
            self.items[arg] = min(self.items.get(arg, 0) + count, 2**31 - 1)
        elif action == "RemoveItem":
            left = self.items.get(arg, 0) - count
            if left > 0:
                self.items[arg] = left
            else:
                self.items.pop(arg, None)
        elif action == "Delete":
            self.deleted, self.items = True, {}
        else:
            return False
        self.version += 1
        return True

    def view(self):
        if not self.exists:
            return None
        return (str(self.owner), self.version, self.deleted,
                tuple(sorted((str(k), v) for k, v in self.items.items())))


def random_commands(n, carts, seed):
    rnd = random.Random(seed)
    cart_ids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(carts)]
    owners = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(8)]
    items = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(12)]
    cmds = [("Insert", c, rnd.choice(owners), None) for c in cart_ids]
    mix = ["AddItem"] * 5 + ["RemoveItem"] * 3 + ["SetOwner"] * 2 + ["Delete", "Insert"]
    while len(cmds) < n:
        a = rnd.choice(mix)
        c = rnd.choice(cart_ids)
        if a in ("AddItem", "RemoveItem"):
            cmds.append((a, c, rnd.choice(items), rnd.randint(1, 5)))
        elif a == "Delete":
            cmds.append((a, c, uuid.UUID(int=0), None))
        else:
            cmds.append((a, c, rnd.choice(owners), None))
    return cmds


def reference(cmds):
    carts = {}
    for a, c, arg, n in cmds:
        carts.setdefault(c, Cart()).apply(a, arg, n)
    return {c: s.view() for c, s in carts.items()}


# ------------------------------------------------------------------ servers

def kafka_admin():
    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def create_topic(name, partitions):
    admin = kafka_admin()  # keep it alive until the futures resolve
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                             operation_timeout=30)
    for f in fs.values():
        f.result(timeout=60)


def publish(topic, cmds, raw=()):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 5})
    for a, c, arg, n in cmds:
        p.produce(topic, key=str(c).encode(), value=encode(a, c, arg, n))
        p.poll(0)
    for key, value in raw:
        p.produce(topic, key=key, value=value)
    left = p.flush(60)
    assert left == 0, "%d messages not delivered" % left


def committed_total(topic, group, partitions):
    # The group coordinator may move (a broker restart): ask again for a while.
    deadline = time.time() + 60
    while True:
        c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False})
        try:
            got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
            return sum(tp.offset for tp in got if tp.offset >= 0)
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(2)
        finally:
            c.close()


def read_topic(topic, timeout=20):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "reader-" + RUN_ID + topic,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    c.subscribe([topic])
    out, deadline = [], time.time() + timeout
    eofs = set()
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if out and len(eofs) > 0:
                break
            continue
        if m.error():
            eofs.add(m.partition())
            continue
        out.append(m)
    c.close()
    return out


_cluster = None


def cql():
    global _cluster
    if _cluster is None:
        _cluster = Cluster([CQL_HOST], port=CQL_PORT,
                           auth_provider=PlainTextAuthProvider(CQL_USER, CQL_PASSWORD))
    return _cluster.connect()


def carts_in_cassandra(keyspace, ledger):
    s = cql()
    table = "cart_ledger" if ledger else "carts"
    rows = s.execute("SELECT DISTINCT cart_id FROM %s.%s" % (keyspace, table))
    ids = [r.cart_id for r in rows]
    out = {}
    for cid in ids:
        r = s.execute("SELECT owner, items, version, deleted FROM %s.%s WHERE cart_id = %%s LIMIT 1"
                      % (keyspace, table), [cid]).one()
        if r is None or r.version is None:
            continue
        items = tuple(sorted((str(k), v) for k, v in (r.items or {}).items()))
        out[cid] = (str(r.owner), r.version, bool(r.deleted), items)
    return out


def event_rows(keyspace, ledger, cart):
    s = cql()
    if ledger:
        rows = s.execute("SELECT event_id, type, kpartition, koffset FROM %s.cart_ledger WHERE cart_id = %%s"
                         % keyspace, [cart])
        return [r for r in rows if r.event_id is not None]
    out = []
    row = s.execute("SELECT buckets FROM %s.carts WHERE cart_id = %%s" % keyspace, [cart]).one()
    for b in sorted(row.buckets or []):
        out += list(s.execute("SELECT event_id, type, kpartition, koffset FROM %s.cart_events "
                              "WHERE cart_id = %%s AND bucket = %%s" % keyspace, [cart, b]))
    return out


# --------------------------------------------------------- running rivulet

def cart_args(topic, keyspace, group, topology, mode, extra=()):
    return [
        "--bootstrap", BOOTSTRAP, "--topic", topic, "--group", group,
        "--store", "cassandra", "--cassandra", CQL_HOST,
        "-o", "cql.port=%d" % CQL_PORT, "-o", "cql.username=" + CQL_USER, "-o", "cql.password=" + CQL_PASSWORD,
        "-o", "cart.cassandra.keyspace=" + keyspace, "-o", "cart.dlq.topic=" + topic + "-dlq",
        "--topology", topology, "--mode", mode,
        "-o", "kafka.auto.offset.reset=earliest",
        # A restarted consumer takes its place in the group at once.
        "-o", "kafka.group.instance.id=" + group + "-member",
        "-o", "kafka.session.timeout.ms=10000",
    ] + list(extra)


def rivulet(cmd, args, timeout=600, check=True):
    p = subprocess.run([BINARY, cmd] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, text=True)
    if check and p.returncode != 0:
        raise AssertionError("rivulet-cart %s exited %d:\n%s\n%s" % (cmd, p.returncode, p.stdout, p.stderr[-3000:]))
    return p


def run_until_idle(args, idle_ms=3000, timeout=600):
    return rivulet("run", args + ["--idle-exit", str(idle_ms), "-q"], timeout=timeout)


def run_and_kill(args, after):
    """Runs the pipeline until it SIGKILLs itself after `after` commands (a
    crash at a chosen moment mid-stream, not at start-up)."""
    p = subprocess.run([BINARY, "run", "-q", "--crash-after", str(after)] + args,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600, text=True)
    assert p.returncode == -signal.SIGKILL, "run should have died by SIGKILL, exited %d: %s" % (
        p.returncode, p.stderr[-2000:])


def compare(expected, actual):
    """Number of carts that differ, with a few examples printed."""
    bad = 0
    for c, want in expected.items():
        got = actual.get(c)
        if got != want:
            bad += 1
            if bad <= 3:
                print("    cart %s\n      expected %s\n      got      %s" % (c, want, got))
    extra = set(actual) - set(expected)
    return bad + len(extra)


# -------------------------------------------------------------------- tests

ALICE = uuid.UUID("10000000-0000-4000-8000-000000000064")
BOB = uuid.UUID("10000000-0000-4000-8000-000000000065")
FIRST = uuid.UUID("10000000-0000-4000-8000-0000000000c8")
SECOND = uuid.UUID("10000000-0000-4000-8000-0000000000c9")


def scala_commands(cart):
    return [("Insert", cart, ALICE, None), ("SetOwner", cart, BOB, None),
            ("AddItem", cart, FIRST, 1), ("AddItem", cart, SECOND, 1), ("AddItem", cart, FIRST, 1),
            ("AddItem", cart, SECOND, 1), ("AddItem", cart, SECOND, 1), ("SetOwner", cart, ALICE, None),
            ("RemoveItem", cart, FIRST, 1), ("RemoveItem", cart, SECOND, 1)]


def test_scala_scenario():
    """The Scala original's scenario, published from Python, checked with the DataStax driver."""
    for topology in ("parallel", "serial", "atomic"):
        topic = "cart-scala-%s-%s" % (topology, RUN_ID)
        ks = "rv_e2e_scala_%s_%s" % (topology, RUN_ID)
        cart = uuid.uuid4()
        create_topic(topic, 4)
        publish(topic, scala_commands(cart))
        run_until_idle(cart_args(topic, ks, "g-" + topic, topology, "duplicates"))
        ledger = topology == "atomic"
        carts = carts_in_cassandra(ks, ledger)
        want = (str(ALICE), 9, False, tuple(sorted([(str(FIRST), 1), (str(SECOND), 2)])))
        assert carts.get(cart) == want, "%s: %s != %s" % (topology, carts.get(cart), want)
        rows = event_rows(ks, ledger, cart)
        assert len(rows) == 10, "%s: %d event rows, expected 10" % (topology, len(rows))
        committed = committed_total(topic, "g-" + topic, 4)
        assert committed == 10, "%s: committed offsets sum to %d, expected 10 (the end of the topic)" % (
            topology, committed)
        print("  %s: owner, items, version 9, ten rows, offsets committed to the end" % topology)


def test_poison_records():
    """Undecodable bytes, an unknown action, a bad UUID and a missing count go to the dead-letter topic."""
    topic = "cart-poison-" + RUN_ID
    ks = "rv_e2e_poison_" + RUN_ID
    create_topic(topic, 2)
    cart = uuid.uuid4()
    good = scala_commands(cart)
    raw = [(str(cart).encode(), b"\x0eInsert\x99"),
           (str(cart).encode(), encode("Explode", cart, ALICE)),
           (str(cart).encode(), encode("SetOwner", cart, "not-a-uuid")),
           (str(cart).encode(), encode("AddItem", cart, FIRST, None))]
    publish(topic, good[:5])
    publish(topic, [], raw)
    publish(topic, good[5:])
    run_until_idle(cart_args(topic, ks, "g-" + topic, "parallel", "idempotent"))
    carts = carts_in_cassandra(ks, False)
    assert carts.get(cart) == reference(good)[cart], "good commands not all applied: %s" % carts.get(cart)
    dlq = read_topic(topic + "-dlq")
    reasons = sorted(dict(m.headers())["rivulet.error"].decode() for m in dlq)
    assert len(reasons) == 4, "%d dead letters: %s" % (len(reasons), reasons)
    for needle in ("UTF-8", "unknown action", "not a UUID", "count: missing"):
        assert any(needle in r for r in reasons), "no dead letter mentions %r: %s" % (needle, reasons)
    assert committed_total(topic, "g-" + topic, 2) == 14, "not every offset was committed"
    print("  4 dead letters with reasons, 10 good commands applied, 14 offsets committed")


def crash_run(topology, mode, n, carts, crashes, seed):
    topic = "cart-crash-%s-%s-%s" % (topology, mode, RUN_ID)
    ks = "rv_e2e_crash_%s_%s_%s" % (topology, mode, RUN_ID)
    group = "g-" + topic
    cmds = random_commands(n, carts, seed)
    create_topic(topic, 4)
    publish(topic, cmds)
    args = cart_args(topic, ks, group, topology, mode,
                     ["-o", "kafka.source.commit.interval=500", "-o", "kafka.source.commit.batch=200"])
    rnd = random.Random(seed + 1)
    t0 = time.time()
    for i in range(crashes):
        run_and_kill(args, rnd.randint(max(1, n // (3 * crashes)), max(2, n // (2 * crashes))))
    run_until_idle(args, idle_ms=4000, timeout=900)
    took = time.time() - t0
    assert committed_total(topic, group, 4) == n, "not every offset was committed after the last run"
    ledger = topology == "atomic"
    expected = reference(cmds)
    before = compare(expected, carts_in_cassandra(ks, ledger))
    summary = ""
    if mode == "duplicates":
        summary = rivulet("compensate", args + ["-q"], timeout=900).stderr.strip().splitlines()[-1]
    after = compare(expected, carts_in_cassandra(ks, ledger))
    rebuild = rivulet("rebuild", args + ["-q"], timeout=900, check=False).returncode
    print("  %s/%s: %d commands, %d carts, %d SIGKILLs, %.0f s; carts differing from exactly-once: "
          "%d before compensation, %d after; rebuild exit %d" % (
              topology, mode, n, carts, crashes, took, before, after, rebuild))
    if summary:
        print("    " + summary)
    return before, after, rebuild


def crash_params():
    return (int(os.environ.get("RV_CRASH_COMMANDS", "10000")), int(os.environ.get("RV_CRASH_CARTS", "200")),
            int(os.environ.get("RV_CRASH_KILLS", "10")))


def test_crash_idempotent_parallel():
    n, carts, kills = crash_params()
    before, after, rebuild = crash_run("parallel", "idempotent", n, carts, kills, 11)
    assert before == 0, "idempotent mode: %d carts differ from the exactly-once reference" % before
    assert rebuild == 0


def test_crash_idempotent_atomic():
    n, carts, kills = crash_params()
    before, after, rebuild = crash_run("atomic", "idempotent", n, carts, kills, 12)
    assert before == 0, "idempotent mode: %d carts differ from the exactly-once reference" % before
    assert rebuild == 0


def test_crash_duplicates_atomic():
    n, carts, kills = crash_params()
    before, after, rebuild = crash_run("atomic", "duplicates", n, carts, kills, 13)
    assert after == 0, "atomic topology: %d carts differ after compensation" % after
    assert rebuild == 0


def test_crash_duplicates_parallel():
    """The seed's topology: the test reports the measured window instead of hiding it."""
    n, carts, kills = crash_params()
    before, after, rebuild = crash_run("parallel", "duplicates", n, carts, kills, 14)
    print("  measured window (parallel, duplicates): %d carts wrong before compensation, %d after" %
          (before, after))
    assert after == 0, "replay-based compensation left %d carts wrong" % after
    assert rebuild == 0


def test_cassandra_paused():
    """Cassandra stopped with SIGSTOP for 10 s mid-run: retries, then completion with nothing lost."""
    topic = "cart-pause-" + RUN_ID
    ks = "rv_e2e_pause_" + RUN_ID
    create_topic(topic, 4)
    cmds = random_commands(3000, 50, 21)
    publish(topic, cmds)
    pid = int(subprocess.check_output([os.path.join(ROOT, "tools/services/services"), "pid", "cassandra"]).strip())
    args = cart_args(topic, ks, "g-" + topic, "parallel", "idempotent",
                     ["-o", "cql.request.timeout=2000"])
    p = subprocess.Popen([BINARY, "run", "--idle-exit", "5000", "-q"] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(10)
    finally:
        os.kill(pid, signal.SIGCONT)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, "run failed (%d): %s" % (p.returncode, err[-2000:])
    assert committed_total(topic, "g-" + topic, 4) == len(cmds)
    bad = compare(reference(cmds), carts_in_cassandra(ks, False))
    assert bad == 0, "%d carts differ after the pause" % bad
    print("  paused 10 s mid-run; every command applied exactly once; offsets committed to the end")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TESTS = [test_scala_scenario, test_poison_records, test_crash_idempotent_parallel, test_crash_idempotent_atomic,
         test_crash_duplicates_atomic, test_crash_duplicates_parallel, test_cassandra_paused]


def main():
    global BINARY
    BINARY = sys.argv[1]
    wanted = sys.argv[2:]
    passed = failed = 0
    for t in TESTS:
        if wanted and t.__name__ not in wanted:
            continue
        t0 = time.time()
        try:
            t()
            passed += 1
            print("ok   %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            traceback.print_exc()
            print("FAIL %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
