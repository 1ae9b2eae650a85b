"""The rhythm of a connection in numbers: bins for histograms, the median,
the spread (MAD) and the mode of integer values (µs gaps and durations,
bytes, state lengths), and heights for sparklines.

One rule for bins and heights: values are *wide* when the largest is more
than WIDE times the smallest one above 0 (more than two orders of
magnitude). Wide values get decades, others linear bins of a round width
(1, 2 or 5 times a power of 10), at most MOST_BINS of them: a beacon every
2.2 s gets bins of 0.1 s, not one bar of a decade.

Exact for integers: medians and MADs are halves of integers.
"""
from dataclasses import dataclass

import numpy as np

WIDE = 100
MOST_BINS = 10
ROUND_STEPS = (1, 2, 5)


@dataclass(frozen=True)
class Bins:
    """A histogram. edges: ascending ints, bin i holds edges[i] <= value <
    edges[i + 1]; counts: values per bin; width: the linear bins' width,
    None for decades (the last of which ends at the largest value)."""
    edges: tuple
    counts: tuple
    width: object

    @property
    def fullest(self):
        """The index of the bin with the most values (the lowest of equals)."""
        return self.counts.index(max(self.counts))


@dataclass(frozen=True)
class Spread:
    """How values lie: count, median, mad (the median absolute deviation from
    the median), bins; the mode is bins' fullest bin."""
    count: int
    median: float
    mad: float
    bins: Bins


def spread(values, most=MOST_BINS):
    """The Spread of integer values (None when there are none)."""
    ordered = np.sort(np.asarray(values, dtype=np.int64))
    if not len(ordered):
        return None
    return Spread(len(ordered), median(ordered), mad(ordered), bins(ordered, most))


def median(ordered):
    """The median of sorted integers: the middle one, or the mean of the two."""
    low, high = middle(ordered)
    return (low + high) / 2


def middle(ordered):
    count = len(ordered)
    return int(ordered[(count - 1) // 2]), int(ordered[count // 2])


def mad(ordered):
    """The median of |value - median| of sorted integers. Twice a deviation
    is |v - low| + |v - high| (no value lies between the two middle ones),
    summed unsigned so that no int64 overflows."""
    low, high = middle(ordered)
    twice = (np.abs(ordered - low).astype(np.uint64) +
             np.abs(ordered - high).astype(np.uint64))
    twice.sort()
    first, second = middle(twice)
    return (first + second) / 4


def wide(ordered):
    """More than two orders of magnitude between the smallest value above 0
    and the largest."""
    positive = ordered[ordered > 0]
    return bool(len(positive)) and positive[-1].item() > WIDE * positive[0].item()


def bins(ordered, most=MOST_BINS):
    """Decades when the sorted values are wide, else linear bins."""
    if wide(ordered):
        edges, width = decades(ordered), None
    else:
        width = round_width(int(ordered[0]), int(ordered[-1]), most)
        first = int(ordered[0]) // width * width
        edges = [first + width * step
                 for step in range(int(ordered[-1]) // width - first // width + 2)]
    return Bins(tuple(edges), counted(ordered, edges), width)


def round_width(low, high, most):
    """The narrowest of 1, 2, 5, 10, 20, 50, ... that puts low..high in at
    most `most` bins starting at multiples of it."""
    scale = 1
    while True:
        for step in ROUND_STEPS:
            width = step * scale
            if high // width - low // width + 1 <= most:
                return width
        scale *= 10


def decades(ordered):
    """0 (when there are zeros), the powers of 10 from the smallest positive
    value's up to the largest value, and the largest value + 1."""
    positive = ordered[ordered > 0]
    edges = [0] if ordered[0] == 0 else []
    power, high = 10 ** (len(str(int(positive[0]))) - 1), int(ordered[-1])
    while power <= high:
        edges.append(power)
        power *= 10
    return edges + [high + 1]


def counted(ordered, edges):
    """Values per bin; the last bin takes the rest (its end may pass int64)."""
    starts = [int(np.searchsorted(ordered, edge, 'left')) for edge in edges[:-1]]
    return tuple(end - start for start, end in zip(starts, starts[1:] + [len(ordered)]))


# -- sparklines

BARS = '▁▂▃▄▅▆▇█'


def heights(values):
    """A bar of BARS for each value (None: a blank): linear from 0 to the
    largest value, or on a log scale from the smallest positive value when
    the values are wide. Returns (bars, 'linear' or 'log')."""
    known = np.sort(np.array([value for value in values if value is not None], np.float64))
    if not len(known):
        return ' ' * len(values), 'linear'
    log = wide(known)
    top, scale = float(known[-1]), 'log' if log else 'linear'
    low = float(known[known > 0][0]) if log else 0.0
    return ''.join(' ' if value is None else BARS[level(value, low, top, log)]
                   for value in values), scale


def level(value, low, top, log):
    """0..7: where value lies between low and top (0 at or below low)."""
    if value <= low or top <= 0:
        return 0
    if log:
        return round(7 * np.log(value / low) / np.log(top / low))
    return max(0, int(-(-8 * value // top)) - 1)
