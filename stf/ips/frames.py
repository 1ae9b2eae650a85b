"""The frames in which stf-ips' flow reader (stf.ips.reader, a child
process) hands its blocks to the IPS over a pipe (nothing is unpickled):

    kind (1 byte) + payload length (4 bytes, big-endian) + payload

B a block: flows (4 bytes), then start, dur, bytes, tuple (the index of
  each flow's connection id in `tuples`), line and offset (where each flow's
  line is in the input) as int64 arrays, then the columns
  tuples (the block's distinct connection ids, made here), src, dst and
  dport, each its length and its number of values (4 bytes each), then T and
  the values joined with newlines in UTF-8, or J and a JSON list when a value
  holds a newline. The IPS decodes
  src, dst and dport only when it needs them (a whitelist), and looks each
  tuple up once per block.
S the reader's statistics (JSON), after every block and at the end.
N a note (ra ended and is started again). E an error line. Z the end.
"""
import json
import struct
from dataclasses import asdict

import numpy as np

from stf.core.flows import connid


HEAD = struct.Struct('>cI')
COUNT = struct.Struct('>I')
COLUMNS = ('tuples', 'src', 'dst', 'dport')


class Flows:
    """A block as the engine reads it: start, dur, bytes, tuple, line_no,
    offset (int64 arrays: tuples[tuple[i]] is flow i's connection id) and
    tuples, src, dst, dport (lists of str, decoded when first asked for)."""

    def __init__(self, start, dur, size, tuple_index, line_no, offset, columns):
        self.start, self.dur, self.bytes, self.tuple = start, dur, size, tuple_index
        self.line_no, self.offset = line_no, offset
        self._raw = columns   # name -> (marker, bytes)

    def __getattr__(self, name):
        if name not in COLUMNS:
            raise AttributeError(name)
        values = _column_values(*self._raw[name])
        setattr(self, name, values)
        return values


# -- frames out (the child) -----------------------------------------------------
def block_frame(block):
    count = len(block.start)
    tuples, tuple_index = connid.distinct(
        connid.make_all(block.src, block.dst, block.dport, block.proto))
    parts = [COUNT.pack(count)]
    parts += [np.asarray(column, np.int64).tobytes() for column in
              (block.start, block.dur, block.bytes, tuple_index, block.line_no,
               block.offset)]
    columns = {name: getattr(block, name) for name in COLUMNS[1:]}
    columns['tuples'] = tuples
    for name in COLUMNS:
        text = _column_bytes(columns[name], len(columns[name]))
        parts += [COUNT.pack(len(text)), COUNT.pack(len(columns[name])), text]
    return frame(b'B', b''.join(parts))


def _column_bytes(values, count):
    text = '\n'.join(values)
    if text.count('\n') != max(count - 1, 0):   # a value holds a newline
        return b'J' + json.dumps(list(values)).encode()
    return b'T' + text.encode('utf-8', 'surrogatepass')


def frame(kind, payload):
    return HEAD.pack(kind, len(payload)) + payload


def stats_frame(stats):
    return frame(b'S', json.dumps(asdict(stats)).encode())


def text_frame(kind, text):
    return frame(kind, text.encode('utf-8', 'replace'))


# -- frames in (the parent) ---------------------------------------------------------
def read_frame(stream):
    """(kind, payload) of the next frame, or None at the end of the stream."""
    head = _exactly(stream, HEAD.size)
    if head is None:
        return None
    kind, length = HEAD.unpack(head)
    payload = _exactly(stream, length) if length else b''
    if payload is None:
        return None
    return kind, payload


def _exactly(stream, size):
    data = stream.read(size)
    while data and len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            return None
        data += more
    return data if len(data) == size else None


def block_of(payload):
    """The Flows of a B frame's payload."""
    count, = COUNT.unpack_from(payload)
    at = COUNT.size
    numbers = []
    for _ in range(6):
        numbers.append(np.frombuffer(payload, np.int64, count, at))
        at += 8 * count
    columns = {}
    for name in COLUMNS:
        length, values = COUNT.unpack_from(payload, at)[0], COUNT.unpack_from(payload, at + 4)[0]
        at += 2 * COUNT.size
        columns[name] = payload[at:at + 1], payload[at + 1:at + length], values
        at += length
    return Flows(*numbers, columns)


def _column_values(marker, text, count):
    if marker == b'J':
        return json.loads(text)
    return text.decode('utf-8', 'surrogatepass').split('\n') if count else []
