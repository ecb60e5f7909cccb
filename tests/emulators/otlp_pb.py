"""otlp_pb.py - a small hand-written protobuf writer and reader for OTLP logs, from the public
field numbers of opentelemetry/proto (collector/logs/v1, logs/v1, common/v1, resource/v1).
Standard library only: tests build ExportLogsServiceRequest bytes and read the answers.

A request is described with plain dicts in OTLP's JSON shape (lowerCamelCase):
  {"resourceLogs": [{"resource": {"attributes": [kv...]},
                     "scopeLogs": [{"scope": {"name", "version", "attributes"},
                                    "logRecords": [record...]}]}]}
record: timeUnixNano, observedTimeUnixNano, severityNumber, severityText, body (AnyValue),
attributes, droppedAttributesCount, flags, traceId / spanId (hex), eventName.
AnyValue: {"stringValue"}, {"boolValue"}, {"intValue"}, {"doubleValue"}, {"bytesValue"
(base64)}, {"arrayValue": {"values": [...]}}, {"kvlistValue": {"values": [kv...]}}.
encode_request(d) gives protobuf bytes; json.dumps(d) is the same request in OTLP JSON."""
import base64
import struct


def varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(field, wt):
    return varint(field << 3 | wt)


def ld(field, data):
    return tag(field, 2) + varint(len(data)) + data


def fixed64(field, v):
    return tag(field, 1) + struct.pack("<Q", v)


def fixed32(field, v):
    return tag(field, 5) + struct.pack("<I", v)


def anyvalue(v):
    if "stringValue" in v:
        return ld(1, v["stringValue"].encode())
    if "boolValue" in v:
        return tag(2, 0) + varint(1 if v["boolValue"] else 0)
    if "intValue" in v:
        return tag(3, 0) + varint(int(v["intValue"]))
    if "doubleValue" in v:
        return tag(4, 1) + struct.pack("<d", float(v["doubleValue"]))
    if "arrayValue" in v:
        return ld(5, b"".join(ld(1, anyvalue(x)) for x in v["arrayValue"].get("values", [])))
    if "kvlistValue" in v:
        return ld(6, b"".join(ld(1, keyvalue(x)) for x in v["kvlistValue"].get("values", [])))
    if "bytesValue" in v:
        return ld(7, base64.b64decode(v["bytesValue"]))
    return b""


def keyvalue(kv):
    return ld(1, kv["key"].encode()) + ld(2, anyvalue(kv.get("value", {})))


def attrs(field, lst):
    return b"".join(ld(field, keyvalue(kv)) for kv in lst or [])


def record(r):
    b = b""
    if "timeUnixNano" in r:
        b += fixed64(1, int(r["timeUnixNano"]))
    if "severityNumber" in r:
        b += tag(2, 0) + varint(int(r["severityNumber"]))
    if "severityText" in r:
        b += ld(3, r["severityText"].encode())
    if "body" in r:
        b += ld(5, anyvalue(r["body"]))
    b += attrs(6, r.get("attributes"))
    if "droppedAttributesCount" in r:
        b += tag(7, 0) + varint(int(r["droppedAttributesCount"]))
    if "flags" in r:
        b += fixed32(8, int(r["flags"]))
    if r.get("traceId"):
        b += ld(9, bytes.fromhex(r["traceId"]))
    if r.get("spanId"):
        b += ld(10, bytes.fromhex(r["spanId"]))
    if "observedTimeUnixNano" in r:
        b += fixed64(11, int(r["observedTimeUnixNano"]))
    if "eventName" in r:
        b += ld(12, r["eventName"].encode())
    return b


def scope(s):
    b = b""
    if "name" in s:
        b += ld(1, s["name"].encode())
    if "version" in s:
        b += ld(2, s["version"].encode())
    return b + attrs(3, s.get("attributes"))


def encode_request(d):
    out = b""
    for rl in d.get("resourceLogs", []):
        b = b""
        if "resource" in rl:
            b += ld(1, attrs(1, rl["resource"].get("attributes")))
        for sl in rl.get("scopeLogs", []):
            s = b""
            if "scope" in sl:
                s += ld(1, scope(sl["scope"]))
            s += b"".join(ld(2, record(r)) for r in sl.get("logRecords", []))
            b += ld(2, s)
        out += ld(1, b)
    return out


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """Yields (field, wire type, value) of one message: ints, or bytes for length-delimited."""
    i = 0
    while i < len(b):
        key, i = read_varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 1:
            v = struct.unpack("<Q", b[i:i + 8])[0]
            i += 8
        elif wt == 5:
            v = struct.unpack("<I", b[i:i + 4])[0]
            i += 4
        elif wt == 2:
            n, i = read_varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def _count_and_message(b):
    """Field 1 a varint, field 2 a string: the shape of both answers below."""
    n, msg = 0, ""
    for f, _, v in fields(b):
        if f == 1:
            n = v
        elif f == 2:
            msg = v.decode()
    return n, msg


def decode_response(b):
    """ExportLogsServiceResponse -> (rejected_log_records, error_message)."""
    rejected, msg = 0, ""
    for f, _, v in fields(b):
        if f == 1:
            rejected, msg = _count_and_message(v)
    return rejected, msg


def decode_status(b):
    """google.rpc.Status -> (code, message)."""
    return _count_and_message(b)
