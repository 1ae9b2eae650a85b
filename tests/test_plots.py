"""Pictures: figures drawn in the terminal (stf.plots.terminal) and written
as PNG files with --png FILE (stf.plots.png), for connections -H and -T,
models -H and datasets -F of a capture."""
import io
import itertools
import json
import struct
import subprocess
import sys

import pytest

from stf.commands.models import PERIODICITY_EDGES
from stf.commands.results import Fields, Message, Plot, Table
from stf.console import structured
from stf.console.render import Renderer, plot_text
from stf.plots import png, terminal
from stf.plots.figure import Figure, Panel, Series
from tests.conftest import ROOT, error, models_of, ok, write_pcap
from tests.test_connections_models import HEADER
from tests.test_rhythm import BEACON, GAPS, SIZES, flow_line

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_size(path):
    """(width, height) of a PNG file, read from its IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, kind, width, height = struct.unpack('>I4sII', data[8:24])
    assert (length, kind) == (13, b'IHDR')
    return width, height


# -- in the terminal

THREE_POINTS = Figure('three points', (Panel('lines', 'a line', 'x (s)', 'y (flows)',
                                             (Series('', (0, 1, 2), (0, 4, 2)),)),))
TWO_SERIES = Figure('two series', (Panel('points', 'points', 'x', 'y', (
    Series('one', (0, 1, 2), (0, 1, 2)), Series('two', (0, 1, 2), (2, 1, 0)))),))


def test_a_braille_chart_of_three_points_joined():
    assert terminal.drawing(THREE_POINTS, 30) == [
        'three points',
        '',
        'a line',
        'y (flows)',
        '4┤             ⡰⠑⢄⡀',
        ' │            ⡔⠁  ⠈⠢⡀',
        ' │          ⢀⠜      ⠈⠒⢄',
        '3┤         ⢀⠎          ⠑⠤⡀',
        ' │        ⢠⠃             ⠈⠢⡀',
        '2┤       ⡰⠁                ⠈⠑⢄',
        ' │      ⡰⠁',
        ' │     ⡜',
        '1┤   ⢀⠎',
        ' │  ⢠⠊',
        ' │ ⡠⠃',
        '0┤⡰⠁',
        ' └┬─────────────┬────────────┬',
        '  0             1            2',
        '  x (s)']


def test_without_colors_each_series_has_its_mark():
    assert terminal.drawing(TWO_SERIES, 24)[3:] == [
        'y',
        '2.0┤+                  •',
        '   │', '   │',
        '1.5┤',
        '   │',
        '1.0┤          +',          # both series meet: the last one drawn shows
        '   │', '   │',
        '0.5┤',
        '   │', '   │',
        '0.0┤•                  +',
        '   └┬─────────┬────────┬',
        '    0         1        2',
        '    x',
        '• one',
        '+ two']


def test_on_a_terminal_each_series_has_its_color():
    lines = plot_text(Plot(TWO_SERIES), color=True, columns=24).splitlines()
    assert lines[4] == '2.0┤\x1b[33m⠁\x1b[0m                  \x1b[36m⠈\x1b[0m'
    assert lines[-2:] == ['\x1b[36m⣿\x1b[0m one', '\x1b[33m⣿\x1b[0m two']


def test_bars_of_packets_over_time():
    figure = Figure('packets', (Panel(
        'bars', '', 'time', 'packets',
        (Series('', (1_600_000_000, 1_600_000_300, 1_600_000_900), (4, 1, 2)),),
        x_time=True, bin_width=300),))
    assert terminal.drawing(figure, 40)[2:] == [
        'packets',
        '4┤████████',
        ' │████████',
        '3┤████████',
        ' │████████',
        '2┤████████                ████████',
        ' │████████                ████████',
        '1┤████████████████        ████████',
        '0┤████████████████        ████████',      # the empty bin: nothing
        ' └─────┬───────────────┬──────────',
        '       12:30           12:40',
        '  time (UTC, from 2020-09-13 12:26:40)',
        '  a bar: 300 s']


def test_histogram_rows_of_a_panel():
    panel = Panel('histogram', 'gaps', 'gap (s)', 'gaps', (Series('', (), (9, 0, 1)),),
                  edges=(2, 2.5, 3, 3.5))
    assert terminal.panel_lines(panel, 40) == [
        '', 'gaps',
        'gap (s) gaps',
        '2 - 2.5    9 ' + '#' * 27,          # 40 columns: 27 left for the bars
        '2.5 - 3    0',
        '3 - 3.5    1 ###']


def test_a_figure_alone_is_drawn_and_its_series_are_its_data():
    out = io.StringIO()
    Renderer(out, out).show([Plot(TWO_SERIES)])
    assert out.getvalue() == '\n'.join(terminal.drawing(TWO_SERIES, terminal.BATCH_WIDTH)) + '\n'
    text, others = structured.render([Plot(THREE_POINTS)], 'json')
    assert others == []
    assert json.loads(text) == [{'panel': 'a line', 'series': '', 'x': 0, 'y': 0},
                                {'panel': 'a line', 'series': '', 'x': 1, 'y': 4},
                                {'panel': 'a line', 'series': '', 'x': 2, 'y': 2}]
    shown = Table(['a'], [(1,)])
    assert structured.render([Plot(THREE_POINTS, shown=[shown])], 'csv') == ('a\n1', [])


def axes_of(panel):
    """The matplotlib axes stf.plots.png draws a panel on, drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as Picture
    picture = Picture(figsize=(12, 4), dpi=png.DPI)
    FigureCanvasAgg(picture)
    axes = picture.subplots()
    png.draw_panel(axes, panel)
    picture.canvas.draw()
    return axes


def axis_times(axes):
    """The x limits of a time axis as UTC times, to the second."""
    import matplotlib.dates as dates
    return tuple(dates.num2date(limit).strftime('%Y-%m-%d %H:%M:%S')
                 for limit in axes.get_xlim())


def test_a_panel_without_points_and_slots_has_no_axis_to_draw():
    panel = Panel('points', 'flagged', 'slot start', 'IP', (Series('no IP was flagged', (), ()),),
                  x_time=True)
    assert terminal.panel_lines(panel, 40) == ['', 'flagged', '(nothing to draw)',
                                               '⣿ no IP was flagged']
    axes = axes_of(panel)
    assert (list(axes.get_xticks()), axes.get_xlabel()) == ([], 'slot start')
    assert [text.get_text() for text in axes.texts] == ['nothing to draw']
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ['no IP was flagged']


def test_a_timeline_legend_names_its_letters():
    panel = Panel('timeline', 'flows', 'start', 'bytes', (Series(
        '', (1.6e9, 1.6e9 + 1, 1.6e9 + 2, 1.6e9 + 3), (10, 20, 30, 40), letters='25e5'),),
        x_time=True)
    assert [text.get_text() for text in axes_of(panel).get_legend().get_texts()] == [
        'no periodicity yet (letters 2, 5)', 'strongly periodic (letter e)']
    one = Panel('timeline', 'a flow', 'start', 'bytes', (Series('', (1.6e9,), (10,), '4'),),
                x_time=True)      # a minute each side, not matplotlib's years
    assert axis_times(axes_of(one)) == ('2020-09-13 12:25:40', '2020-09-13 12:27:40')


def test_numbers_on_a_picture_axis_have_no_offset():
    # one flow of 569.23266 s: matplotlib would write 1e-6+5.6923266e2 beside the axis
    panel = Panel('histogram', 'duration', 'duration (s)', 'flows', (Series('', (), (1,)),),
                  edges=(569.23266, 569.232661))
    axes = axes_of(panel)
    assert [axis.get_major_formatter().get_offset() for axis in (axes.xaxis, axes.yaxis)] == [
        '', '']
    assert [text.get_text() for text in axes.get_xticklabels()][:2] == [
        '569.2326598', '569.2326600']


def test_the_last_bin_of_packets_ends_at_the_last_packet(app, tmp_path):
    capture = write_pcap(tmp_path / 'c.pcap', [1_600_000_000.5, 1_600_000_001, 1_600_000_400])
    ok(app, f'datasets -c {capture}')
    plot = ok(app, 'datasets -F 0')[-1]
    (panel,) = plot.figure.panels
    assert panel.title == ('3 packets from 2020-09-13 12:26:40.500000 UTC to 2020-09-13 '
                           '12:33:20.000000 UTC; the last bin is partial, 99.5 s of 300 s to '
                           'the last packet')
    assert (panel.series[0].x, panel.x_end) == ((1_600_000_000.5, 1_600_000_300.5), 1_600_000_400)
    bars = axes_of(panel).patches      # matplotlib's widths in days
    assert [round(bar.get_width() * 86400, 6) for bar in bars] == [300, 99.5]


# -- --png FILE

@pytest.fixture
def beacon(app, tmp_path):
    """A dataset 'rhythm' of a beacon every 2.2 s (11 flows), its group of
    connections 0 and of models 0-1."""
    starts = itertools.accumulate([0] + GAPS)
    lines = [flow_line(moment, '1.1.1.1', '0.5', size) for moment, size in zip(starts, SIZES)]
    return models_of(app, tmp_path / 'rhythm.binetflow', HEADER + ''.join(lines), 'rhythm')


def test_the_histograms_of_a_connection_as_a_picture(beacon, tmp_path):
    target = tmp_path / 'gaps.png'
    fields, said = ok(beacon, f'connections -H {BEACON} --png {target}')
    assert isinstance(fields, Fields) and fields.pairs == [('flows', '11'), ('state length', 21)]
    assert said == Message(f'picture written to {target} (1200×1200 px)', 'ok')
    assert png_size(target) == (png.WIDTH_PX, 3 * png.PANEL_HEIGHT_PX) == (1200, 1200)
    (plot,) = [item for item in ok(beacon, f'connections -H {BEACON}') if isinstance(item, Plot)]
    assert plot.figure.title == (f"connection {BEACON} (dataset 'rhythm', group 0): 11 flows")
    assert [(panel.title, panel.x_label, panel.y_label) for panel in plot.figure.panels] == [
        ('duration (s): median 0.5, MAD 0', 'duration (s)', 'flows'),
        ('size (bytes): median 300, MAD 0', 'size (bytes)', 'flows'),
        ('time between flows (s): median 2.2, MAD 0.005', 'time between flows (s)', 'gaps')]
    assert plot.figure.panels[2].edges == (2, 2.5, 3, 3.5, 4, 4.5)
    assert plot.figure.panels[2].series[0].y == (9, 0, 0, 0, 1)


def test_sorted_tables_keep_their_picture(beacon, tmp_path):
    target = tmp_path / 'sorted.png'
    said = ok(beacon, f'connections -H {BEACON} --sort -flows --png {target}')[-1]
    assert said == Message(f'picture written to {target} (1200×1200 px)', 'ok')
    assert png_size(target) == (1200, 1200)
    (plot,) = [item for item in ok(beacon, f'connections -H {BEACON} --sort -flows')
               if isinstance(item, Plot)]
    durations = plot.shown[1]     # sorted inside the Plot, which stays for the screen's chart
    assert [row[1] for row in durations.rows] == sorted((row[1] for row in durations.rows),
                                                        reverse=True)


def test_a_timeline_and_the_state_lengths_as_pictures(beacon, tmp_path):
    (said,) = ok(beacon, f'connections -T {BEACON} --png {tmp_path / "t.png"}')
    assert said.text == f'picture written to {tmp_path / "t.png"} (1200×400 px)'
    assert png_size(tmp_path / 't.png') == (1200, 400)
    (said,) = ok(beacon, f'models -H 0-1 --png {tmp_path / "m.png"}')
    assert said.text.endswith('(1200×800 px)')
    assert png_size(tmp_path / 'm.png') == (1200, 800)
    (plot,) = ok(beacon, 'models -H 0-1')
    periodicity = plot.figure.panels[1]
    # 7 of its 9 letters with periodicity are strongly periodic ('55eeeeeeevv')
    assert (periodicity.title, periodicity.series[0].y) == (
        'periodicity: 1 model with letters that say it (0 without, left out)',
        (0,) * 7 + (1, 0, 0))
    # the screen shows both histograms too, the periodicity in the picture's bins
    summary, lengths, shown = plot.shown
    assert (lengths.title, lengths.rows) == ('state lengths of group 0-1', [('21', 1, '#' * 40)])
    assert (shown.title, shown.headers, shown.footer) == (
        'periodicity of group 0-1', ['range', 'models', ''], periodicity.title)
    assert shown.rows == [(f'{low:g} - {high:g}', count, '#' * 40 * count) for low, high, count
                          in zip(PERIODICITY_EDGES[:-1], PERIODICITY_EDGES[1:],
                                 (0,) * 7 + (1, 0, 0))]
    assert shown.rows[7] == ('0.7 - 0.8', 1, '#' * 40) and shown.rows[9][0] == '0.9 - 1'
    found = json.loads(ok(beacon, 'models -H 0-1 --json')[0].text)
    assert list(found) == ['summary', 'state_lengths_of_group_0_1', 'periodicity_of_group_0_1']
    assert [(row['range'], row['models']) for row in found['periodicity_of_group_0_1']] == [
        (row[0], row[1]) for row in shown.rows]


def test_a_picture_never_overwrites_a_file_without_force(app, tmp_path):
    capture = write_pcap(tmp_path / 'c.pcap', [1_600_000_000.5, 1_600_000_001, 1_600_000_400])
    ok(app, f'datasets -c {capture}')
    target = tmp_path / 'packets.png'
    target.write_bytes(b'old')
    assert error(app, f'datasets -F 0 --png {target}') == (
        f'{target} exists; add --force to overwrite it, or choose another file')
    assert target.read_bytes() == b'old'
    items = ok(app, f'datasets -F 0 --png {target} --force')
    assert [type(item).__name__ for item in items] == ['Fields', 'Fields', 'Fields', 'Message']
    assert items[-1].text == f'picture written to {target} (1200×400 px)'
    assert png_size(target) == (1200, 400)
    assert sorted(path.name for path in tmp_path.glob('*.*')) == ['c.pcap', 'packets.png']


def test_what_png_refuses_before_the_command_runs(beacon, tmp_path):
    assert error(beacon, f'connections -H {BEACON} --png {tmp_path}/no/such/h.png') == (
        f'--png: the folder {tmp_path}/no/such does not exist; create it or choose another '
        'file')
    assert error(beacon, f'connections -L 0 --png {tmp_path}/l.png') == (
        'connections -L draws no picture; --png goes with connections -H or -T')
    assert error(beacon, f'connections -T {BEACON} --png {tmp_path}/t.png --json') == (
        '--png writes a picture and --json the data: give one of them')
    assert error(beacon, f'datasets -F 0 --png {tmp_path}/f.png') == (
        '--png draws the packets of a capture (pcap or pcapng); file 0 is binetflow; '
        'nothing was written')
    assert error(beacon, 'labels -l --png l.png') == (
        "labels: unrecognized arguments: --png l.png; see 'labels -h'")
    assert not list(tmp_path.glob('*.png'))


def test_a_file_name_is_checked_before_the_command_runs(beacon, tmp_path, monkeypatch):
    (tmp_path / 'file.txt').write_text('x')
    h = f'connections -H {BEACON}'
    assert error(beacon, f"{h} --png '' --force") == (
        '--png: the file name is empty; give one, e.g. --png picture.png')
    assert error(beacon, f'{h} --png {tmp_path} --force') == (
        f'--png: {tmp_path} is a folder; give a file in it, e.g. --png {tmp_path}/picture.png')
    assert error(beacon, f'{h} --png {tmp_path}/file.txt/y.png') == (
        f'--png: {tmp_path}/file.txt is a file, not a folder; choose another file')
    assert error(beacon, f'{h} --png {tmp_path}/file.txt/a/y.png') == (
        f'--png: {tmp_path}/file.txt is a file, not a folder; choose another file')
    assert error(beacon, f'{h} --png {tmp_path}/y.jpg') == (
        f"{tmp_path}/y.jpg: a picture's name ends in .png; give --png {tmp_path}/y.png")
    assert error(beacon, f'{h} --png {tmp_path}/y') == (
        f"{tmp_path}/y: a picture's name ends in .png; give --png {tmp_path}/y.png")
    assert error(beacon, "models -L 0-1 --json --output ''") == (
        '--output: the file name is empty; give one, e.g. --output listing.json')
    assert error(beacon, f'models -L 0-1 --csv --output {tmp_path}') == (
        f'--output: {tmp_path} is a folder; give a file in it, e.g. --output '
        f'{tmp_path}/listing.csv')
    assert error(beacon, f'models -L 0-1 --csv --output {tmp_path}/file.txt/m.csv') == (
        f'--output: {tmp_path}/file.txt is a file, not a folder; choose another file')
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        'db', 'file.txt', 'rhythm.binetflow', 'stf-home']

    monkeypatch.setenv('HOME', str(tmp_path))      # ~ is the analyst's home, as datasets -c ~/f
    assert ok(beacon, f'{h} --png ~/x.PNG')[-1].text == (
        f'picture written to {tmp_path}/x.PNG (1200×1200 px)')
    assert png_size(tmp_path / 'x.PNG') == (1200, 1200)
    assert ok(beacon, 'models -L 0-1 --json --output ~/m.json') == [
        Message(f'written to {tmp_path}/m.json', 'note')]
    assert json.loads((tmp_path / 'm.json').read_text())[0]['model'] == BEACON


def test_png_is_offered_where_an_action_draws():
    from stf.commands import build_registry
    registry = build_registry()
    drawing = {command.name: [action.flags[0] for action in command.drawing_actions()]
               for command in registry.commands if command.drawing_actions()}
    assert {name: drawing[name] for name in ('connections', 'models', 'datasets')} == {
        'connections': ['-H', '-T'], 'models': ['-H'], 'datasets': ['-F']}
    connections = registry.get('connections')
    assert connections.completion_kind('--png') == 'path'
    # --force names the files the command writes: --png only where it draws
    force = {command.name: dict(command.option_help()).get('--force')
             for command in registry.commands}
    assert {name: force[name] for name in ('connections', 'notes', 'history', 'datasets')} == {
        'connections': 'overwrite the file of --output or --png',
        'notes': 'overwrite the file of --output',
        'history': 'overwrite the file of --output',
        'datasets': '-g: overwrite output files stf did not make; --png, --output: overwrite '
                    'the picture, the listing'}
    from stf.commands.registry import Command, Flag
    own = Command('own', 'writes a folder of its own', options=(
        Flag(('--output',), 'the folder', metavar='DIR'),))      # no file --force could overwrite
    assert [option.flags[0] for option in own.output_flags()] == ['--sort', '--json', '--csv',
                                                                  '--tsv']


def test_several_pictures_of_one_command_are_one_file(tmp_path):
    from stf.console import pictures
    second = Figure('second', (THREE_POINTS.panels[0], TWO_SERIES.panels[0]))
    items = pictures.written([Plot(THREE_POINTS), Message('kept'), Plot(second)],
                             tmp_path / 'p.png', force=False)
    assert items == [Message(f'picture written to {tmp_path / "p.png"} (1200×1200 px)', 'ok'),
                     Message('kept')]      # all three panels, under the first title
    assert png_size(tmp_path / 'p.png') == (1200, 1200)


def test_the_console_starts_without_matplotlib():
    found = subprocess.run(
        [sys.executable, '-c', 'import sys, stf.console.app, stf.console.main; '
         "print('matplotlib' in sys.modules)"], cwd=ROOT, capture_output=True, text=True)
    assert (found.stdout, found.stderr) == ('False\n', '')
