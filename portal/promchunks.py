"""Prometheus remote read with streamed XOR chunks, decoded into runs. Pure: no HTTP (the request
is sent by portal/prometheus.py).

Reading every raw sample of a month through the JSON query API costs Prometheus serialising and
Python parsing ~25 bytes of text per sample. The remote read API (``/api/v1/read``, response type
``STREAMED_XOR_CHUNKS``) instead streams the TSDB's own compressed chunks: Gorilla XOR chunks of
up to 120 samples. A scrape that lands on a perfectly regular grid with an unchanged value is
encoded as a run of zero bits (delta-of-delta 0, value XOR 0), so a chunk whose bits after its
second timestamp are all zero *is* an arithmetic run ``t0, t0 + d, ..., t0 + (n-1) d`` of one
value: read in O(1) without decoding a sample. Any other chunk (jitter, a missed scrape, a value
change, a stale marker) is decoded sample by sample, exactly as Prometheus' ``chunkenc`` does.

Frames' CRC32C checksums are not verified (the stream is HTTP over TCP; a damaged protobuf
fails to parse and the caller falls back to the query API).

A series is returned as *runs* ``(t0_ms, d_ms, n, value)``: ``n`` samples at ``t0 + k*d``, all
with ``value`` (``d`` is 0 when ``n`` is 1). Stale markers are dropped, as the query API does.
"""

from __future__ import annotations

import json
import re
import struct

Run = tuple[int, int, int, float]  # (first timestamp ms, step ms, samples, value)

STALE_NAN = b"\x7f\xf0\x00\x00\x00\x00\x00\x02"  # value.StaleNaN, big-endian
_STALE_BITS = int.from_bytes(STALE_NAN, "big")
CHUNK_XOR = 1
STREAMED_XOR_CHUNKS = 1
CONTENT_TYPE = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

_MATCH_TYPES = {"=": 0, "!=": 1, "=~": 2, "!~": 3}
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER = re.compile(
    rf'\s*({_LABEL})\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*(?:,|$)'
)


class UnsupportedSelector(ValueError):
    """A selector this module cannot turn into remote read matchers (the caller falls back)."""


def parse_selector(selector: str) -> list[tuple[int, str, str]]:
    """``metric{label="v", other=~"re"}`` -> [(matcher type, name, value)] (``__name__`` first)."""
    m = re.fullmatch(rf"\s*({_NAME})?\s*(?:\{{(.*)\}})?\s*", selector, re.S)
    if m is None:
        raise UnsupportedSelector(f"not a plain selector: {selector!r}")
    out = [(0, "__name__", m.group(1))] if m.group(1) else []
    body, pos = (m.group(2) or "").strip(), 0
    while pos < len(body):
        found = _MATCHER.match(body, pos)
        if found is None:
            raise UnsupportedSelector(f"cannot parse matchers in {selector!r}")
        name, op, quoted = found.groups()
        if quoted[0] == "'":
            quoted = '"' + quoted[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
        out.append((_MATCH_TYPES[op], name, json.loads(quoted)))
        pos = found.end()
    if not out:
        raise UnsupportedSelector("empty selector")
    return out


# ---------------------------------------------------------------------- protobuf, by hand
def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _uvarint(number << 3 | 2) + _uvarint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _uvarint(number << 3) + _uvarint(value & 0xFFFFFFFFFFFFFFFF)


def snappy_literal(data: bytes) -> bytes:
    """``data`` in the snappy block format as one literal (valid snappy, no compression)."""
    if not data:
        return b"\x00"
    n = len(data) - 1
    return _uvarint(len(data)) + bytes([63 << 2]) + n.to_bytes(4, "little") + data


def read_request(matchers: list[tuple[int, str, str]], start_ms: int, end_ms: int) -> bytes:
    """A snappy-encoded ``prompb.ReadRequest`` for one query asking for streamed XOR chunks."""
    return read_request_many([matchers], start_ms, end_ms)


def read_request_many(
    selectors: list[list[tuple[int, str, str]]], start_ms: int, end_ms: int
) -> bytes:
    """One ``prompb.ReadRequest`` with a query per selector (same time range): the server
    answers them one after the other in one stream, each frame naming its query's index."""
    if not selectors:
        raise ValueError("no selector to read")
    queries = b""
    for matchers in selectors:
        query = _varint_field(1, start_ms) + _varint_field(2, end_ms)
        for kind, name, value in matchers:
            query += _field(
                3, _varint_field(1, kind) + _field(2, name.encode()) + _field(3, value.encode())
            )
        queries += _field(1, query)
    body = queries + _field(2, _uvarint(STREAMED_XOR_CHUNKS))
    return snappy_literal(body)


def _read_uvarint(buf, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf, pos: int = 0, end: int | None = None):
    """(field number, value) of a protobuf message: ints for varints, slices of ``buf`` for
    bytes."""
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = _read_uvarint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _read_uvarint(buf, pos)
        elif wire == 2:
            size, pos = _read_uvarint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire} not supported")
        yield key >> 3, value


def frames(stream) -> object:
    """The messages of a streamed remote read body: ``uvarint size, crc32c (4 bytes), message``
    per frame. ``stream`` yields byte pieces of any size."""
    buf, pos = bytearray(), 0
    for piece in stream:
        buf += piece
        while True:
            try:
                size, start = _read_uvarint(buf, pos)
            except IndexError:
                break
            if len(buf) < start + 4 + size:
                break
            yield bytes(buf[start + 4 : start + 4 + size])
            pos = start + 4 + size
        del buf[:pos]
        pos = 0
    if buf:
        raise ValueError("remote read stream ended inside a frame")


def chunked_response(
    message: bytes, names: frozenset[str] | None = None
) -> tuple[int, list[tuple[dict[str, str], list[tuple[int, bytes]]]]]:
    """(query index, [(labels, [(chunk type, data)])]) of one ``ChunkedReadResponse``, in one
    pass over the message (the index is 0 when absent, as protobuf says). With ``names``, only
    the labels of those names are decoded (a caller that keys series by a few labels skips the
    others' strings)."""
    index, series = 0, []
    pos, end = 0, len(message)
    while pos < end:
        key, pos = _read_uvarint(message, pos)
        if key == 0x0A:  # field 1: a ChunkedSeries
            size, pos = _read_uvarint(message, pos)
            series.append(_series(message, pos, pos + size, names))
            pos += size
        elif key == 0x10:  # field 2: query_index
            index, pos = _read_uvarint(message, pos)
        else:  # a field this reader does not use
            pos = _skip(message, pos, key & 7)
    return index, series


def decoded_response(
    message: bytes, names: frozenset[str] | None, start_ms: int, end_ms: int
) -> tuple[int, list[tuple[dict[str, str], list[Run]]]]:
    """(query index, [(labels, runs in ``[start_ms, end_ms)``)]) of one ``ChunkedReadResponse``,
    series without a sample there left out: :func:`chunked_response`, :func:`series_runs` and
    :func:`clip` in one pass. A series laid out as Prometheus writes it (short labels, chunks
    with their fields in order) is read in place, without copying a chunk; any other is read
    the general way, so the answer is the same either way."""
    index, out = 0, []
    pos, end = 0, len(message)
    while pos < end:
        key = message[pos]
        if key == 0x0A:  # field 1: a ChunkedSeries
            size, pos = _read_uvarint(message, pos + 1)
            stop = pos + size
            found = _series_in_place(message, pos, stop, names, start_ms, end_ms)
            if found is None:
                labels, chunks = _series(message, pos, stop, names)
                found = labels, clip(series_runs(chunks), start_ms, end_ms)
            if found[1]:
                out.append(found)
            pos = stop
        elif key == 0x10:  # field 2: query_index
            index, pos = _read_uvarint(message, pos + 1)
        else:
            key, pos = _read_uvarint(message, pos)
            pos = _skip(message, pos, key & 7)
    return index, out


# A chunk's fields as Prometheus writes them: min time, max time, type 1 (XOR), then the data's
# key; the data's length follows.
_XOR_CHUNK_HEAD = re.compile(
    rb"\x08[\x80-\xff]{0,9}[\x00-\x7f]\x10[\x80-\xff]{0,9}[\x00-\x7f]\x18\x01\x22"
)
_unpack_double = struct.Struct(">d").unpack_from


def _series_in_place(
    buf: bytes, pos: int, end: int, names: frozenset[str] | None, start_ms: int, end_ms: int
) -> tuple[dict[str, str], list[Run]] | None:
    """(labels, clipped runs) of the ``ChunkedSeries`` in ``buf[pos:end]`` when its labels all
    come first with one-byte lengths and every chunk is an XOR chunk with its fields in order;
    else None (and nothing was decided)."""
    labels: dict[str, str] = {}
    while pos < end and buf[pos] == 0x0A:  # a label: {1: name, 2: value}
        size, length = buf[pos + 1], buf[pos + 3]
        at = pos + 4 + length  # the value's key
        stop = pos + 2 + size
        if (
            size >= 0x80
            or length >= 0x80
            or buf[pos + 2] != 0x0A
            or at + 1 >= stop
            or buf[at] != 0x12
            or at + 2 + buf[at + 1] != stop
        ):
            return None
        name = buf[pos + 4 : at].decode()
        if names is None or name in names:
            labels[name] = buf[at + 2 : stop].decode()
        pos = stop
    runs: list[Run] = []
    while pos < end:  # a chunk
        if buf[pos] != 0x12:
            return None
        size, pos = _read_uvarint(buf, pos + 1)
        stop = pos + size
        head = _XOR_CHUNK_HEAD.match(buf, pos, stop)
        if head is None:
            return None
        length, data = _read_uvarint(buf, head.end())
        if data + length != stop:
            return None
        for run in _xor_runs(buf, data, stop):
            if runs and run[0] <= _last(runs[-1]):
                return None  # overlapping chunks: the general way
            append_run(runs, run)
        pos = stop
    return labels, clip(runs, start_ms, end_ms)


def _xor_runs(buf: bytes, pos: int, stop: int) -> list[Run]:
    """:func:`decode_xor` of ``buf[pos:stop]``: a chunk that is one run is read in place."""
    if stop - pos > 1 and (buf[pos] or buf[pos + 1] > 1):  # two samples or more
        ux, at = _read_uvarint(buf, pos + 2)
        delta, tail = _read_uvarint(buf, at + 8)
        if buf.count(0, tail, stop) == stop - tail and buf[at : at + 8] != STALE_NAN:
            return [
                (
                    (ux >> 1) ^ -(ux & 1),
                    delta,
                    buf[pos] << 8 | buf[pos + 1],
                    _unpack_double(buf, at)[0],
                )
            ]
    return decode_xor(buf[pos:stop])


def _skip(buf: bytes, pos: int, wire: int) -> int:
    """The position after a field's value of wire type ``wire`` starting at ``pos``."""
    if wire == 0:
        return _read_uvarint(buf, pos)[1]
    if wire == 2:
        size, pos = _read_uvarint(buf, pos)
        return pos + size
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    raise ValueError(f"protobuf wire type {wire} not supported")


def _series(
    buf: bytes, pos: int, end: int, names: frozenset[str] | None = None
) -> tuple[dict[str, str], list[tuple[int, bytes]]]:
    """(labels, chunks) of the ``ChunkedSeries`` in ``buf[pos:end]``: a label per field, so a
    short read's hot loop; the usual one-byte keys and lengths are read inline (anything else:
    ``_fields``)."""
    labels: dict[str, str] = {}
    chunks = []
    first = pos
    while pos < end:
        key, size = buf[pos], buf[pos + 1]
        if key & 0x80 or key & 7 != 2:
            return _series_slow(buf[first:end], names)
        if size < 0x80:
            pos += 2
        else:
            size, pos = _read_uvarint(buf, pos + 1)
        stop = pos + size
        if key == 0x0A:  # field 1: a label, {1: name, 2: value}
            value_at = pos + 2 + buf[pos + 1] if size > 1 else stop
            if (
                buf[pos] == 0x0A
                and buf[pos + 1] < 0x80
                and value_at + 1 < stop
                and buf[value_at] == 0x12
                and value_at + 2 + buf[value_at + 1] == stop
            ):
                name = buf[pos + 2 : value_at].decode()
                if names is None or name in names:
                    labels[name] = buf[value_at + 2 : stop].decode()
            else:
                name, value = _label_slow(buf[pos:stop])
                if names is None or name in names:
                    labels[name] = value
        elif key == 0x12:  # field 2: a chunk
            chunks.append(_chunk(buf, pos, stop))
        pos = stop
    return labels, chunks


def _series_slow(
    buf, names: frozenset[str] | None = None
) -> tuple[dict[str, str], list[tuple[int, bytes]]]:
    labels: dict[str, str] = {}
    chunks = []
    for number, value in _fields(buf):
        if number == 1:
            name, label_value = _label_slow(value)
            if names is None or name in names:
                labels[name] = label_value
        elif number == 2:
            chunks.append(_chunk(value))
    return labels, chunks


def _label_slow(buf) -> tuple[str, str]:
    pair = dict(_fields(buf))
    return bytes(pair.get(1, b"")).decode(), bytes(pair.get(2, b"")).decode()


def _chunk(buf, pos: int = 0, end: int | None = None) -> tuple[int, bytes]:
    """(type, data) of the ``prompb.Chunk`` in ``buf[pos:end]``: the hot loop of a month's
    read, so inlined (one-byte lengths and types read in place)."""
    first, end, kind, data = pos, len(buf) if end is None else end, 0, b""
    while pos < end:
        key = buf[pos]
        pos += 1
        if key == 0x22:  # field 4, bytes: the chunk
            size = buf[pos]
            if size < 0x80:
                pos += 1
            else:
                size, pos = _read_uvarint(buf, pos)
            data, pos = buf[pos : pos + size], pos + size
        elif key == 0x18:  # type
            kind = buf[pos]
            if kind < 0x80:
                pos += 1
            else:
                kind, pos = _read_uvarint(buf, pos)
        elif key & 7 == 0:  # min/max time: skipped
            while buf[pos] & 0x80:
                pos += 1
            pos += 1
        else:
            return _chunk_slow(buf[first:end])
    return kind, bytes(data)


def _chunk_slow(buf) -> tuple[int, bytes]:
    chunk = dict(_fields(buf))
    return chunk.get(3, 0), bytes(chunk.get(4, b""))


# ---------------------------------------------------------------------- XOR chunks
def decode_xor(data: bytes) -> list[Run]:
    """The runs of one XOR chunk (Prometheus tsdb/chunkenc/xor.go)."""
    n = data[0] << 8 | data[1] if len(data) > 1 else 0
    if n == 0:
        return []
    ux, pos = _read_uvarint(data, 2)
    t0 = (ux >> 1) ^ -(ux & 1)
    value_bytes = data[pos : pos + 8]
    if n == 1:
        return [] if value_bytes == STALE_NAN else [(t0, 0, 1, struct.unpack(">d", value_bytes)[0])]
    delta, tail = _read_uvarint(data, pos + 8)
    if value_bytes != STALE_NAN and not any(data[tail:]):  # every later bit 0: one run
        return [(t0, delta, n, struct.unpack(">d", value_bytes)[0])]
    return runs_of(_decode_samples(data, n))


def _decode_samples(data: bytes, n: int) -> list[tuple[int, int]]:
    """Every (timestamp ms, value bits) of an XOR chunk, decoded bit by bit."""
    bits = format(int.from_bytes(data[2:], "big"), f"0{8 * (len(data) - 2)}b")
    pos = 0

    def read(k: int) -> int:
        nonlocal pos
        pos += k
        return int(bits[pos - k : pos], 2)

    def uvarint() -> int:
        result = shift = 0
        while True:
            b = read(8)
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    ux = uvarint()
    t = (ux >> 1) ^ -(ux & 1)
    vbits = read(64)
    out = [(t, vbits)]
    leading = trailing = 0
    delta = 0
    for i in range(1, n):
        if i == 1:
            delta = uvarint()
        else:
            d = 0
            for _ in range(4):
                d <<= 1
                if bits[pos] == "0":
                    pos += 1
                    break
                pos += 1
                d |= 1
            sz = {0b0: 0, 0b10: 14, 0b110: 17, 0b1110: 20}.get(d)
            if sz is None:  # 0b1111: 64 bits, two's complement
                dod = read(64)
                dod = dod - (1 << 64) if dod >= 1 << 63 else dod
            elif sz:
                dod = read(sz)
                if dod > 1 << (sz - 1):
                    dod -= 1 << sz
            else:
                dod = 0
            delta += dod
        t += delta
        if bits[pos] == "1":
            pos += 1
            if bits[pos] == "1":
                pos += 1
                leading = read(5)
                significant = read(6) or 64
                trailing = 64 - leading - significant
            else:
                pos += 1
            vbits ^= read(64 - leading - trailing) << trailing
        else:
            pos += 1
        out.append((t, vbits))
    return out


def runs_of(samples: list[tuple[int, int]]) -> list[Run]:
    """Samples ``(timestamp ms, value bits)`` sorted by time -> runs (stale markers dropped)."""
    runs: list[Run] = []
    for t, vbits in samples:
        if vbits != _STALE_BITS:
            append_run(runs, (t, 0, 1, struct.unpack(">d", vbits.to_bytes(8, "big"))[0]))
    return runs


def _last(run: Run) -> int:
    return run[0] + (run[2] - 1) * run[1]


def append_run(runs: list[Run], run: Run) -> None:
    """Append ``run`` (later than every sample of ``runs``), merged into the last run when it
    continues it: same value (bitwise), same step."""
    if runs:
        t0, d, n, v = runs[-1]
        gap = run[0] - (t0 + (n - 1) * d)
        step = d if n > 1 else gap
        if gap == step and (run[2] == 1 or run[1] == step) and _same(v, run[3]):
            runs[-1] = (t0, step, n + run[2], v)
            return
    runs.append(run)


def _same(a: float, b: float) -> bool:
    """Bitwise equal doubles (0.0 is not -0.0; a NaN is itself), without packing the usual
    nonzero equal pair."""
    if a == b and a:
        return True
    return struct.pack(">d", a) == struct.pack(">d", b)


def clip(runs: list[Run], start_ms: int, end_ms: int) -> list[Run]:
    """The samples of ``runs`` in ``[start_ms, end_ms)``."""
    out: list[Run] = []
    for t0, d, n, v in runs:
        if n == 1 or d == 0:
            if start_ms <= t0 < end_ms:
                out.append((t0, d, n, v))
            continue
        first = max(0, -((t0 - start_ms) // d))  # ceil((start - t0) / d)
        stop = min(n, -((t0 - end_ms) // d))  # samples with t < end
        if stop > first:
            k = stop - first
            out.append((t0 + first * d, d if k > 1 else 0, k, v))
    return out


def series_runs(chunks: list[tuple[int, bytes]]) -> list[Run]:
    """The runs of one series from its chunks (in time order, possibly overlapping)."""
    runs: list[Run] = []
    for kind, data in chunks:
        if kind != CHUNK_XOR:
            raise ValueError(f"chunk encoding {kind} is not a float gauge (XOR)")
        for run in decode_xor(data):
            if runs and run[0] <= _last(runs[-1]):
                return _sorted_runs(chunks)
            append_run(runs, run)
    return runs


def _sorted_runs(chunks: list[tuple[int, bytes]]) -> list[Run]:
    """Overlapping chunks: every sample, the later chunk winning a shared timestamp."""
    samples: dict[int, float] = {}
    for _, data in chunks:
        for t0, d, n, v in decode_xor(data):
            for k in range(n):
                samples[t0 + k * d] = v
    runs: list[Run] = []
    for t in sorted(samples):
        append_run(runs, (t, 0, 1, samples[t]))
    return runs
