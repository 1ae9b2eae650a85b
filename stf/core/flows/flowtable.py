"""From a flow file to connections: flows grouped by 4-tuple, as columns.

A connection is every flow of one `SrcAddr-DstAddr-Dport-Proto` (the source
port ignored). The table holds the flows sorted by (connection, start time),
stable so that equal start times keep file order, and connections in code-point
order of their ids, so connection i owns rows bounds[i]:bounds[i + 1].

This is the one place that groups flows: `read` for a file, `from_blocks` for
blocks of flowfile.iter_blocks (or made by hand, as the tests do). Letters
(stf.core.flows.letters) are computed from the table's columns.
"""
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from array import array
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import compress, count

import numpy as np

from stf.core.flows import connid, flowfile
from stf.core.errors import UserError

COLUMNS = ('start', 'dur', 'size', 'offset', 'line')
INT64_MAX = (1 << 63) - 1


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


    def select(self, keep):
        """A FlowTable of the connections whose id passes keep(id)."""
        chosen = [position for position, conn in enumerate(self.ids) if keep(conn)]
        rows = (np.concatenate([np.arange(self.bounds[p], self.bounds[p + 1]) for p in chosen])
                if chosen else np.zeros(0, np.int64))
        bounds = np.zeros(len(chosen) + 1, np.int64)
        np.cumsum(np.diff(self.bounds)[chosen], out=bounds[1:])
        return FlowTable([self.ids[p] for p in chosen], bounds, label=self.label[rows],
                         labels=self.labels, stats=self.stats,
                         **{name: getattr(self, name)[rows] for name in COLUMNS})


# Files smaller than this are read in one process: starting others costs more.
PARALLEL_BYTES = 32 << 20


def read(path, progress=None, only=None, workers=None):
    """The FlowTable of a binetflow or Zeek conn.log file; see from_blocks.

    progress: called as progress(bytes read so far, file size) after every
    block. workers: processes reading parts of a large file at once (default:
    one per core, at most 4).
    """
    size = os.path.getsize(path)
    workers = workers or min(os.cpu_count() or 1, 4)
    if only is None and workers > 1 and size >= PARALLEL_BYTES:
        table = _read_in_parts(path, size, workers, progress)
        if table is not None:
            return table
    stats = flowfile.ReadStats()
    blocks = flowfile.iter_blocks(path, stats=stats)
    return from_blocks(_reporting(blocks, progress, size, 1) if progress else blocks,
                       only, stats)


def _reporting(blocks, progress, size, parts):
    for block in blocks:
        yield block
        progress(min(block.offset[-1] * parts, size) if block.offset else 0, size)


def _read_in_parts(path, size, workers, progress):
    """Read the file in parts, one per process (this one reads the first), and
    join them; None when the file must be read in one go (a header in the
    middle can change the columns for everything after it)."""
    fmt = flowfile.sniff_format(path)
    cuts = flowfile.line_starts(path, size, workers)
    if len(cuts) < 2:
        return None
    ranges = [(begin, end, first) for (begin, first), (end, _) in
              zip(cuts, cuts[1:] + [(size, None)])]
    context = multiprocessing.get_context('fork')
    pool = ProcessPoolExecutor(len(ranges) - 1, mp_context=context, initializer=_start_reader,
                               initargs=(os.getpid(),))
    try:
        futures = [pool.submit(_read_part, path, fmt, *part) for part in ranges[1:]]
        parts = [_read_part(path, fmt, *ranges[0], progress=progress, size=size,
                            count=len(ranges))]
        parts += [future.result() for future in futures]
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()
    if any(part.stats.headers_skipped for part in parts):
        return None
    return _joined(parts)


def _start_reader(parent_pid):
    """Set up a reader of parts: deaf to Ctrl-C, and ending with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent(parent_pid)


def _end_with_parent(parent_pid):
    """A reader whose console was killed (kill -9) would otherwise finish its
    part and wait forever to hand it over, holding the console's stdout open:
    the kernel ends it with its parent (Linux), and a thread checks every
    PARENT_CHECK_SECONDS that the parent is still there (everywhere)."""
    _ask_kernel_to_end_us()
    if os.getppid() != parent_pid:   # the parent died before the request
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name='parent watch').start()


PARENT_CHECK_SECONDS = 0.5
PR_SET_PDEATHSIG = 1


def _ask_kernel_to_end_us():
    """Linux: SIGKILL this process when the thread that started it ends
    (the pool starts its processes in the thread that submits the parts,
    which waits in read() until every part is in)."""
    if not sys.platform.startswith('linux'):
        return False
    try:   # the program's own symbols hold libc's
        return ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid):
    """End this process once its parent is gone (it is given another parent)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _stop(pool):
    """Stop the readers of parts at once (the command was interrupted)."""
    for process in list((getattr(pool, '_processes', None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Part:
    """One part of a file: its columns as codes into its own tables of ids and
    labels (so that only those small tables and numeric bytes cross processes)."""
    ids: list
    conn: np.ndarray
    labels: list
    label: np.ndarray
    columns: dict
    stats: object


def _read_part(path, fmt, begin, end, first_line, progress=None, size=None, count=1):
    stats = flowfile.ReadStats()
    blocks = flowfile.iter_blocks(path, fmt, stats, begin, end, first_line)
    if progress:
        blocks = _reporting(blocks, progress, size, count)
    columns = _Columns(None)
    for block in blocks:
        columns.add(block)
    conn = np.concatenate(columns.conn) if columns.conn else np.zeros(0, np.int64)
    label = np.concatenate(columns.label) if columns.label else np.zeros(0, np.int32)
    return _Part(list(columns.codes), conn, list(columns.label_codes), label,
                 {name: columns.columns[name].tobytes() for name in COLUMNS}, stats)


def _joined(parts):
    """One FlowTable from the parts, in file order."""
    columns = _Columns(None)
    for part in parts:
        conn_map = np.fromiter(map(columns.codes.__getitem__, part.ids), np.int64,
                               len(part.ids))
        label_map = np.fromiter(map(columns.label_codes.__getitem__, part.labels), np.int32,
                                len(part.labels))
        columns.conn.append(conn_map[part.conn] if len(part.conn) else part.conn)
        columns.label.append(label_map[part.label] if len(part.label) else part.label)
        for name in COLUMNS:
            columns.columns[name].frombytes(part.columns[name])
    return columns.table(_joined_stats(parts))


def _joined_stats(parts):
    stats = flowfile.ReadStats()
    for part in parts:
        for key, value in vars(part.stats).items():
            if isinstance(value, int):
                setattr(stats, key, getattr(stats, key) + value)
        stats.first_malformed = sorted(stats.first_malformed
                                       + part.stats.first_malformed)[:flowfile.FIRST_MALFORMED]
    # A flow that starts before the last flow of the part before it.
    starts = [np.frombuffer(part.columns['start'], np.int64) for part in parts]
    stats.out_of_order += sum(1 for before, after in zip(starts, starts[1:])
                              if len(before) and len(after) and after[0] < before[-1])
    return stats


def from_blocks(blocks, only=None, stats=None):
    """The FlowTable of the flows of flowfile.iter_blocks(...) (FlowBlocks).

    only: a set of connection ids to keep (the other flows are dropped block by
    block). stats: the ReadStats the blocks were read with, kept in the table.
    Durations and sizes beyond int64 are clamped, as they only ever meet
    thresholds of seconds and kilobytes; a start time beyond int64 is a broken
    line and a UserError that names it.
    """
    columns = _Columns(only)
    for block in blocks:
        columns.add(block)
    return columns.table(stats)


class _Columns:
    """The flows of the blocks so far, in file order: array('q') columns and
    numpy chunks of codes (int64 connection codes, int32 label codes). Each takes
    8 or 4 bytes a flow, where a list would keep every value's int object alive.

    Connection ids and labels become integer codes as they come. Without `only`
    a new id gets the next code from defaultdict(count().__next__): one C call a
    flow, faster than coding each block's new values first with a set. With
    `only` the codes are the ranks of the wanted ids in code-point order and an
    id without a code is dropped.
    """

    def __init__(self, only):
        self.only = only is not None
        self.codes = defaultdict(count().__next__) if only is None else \
            {conn: code for code, conn in enumerate(sorted(only))}
        self.label_codes = defaultdict(count().__next__)
        self.label_codes['']   # code 0: no label
        self.conn, self.label = [], []
        self.columns = {name: array('q') for name in COLUMNS}

    def add(self, block):
        ids = connid.make_all(block.src, block.dst, block.dport, block.proto)
        values = block.start, block.dur, block.bytes, block.offset, block.line_no, block.label
        if self.only:
            conn = list(map(self.codes.get, ids))
            if None in conn:
                keep = [code is not None for code in conn]
                conn = list(compress(conn, keep))
                values = [list(compress(column, keep)) for column in values]
        else:
            conn = map(self.codes.__getitem__, ids)
        start, dur, size, offset, line, label = values
        self.conn.append(np.fromiter(conn, np.int64, len(start)))
        self.columns['start'].extend(_int64_times(start, line))
        self.columns['dur'].extend(_int64(dur))
        self.columns['size'].extend(_int64(size))
        self.columns['offset'].extend(_int64(offset))
        self.columns['line'].extend(_int64(line))
        self.label.append(np.fromiter(map(self.label_codes.__getitem__, label), np.int32,
                                      len(start)))

    def table(self, stats):
        """The FlowTable; the columns are released one by one as they are sorted."""
        keys = list(self.codes)
        conn = np.concatenate(self.conn) if self.conn else np.zeros(0, np.int64)
        if self.only:   # drop the wanted ids that have no flows
            present = np.bincount(conn, minlength=len(keys)) > 0
            ids, ranks = list(compress(keys, present.tolist())), np.cumsum(present) - 1
        else:
            ids, ranks = _code_point_order(keys)
        conn = ranks[conn]
        del self.conn
        # lexsort is stable: flows that start at the same time keep their file order
        order = np.lexsort((np.frombuffer(self.columns['start'], np.int64), conn))
        bounds = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(np.bincount(conn, minlength=len(ids)), out=bounds[1:])
        del conn
        arrays = {name: np.frombuffer(self.columns.pop(name), np.int64)[order]
                  for name in COLUMNS}
        label = (np.concatenate(self.label) if self.label else np.zeros(0, np.int32))[order]
        del self.label
        return FlowTable(ids, bounds, label=label, labels=list(self.label_codes),
                         stats=stats, **arrays)


def _int64(values):
    """values as array('q'), those beyond int64 clamped."""
    try:
        return array('q', values)
    except OverflowError:
        return array('q', [min(max(value, -INT64_MAX), INT64_MAX) for value in values])


def _int64_times(values, line_numbers):
    """Start times as array('q'); one beyond int64 is a broken line, not a time."""
    try:
        return array('q', values)
    except OverflowError:
        line = next(number for number, value in zip(line_numbers, values)
                    if not -INT64_MAX <= value <= INT64_MAX)
        raise UserError(f'line {line}: the start time is out of range (more than 292,000 '
                        'years from 1970); fix or remove that line') from None


def _code_point_order(keys):
    """(keys sorted, rank of each key in that order), keys given by code (their
    order of first appearance). Sorting codes by key avoids looking every key up
    again, which costs as much as the sort itself."""
    codes = sorted(range(len(keys)), key=keys.__getitem__)
    ranks = np.empty(len(keys), np.int64)
    ranks[codes] = np.arange(len(keys))
    return list(map(keys.__getitem__, codes)), ranks

