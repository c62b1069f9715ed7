#!/usr/bin/python3
"""Records real CQL native protocol v4 response frames from a Cassandra node,
for tests/cql/test_cql_result.c and the fuzz corpus (fuzz/cql/corpus).

It speaks the protocol itself over a plain socket (no driver), so the frames
are exactly what the server sends. Run it against a node that has
PasswordAuthenticator on (tools/services/services start cassandra):

    /usr/bin/python3 tests/cql/data/record_frames.py [host] [port]

Each frame is written whole (9-byte header + body) to <name>.bin here. The
values the tests expect are the ones inserted below.
"""
import os
import socket
import struct
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9042
OUT = os.path.dirname(os.path.abspath(__file__))


def frame(opcode, body, stream=0):
    return struct.pack(">BBhBI", 4, 0, stream, opcode, len(body)) + body


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def query(q, consistency=1, page_size=None, paging_state=None):
    flags = 0
    tail = b""
    if page_size is not None:
        flags |= 0x04
        tail += struct.pack(">i", page_size)
    if paging_state is not None:
        flags |= 0x08
        tail += struct.pack(">i", len(paging_state)) + paging_state
    return frame(0x07, long_string(q) + struct.pack(">HB", consistency, flags) + tail)


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT))

    def recv(self):
        hdr = self._read(9)
        _, flags, _, opcode, length = struct.unpack(">BBhBI", hdr)
        return hdr + self._read(length)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("closed")
            buf += chunk
        return buf

    def ask(self, data):
        self.s.sendall(data)
        return self.recv()


def save(name, data):
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)
    print("%-28s opcode 0x%02x, %d bytes" % (name, data[4], len(data)))


def login(c, password="cassandra"):
    startup = frame(0x01, struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0"))
    r = c.ask(startup)
    tok = b"\0cassandra\0" + password.encode()
    r2 = c.ask(frame(0x0F, struct.pack(">i", len(tok)) + tok))
    return r, r2


def main():
    c = Conn()
    save("supported", c.ask(frame(0x05, b"")))
    authenticate, success = login(c)
    save("authenticate", authenticate)
    save("auth_success", success)

    bad = Conn()
    _, err = login(bad, "wrong-password")
    save("error_auth", err)

    run = lambda q, **kw: c.ask(query(q, **kw))
    run("DROP KEYSPACE IF EXISTS rv_record")
    save("schema_change_keyspace", run(
        "CREATE KEYSPACE rv_record WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"))
    save("set_keyspace", run("USE rv_record"))
    run("CREATE TYPE rv_record.addr (street text, zip int, tags frozen<list<text>>)")
    save("schema_change_table", run(
        "CREATE TABLE rv_record.types (k int PRIMARY KEY, a ascii, b bigint, bl blob, bo boolean, "
        "c counter_placeholder int, d decimal, db double, f float, i inet, ts timestamp, "
        "u uuid, tu timeuuid, t text, v varint, dt date, tm time, si smallint, ti tinyint, "
        "du duration, l list<int>, s set<text>, m map<text, bigint>, tp tuple<int, text, boolean>, "
        "ad frozen<addr>, n int)".replace("c counter_placeholder int, ", "")))
    save("error_already_exists", run("CREATE TABLE rv_record.types (k int PRIMARY KEY)"))
    save("void", run(
        "INSERT INTO rv_record.types (k, a, b, bl, bo, d, db, f, i, ts, u, tu, t, v, dt, tm, si, "
        "ti, du, l, s, m, tp, ad) VALUES (1, 'ascii', -9223372036854775808, 0xcafebabe, true, "
        "-123.4500, 3.141592653589793, 1.5, '192.168.1.20', 1700000000123, "
        "01234567-89ab-cdef-0123-456789abcdef, d2177dd0-eaa2-11de-a572-001b779c76e3, 'héllo ✓', "
        "-170141183460469231731687303715884105728, '2024-02-29', '23:59:59.999999999', -32768, "
        "-128, 1mo2d3ns, [1, 2, 3], {'a', 'b'}, {'x': 1, 'y': -1}, (7, 'seven', false), "
        "{street: 'Main', zip: 12345, tags: ['t1', 't2']})"))
    run("INSERT INTO rv_record.types (k, i, n) VALUES (2, '::1', null)")
    save("rows_types", run("SELECT * FROM rv_record.types WHERE k = 1"))
    save("rows_nulls", run("SELECT k, i, n, t, l FROM rv_record.types WHERE k = 2"))
    run("CREATE TABLE rv_record.kv (p int, c int, v text, PRIMARY KEY (p, c))")
    for i in range(10):
        run("INSERT INTO rv_record.kv (p, c, v) VALUES (1, %d, 'v%d')" % (i, i))
    first = run("SELECT c, v FROM rv_record.kv WHERE p = 1", page_size=4)
    save("rows_page1", first)
    # The paging state follows the metadata flags and column count.
    mflags, = struct.unpack(">i", first[13:17])
    assert mflags & 0x02, "expected more pages"
    plen, = struct.unpack(">i", first[21:25])
    state = first[25:25 + plen]
    save("rows_page2", run("SELECT c, v FROM rv_record.kv WHERE p = 1", page_size=4,
                           paging_state=state))
    save("rows_lwt_applied", run(
        "INSERT INTO rv_record.kv (p, c, v) VALUES (2, 1, 'first') IF NOT EXISTS"))
    save("rows_lwt_not_applied", run(
        "INSERT INTO rv_record.kv (p, c, v) VALUES (2, 1, 'second') IF NOT EXISTS"))
    save("rows_lwt_update_not_applied", run(
        "UPDATE rv_record.kv SET v = 'x' WHERE p = 2 AND c = 1 IF v = 'nope'"))
    save("error_syntax", run("SELEKT 1"))
    save("error_invalid", run("SELECT * FROM rv_record.missing"))
    save("prepared_insert", c.ask(frame(0x09, long_string(
        "INSERT INTO rv_record.kv (p, c, v) VALUES (?, ?, ?)"))))
    save("prepared_select", c.ask(frame(0x09, long_string(
        "SELECT * FROM rv_record.types WHERE k = ?"))))
    unknown = b"\x01" * 16
    save("error_unprepared", c.ask(frame(0x0A, struct.pack(">H", 16) + unknown +
                                         struct.pack(">HB", 1, 0))))
    # A logged batch larger than batch_size_warn_threshold comes back with a warning.
    big = "x" * 3000
    stmts = b""
    for i in range(3):
        q = "INSERT INTO rv_record.kv (p, c, v) VALUES (%d, 0, '%s')" % (10 + i, big)
        stmts += b"\x00" + long_string(q) + struct.pack(">H", 0)
    save("void_with_warning", c.ask(frame(0x0D, struct.pack(">BH", 0, 3) + stmts +
                                          struct.pack(">HB", 1, 0))))
    run("DROP KEYSPACE rv_record")


if __name__ == "__main__":
    main()
