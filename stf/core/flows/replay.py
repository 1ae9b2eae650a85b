"""A replay of a group's flows in time order, and what it has shown of each tuple.

A group keeps its flows by connection (stf.models.connections: chunks of
consecutive connections, each connection's flows sorted by start), so the
capture's time order runs across every chunk at once. FlowOrder gives it
window by window in bounded memory: one pass over the chunks samples each
chunk's starts; the time span is cut by those samples into windows of about
`budget` flows; a window is the rows of the chunks it overlaps that start in
it, sorted by start. The sort is stable and the rows come in the group's
order, so flows that start together keep that order and a connection's flows
come in the order its letters were made. Memory holds one window and a few
numbers per tuple, whatever the group's size.

Playback is the replay's state: per tuple the flows shown and the start of
the latest, the clock (SPEED times real time, or evenly spaced flows), pause,
step, jump and the sort orders. A tuple's letters after k flows are the
first k pieces of its state (state_ends). The periodicity sort ranks the
periodicity of the letters shown so far (Periodicities): each tuple's
periodic and judged letters are counted on from where its last count
stopped, reading only the piece of its state its new flows wrote.

A source of chunks (what FlowOrder reads) has `count` (chunks) and
scan(numbers, work): [work(Chunk) for each chunk number, in that order]; it
may read each chunk from a database and forget it after work.
"""
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from stf.core.errors import UserError
from stf.core.flows import letters

SECOND = 1_000_000
# Flows per window: the window's arrays (start, tuple, order) take ~24 bytes each.
WINDOW_FLOWS = 1 << 20
# Starts sampled per chunk to cut the windows: a window may exceed its budget
# by about one sample's share of each chunk it overlaps.
SAMPLES = 256
NEVER = np.iinfo(np.int64).min
# -x 0: flows shown per second at first (+ and - double and halve it).
EVEN_RATE = 10.0
# The slowest and fastest speeds (times real time) and rates (-x 0, flows a
# second): beyond them + and - stop, and a clock moved a whole second at
# once stays far within int64 microseconds.
SPEEDS = (1 / 64, 100_000.0)
RATES = (1 / 64, 1_000_000.0)
SORTS = ('recent', 'flows', 'periodicity')


@dataclass(frozen=True)
class Chunk:
    """One chunk of a group: start (int64 µs, sorted by start within each
    connection), bounds (int64, connection i owns rows bounds[i]:bounds[i+1]),
    ids (the connections' ids)."""
    start: np.ndarray
    bounds: np.ndarray
    ids: list


class ArrayChunks:
    """A source of chunks held in memory (tests, benchmarks)."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.count = len(self.chunks)

    def scan(self, numbers, work):
        return [work(self.chunks[number]) for number in numbers]


def chunks_of(start, bounds, ids, connections_per_chunk):
    """Flows sorted by (connection, start) cut into ArrayChunks of that many
    connections each (as a group's chunks are)."""
    start, bounds = np.asarray(start, np.int64), np.asarray(bounds, np.int64)
    found = []
    for first in range(0, len(bounds) - 1, connections_per_chunk):
        last = min(first + connections_per_chunk, len(bounds) - 1)
        rows = slice(bounds[first], bounds[last])
        found.append(Chunk(start[rows], bounds[first:last + 1] - bounds[first],
                           list(ids[first:last])))
    return ArrayChunks(found)


@dataclass(frozen=True)
class Sample:
    """What one pass learns of a chunk: its flows per connection, its first
    and last start, and SAMPLES of its sorted starts (each standing for
    `weight` flows)."""
    counts: np.ndarray
    ids: list
    first: int
    last: int
    values: np.ndarray
    weight: float


def sample(chunk):
    counts = np.diff(chunk.bounds)
    flows = len(chunk.start)
    if not flows:
        return Sample(counts, list(chunk.ids), 0, -1, np.zeros(0, np.int64), 0.0)
    ordered = np.sort(chunk.start)
    taken = np.unique(np.linspace(0, flows - 1, min(flows, SAMPLES)).round().astype(np.int64))
    return Sample(counts, list(chunk.ids), int(ordered[0]), int(ordered[-1]),
                  ordered[taken], flows / len(taken))


class FlowOrder:
    """A group's flows in time order, window by window.

    Attributes: source, ids (tuple index -> connection id: the group's
    connections in chunk order), counts (flows of each tuple), offsets (the
    first tuple of each chunk), spans (first and last start of each chunk),
    edges (windows: [edges[i], edges[i+1]) µs), first and last (the group's
    first and last start)."""

    def __init__(self, source, budget=None, progress=None):
        self.source = source
        budget = budget or WINDOW_FLOWS
        samples = source.scan(range(source.count), _counted(sample, progress, source.count))
        self.ids = [conn for found in samples for conn in found.ids]
        self.counts = np.concatenate([found.counts for found in samples] or [np.zeros(0)]
                                     ).astype(np.int64)
        self.offsets = np.concatenate(([0], np.cumsum([len(found.counts) for found in
                                                       samples]))).astype(np.int64)
        self.spans = np.array([(found.first, found.last) for found in samples],
                              np.int64).reshape(-1, 2)
        self.edges = window_edges(samples, budget)
        self.first = int(self.edges[0]) if len(self.edges) else 0
        self.last = int(self.edges[-1]) - 1 if len(self.edges) else -1

    @property
    def windows(self):
        return max(len(self.edges) - 1, 0)

    def window(self, number, selected=None):
        """(start, tuple) of the flows of window `number`, in time order;
        selected: a bool per tuple, flows of the others left out (None: all)."""
        low, high = int(self.edges[number]), int(self.edges[number + 1])
        touching = np.flatnonzero((self.spans[:, 0] < high) & (self.spans[:, 1] >= low))

        def rows(chunk, offset):
            at = np.flatnonzero((chunk.start >= low) & (chunk.start < high))
            tuples = offset + np.searchsorted(chunk.bounds, at, 'right') - 1
            if selected is not None:
                keep = selected[tuples]
                at, tuples = at[keep], tuples[keep]
            return chunk.start[at], tuples
        found = self._scan(touching, rows)
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        start = np.concatenate([part[0] for part in found])
        tuples = np.concatenate([part[1] for part in found])
        order = stable_order(start, low)
        return start[order], tuples[order]

    def until(self, moment, selected=None):
        """(flows, latest start) of every tuple counting its flows that start
        at or before moment (NEVER where none)."""
        if moment < self.first:          # the replay's start: nothing to read
            return (np.zeros(len(self.counts), np.int64),
                    np.full(len(self.counts), NEVER, np.int64))

        def counted(chunk, offset):
            passed = np.concatenate(([0], np.cumsum(chunk.start <= moment)))
            seen = passed[chunk.bounds[1:]] - passed[chunk.bounds[:-1]]
            latest = np.full(len(seen), NEVER, np.int64)
            some = seen > 0
            latest[some] = chunk.start[chunk.bounds[:-1][some] + seen[some] - 1]
            return seen, latest
        found = self._scan(range(self.source.count), counted)
        seen = np.concatenate([part[0] for part in found] or [np.zeros(0, np.int64)])
        latest = np.concatenate([part[1] for part in found] or [np.zeros(0, np.int64)])
        if selected is not None:
            seen[~selected] = 0
            latest[~selected] = NEVER
        return seen.astype(np.int64), latest

    def window_at(self, moment):
        """The window that holds moment (the first or last one outside the span)."""
        return int(np.clip(np.searchsorted(self.edges, moment, 'right') - 1, 0,
                           max(self.windows - 1, 0)))

    def _scan(self, numbers, work):
        numbers = [int(number) for number in numbers]
        offsets = iter(self.offsets[numbers].tolist())
        return self.source.scan(numbers, lambda chunk: work(chunk, next(offsets)))


def stable_order(start, low):
    """np.argsort(start, kind='stable') for starts at or after low, sooner:
    one key holds the start and the position (unique keys: any sort gives
    the stable order), which numpy's quicksort sorts several times faster
    than its stable sort does the starts; the stable sort when the key would
    not fit in int64 (a window spanning years)."""
    bits = max(len(start).bit_length(), 1)
    if not len(start) or int(start.max()) - low >= 1 << (62 - bits):
        return np.argsort(start, kind='stable')
    return np.argsort(((start - low) << bits) | np.arange(len(start)))


def _counted(work, progress, total):
    """work, calling progress(done, total) after each chunk (when given)."""
    if progress is None:
        return work
    done = [0]

    def counting(chunk):
        result = work(chunk)
        done[0] += 1
        progress(done[0], total)
        return result
    return counting


def window_edges(samples, budget):
    """Window edges over the samples' span, about `budget` flows apart (a
    moment shared by more flows stays in one window)."""
    kept = [found for found in samples if len(found.values)]
    if not kept:
        return np.zeros(0, np.int64)
    values = np.concatenate([found.values for found in kept])
    weights = np.concatenate([np.full(len(found.values), found.weight) for found in kept])
    order = np.argsort(values, kind='stable')
    values, total = values[order], np.cumsum(weights[order])
    cuts = np.searchsorted(total, np.arange(budget, total[-1], budget), 'right')
    first = min(found.first for found in kept)
    last = max(found.last for found in kept)
    inner = values[np.minimum(cuts, len(values) - 1)]
    return np.unique(np.concatenate(([first], inner[(inner > first) & (inner <= last)],
                                     [last + 1]))).astype(np.int64)


class Playback:
    """What a replay has shown: seen (flows of each tuple), latest (the start
    of its latest flow shown, NEVER before one), clock (µs: every flow that
    starts at or before it is shown; once all are, the last one's start),
    speed (times real time, within SPEEDS; 0: evenly spaced flows, `rate`
    per second, within RATES), paused, selected (a bool per tuple or None
    for all), sort (one of SORTS), periodicity (of each tuple's letters
    shown so far, NaN unknown: brought up to date as the periodicity sort
    ranks). states: where the states are read (see Periodicities); None:
    every periodicity unknown."""

    def __init__(self, order, speed=1.0, selected=None, states=None):
        if speed and not SPEEDS[0] <= speed <= SPEEDS[1]:
            raise UserError(f'the speed must be 0 (flows evenly spaced) or from '
                            f'{SPEEDS[0]:g} to {SPEEDS[1]:g}, not {speed:g}')
        self.order = order
        self.speed = float(speed)
        self.rate = EVEN_RATE
        self.paused = False
        self.sort = SORTS[0]
        tuples = len(order.counts)
        self.periodicities = Periodicities(tuples, states)
        self.selected = selected
        self._owed = 0.0
        self.jump(order.first - 1)

    # -- what is shown
    @property
    def total(self):
        """Flows of the selected tuples."""
        counts = self.order.counts
        return int(counts.sum() if self.selected is None else counts[self.selected].sum())

    @property
    def finished(self):
        return self._window >= self.order.windows - 1 and self._at >= len(self._start)

    def ranked(self, limit=None):
        """The tuples with a flow shown (the first `limit` of them), in the
        order of self.sort: the most recent flow first; or the most flows; or
        the most periodic letters so far (unknown last); ties by the most
        recent flow, then the group's order. A screen's page of 500,000 tuples takes the
        tuples up to its last row's key and sorts only those."""
        keys = self._keys()
        primary = keys[-1]
        if limit is not None and limit < len(primary):
            if limit <= 0:
                return keys[0][:0]
            near = primary <= np.partition(primary, limit - 1)[limit - 1]
            keys = [key[near] for key in keys]
        return keys[0][np.lexsort(keys)][:limit]

    def rank(self, tuple_):
        """Where a tuple is in ranked(), None when none of its flows is shown."""
        if not self.seen[tuple_]:
            return None
        keys = self._keys()
        at = int(np.searchsorted(keys[0], tuple_))
        before, equal = np.zeros(len(keys[0]), bool), np.ones(len(keys[0]), bool)
        for key in reversed(keys):          # the primary key first
            before |= equal & (key < key[at])
            equal &= key == key[at]
        return int(before.sum())

    @property
    def showing(self):
        """How many tuples have a flow shown."""
        return int(np.count_nonzero(self.seen))

    def _keys(self):
        """The keys of the tuples shown, as np.lexsort takes them (the last
        one first); keys[0]: the tuples, in the group's order."""
        if self.sort == 'periodicity':
            self.periodicities.update(self.seen)
        shown = np.flatnonzero(self.seen)
        recent = -self.latest[shown]
        keys = {'recent': (recent,),
                'flows': (recent, -self.seen[shown]),
                'periodicity': (recent, np.nan_to_num(-self.periodicity[shown], nan=np.inf))}
        return [shown, *keys[self.sort]]

    @property
    def periodicity(self):
        return self.periodicities.values

    def next_sort(self):
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]

    # -- the clock
    def advance(self, seconds):
        """seconds of real time went by: the flows they bring are shown."""
        if self.paused or self.finished:
            return
        if self.speed:
            self._show_until(self.clock + int(seconds * self.speed * SECOND))
            return
        self._owed += seconds * self.rate
        many = int(self._owed)
        self._owed -= many
        self._show_count(many)

    def step(self):
        """Show the next flow (one, even when others start with it)."""
        self._show_count(1)

    def faster(self):
        self._scale(2.0)

    def slower(self):
        self._scale(0.5)

    def _scale(self, factor):
        if self.speed:
            self.speed = float(np.clip(self.speed * factor, *SPEEDS))
        else:
            self.rate = float(np.clip(self.rate * factor, *RATES))

    @property
    def bound(self):
        """'slowest' or 'fastest' when + or - can go no further, else ''."""
        value, (low, high) = (self.speed, SPEEDS) if self.speed else (self.rate, RATES)
        return 'slowest' if value <= low else 'fastest' if value >= high else ''

    def jump(self, moment):
        """Show exactly the flows that start at or before moment."""
        moment = int(moment)
        # read all first: a read that fails (the group deleted meanwhile)
        # leaves the replay as it was
        seen, latest = self.order.until(moment, self.selected)
        window = self.order.window_at(moment)
        start, tuples = self._read(window)
        self.seen, self.latest, self.shown = seen, latest, int(seen.sum())
        self._window, self._start, self._tuples = window, start, tuples
        self._at = int(np.searchsorted(start, moment, 'right'))
        self._set_clock(moment)
        self._owed = 0.0

    def select(self, selected):
        """Show only the flows of these tuples (None: all), from the same clock."""
        before, self.selected = self.selected, selected
        try:
            self.jump(self.clock)
        except Exception:
            self.selected = before
            raise

    def _read(self, number):
        if self.order.windows:
            return self.order.window(number, self.selected)
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    def _show_until(self, moment):
        while True:
            end = int(np.searchsorted(self._start, moment, 'right'))
            self._show(end)
            if end < len(self._start) or not self._next_window(moment):
                break
        self._set_clock(moment)

    def _set_clock(self, moment):
        """The clock at moment; once every flow is shown it stops at the last."""
        self.clock = moment
        if self.finished and self.shown:
            self.clock = min(moment, int(self.latest.max()))

    def _show_count(self, many):
        while many > 0:
            end = min(self._at + many, len(self._start))
            many -= end - self._at
            if end > self._at:
                self.clock = max(self.clock, int(self._start[end - 1]))
            self._show(end)
            if many and not self._next_window(None):
                break

    def _next_window(self, moment):
        """Go on to the next window (that starts at or before moment, if
        given) once this one is shown; False when there is none."""
        following = self._window + 1
        if following >= self.order.windows or (
                moment is not None and self.order.edges[following] > moment):
            return False
        self._start, self._tuples = self._read(following)
        self._window, self._at = following, 0
        return True

    def _show(self, end):
        if end <= self._at:
            return
        starts, tuples = self._start[self._at:end], self._tuples[self._at:end]
        if len(tuples) * 8 > len(self.seen):
            self.seen += np.bincount(tuples, minlength=len(self.seen))
        else:
            np.add.at(self.seen, tuples, 1)
        np.maximum.at(self.latest, tuples, starts)
        self.shown += end - self._at
        self._at = end


def state_ends(state):
    """ends[k - 1]: how much of a state its first k flows wrote. A flow writes
    zeros, its letter, then its timechar (stf.core.flows.letters): the zeros
    and the timechar stand for the gap *before* it, so each flow's piece
    depends only on it and earlier flows, and the state after k flows is
    state[:ends[k - 1]]."""
    codes = np.frombuffer(state.encode('ascii', 'replace'), np.uint8)
    at = np.flatnonzero(_LETTER_BYTES[codes])
    following = np.minimum(at + 1, len(codes) - 1)
    timechar = (at + 1 < len(codes)) & _TIMECHAR_BYTES[codes[following]]
    return at + 1 + timechar


class Periodicities:
    """Each tuple's periodicity after its first `flows` flows: the share of
    strongly periodic letters among the letters with periodicity data, as
    stf.core.flows.letters.periodicity judges a state (values; NaN unknown).

    Per tuple it keeps the flows counted, how far into the state it read
    (cursor) and the letters it counted: update counts on from there, so a
    frame costs the letters its new flows wrote, not the tuples' states;
    a tuple that went back (a jump) is counted again from its start.

    states(tuples, begins, sizes): the characters begins[i] to
    begins[i] + sizes[i] of each tuple's state (str; shorter where the
    state ends, '' for a tuple without a model)."""

    def __init__(self, tuples, states):
        self.states = states
        self.values = np.full(tuples, np.nan)
        self.flows = np.zeros(tuples, np.int64)
        self.cursor = np.zeros(tuples, np.int64)
        self.judged = np.zeros(tuples, np.int64)
        self.periodic = np.zeros(tuples, np.int64)

    def update(self, seen):
        """Count each tuple's letters up to its seen[i] flows."""
        changed = np.flatnonzero(seen != self.flows)
        if not len(changed):
            return
        back = changed[seen[changed] < self.flows[changed]]
        for column in (self.flows, self.cursor, self.judged, self.periodic):
            column[back] = 0
        wanted = seen[changed]
        if self.states is not None:
            try:
                self._count(changed, wanted - self.flows[changed])
            except BaseException:      # a read failed: counted again from the start
                for column in (self.flows, self.cursor, self.judged, self.periodic):
                    column[changed] = 0
                self.values[changed] = np.nan
                raise
        self.flows[changed] = wanted
        judged = self.judged[changed]
        with np.errstate(invalid='ignore', divide='ignore'):
            self.values[changed] = np.where(judged > 0, self.periodic[changed] /
                                            np.maximum(judged, 1), np.nan)

    def _count(self, tuples, needed):
        """Count `needed` more letters of each tuple, batch by batch (at
        most BATCH_CHARS characters read at once); a piece that held too few
        letters (long runs of zeros) is read on, four times longer, until
        its state ends."""
        tuples, needed = tuples[needed > 0], needed[needed > 0]
        sizes = needed * CHARS_PER_FLOW + CHARS_PER_FLOW
        while len(tuples):
            again = np.zeros(len(tuples), bool)
            for batch in _batches(sizes, BATCH_CHARS):
                at = tuples[batch]
                pieces = self.states(at, self.cursor[at], sizes[batch])
                taken, judged, periodic, used = counted_letters(pieces, needed[batch])
                self.cursor[at] += used
                self.judged[at] += judged
                self.periodic[at] += periodic
                needed[batch] -= taken
                lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
                again[batch] = (needed[batch] > 0) & (lengths == sizes[batch])
            tuples, needed, sizes = tuples[again], needed[again], sizes[again] * 4


# A guess of the characters a flow writes (zeros, its letter, a timechar):
# a piece too short is read on.
CHARS_PER_FLOW = 3
# Characters counted at once: a batch's arrays stay a few MB (a jump may
# count the letters of every tuple shown).
BATCH_CHARS = 1 << 20


def _batches(sizes, most):
    """Slices of consecutive sizes that add up to about `most` each."""
    ends = np.cumsum(sizes)
    begin = 0
    while begin < len(sizes):
        before = ends[begin - 1] if begin else 0
        end = max(int(np.searchsorted(ends, before + most, 'right')), begin + 1)
        yield slice(begin, end)
        begin = end


def counted_letters(pieces, needed):
    """Of each piece's first needed[i] letters: (letters taken, judged
    letters, strongly periodic ones, characters up to the last one taken)."""
    needed = np.asarray(needed, np.int64)
    lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
    zeros = np.zeros(len(pieces), np.int64)
    if not lengths.sum():
        return zeros, zeros, zeros, zeros
    codes = np.frombuffer(''.join(pieces).encode('ascii', 'replace'), np.uint8)
    begins = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    at = np.flatnonzero(_LETTER_BYTES[codes])           # where the letters are
    first = np.searchsorted(at, begins)                 # each piece's first letter
    taken = np.minimum(needed, np.searchsorted(at, begins + lengths) - first)
    stop = first + taken
    ends = begins.copy()                                # after the last letter taken
    some = taken > 0
    ends[some] = at[stop[some] - 1] + 1
    letter_codes = codes[at]
    judged, periodic = (_running(table[letter_codes]) for table in (_JUDGED_BYTES,
                                                                    _PERIODIC_BYTES))
    return (taken, (judged[stop] - judged[first]).astype(np.int64),
            (periodic[stop] - periodic[first]).astype(np.int64), ends - begins)


def _running(flags):
    """[0, flags[0], flags[0] + flags[1], ...] (int32: a batch is < 2**31)."""
    return np.concatenate(([0], np.cumsum(flags, dtype=np.int32)))


def _byte_table(chars):
    table = np.zeros(256, bool)
    table[[ord(char) for char in chars]] = True
    return table


_LETTER_BYTES = _byte_table(''.join(letters.LETTERS))
_TIMECHAR_BYTES = _byte_table(letters.GAP_SYMBOLS[:-1])
# as letters.periodicity judges: the letters with periodicity data, and the
# strongly periodic ones
_JUDGED_BYTES = _byte_table(''.join(letters.LETTERS[1:]))
_PERIODIC_BYTES = _byte_table(letters.LETTERS[letters.STRONGLY_PERIODIC])


def moment(text, first_us):
    """A time typed to jump to: 'YYYY-MM-DD HH:MM:SS' (UTC; ' UTC' may
    follow) or '+SECONDS' after first_us; integer µs."""
    text = text.strip()
    if text.startswith('+'):
        try:
            seconds = float(text[1:])
        except ValueError:
            seconds = None
        if seconds is None or seconds != seconds or abs(seconds) > 1e12:
            raise UserError(f"'{text}' is not +SECONDS: write e.g. +90 or +0.5")
        return first_us + round(seconds * SECOND)
    written = text.removesuffix('UTC').strip()
    try:
        found = datetime.strptime(written, '%Y-%m-%d %H:%M:%S')
    except ValueError:
        raise UserError(f"'{text}' is not a time: write YYYY-MM-DD HH:MM:SS (UTC) or "
                        '+SECONDS from the first flow') from None
    stamp = found.replace(tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (stamp.days * 86400 + stamp.seconds) * SECOND
