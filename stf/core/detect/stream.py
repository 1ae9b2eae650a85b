"""Tuples' states growing flow by flow, judged in time slots.

The Stratosphere IPS and an experiment see a capture the same way (SPEC.md,
"The Stratosphere IPS" and "Experiments"): flows in start-time order, cut into
slots of T seconds counted from the first flow (a gap of days is many empty
slots); each 4-tuple keeps a running state (letters), of which it keeps only the
last MAX_STATE characters; at a slot's end every tuple that got a flow in it is
judged on its state so far.

Three ways in, which give the same states:
- `TupleStates`: flow by flow, as the flows arrive (the reference).
- `TupleTable`: a window's flows at a time, with numpy, its tuples held in
  columns (the IPS's way: millions of tuples, no object per tuple).
- `slot_runs(table, ...)`: every (slot, tuple) of a whole flow table at once,
  with numpy. A tuple's state at the end of a slot is the last MAX_STATE
  characters of its full state up to its last flow in that slot, so the full
  states are made once (letters.states) and cut, instead of growing a string
  per flow.
"""
import itertools
from dataclasses import dataclass, field

import numpy as np

from stf.core.flows import connid
from stf.core.flows.letters import CONSTRUCTORS, DEFAULT_CONSTRUCTOR, LETTERS, SECOND, \
    TIMECHARS, continued, flow_piece, states
from stf.core.errors import UserError
from stf.core.formats import counted

MAX_STATE = 100
SLOT_SECONDS = 300
# The most slots a run may span: a year of 5-minute slots, ten years of hours.
# More comes from a broken clock (a flow in 1970 among flows of today) and
# would only make empty slots.
MAX_SLOTS = 10 * 8766 * 12

_LETTER_BYTES = np.zeros(256, bool)
_LETTER_BYTES[list(''.join(LETTERS).encode('ascii'))] = True
_TIMECHAR_BYTES = np.zeros(256, bool)
_TIMECHAR_BYTES[[ord(char) for char, _ in TIMECHARS]] = True


@dataclass(frozen=True)
class Slots:
    """Time slots of width_us microseconds from origin_us (the first flow's
    start); slot numbers count from 1, as the time-corrected metrics need."""
    origin_us: int
    width_us: int

    def number(self, start_us):
        """The slot a flow starting at start_us falls in (numpy arrays too)."""
        return (start_us - self.origin_us) // self.width_us + 1

    def begin_us(self, number):
        return self.origin_us + (number - 1) * self.width_us


def slot_width_us(seconds):
    """Slot seconds (an int or decimal text) -> µs; a UserError unless positive."""
    try:
        width = round(float(seconds) * SECOND)
    except (TypeError, ValueError):
        width = 0
    if not 0 < width < 10 ** 15:
        raise UserError(f'the slot length must be a positive number of seconds, not '
                        f'{seconds!r} (the default is {SLOT_SECONDS})')
    return width


# ---- flow by flow -------------------------------------------------------------

@dataclass
class _Tuple:
    state: str = ''
    flows: int = 0
    last_start: int = None
    last_gap: int = None


class TupleStates:
    """Every tuple's running state, fed one flow at a time in start-time order.

    constructor: the letters' thresholds (letters.CONSTRUCTORS). max_length: the
    characters a state keeps (its last ones).
    """

    def __init__(self, constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR], max_length=MAX_STATE):
        self.constructor = constructor
        self.max_length = max_length
        self.tuples = {}

    def add(self, tuple_id, start_us, dur_us, size):
        """Append one flow's letter to its tuple; returns the tuple's state."""
        entry = self.tuples.get(tuple_id)
        if entry is None:
            entry = self.tuples[tuple_id] = _Tuple()
        gap = None if entry.last_start is None else start_us - entry.last_start
        piece = flow_piece(entry.last_gap if gap is not None else None, gap, dur_us, size,
                           self.constructor)
        entry.state = (entry.state + piece)[-self.max_length:]
        entry.flows += 1
        entry.last_start, entry.last_gap = start_us, gap
        return entry.state

    def state(self, tuple_id):
        entry = self.tuples.get(tuple_id)
        return entry.state if entry else ''


# ---- a window at a time ---------------------------------------------------------

class TupleTable:
    """Every tuple's running state, grown a window's flows at a time.

    Tuples live in numbered rows (reused after eviction): `index` maps a tuple
    id to its row; per row the columns hold its id, state, flows so far, last
    flow start and last gap, and `extra` columns of the caller's (the IPS keeps
    each tuple's source IP and port weight there).
    """

    def __init__(self, constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR], max_length=MAX_STATE):
        self.constructor = constructor
        self.max_length = max_length
        self.index = {}
        self.ids, self.states = [], []
        self.free = []
        self.flows = np.zeros(0, np.int64)
        self.last_start = np.zeros(0, np.int64)
        self.last_gap = np.zeros(0, np.int64)

    def __len__(self):
        return len(self.index)

    def rows_of(self, ids):
        """(the row of each tuple id as an int64 array, the rows given to new
        tuples, their ids)."""
        get = self.index.get
        rows = np.fromiter(map(get, ids, itertools.repeat(-1, len(ids))), np.int64, len(ids))
        new_rows, new_ids = [], []
        for at in np.flatnonzero(rows < 0).tolist():
            tuple_id = ids[at]
            row = get(tuple_id)
            if row is None:
                row = self._new(tuple_id)
                new_rows.append(row)
                new_ids.append(tuple_id)
            rows[at] = row
        return rows, new_rows, new_ids

    def _new(self, tuple_id):
        if self.free:
            row = self.free.pop()
            self.ids[row], self.states[row] = tuple_id, ''
        else:
            row = len(self.ids)
            self.ids.append(tuple_id)
            self.states.append('')
            if row >= len(self.flows):
                self._grow_columns(max(1024, 2 * row))
        self.flows[row] = self.last_start[row] = self.last_gap[row] = 0
        self.index[tuple_id] = row
        return row

    def _grow_columns(self, size):
        for name in ('flows', 'last_start', 'last_gap'):
            setattr(self, name, grown(getattr(self, name), size))

    def add(self, rows, start, dur, size):
        """Append flows (any order; a tuple's flows go in start-time order,
        equal starts in the order given; a flow that starts before its tuple's
        last flow counts as starting with it). Returns (rows, new flows) of the
        tuples that got flows, by row."""
        order = np.lexsort((start, rows))
        rows, start, dur, size = rows[order], start[order], dur[order], size[order]
        heads = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
        bounds = np.append(heads, len(rows))
        touched = rows[heads]
        counts = np.diff(bounds)
        prior = self.flows[touched]
        prior_start = self.last_start[touched]
        start = np.maximum(start, np.repeat(np.where(prior > 0, prior_start, start.min()),
                                            counts))
        pieces = continued(start, dur, size, bounds, prior, prior_start,
                           self.last_gap[touched], self.constructor)
        states, cap = self.states, self.max_length
        for row, piece in zip(touched.tolist(), pieces):
            states[row] = (states[row] + piece)[-cap:]
        last = bounds[1:] - 1
        before = np.where(counts > 1, start[last - 1], prior_start)
        gap = start[last] - before
        self.last_gap[touched] = np.where((counts > 1) | (prior > 0), gap,
                                          self.last_gap[touched])
        self.last_start[touched] = start[last]
        self.flows[touched] = prior + counts
        return touched, counts

    def evict(self, before_us):
        """Forget the tuples whose last flow started before before_us: their rows."""
        used = len(self.ids)
        old = np.flatnonzero((self.last_start[:used] < before_us) & (self.flows[:used] > 0))
        for row in old.tolist():
            del self.index[self.ids[row]]
            self.ids[row] = self.states[row] = None
            self.flows[row] = 0
        self.free.extend(old.tolist())
        return old

    def state(self, tuple_id):
        row = self.index.get(tuple_id)
        return self.states[row] if row is not None else ''


def grown(column, size):
    """column copied into a zeroed array of size (columns grow by doubling)."""
    bigger = np.zeros(size, column.dtype)
    bigger[:len(column)] = column
    return bigger


# ---- a whole flow table at once ---------------------------------------------

@dataclass
class SlotRuns:
    """The flows of one tuple in one slot ("runs"), for every (slot, tuple)
    with flows, sorted by slot, then tuple.

    slots: the Slots. last_slot: the number of the last slot with flows.
    slot, conn: int64 slot number and connection index (into ids) of each run.
    first, last: its first and last row in the table (a run is rows
    first..last, since the table is sorted by tuple, then start).
    new_flows: the flows the tuple got in the slot; flows: its flows so far.
    states: each run's state at the slot's end (its last max_length chars).
    ids: the table's connection ids; src: the source IP of each connection.
    """
    slots: Slots
    last_slot: int
    slot: np.ndarray
    conn: np.ndarray
    first: np.ndarray
    last: np.ndarray
    new_flows: np.ndarray
    flows: np.ndarray
    states: list
    ids: list
    src: list = field(default_factory=list)

    def __len__(self):
        return len(self.slot)

    def slot_bounds(self):
        """(slot number, begin, end) of each slot with flows: its runs are
        begin:end."""
        if not len(self.slot):
            return []
        change = np.flatnonzero(np.diff(self.slot)) + 1
        begins = np.concatenate(([0], change))
        ends = np.concatenate((change, [len(self.slot)]))
        return list(zip(self.slot[begins].tolist(), begins.tolist(), ends.tolist()))


def slot_runs(table, width_us=SLOT_SECONDS * SECOND,
              constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR], max_length=MAX_STATE):
    """The SlotRuns of a flowtable.FlowTable (flows sorted by tuple, then start)."""
    flows = table.flows
    conn = np.repeat(np.arange(len(table.ids), dtype=np.int64), np.diff(table.bounds))
    origin = int(table.start.min()) if flows else 0
    slots = Slots(origin, width_us)
    slot = slots.number(table.start) if flows else np.zeros(0, np.int64)
    last_slot = int(slot.max()) if flows else 0
    if last_slot > MAX_SLOTS:
        raise UserError(f'the flows span {counted(last_slot, "slot")} of {width_us / SECOND:g} s '
                        f'(more than {MAX_SLOTS:,}): a flow has a broken time; choose a '
                        'longer --slot or remove the flows far from the others')
    first, last = _runs(conn, slot)
    order = np.lexsort((conn[first], slot[first]))
    first, last = first[order], last[order]
    rank = np.arange(flows, dtype=np.int64) - table.bounds[conn]
    return SlotRuns(slots, last_slot, slot[first], conn[first], first, last,
                    last - first + 1, rank[last] + 1,
                    _run_states(table, conn, last, constructor, max_length),
                    table.ids, [source_of(conn_id) for conn_id in table.ids])


def _runs(conn, slot):
    """(first, last) rows of every stretch of rows with one tuple and one slot."""
    if not len(conn):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero((conn[1:] != conn[:-1]) | (slot[1:] != slot[:-1])) + 1
    return np.concatenate(([0], change)), np.concatenate((change - 1, [len(conn) - 1]))


def _run_states(table, conn, last, constructor, max_length):
    """The state of each run's tuple up to the run's last flow, capped."""
    full = states(table.start, table.dur, table.size, table.bounds, constructor)
    text = ''.join(full)
    ends = piece_ends(text)
    if len(ends) != table.flows:
        raise AssertionError('every flow writes exactly one letter')
    starts = np.concatenate(([0], np.cumsum([len(state) for state in full])))
    conn_begin = starts[conn[last]]
    end = ends[last]
    begin = np.maximum(conn_begin, end - max_length)
    return [text[b:e] for b, e in zip(begin.tolist(), end.tolist())]


def piece_ends(text):
    """Where each flow's piece (zeros + letter + timechar) ends in a text of
    states: one letter per flow, followed by its timechar if it has one."""
    codes = np.frombuffer(text.encode('ascii'), np.uint8)
    at = np.flatnonzero(_LETTER_BYTES[codes]) + 1
    following = np.zeros(len(at), bool)
    inside = at < len(codes)
    following[inside] = _TIMECHAR_BYTES[codes[at[inside]]]
    return at + following


def source_of(conn_id):
    """The source address of a connection id."""
    try:
        return connid.parse(conn_id).src
    except UserError:
        return conn_id.split('-', 1)[0]
