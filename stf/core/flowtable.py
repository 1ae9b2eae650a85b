"""From a flow file to connections: flows grouped by 4-tuple, as columns.

A connection is every flow of one `SrcAddr-DstAddr-Dport-Proto` (the source
port ignored). The table holds the flows sorted by (connection, start time),
stable so that equal start times keep file order, and connections in code-point
order of their ids, so connection i owns rows bounds[i]:bounds[i + 1].
"""
from dataclasses import dataclass

import numpy as np

from stf.core import flowfile

COLUMNS = ('start', 'dur', 'size', 'offset', 'line')


@dataclass
class FlowTable:
    """ids: connection ids (sorted); bounds: int64 (len(ids) + 1);
    start, dur, size (µs, µs, bytes), offset (byte where the line starts),
    line (line number): int64 per flow; label: int32 code per flow into
    labels (labels[0] is '', no label); stats: flowfile.ReadStats."""
    ids: list
    bounds: np.ndarray
    start: np.ndarray
    dur: np.ndarray
    size: np.ndarray
    offset: np.ndarray
    line: np.ndarray
    label: np.ndarray
    labels: list
    stats: object

    def __len__(self):
        return len(self.ids)

    @property
    def flows(self):
        return int(self.bounds[-1])


def read(path, progress=None, only=None):
    """The FlowTable of a binetflow or Zeek conn.log file.

    only: a set of connection ids to keep (the rest is read and dropped).
    """
    stats = flowfile.ReadStats()
    codes, label_codes = {}, {'': 0}
    columns = {name: [] for name in ('conn', 'label', *COLUMNS)}
    for block in flowfile.iter_blocks(path, stats=stats):
        add_block(columns, block, codes, label_codes, only)
        if progress:
            progress(block.offset[-1] if block.offset else 0, None)
    return build(columns, codes, label_codes, stats)


def add_block(columns, block, codes, label_codes, only):
    ids = list(map('{}-{}-{}-{}'.format, block.src, block.dst, block.dport, block.proto))
    keep = None
    if only is not None:
        keep = [conn in only for conn in ids]
        ids = [conn for conn, wanted in zip(ids, keep) if wanted]
    columns['conn'] += encode(ids, codes)
    pairs = zip(COLUMNS + ('label',), (block.start, block.dur, block.bytes, block.offset,
                                       block.line_no, block.label))
    for name, values in pairs:
        if keep is not None:
            values = [value for value, wanted in zip(values, keep) if wanted]
        columns[name] += encode(values, label_codes) if name == 'label' else values


def encode(values, codes):
    """Integer codes of values, new values getting the next codes.

    Set and map run in C: far faster than a setdefault call per flow.
    """
    for value in set(values).difference(codes):
        codes[value] = len(codes)
    return list(map(codes.__getitem__, values))


def build(columns, codes, label_codes, stats):
    ids = sorted(codes)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.fromiter(map(codes.__getitem__, ids), np.int64, len(ids))] = np.arange(
        len(ids), dtype=np.int64)
    conn = rank[np.asarray(columns['conn'], dtype=np.int64)] if ids else np.zeros(0, np.int64)
    start = np.asarray(columns['start'], dtype=np.int64)
    order = np.lexsort((start, conn))  # stable: equal starts keep file order
    counts = np.bincount(conn, minlength=len(ids))
    bounds = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    arrays = {name: np.asarray(columns[name], dtype=np.int64)[order] for name in COLUMNS}
    label = np.asarray(columns['label'], dtype=np.int32)[order]
    labels = sorted(label_codes, key=label_codes.get)
    return FlowTable(ids, bounds, label=label, labels=labels, stats=stats, **arrays)
