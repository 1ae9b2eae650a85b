"""connections -T: a connection's flows over time, in the terminal.

The handler gathers the flows (start, bytes, letter); the renderer draws
them to the screen's width (BATCH_WIDTH columns in batch mode) with
drawing(): a time axis, then one column per slice of time with sparklines
of the flows, the gaps before them and their sizes, and each column's
commonest letter underneath.
"""
import textwrap

import numpy as np

from stf.commands import common
from stf.commands.results import Table, Timeline
from stf.core import formats
from stf.core.flows import letters, stats

BATCH_WIDTH = 100
LABEL = 8             # the rows' names, 'letters' and a space
TICK_EVERY = 10       # at least this many columns from one time label to the next
ROWS = ('flows', 'gap', 'bytes', 'letters')
NOT_LETTERS = str.maketrans('', '', '0' + ''.join(char for char, _ in letters.TIMECHARS))
SECOND = letters.SECOND
# Steps of the time axis after the sub-second ones (1, 2, 5 times a power of 10 µs).
CLOCK_STEPS = tuple(SECOND * seconds for seconds in (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400))
# (microseconds, unit) of the axis's labels and the legend.
UNITS = ((86400 * SECOND, 'd'), (3600 * SECOND, 'h'), (60 * SECOND, 'min'), (SECOND, 's'),
         (1000, 'ms'), (1, 'µs'))


def timeline(app, args):
    conn = args.timeline
    group = common.group_with_connection(app, conn, None if args.generate is True
                                         else args.generate)
    chunk, position = group.locate(conn)
    flows = chunk.flows(position)
    start, dur, size = flows['start'], flows['dur'], flows['size']
    state = letters.states(start, dur, size, np.array([0, len(start)], dtype=np.int64))[0]
    flow_letters = state.translate(NOT_LETTERS)       # one a flow, as connections -F shows
    title = (f'timeline of {conn} (group {group.id}): {formats.counted(len(start), "flow")} '
             f'from {formats.from_us(int(start[0]))} to {formats.from_us(int(start[-1]))}')
    return [Timeline(title, start.tolist(), size.tolist(), flow_letters,
                     data=flow_table(conn, start, dur, size, flow_letters))]


def flow_table(conn, start, dur, size, flow_letters):
    """The flows as data: what --json / --csv / --tsv write."""
    gaps = [None] + np.diff(start).tolist()
    rows = [(index, formats.from_us(int(start[index])), letters.seconds_text(gaps[index]),
             int(size[index]), letters.seconds_text(int(dur[index])), flow_letters[index])
            for index in range(len(start))]
    return Table(['flow', 'start', 'gap s', 'bytes', 'dur s', 'letter'], rows,
                 title=f'flows of {conn}')


# -- drawing

def drawing(item, width, paint=None):
    """The lines of a Timeline on a screen `width` columns wide; paint
    colors the letters (on a terminal)."""
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
    lines = [*textwrap.wrap(item.title, width), *axis(span, step, columns, plot)]
    lines += [f'{name:<{LABEL}}{bars[name][0]}'.rstrip() for name in ROWS]
    return lines + textwrap.wrap(legend(step, values, bars), width)


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


def axis(span, step, columns, plot):
    """The time labels (from the first flow) and the ruler under them: a
    mark every tick, at least TICK_EVERY columns apart."""
    tick = next(size for size in axis_steps() if size >= TICK_EVERY * step)
    labels, ruler = [' '] * plot, ['─'] * columns
    for offset in range(0, span + 1, tick):
        place, text = offset // step, span_text(offset)
        ruler[place] = '┬'
        if place + len(text) <= plot:
            labels[place:place + len(text)] = text
    return ['time'.ljust(LABEL) + ''.join(labels).rstrip(), ' ' * LABEL + ''.join(ruler)]


def axis_steps():
    """10 µs, 20, 50, 100, ... 0.5 s, then CLOCK_STEPS, then 1, 2, 5 times
    a power of 10 days: every length of time a tick may have."""
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


def legend(step, values, bars):
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
    return common.number(value, 1)
