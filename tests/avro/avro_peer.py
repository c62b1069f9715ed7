#!/usr/bin/python3
"""An independent Avro peer for rivulet's interop tests, on python3-avro
(Debian's package; PyPI's `avro` is the same code).

    avro_peer.py encode SCHEMA.avsc  < values.jsonl   > hex lines
    avro_peer.py check  SCHEMA.avsc  < "hex<TAB>json" lines

Values are JSON with two conventions: bytes and fixed are hex strings, and a
timestamp-millis is an integer (the peer turns it into a datetime, so
python's logical-type path is what writes it). `check` decodes each hex
record and compares it with the JSON, printing "ok N" or the first mismatch
and exiting 1. Raw Avro binary only: no container, no framing.
"""
import binascii
import datetime
import io
import json
import sys

try:
    import avro.io
    import avro.schema
except ImportError:  # the C test fails (never skips) when the peer is missing
    print("python3-avro is not installed (apt-get install python3-avro)", file=sys.stderr)
    sys.exit(3)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def to_datum(schema, v):
    """JSON (test conventions) -> what python-avro writes."""
    t = schema.type
    if t == "union":
        if v is None:
            return None
        for b in schema.schemas:
            if b.type != "null":
                return to_datum(b, v)
    if t in ("bytes", "fixed"):
        return binascii.unhexlify(v)
    if t == "long" and schema.get_prop("logicalType") == "timestamp-millis":
        return EPOCH + datetime.timedelta(milliseconds=v)
    if t == "array":
        return [to_datum(schema.items, x) for x in v]
    if t == "map":
        return {k: to_datum(schema.values, x) for k, x in v.items()}
    if t in ("record", "error"):
        return {f.name: to_datum(f.type, v[f.name]) for f in schema.fields}
    return v


def to_json(schema, d):
    """What python-avro read -> JSON (test conventions)."""
    t = schema.type
    if t == "union":
        if d is None:
            return None
        for b in schema.schemas:
            if b.type != "null":
                return to_json(b, d)
    if t in ("bytes", "fixed"):
        return binascii.hexlify(d).decode()
    if isinstance(d, datetime.datetime):
        return (d - EPOCH) // datetime.timedelta(milliseconds=1)
    if t == "array":
        return [to_json(schema.items, x) for x in d]
    if t == "map":
        return {k: to_json(schema.values, x) for k, x in d.items()}
    if t in ("record", "error"):
        return {f.name: to_json(f.type, d[f.name]) for f in schema.fields}
    return d


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        schema = avro.schema.parse(f.read())
    writer = avro.io.DatumWriter(schema)
    reader = avro.io.DatumReader(schema)
    n = 0
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        n += 1
        if mode == "encode":
            buf = io.BytesIO()
            writer.write(to_datum(schema, json.loads(line)), avro.io.BinaryEncoder(buf))
            print(binascii.hexlify(buf.getvalue()).decode())
        elif mode == "check":
            hexed, want = line.split("\t", 1)
            raw = binascii.unhexlify(hexed)
            buf = io.BytesIO(raw)
            got = to_json(schema, reader.read(avro.io.BinaryDecoder(buf)))
            if buf.tell() != len(raw):
                print(f"record {n}: {len(raw) - buf.tell()} bytes left over")
                return 1
            # Compare through JSON so that key order and int/float spelling agree.
            if json.dumps(got, sort_keys=True) != json.dumps(json.loads(want), sort_keys=True):
                print(f"record {n}: got {json.dumps(got, sort_keys=True)}")
                print(f"record {n}: want {json.dumps(json.loads(want), sort_keys=True)}")
                return 1
        else:
            print(f"unknown mode {mode}", file=sys.stderr)
            return 2
    if mode == "check":
        print(f"ok {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
