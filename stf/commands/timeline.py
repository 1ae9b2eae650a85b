"""connections -T: a connection's flows over time.

The handler gathers the flows (start, bytes, letter); on the screen the
renderer draws them to its width with stf.plots.terminal.timeline_drawing
(a time axis, then one column per slice of time with sparklines of the
flows, the gaps before them and their sizes, and each column's commonest
letter underneath); with --png they are a picture of each flow's bytes
over time, colored by its letter's periodicity.
"""
import numpy as np

from stf.commands import common
from stf.commands.results import Plot, Table, Timeline
from stf.core import formats
from stf.core.flows import letters, stats
from stf.plots.figure import Figure, Panel, Series

NOT_LETTERS = str.maketrans('', '', '0' + ''.join(char for char, _ in letters.TIMECHARS))


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
    flows_item = Timeline(title, start.tolist(), size.tolist(), flow_letters,
                          data=flow_table(conn, start, dur, size, flow_letters))
    return [Plot(flow_figure(app, group, conn, flows_item), shown=[flows_item])]


def flow_figure(app, group, conn, item):
    """The flows as a picture: each one's bytes at its start, its letter's class."""
    dataset = app.datasets.get(group.dataset_id)
    where = f"dataset '{dataset.name}', " if dataset else ''
    sizes = np.asarray(item.size, np.int64)
    panel = Panel('timeline', f'{formats.counted(len(sizes), "flow")}: bytes and letter of '
                  'each flow', 'start of the flow', 'bytes of the flow',
                  (Series('', tuple(moment / letters.SECOND for moment in item.start),
                          tuple(item.size), item.letters),),
                  x_time=True, y_log=stats.wide(np.sort(sizes)))
    return Figure(f'flows of connection {conn} ({where}group {group.id})', (panel,))


def flow_table(conn, start, dur, size, flow_letters):
    """The flows as data: what --json / --csv / --tsv write."""
    gaps = [None] + np.diff(start).tolist()
    rows = [(index, formats.from_us(int(start[index])), letters.seconds_text(gaps[index]),
             int(size[index]), letters.seconds_text(int(dur[index])), flow_letters[index])
            for index in range(len(start))]
    return Table(['flow', 'start', 'gap s', 'bytes', 'dur s', 'letter'], rows,
                 title=f'flows of {conn}')
