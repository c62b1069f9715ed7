#!/usr/bin/python3
"""The DataStax Python driver's side of tests/cql/test_cql_integration.c.

    types_roundtrip.py write <table>   writes the canonical rows (k = 1, 2) and
                                       the counter row with the Python driver
    types_roundtrip.py check <table>   reads rows k = 1, 2 (written by rivulet)
                                       and compares every column with the
                                       canonical values; exit 1 on a mismatch

Connection: RV_CQL_HOST, RV_CQL_PORT, RV_CQL_USER, RV_CQL_PASSWORD; keyspace
rv_test_cql. The canonical values here and in the C test must stay the same.
"""
import datetime
import logging
import os
import sys
import uuid
import warnings
from decimal import Decimal

warnings.simplefilter("ignore")

logging.getLogger("cassandra").setLevel(logging.ERROR)

from cassandra.auth import PlainTextAuthProvider  # noqa: E402
from cassandra.cluster import Cluster  # noqa: E402
from cassandra.policies import DCAwareRoundRobinPolicy  # noqa: E402
from cassandra.util import Date, Duration, Time  # noqa: E402

KS = "rv_test_cql"
COLS = ["k", "a", "b", "bl", "bo", "d", "db", "f", "i4", "i6", "n", "si", "ti", "t", "ts", "dt",
        "tm", "u", "tu", "v", "du", "l", "s", "m", "tp", "ad", "nl"]


class Addr(object):
    def __init__(self, street=None, zip=None, tags=None):
        self.street, self.zip, self.tags = street, zip, tags

    def __eq__(self, o):
        return (self.street, self.zip, self.tags) == (o.street, o.zip, o.tags)

    def __repr__(self):
        return "Addr(%r, %r, %r)" % (self.street, self.zip, self.tags)


def rows():
    r1 = {
        "k": 1, "a": "ascii!", "b": -9223372036854775808, "bl": b"\xca\xfe\x00\xba\xbe",
        "bo": True, "d": Decimal("-123.4500"), "db": 3.141592653589793, "f": 1.5,
        "i4": "192.168.1.20", "i6": "::1", "n": None, "si": -32768, "ti": -128,
        "t": "h\u00e9llo \u2713 \u65e5\u672c", "ts": datetime.datetime(2023, 11, 14, 22, 13, 20, 123000),
        "dt": Date("2024-02-29"), "tm": Time(86399999999999),
        "u": uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"),
        "tu": uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3"),
        "v": -170141183460469231731687303715884105728, "du": Duration(1, 2, 3),
        "l": [1, 2, 3], "s": {"a", "b"}, "m": {"x": 1, "y": -1}, "tp": (7, "seven", False),
        "ad": Addr("Main", 12345, ["t1", "t2"]), "nl": None,
    }
    r2 = {
        "k": 2, "a": "", "b": 9223372036854775807, "bl": b"", "bo": False, "d": Decimal("0"),
        "db": -1e308, "f": -3.4028234663852886e38, "i4": "0.0.0.0",
        "i6": "2001:db8::ff00:42:8329", "n": 2147483647, "si": 32767, "ti": 127, "t": "",
        "ts": datetime.datetime(1969, 12, 31, 23, 59, 59, 999000), "dt": Date("1900-01-01"),
        "tm": Time(0), "u": uuid.UUID("00000000-0000-0000-0000-000000000000"),
        "tu": uuid.UUID("00000000-0000-1000-8000-000000000000"), "v": 2 ** 64,
        "du": Duration(-1, -2, -3), "l": [-2147483648], "s": {""}, "m": {"": 0},
        "tp": (None, "", None), "ad": Addr("S", None, [""]), "nl": None,
    }
    return [r1, r2]


def session():
    cluster = Cluster(
        contact_points=[os.environ.get("RV_CQL_HOST", "127.0.0.1")],
        port=int(os.environ.get("RV_CQL_PORT", "9042")), protocol_version=4,
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"),
        auth_provider=PlainTextAuthProvider(os.environ.get("RV_CQL_USER", "cassandra"),
                                            os.environ.get("RV_CQL_PASSWORD", "cassandra")))
    s = cluster.connect(KS)
    cluster.register_user_type(KS, "addr", Addr)
    return cluster, s


def same(col, want, got):
    if col == "nl" and got == []:
        return True
    if isinstance(want, float) and isinstance(got, float):
        return want == got
    if col in ("i4", "i6"):
        import ipaddress
        return ipaddress.ip_address(want) == ipaddress.ip_address(got)
    if col == "s" or col == "m":
        return want == (set(got) if col == "s" and got is not None else (dict(got) if got is not None else None))
    if col == "l":
        return want == (list(got) if got is not None else None)
    if col == "tp":
        return want == (tuple(got) if got is not None else None)
    if col == "ad":
        return got is not None and want.street == got.street and want.zip == got.zip and \
            want.tags == (list(got.tags) if got.tags is not None else None)
    if col == "f":
        return abs(want - got) <= abs(want) * 1e-7
    return want == got


def main():
    mode, table = sys.argv[1], sys.argv[2]
    cluster, s = session()
    try:
        if mode == "write":
            q = s.prepare("INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(COLS),
                                                                ", ".join("?" * len(COLS))))
            for r in rows():
                s.execute(q, [r[c] for c in COLS])
            up = s.prepare("UPDATE %s_counter SET c = c + ? WHERE k = ?" % table)
            s.execute(up, [40, 1])
            s.execute(up, [2, 1])
            print("written")
            return 0
        bad = 0
        for want in rows():
            got = s.execute("SELECT * FROM %s WHERE k = %d" % (table, want["k"])).one()
            if got is None:
                print("row k=%d missing" % want["k"])
                bad += 1
                continue
            for c in COLS:
                g = getattr(got, c)
                if not same(c, want[c], g):
                    print("k=%d %s: want %r, got %r" % (want["k"], c, want[c], g))
                    bad += 1
        c = s.execute("SELECT c FROM %s_counter WHERE k = 1" % table).one()
        if c is None or c.c != 42:
            print("counter: want 42, got %r" % (c.c if c else None))
            bad += 1
        print("ok" if not bad else "%d mismatches" % bad)
        return 1 if bad else 0
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
