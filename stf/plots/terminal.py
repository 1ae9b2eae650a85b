"""Figures drawn in the terminal, as lines of text.

stf's own drawing, not plotext: one drawing that already fits the console's
widths (the screen's; BATCH_WIDTH in batch mode), its colors (the renderer's
`paint`; none in batch mode or with NO_COLOR) and plain batch output, with
no package to add.

drawing(figure, width, paint) gives the lines of a Figure: its title, then
each panel by its kind:
- 'histogram': a row per bin (its range, its count, a bar of '#'), as the
  tables of connections -H show them;
- 'lines', 'points': a braille chart (U+2800, 2 x 4 dots a character) with
  the y values on the left, an x axis with ticks (UTC times when x_time) and
  a legend line per series; on a terminal each series has its color, without
  colors (batch mode) several series are drawn with a mark each (MARKS); a
  level (a threshold) is a row of its own, labelled with its value;
- 'bars': vertical bars of eighths over time;
- 'timeline': a connection's flows over time (timeline_drawing).

paint(text, role) colors text on a terminal: role is a series' index (its
color) or 'letters' (the letters of a model).
"""
import itertools
import math
import textwrap
from datetime import datetime, timedelta, timezone

import numpy as np

from stf.core.flows import letters, stats

BATCH_WIDTH = 100
CHART_ROWS = 12       # a chart's height in lines (4 dots each)
BAR_ROWS = 8          # the bars' height in lines (8 eighths each)
TICK_EVERY = 10       # at least this many columns from one x label to the next
HISTOGRAM_BAR = 40    # the longest bar of a histogram row
WIDEST_BAR = 8        # columns a time bin's bar takes at most
# Without colors, the series of a chart are told apart by these (one each).
MARKS = '•+x*o#%@'
# Braille dot bits by (dot row 0-3, dot column 0-1) in a character.
BRAILLE = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
# Epoch seconds a UTC time can be written for (years 1-9999); others are
# shown as numbers (a broken clock).
EARLIEST, LATEST = -62_135_596_800, 253_402_300_799


def drawing(figure, width, paint=None):
    """The lines of a Figure on a screen `width` columns wide."""
    lines = textwrap.wrap(figure.title, width)
    for panel in figure.panels:
        lines += panel_lines(panel, width, paint)
    return lines


def panel_lines(panel, width, paint=None):
    title = textwrap.wrap(panel.title, width) if panel.title else []
    return [''] + title + DRAWERS[panel.kind](panel, max(width, 2 * TICK_EVERY), paint)


def painted(paint, text, role):
    return paint(text, role) if paint and text.strip() else text


# -- histograms: the rows stf shows

def histogram(values, width=HISTOGRAM_BAR, unit=1, most=stats.MOST_BINS):
    """Rows (range, count, bar) of a text histogram of integer values, in
    the bins of stf.core.flows.stats (linear of a round width; decades
    when the values span more than two orders of magnitude).

    unit divides the values for display (1_000_000 shows microseconds as
    seconds).
    """
    found = stats.spread(values, most)
    return histogram_rows(found.bins, width, unit) if found else []


def histogram_rows(bins, width=HISTOGRAM_BAR, unit=1):
    top = max(max(bins.counts), 1)
    return [(bin_text(bins, index, unit), count, bar(count, top, width))
            for index, count in enumerate(bins.counts)]


def bar(count, top, width):
    """'#' in proportion to top, at least one for a count above 0."""
    return '#' * max(count * width // top, 1 if count else 0)


def bin_text(bins, index, unit):
    """'2.2 - 2.299999' (both ends in the bin), or the one value it holds."""
    low, high = bins.edges[index], bins.edges[index + 1] - 1
    return number(low, unit) if low == high else f'{number(low, unit)} - {number(high, unit)}'


def number(value, unit):
    """An int or a median (halves) for display: separators, and
    unit dividing it (1_000_000: microseconds as seconds, to the µs)."""
    if unit != 1:
        return f'{value / unit:,.6f}'.rstrip('0').rstrip('.')
    if float(value).is_integer():
        return f'{int(value):,}'
    return f'{value:,.2f}'.rstrip('0').rstrip('.')


def short_number(value):
    """A value of a figure in at most 6 significant digits: '2.2', '1,500', '1e+07'."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f'{int(value):,}'
    return f'{value:,.6g}'


def histogram_panel(panel, width, paint=None):
    """A row per bin of the panel's edges: 'low - high', its count, a bar."""
    if not panel.series or not panel.edges:
        return ['(none)']
    counts = [int(count) for count in panel.series[0].y]
    ranges = [f'{short_number(low)} - {short_number(high)}'
              for low, high in zip(panel.edges[:-1], panel.edges[1:])]
    left = max(len(panel.x_label), *map(len, ranges))
    right = max(len(panel.y_label), *(len(f'{count:,}') for count in counts))
    room = max(min(HISTOGRAM_BAR, width - left - right - 2), 1)
    top = max(max(counts), 1)
    return [f'{panel.x_label:<{left}} {panel.y_label:>{right}}'.rstrip()] + [
        f'{text:<{left}} {count:>{right},} {painted(paint, bar(count, top, room), 0)}'.rstrip()
        for text, count in zip(ranges, counts)]


# -- axes

class Axis:
    """Values onto `cells` places (dots or columns): low..high of the values
    (their log10 when log), the first value at place 0 and the last at
    cells - 1. time: the values are epoch seconds written as UTC times;
    rounded: low and high widened to round steps (a y axis: 0 to 20, not
    0.007 to 19.97)."""

    def __init__(self, values, cells, fixed=None, log=False, time=False, rounded=False,
                 integer=False):
        self.log, self.cells, self.integer = log, cells, integer
        known = [self.scaled(value) for value in values]
        known = [value for value in known if value is not None]
        low, high = (self.scaled(fixed[0]), self.scaled(fixed[1])) if fixed else (None, None)
        low = min(known, default=0.0) if low is None else low
        high = max(known, default=1.0) if high is None else high
        if high <= low:      # one value: it lies in the middle
            low, high = low - 0.5, high + 0.5
        self.time = time and not log and EARLIEST <= low and high <= LATEST
        if rounded and not fixed:
            step = self.step((high - low) / ROUND_TICKS)
            low, high = math.floor(low / step) * step, math.ceil(high / step) * step
        self.low, self.high = low, high

    def scaled(self, value):
        """A value as the axis measures it (None: not drawable)."""
        if value is None or not math.isfinite(value) or (self.log and value <= 0):
            return None
        return math.log10(value) if self.log else float(value)

    def place(self, value):
        """Where a value lies, 0..cells - 1 (outside for values outside; None: none)."""
        found = self.scaled(value)
        if found is None:
            return None
        return round((found - self.low) / (self.high - self.low) * (self.cells - 1))

    def step(self, least):
        """A round step of at least `least` (whole decades on a log axis)."""
        found = nice_step(least, self.time)
        return max(1.0, round(found)) if self.log or self.integer else found

    def ticks(self, least):
        """(value, label) of round values at least `least` apart."""
        step = self.step(least)
        first = math.ceil(self.low / step - 1e-9) * step
        count = int((self.high - first) / step + 1e-9) + 1
        return [(10 ** value if self.log else value, tick_text(value, step, self))
                for value in (first + number * step for number in range(count))]


ROUND_TICKS = 4       # a y axis has about this many steps


def nice_step(least, time=False):
    """The smallest round step (1, 2 or 5 times a power of 10; of a clock's
    for times) of at least `least`."""
    if time and least >= 1:
        return next(step / letters.SECOND for step in clock_steps()
                    if step >= least * letters.SECOND)
    power = 10.0 ** math.floor(math.log10(least)) if least > 0 else 1.0
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= least)


def tick_text(value, step, axis):
    if axis.log:
        return short_number(10 ** value)
    if axis.time:
        return time_text(value, step)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f'{value:,.{decimals}f}'


# A time tick's text by its step: dates, hours and minutes, seconds, their parts.
TIME_FORMATS = ((86400, '%Y-%m-%d'), (60, '%H:%M'), (1, '%H:%M:%S'))


def time_text(seconds, step):
    moment = utc(seconds)
    for least, pattern in TIME_FORMATS:
        if step >= least:
            return moment.strftime(pattern)
    decimals = min(6, max(1, -math.floor(math.log10(step) + 1e-9)))
    return moment.strftime('%H:%M:%S.%f')[:9 + decimals]


def utc(seconds):
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def x_axis(axis, indent, columns, per_column, x_label):
    """The ruler under a chart `columns` wide, its tick labels (at least
    TICK_EVERY columns apart) and the axis's name (and the moment of the
    first time, for times). per_column: the axis's places in a column."""
    ruler, labels = ['─'] * columns, [' '] * columns
    free = 0
    spacing = (axis.high - axis.low) * TICK_EVERY * per_column / max(axis.cells, 1)
    for value, text in axis.ticks(spacing):
        column = axis.place(value) // per_column
        if not 0 <= column < columns:
            continue
        ruler[column] = '┬'
        start = min(column, columns - len(text))      # the last one ends at the edge
        if start >= free:
            labels[start:start + len(text)] = text
            free = start + len(text) + 1
    name = x_label
    if axis.time:
        name += f" (UTC, from {utc(axis.low).strftime('%Y-%m-%d %H:%M:%S')})"
    elif axis.log:
        name += ' (log)'
    pad = ' ' * indent
    return [pad + '└' + ''.join(ruler), pad + ' ' + ''.join(labels).rstrip(), pad + ' ' + name]


def y_labels(axis, rows, per_row):
    """Row -> the round value written beside it: the row whose top the
    value's place reaches (per_row places a row, the highest at the top)."""
    top, found = axis.cells - 1, {}
    for value, text in axis.ticks((axis.high - axis.low) / ROUND_TICKS):
        found.setdefault(min((top - axis.place(value)) // per_row, rows - 1), text)
    return found


def with_y_axis(cells, labels, y_name):
    """The chart's rows behind the y axis, labelled; y_name above them."""
    width = max(map(len, labels.values()))
    rows = [f'{labels[row]:>{width}}┤' if row in labels else ' ' * width + '│'
            for row in range(len(cells))]
    return [y_name] + [(head + line).rstrip() for head, line in zip(rows, cells)], width


# -- charts: lines and points in braille

class Canvas:
    """Braille dots in cells (columns x rows); each cell remembers the series
    that drew last in it (its color, or its mark without colors)."""

    def __init__(self, columns, rows):
        self.columns, self.rows = columns, rows
        self.bits = np.zeros((rows, columns), np.int32)
        self.owner = np.full((rows, columns), -1, np.int32)

    def dot(self, x, y, series):
        if 0 <= x < 2 * self.columns and 0 <= y < 4 * self.rows:
            self.bits[y // 4, x // 2] |= BRAILLE[y % 4][x % 2]
            self.owner[y // 4, x // 2] = series

    def line(self, start, end, series):
        """The dots from start to end (Bresenham's)."""
        (x, y), (x1, y1) = start, end
        dx, dy = abs(x1 - x), -abs(y1 - y)
        sx, sy = (1 if x1 > x else -1), (1 if y1 > y else -1)
        error = dx + dy
        while True:
            self.dot(x, y, series)
            if (x, y) == (x1, y1):
                return
            twice = 2 * error
            if twice >= dy:
                error, x = error + dy, x + sx
            if twice <= dx:
                error, y = error + dx, y + sy

    def text(self, paint=None, marks=False):
        """The rows as text: braille (painted in each series' color), or
        each series' mark where marks."""
        return [''.join(painted(paint, ''.join(cell for cell, _ in run), owner) for owner, run in
                        itertools.groupby(zip(self.cells(bits, owners, marks), owners),
                                          key=lambda pair: pair[1]))
                for bits, owners in zip(self.bits.tolist(), self.owner.tolist())]

    @staticmethod
    def cells(bits, owners, marks):
        return [(MARKS[owner % len(MARKS)] if marks else chr(0x2800 + bit)) if bit else ' '
                for bit, owner in zip(bits, owners)]


def chart_panel(panel, width, paint=None):
    """Lines or points in braille: y labels, the chart, the x axis, a legend.
    A level (a threshold) is a row of its own between the points above it
    and those at or under it, labelled with its value. Without any point
    and without x_range there is no axis to draw (a time axis would start
    in 1970): only the legend says why."""
    series = panel.series
    marks = paint is None and len(series) > 1
    if not any(item.x for item in series) and panel.x_range is None:
        return ['(nothing to draw)'] + legend(series, paint, marks)
    y_axis = Axis([y for item in series for y in item.y], 4 * CHART_ROWS, panel.y_range,
                  panel.y_log, rounded=True, integer=panel.y_integer)
    labels = y_labels(y_axis, CHART_ROWS, 4)
    level = Level.of(series, y_axis)
    indent = max(map(len, [*labels.values(), level.text if level else '']))
    columns = max(width - indent - 1, TICK_EVERY)
    x_axis_ = Axis([x for item in series for x in item.x], 2 * columns, panel.x_range,
                   panel.x_log, panel.x_time, integer=panel.x_integer)
    canvas = Canvas(columns, CHART_ROWS)
    for number, item in enumerate(series):
        if not item.level:
            draw_series(canvas, item, x_axis_, y_axis, number, panel.kind == 'lines', level)
    cells = canvas.text(paint, marks)
    if level:
        cells, labels = level.inserted(cells, labels, columns, paint)
    chart, indent = with_y_axis(cells, labels, panel.y_label + (' (log)' if panel.y_log else ''))
    return (chart + x_axis(x_axis_, indent, columns, 2, panel.x_label)
            + legend(series, paint, marks))


class Level:
    """The first level of a chart's series (a threshold) and the top of the
    row of cells its value lies in (the boundary, in dots from the bottom, a
    multiple of 4; under the top row): its own row goes there, the points
    at or under it stay where they are, those above it are put above it
    (a row up at most), however close their values."""
    LINE = '┄'

    def __init__(self, number, value, boundary):
        self.number, self.value, self.boundary = number, value, boundary
        self.text = short_number(value)

    @classmethod
    def of(cls, series, y_axis):
        for number, item in enumerate(series):
            place = y_axis.place(item.y[0]) if item.level and item.y else None
            if place is not None:
                rows = y_axis.cells // 4
                return cls(number, item.y[0], 4 * min(max(place // 4 + 1, 1), rows - 1))
        return None

    def row(self, y, place):
        """A point's place (dots from the bottom) on its side of the level."""
        return max(place, self.boundary) if y > self.value else min(place, self.boundary - 1)

    def inserted(self, cells, labels, columns, paint):
        """The chart's rows (top first) with the level's row among them, and
        the y labels moved to their rows."""
        at = len(cells) - self.boundary // 4
        moved = {row + (row >= at): text for row, text in labels.items()}
        line = painted(paint, self.LINE * columns, self.number)
        return cells[:at] + [line] + cells[at:], {**moved, at: self.text}


def draw_series(canvas, item, x_axis, y_axis, number, joined, level=None):
    top = 4 * canvas.rows - 1
    previous = None
    for x, y in zip(item.x, item.y):
        column, row = x_axis.place(x), y_axis.place(y)
        if column is None or row is None:
            previous = None      # a gap in the data breaks the line
            continue
        here = (column, top - (level.row(y, row) if level else row))
        if joined and previous:
            canvas.line(previous, here, number)
        else:
            canvas.dot(*here, number)
        previous = here


def legend(series, paint, marks):
    """A line per series: its mark (or its color; a level: its line) and its label."""
    if len(series) < 2 and not (series and series[0].label):
        return []
    return [f"{painted(paint, symbol(item, number, marks), number)} {item.label}"
            for number, item in enumerate(series)]


def symbol(item, number, marks):
    if item.level:
        return Level.LINE
    return MARKS[number % len(MARKS)] if marks else '⣿'


# -- bars over time

def bars_panel(panel, width, paint=None):
    """Counts over time bins as vertical bars; bins that do not fit one a
    column are summed (the line under the axis says how many a bar)."""
    if not panel.series or not panel.series[0].x:
        return ['(none)']
    starts, counts = panel.series[0].x, [float(value) for value in panel.series[0].y]
    step = panel.bin_width or min(np.diff(starts), default=1) or 1
    slots = round((starts[-1] - starts[0]) / step) + 1
    room = max(width - len(short_number(max(counts))) - 3, TICK_EVERY)
    per, group = (min(room // slots, WIDEST_BAR), 1) if slots <= room else (1, -(-slots // room))
    columns = -(-slots // group) * per
    sums = [0.0] * columns
    for start, count in zip(starts, counts):
        first = round((start - starts[0]) / step) // group * per
        for column in range(first, first + per):
            sums[column] += count
    y_axis = Axis([0, max(sums)], 8 * BAR_ROWS + 1, rounded=True)     # eighths from 0
    chart, indent = with_y_axis(bar_rows(sums, y_axis, paint), y_labels(y_axis, BAR_ROWS, 8),
                                panel.y_label)
    axis = Axis([starts[0], starts[0] + columns * step * group / per], columns + 1, None,
                False, panel.x_time)
    note = [' ' * (indent + 1) + f'a bar: {short_number(step * group)} s' + (
        f' ({group} bins summed)' if group > 1 else '')] if panel.bin_width else []
    return chart + x_axis(axis, indent, columns, 1, panel.x_label) + note


def bar_rows(values, axis, paint=None):
    """Rows of eighths (stats.BARS) on the axis; a value above 0 shows at
    least one eighth."""
    eighths = [max(axis.place(value), 1 if value > 0 else 0) for value in values]
    rows = []
    for row in range(BAR_ROWS):
        floor = 8 * (BAR_ROWS - 1 - row)
        text = ''.join(stats.BARS[min(height - floor, 8) - 1] if height > floor else ' '
                       for height in eighths)
        rows.append(painted(paint, text, 0))
    return rows


# -- a connection's flows over time

def timeline_panel(panel, width, paint=None):
    """A 'timeline' panel: its series' x (epoch seconds), y (bytes) and
    letters drawn as timeline_drawing does (without a title of its own)."""
    item = panel.series[0]
    flows = FlowTimes('', [round(x * letters.SECOND) for x in item.x],
                      [int(size) for size in item.y], item.letters)
    paint_letters = (lambda row: paint(row, 'letters')) if paint else None
    return timeline_drawing(flows, width, paint_letters)


class FlowTimes:
    """What timeline_drawing draws (a results.Timeline is one too): title,
    start (µs, in order), size (bytes), letters (one a flow)."""

    def __init__(self, title, start, size, flow_letters):
        self.title, self.start, self.size, self.letters = title, start, size, flow_letters


LABEL = 8             # the rows' names, 'letters' and a space
ROWS = ('flows', 'gap', 'bytes', 'letters')
SECOND = letters.SECOND
# Steps of the time axis after the sub-second ones (1, 2, 5 times a power of 10 µs).
CLOCK_STEPS = tuple(SECOND * seconds for seconds in (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400))
# (microseconds, unit) of the axis's labels and the legend.
UNITS = ((86400 * SECOND, 'd'), (3600 * SECOND, 'h'), (60 * SECOND, 'min'), (SECOND, 's'),
         (1000, 'ms'), (1, 'µs'))


def timeline_drawing(item, width, paint=None):
    """The lines of a connection's flows over time on a screen `width`
    columns wide: a time axis, then one column per slice of time with
    sparklines of the flows, the gaps before them and their sizes, and each
    column's commonest letter underneath; paint colors the letters (on a
    terminal)."""
    plot = max(width - LABEL, TICK_EVERY)
    start = np.asarray(item.start, np.int64)
    # unsigned: a broken clock's times may lie more than int64 apart
    offsets = (start - start[0]).view(np.uint64)
    span = int(offsets[-1])
    step = -(-(span + 1) // plot)             # µs a column: the last flow in the last one
    column = (offsets // np.uint64(step)).astype(np.int64)
    columns = int(column[-1]) + 1
    counts = np.bincount(column, minlength=columns).tolist()
    values = {'flows': [count or None for count in counts],
              'gap': medians(column[1:], np.diff(offsets), columns),
              'bytes': medians(column, np.asarray(item.size, np.int64), columns)}
    bars = {name: stats.heights(found) for name, found in values.items()}
    row = commonest(column, item.letters, columns)
    bars['letters'] = (paint(row) if paint else row, '')
    lines = [*textwrap.wrap(item.title, width), *span_axis(span, step, columns, plot)]
    lines += [f'{name:<{LABEL}}{bars[name][0]}'.rstrip() for name in ROWS]
    return lines + textwrap.wrap(timeline_legend(step, values, bars), width)


def medians(column, values, columns):
    """The median of the values in each column (None where there are none);
    column: each value's column, ascending."""
    order = np.lexsort((values, column))
    ordered, where = values[order], column[order]
    bounds = np.searchsorted(where, np.arange(columns + 1))
    return [stats.median(ordered[low:high]) if high > low else None
            for low, high in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


def commonest(column, flow_letters, columns):
    """Each column's commonest letter (the first in ASCII of equals), a
    space where no flow starts."""
    codes = np.frombuffer(flow_letters.encode('ascii'), np.uint8)
    bounds = np.searchsorted(column, np.arange(columns + 1)).tolist()
    return ''.join(chr(int(np.bincount(codes[low:high]).argmax())) if high > low else ' '
                   for low, high in zip(bounds[:-1], bounds[1:]))


def span_axis(span, step, columns, plot):
    """The time labels (from the first flow) and the ruler under them: a
    mark every tick, at least TICK_EVERY columns apart."""
    tick = next(size for size in clock_steps() if size >= TICK_EVERY * step)
    labels, ruler = [' '] * plot, ['─'] * columns
    for offset in range(0, span + 1, tick):
        place, text = offset // step, span_text(offset)
        ruler[place] = '┬'
        if place + len(text) <= plot:
            labels[place:place + len(text)] = text
    return ['time'.ljust(LABEL) + ''.join(labels).rstrip(), ' ' * LABEL + ''.join(ruler)]


def clock_steps():
    """10 µs, 20, 50, 100, ... 0.5 s, then CLOCK_STEPS, then 1, 2, 5 times
    a power of 10 days: every length of time a tick may have (µs)."""
    scale = 10
    while scale < SECOND:
        yield from (scale, 2 * scale, 5 * scale)
        scale *= 10
    yield from CLOCK_STEPS
    scale = 10 * 86400 * SECOND
    while True:
        yield from (scale, 2 * scale, 5 * scale)
        scale *= 10


def span_text(microseconds):
    """A length of time in its largest unit, to 4 digits: '0', '250ms', '1.5min'
    (a median of gaps may be half a µs)."""
    if microseconds < 1:
        return f'{microseconds:g}µs' if microseconds else '0'
    factor, unit = next((factor, unit) for factor, unit in UNITS if microseconds >= factor)
    value = microseconds / factor
    return f'{value:.4g}{unit}' if value < 1000 else f'{value:,.0f}{unit}'


def timeline_legend(step, values, bars):
    """What a column and a full bar stand for, row by row."""
    parts = [f'a column: {span_text(step)}']
    for name, shown in (('flows', str), ('gap', span_text), ('bytes', byte_text)):
        known = [value for value in values[name] if value is not None]
        if not known:
            parts.append(f'{name}: none')
            continue
        top = f'█ {shown(max(known))}'
        if bars[name][1] == 'log':
            top = f'▁ {shown(min(value for value in known if value > 0))} {top} (log)'
        parts.append(f'{name} {top}')
    return '; '.join(parts + ["letters: each column's commonest"])


def byte_text(value):
    return number(value, 1)


DRAWERS = {'histogram': histogram_panel, 'lines': chart_panel, 'points': chart_panel,
           'bars': bars_panel, 'timeline': timeline_panel}
