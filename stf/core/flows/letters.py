"""Letters: the behavioral model of a connection (SPEC.md, "Letters").

Every flow of a connection appends `zeros + letter + timechar` to the connection's
state. The letter says how periodic the flow's start is compared with the two
flows before it, and how large and long the flow is; the timechar says how long
after the previous flow it started; zeros stand for gaps longer than the timeout.

All times are integer microseconds and every ratio is compared by integer cross
multiplication, so a flow that sits exactly on a threshold always gets the same
letter (no floats anywhere).

The flows come grouped by connection and sorted by (connection, start) from
stf.core.flows.flowtable (`flowtable.read(path)`, `flowtable.from_blocks(blocks)`); this
module only turns them into letters. Two ways in:
- `states(start, dur, size, bounds, constructor)`: the state of every connection
  at once, with numpy (no Python step per flow: it must keep up with files of ten
  million flows).
- `flow_letters(start, dur, size, constructor)`: one connection's flows with their
  piece, T1, T2 and TD, for showing why a connection got its letters.
`flow_letters` follows SPEC.md flow by flow with Fractions; the tests hold the
vectorized code to it.
"""
from dataclasses import dataclass
import functools
from fractions import Fraction
import re
from typing import NamedTuple

import numpy as np

from stf.core.errors import UserError

SECOND = 1_000_000
INT64_MAX = (1 << 63) - 1
# Flows per numpy pass of states(): its temporary arrays stay near 100 MB.
CHUNK_FLOWS = 1 << 20


@dataclass(frozen=True)
class Constructor:
    """The thresholds that turn flows into letters.

    id, name: as in SPEC.md. tt1, tt2, tt3: limits of the ratio TD of the two last
    gaps, as exact (numerator, denominator) pairs. td1_us, td2_us: duration limits
    (µs). ts1, ts2: size limits (bytes). timeout_us: a longer gap writes zeros
    instead of a timechar. single_zero: write at most one zero per gap.
    """
    id: int
    name: str
    tt1: tuple
    tt2: tuple
    tt3: tuple
    td1_us: int
    td2_us: int
    ts1: int
    ts2: int
    timeout_us: int = 3600 * SECOND
    single_zero: bool = False

    def zeros(self, t2):
        """How many '0' a gap t2 (longer than the timeout) writes: one per
        timeout, at most MAX_ZEROS (a gap of more than ten years comes from a
        broken clock, and one flow must not make a state of megabytes)."""
        return 1 if self.single_zero else min(t2 // self.timeout_us, MAX_ZEROS)

    @property
    def ratios(self):
        """(tt1, tt2, tt3) in lowest terms (smaller products to compare); each
        further one that TD exceeds makes the flow less periodic."""
        return tuple(Fraction(*ratio).as_integer_ratio()
                     for ratio in (self.tt1, self.tt2, self.tt3))


CONSTRUCTORS = {c.id: c for c in (
    Constructor(0, 'Model 0', (105, 100), (11, 10), (5, 1), SECOND // 10, 10 * SECOND,
                125, 1100),
    Constructor(1, 'default', (105, 100), (13, 10), (5, 1), SECOND // 10, 10 * SECOND,
                250, 1100),
    Constructor(2, 'single timeout', (105, 100), (13, 10), (5, 1), SECOND // 10,
                10 * SECOND, 250, 1100, single_zero=True),
)}
DEFAULT_CONSTRUCTOR = 1

# Rows: periodicity (none yet, strongly, weakly, weakly not, not periodic); within
# a row, 3 * size class + duration class (small/short, medium, large/long).
LETTERS = ('123456789', 'abcdefghi', 'ABCDEFGHI', 'rstuvwxyz', 'RSTUVWXYZ')
NO_PERIODICITY, STRONGLY_PERIODIC = 0, 1
# (timechar, largest gap that gets it); a longer gap gets no timechar.
# The most zeros one gap writes: ten years of hours (see Constructor.zeros).
MAX_ZEROS = 10 * 8766

TIMECHARS = (('.', 5 * SECOND), (',', 60 * SECOND), ('+', 300 * SECOND),
             ('*', 3600 * SECOND))

_LETTER_CODES = np.frombuffer(''.join(LETTERS).encode('ascii'), dtype=np.uint8)
_TIMECHAR_CODES = np.frombuffer(''.join(char for char, _ in TIMECHARS).encode('ascii'),
                                dtype=np.uint8)
_ZERO = ord('0')


def get_constructor(ident=DEFAULT_CONSTRUCTOR):
    """The constructor with this id (an int or its text); a UserError names the valid ones."""
    try:
        return CONSTRUCTORS[int(ident)]
    except (KeyError, ValueError, TypeError):
        valid = ', '.join(f'{c.id} ({c.name})' for c in CONSTRUCTORS.values())
        raise UserError(f"there is no model constructor {ident}; choose one of {valid} "
                        "('models -s' shows them)") from None


# ---- all connections at once -------------------------------------------------

def states(start, dur, size, bounds, constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR]):
    """The state (letters) of every connection, as a list of str.

    start, dur, size: int64 arrays sorted by (connection, start); connection i
    owns rows bounds[i]:bounds[i+1] (a flowtable.FlowTable's columns).
    """
    start, dur, size = (np.asarray(values) for values in (start, dur, size))
    bounds = np.asarray(bounds, np.int64)
    if not len(start) == bounds[-1] == len(dur) == len(size):
        raise ValueError('start, dur and size must have bounds[-1] rows each')
    result = []
    for first, last in _chunks(bounds, CHUNK_FLOWS):
        rows = slice(bounds[first], bounds[last])
        result += _states(start[rows], dur[rows], size[rows],
                          bounds[first:last + 1] - bounds[first], constructor)
    return result


def _chunks(bounds, size):
    """(first, last) connection ranges of about `size` flows each (a larger
    connection stays whole), which bounds the temporary arrays of _states."""
    first, chunks = 0, []
    while first < len(bounds) - 1:
        last = int(np.searchsorted(bounds, bounds[first] + size, 'right')) - 1
        last = min(max(last, first + 1), len(bounds) - 1)
        chunks.append((first, last))
        first = last
    return chunks


def _states(start, dur, size, bounds, constructor):
    if len(start) == 0:
        return [''] * (len(bounds) - 1)
    none = np.zeros(len(bounds) - 1, np.int64)
    return _pieces(start, dur, size, bounds, none, none, none, constructor)


def continued(start, dur, size, bounds, prior_flows, prior_start, prior_gap,
              constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR]):
    """What each connection's new flows add to a state that already has
    prior_flows flows, the last of them starting at prior_start after a gap of
    prior_gap (read only when there are one, or two, prior flows): the text
    `states` would append for these flows, as a list of str.

    start, dur, size: int64 arrays sorted by (connection, start), connection i
    owning rows bounds[i]:bounds[i+1] (at least one each), and no start before
    its connection's prior_start. The IPS grows every tuple's state this way
    window by window with one numpy pass.
    """
    start, dur, size = (np.asarray(values, np.int64) for values in (start, dur, size))
    bounds = np.asarray(bounds, np.int64)
    if len(start) == 0:
        return [''] * (len(bounds) - 1)
    return _pieces(start, dur, size, bounds, *(np.asarray(values, np.int64) for values in
                                               (prior_flows, prior_start, prior_gap)),
                   constructor)


def _pieces(start, dur, size, bounds, prior_flows, prior_start, prior_gap, constructor):
    """The text of every connection's rows, after prior_flows earlier flows."""
    counts = np.diff(bounds)
    first = bounds[:-1]
    rank = np.arange(len(start)) - np.repeat(first, counts) + np.repeat(prior_flows, counts)
    t1, t2 = _gaps(start)
    known = counts > 0
    heads = first[known]
    t2[heads] = np.where(prior_flows[known] >= 1, start[heads] - prior_start[known], 0)
    t1[heads] = np.where(prior_flows[known] >= 2, prior_gap[known], 0)
    seconds = heads + 1
    inside = seconds < bounds[1:][known]
    t1[seconds[inside]] = t2[heads[inside]]
    t1, t2 = _exact(t1, t2, constructor)
    letter = 9 * _periodicity(t1, t2, rank, constructor) + \
        3 * _classes(size, constructor.ts1, constructor.ts2) + \
        _classes(dur, constructor.td1_us, constructor.td2_us)
    zeros, timechar = _gap_marks(t2, rank >= 1, constructor)
    return _join(_LETTER_CODES[letter], zeros, timechar, bounds)


def _exact(t1, t2, constructor):
    """The gaps, as Python ints when a gap times a ratio's numerator or
    denominator could overflow int64: gaps of more than ~14,000 years, never in
    real files."""
    factor = max(max(ratio) for ratio in constructor.ratios)
    largest = max(int(np.abs(t1).max()), int(np.abs(t2).max()))
    if largest * factor > INT64_MAX:
        return t1.astype(object), t2.astype(object)
    return t1, t2


def _gaps(start):
    """(T1, T2) of every row; meaningful only from the 3rd (T1) and 2nd (T2) flow
    of a connection, as rows before that mix in the connection before."""
    start = start.astype(np.int64, copy=False)
    t2 = np.empty_like(start)
    t2[0] = 0
    np.subtract(start[1:], start[:-1], out=t2[1:])
    t1 = np.empty_like(start)
    t1[0] = 0
    t1[1:] = t2[:-1]
    return t1, t2


def _periodicity(t1, t2, rank, constructor):
    """The row of LETTERS: 1 + how many of tt1..tt3 TD = big/small exceeds."""
    big, small = np.maximum(t1, t2), np.minimum(t1, t2)
    row = np.full(len(t1), STRONGLY_PERIODIC, np.int64)
    for numerator, denominator in constructor.ratios:
        row += big * denominator > small * numerator
    row[small <= 0] = STRONGLY_PERIODIC
    row[rank < 2] = NO_PERIODICITY
    return row


def _classes(values, limit1, limit2):
    """0 up to limit1, 1 up to limit2, else 2."""
    return (values > limit1).astype(np.int64) + (values > limit2)


def _gap_marks(t2, has_gap, constructor):
    """(zeros, timechar index or -1) of every row."""
    beyond = has_gap & (t2 > constructor.timeout_us)
    zeros = np.zeros(len(t2), np.int64)
    zeros[beyond] = 1 if constructor.single_zero else \
        np.minimum(t2[beyond] // constructor.timeout_us, MAX_ZEROS).astype(np.int64)
    timechar = np.zeros(len(t2), np.int64)
    for _, limit in TIMECHARS:
        timechar += t2 > limit
    timechar[~has_gap | beyond | (timechar >= len(TIMECHARS))] = -1
    return zeros, timechar


def _join(letters, zeros, timechar, bounds):
    """Write every flow's piece into one byte buffer and cut it per connection."""
    has_char = timechar >= 0
    ends = np.cumsum(zeros + 1 + has_char)
    at = ends - 1 - has_char
    text = np.full(int(ends[-1]), _ZERO, np.uint8)
    text[at] = letters
    text[at[has_char] + 1] = _TIMECHAR_CODES[timechar[has_char]]
    edges = np.concatenate(([0], ends))[bounds].tolist()
    text = text.tobytes().decode('ascii')
    return [text[begin:end] for begin, end in zip(edges[:-1], edges[1:])]


# ---- what a researcher sorts by ----------------------------------------------

_WITH_PERIODICITY = frozenset(''.join(LETTERS[1:]))
_STRONGLY_PERIODIC = frozenset(LETTERS[STRONGLY_PERIODIC])


def periodicity(state):
    """The share of strongly periodic letters (rows a-i of the letter table)
    among the letters with periodicity data (the digits, first flows, have
    none); None when there is none."""
    judged = sum(1 for char in state if char in _WITH_PERIODICITY)
    if not judged:
        return None
    return sum(1 for char in state if char in _STRONGLY_PERIODIC) / judged


def _byte_table(chars):
    table = np.zeros(256, np.int64)
    table[[ord(char) for char in chars]] = 1
    return table


_JUDGED_BYTES = _byte_table(_WITH_PERIODICITY)
_PERIODIC_BYTES = _byte_table(_STRONGLY_PERIODIC)


def periodicities(states):
    """periodicity() of many states at once, as float64 (NaN where None)."""
    lengths = np.fromiter((len(state) for state in states), np.int64, len(states))
    if not len(lengths):
        return np.zeros(0)
    codes = np.frombuffer(''.join(states).encode('ascii', 'replace'), np.uint8)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    judged = _per_state(_JUDGED_BYTES[codes], starts, lengths)
    periodic = _per_state(_PERIODIC_BYTES[codes], starts, lengths)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(judged > 0, periodic / np.maximum(judged, 1), np.nan)


def _per_state(flags, starts, lengths):
    """Sums of flags over each state's slice (empty states: 0)."""
    totals = np.concatenate(([0], np.cumsum(flags)))
    return totals[starts + lengths] - totals[starts]


def median_gaps(start, bounds):
    """The median time between the flows of each connection, in seconds
    (None for a connection of one flow). start: int64 µs sorted by
    (connection, start); connection i owns rows bounds[i]:bounds[i+1]."""
    start = np.asarray(start, np.int64)
    bounds = np.asarray(bounds, np.int64)
    counts = np.diff(bounds) - 1                     # gaps per connection
    if not len(start):
        return [None] * (len(bounds) - 1)
    gaps = np.diff(start)
    inside = np.ones(len(gaps), bool)
    inside[bounds[1:-1][bounds[1:-1] > 0] - 1] = False   # across two connections
    owner = np.repeat(np.arange(len(counts)), np.maximum(counts, 0))
    gaps = gaps[inside]
    order = np.lexsort((gaps, owner))
    gaps = gaps[order]
    first = np.concatenate(([0], np.cumsum(np.maximum(counts, 0))[:-1]))
    found = []
    for number, many in enumerate(counts.tolist()):
        if many < 1:
            found.append(None)
            continue
        low = gaps[first[number] + (many - 1) // 2]
        high = gaps[first[number] + many // 2]
        found.append((int(low) + int(high)) / 2 / SECOND)
    return found


# ---- one flow at a time ------------------------------------------------------

class FlowLetter(NamedTuple):
    """One flow's part of a state: piece ('zeros + letter + timechar'), t1_us and
    t2_us (None before the 3rd and 2nd flow), td (TD as decimal text, '-' when
    there is none: before the 3rd flow or when a gap is 0)."""
    piece: str
    t1_us: int
    t2_us: int
    td: str


def flow_letters(start, dur, size, constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR]):
    """One connection's flows, already sorted by start: a FlowLetter each."""
    start, dur, size = (list(map(int, values)) for values in (start, dur, size))
    rows = []
    for k, (moment, duration, total) in enumerate(zip(start, dur, size)):
        t2 = moment - start[k - 1] if k >= 1 else None
        t1 = start[k - 1] - start[k - 2] if k >= 2 else None
        rows.append(FlowLetter(flow_piece(t1, t2, duration, total, constructor),
                               t1, t2, ratio_text(t1, t2)))
    return rows


def flow_piece(t1, t2, dur, size, constructor):
    """zeros + letter + timechar of a flow with gaps t1, t2 (None when absent)."""
    row = LETTERS[_reference_periodicity(t1, t2, constructor)]
    letter = row[3 * _reference_class(size, constructor.ts1, constructor.ts2) +
                 _reference_class(dur, constructor.td1_us, constructor.td2_us)]
    if t2 is None:
        return letter
    if t2 > constructor.timeout_us:
        return '0' * constructor.zeros(t2) + letter
    return letter + next((char for char, limit in TIMECHARS if t2 <= limit), '')


def _reference_periodicity(t1, t2, constructor):
    if t1 is None:
        return NO_PERIODICITY
    big, small = max(t1, t2), min(t1, t2)
    if small <= 0:
        return STRONGLY_PERIODIC
    # big/small > p/q exactly as big*q > p*small: integers, no Fraction per flow
    return STRONGLY_PERIODIC + sum(big * q > p * small for p, q in _ratios(constructor))


@functools.lru_cache(maxsize=None)
def _ratios(constructor):
    return constructor.ratios


def _reference_class(value, limit1, limit2):
    return 0 if value <= limit1 else 1 if value <= limit2 else 2


def ratio_text(t1, t2, decimals=6):
    """TD = max/min of the gaps as decimal text, rounded *up* at the last decimal
    so that it compares with the thresholds (two decimals) exactly as the true
    ratio does; '-' when there is no ratio (t1 None or a gap of 0)."""
    if t1 is None or min(t1, t2) <= 0:
        return '-'
    scale = 10 ** decimals
    scaled = -(-max(t1, t2) * scale // min(t1, t2))
    return f'{scaled // scale}.{scaled % scale:0{decimals}d}'


def seconds_text(microseconds):
    """µs as exact decimal seconds ('3600.000001'); '-' for None."""
    if microseconds is None:
        return '-'
    sign = '-' if microseconds < 0 else ''
    whole, fraction = divmod(abs(microseconds), SECOND)
    return f'{sign}{whole}.{fraction:06d}'


# ---- in words ----------------------------------------------------------------

# What the letters say (models -S, models -s): the periodicity by the row of
# LETTERS, the size and the duration by the column (3 * size + duration), the
# time since the previous flow by its symbol (GAP_SYMBOLS: TIMECHARS, then '0').
WORDS = {
    'periodicity': ('no periodicity yet', 'strongly periodic', 'weakly periodic',
                    'weakly not periodic', 'not periodic'),
    'size': ('small', 'medium size', 'large'),
    'duration': ('short', 'medium duration', 'long'),
    'gap': ('seconds apart', 'under a minute apart', 'minutes apart', 'under an hour apart',
            'hours apart'),
}
LETTER_KINDS = ('periodicity', 'size', 'duration')
GAP_SYMBOLS = ''.join(char for char, _ in TIMECHARS) + '0'
# letter -> its (periodicity, size, duration) classes: indexes into WORDS
CLASSES = {char: (row, column // 3, column % 3)
           for row, chars in enumerate(LETTERS) for column, char in enumerate(chars)}
# One gap: a timechar, or a run of zeros (a gap of many hours is one gap).
_GAPS = re.compile('0+|[' + re.escape(GAP_SYMBOLS[:-1]) + ']')
# What the zeros of a long gap are, by Constructor.single_zero.
_ZEROS = {False: 'a 0 for every {timeout} of it', True: 'one 0 however long'}


def meaning(char):
    """A letter or symbol in words ('strongly periodic, medium size, short',
    'seconds apart'); None for a character that is neither."""
    if char in CLASSES:
        return ', '.join(WORDS[kind][index] for kind, index in zip(LETTER_KINDS, CLASSES[char]))
    at = GAP_SYMBOLS.find(char)
    return WORDS['gap'][at] if at >= 0 else None


def reading(state):
    """The state in words: its most frequent periodicity (of the letters that
    have one, unless none has), size, duration and gap, e.g. 'strongly
    periodic, large, medium duration, seconds apart'; ties go to the first in
    WORDS; '' for a state without letters."""
    classes = [CLASSES[char] for char in state if char in CLASSES]
    if not classes:
        return ''
    judged = [found for found in classes if found[0] != NO_PERIODICITY] or classes
    words = [_most_frequent(WORDS['periodicity'], [found[0] for found in judged])]
    words += [_most_frequent(WORDS[kind], [found[at] for found in classes])
              for at, kind in enumerate(LETTER_KINDS) if at]
    gaps = [GAP_SYMBOLS.index(gap[0]) for gap in _GAPS.findall(state)]
    return ', '.join(words + ([_most_frequent(WORDS['gap'], gaps)] if gaps else []))


def _most_frequent(words, indexes):
    counts = [indexes.count(index) for index in range(len(words))]
    return words[counts.index(max(counts))]


def _limits(constructor):
    """kind -> (what is measured, the upper limit of each class but the
    last, as text) for a constructor."""
    ratios = (constructor.tt1, constructor.tt2, constructor.tt3)
    return {'periodicity': ('TD', [f'{numerator / denominator:g}'
                                   for numerator, denominator in ratios]),
            'size': ('size', [f'{constructor.ts1} B', f'{constructor.ts2} B']),
            'duration': ('duration', [_seconds(constructor.td1_us),
                                      _seconds(constructor.td2_us)]),
            'gap': ('gap', [_seconds(limit) for _, limit in TIMECHARS])}


def _seconds(microseconds):
    return f'{microseconds / SECOND:g} s'


def _range(name, limits, index):
    """Class `index` of a measure: 'TD ≤ 1.05', '1.05 < TD ≤ 1.3', 'TD > 5'."""
    low = limits[index - 1] if index else None
    high = limits[index] if index < len(limits) else None
    if high is None:
        return f'{name} > {low}'
    return f'{name} ≤ {high}' if low is None else f'{low} < {name} ≤ {high}'


def legend(constructor):
    """(symbols, meaning) rows: what each letter and symbol means for this
    constructor, with its thresholds."""
    limits = _limits(constructor)
    rows = [('TD', 'from the 3rd flow: the longer of its gap and the gap before, over the '
             'shorter (1 when either is 0)'),
            ('gap', "the time from the previous flow's start to this flow's start"),
            (_span(LETTERS[NO_PERIODICITY]),
             f"{WORDS['periodicity'][NO_PERIODICITY]}: the first two flows")]
    rows += [(_span(LETTERS[row]), f"{WORDS['periodicity'][row]}: "
              f"{_range(*limits['periodicity'], row - 1)}")
             for row in range(STRONGLY_PERIODIC, len(LETTERS))]
    rows += [(' '.join(_span(chars[3 * size:3 * size + 3]) for chars in LETTERS),
              f"{word}: {_range(*limits['size'], size)}")
             for size, word in enumerate(WORDS['size'])]
    rows += [(' '.join(chars[duration::3] for chars in LETTERS),
              f"{word}: {_range(*limits['duration'], duration)}")
             for duration, word in enumerate(WORDS['duration'])]
    rows += [(char, f"{word}: {_range(*limits['gap'], at)}")
             for at, (char, word) in enumerate(zip(GAP_SYMBOLS, WORDS['gap'][:-1]))]
    zeros = _ZEROS[constructor.single_zero].format(timeout=_seconds(constructor.timeout_us))
    rows.append(('0', f"{WORDS['gap'][-1]}: gap > {_seconds(constructor.timeout_us)}: "
                 f'{zeros}, before the letter instead of a symbol after it'))
    return rows


def _span(chars):
    return f'{chars[0]}-{chars[-1]}'


def in_words(constructor):
    """A constructor's thresholds in one sentence: 'TD up to 1.05: strongly
    periodic, up to 1.3: weakly periodic, ...; a gap over 3600 s: ...'."""
    limits = _limits(constructor)
    parts = []
    for kind in LETTER_KINDS:
        name, found = limits[kind]
        words = WORDS[kind][-len(found) - 1:]    # not 'no periodicity yet'
        steps = [f'up to {limit}: {word}' for limit, word in zip(found, words)]
        parts.append(f"{name} {', '.join(steps)}, above: {words[-1]}")
    timeout = _seconds(constructor.timeout_us)
    zeros = _ZEROS[constructor.single_zero].format(timeout=timeout)
    return '; '.join(parts + [f'a gap over {timeout}: {zeros}'])
