"""A connection's rhythm: the bins, median, MAD and mode of its gaps, sizes
and durations (connections -H, models -H), and its flows over time in the
terminal (connections -T)."""
import io
import itertools
import json

import numpy as np
import pytest

from stf.commands import common
from stf.commands.results import Timeline, shown_items
from stf.console.render import Renderer, display_width
from stf.core.flows import letters, stats
from stf.plots import terminal
from tests.conftest import error, models_of, ok
from tests.test_connections_models import HEADER

SECOND = letters.SECOND
BEACON = '10.0.0.1-1.1.1.1-80-tcp'
BROWSER = '10.0.0.1-2.2.2.2-80-tcp'
# A beacon every 2.2 s with a little jitter and one beacon missed (4.4 s).
GAPS = [2_200_000, 2_150_000, 2_250_000, 2_200_000, 2_200_000, 2_210_000, 2_190_000,
        2_200_000, 4_400_000, 2_200_000]
SIZES = [300, 300, 310, 300, 290, 300, 300, 300, 300, 305, 300]


def flow_line(moment, dst, dur='0.5', size=300):
    """A binetflow line of a flow starting `moment` µs after 10:00."""
    seconds, micro = divmod(moment, SECOND)
    return (f'2020/01/01 10:{seconds // 60:02d}:{seconds % 60:02d}.{micro:06d},{dur},tcp,'
            f'10.0.0.1,4000,   ->,{dst},80,CON,0,0,3,{size},100,flow=From-Botnet-V1-TCP-CC\n')


@pytest.fixture
def capture(app, tmp_path):
    starts = itertools.accumulate([0] + GAPS)
    lines = [flow_line(moment, '1.1.1.1', '0.6' if number == 3 else '0.5', size)
             for number, (moment, size) in enumerate(zip(starts, SIZES))]        # the beacon
    lines += [flow_line(second * SECOND, '2.2.2.2', '0', 100 + second * 37)
              for second in (1, 3, 4, 20, 21, 55, 56, 57, 90, 200, 300)]          # a browser
    lines += [flow_line(5 * SECOND, '3.3.3.3')]                                  # one flow
    return models_of(app, tmp_path / 'rhythm.binetflow', HEADER + ''.join(sorted(lines)), 'rhythm')


def seen(app, line):
    """The items of a command as the screen shows them (a Plot's shown items)."""
    return list(shown_items(ok(app, line)))


def shown(items, width=None):
    """What batch mode prints (a terminal `width` columns wide, when given)."""
    out = io.StringIO()
    renderer = Renderer(out, out, terminal=width is not None, pager='none')
    renderer.show(items)
    return out.getvalue()


# -- the statistics, by hand

def test_median_mad_and_mode_by_hand():
    found = stats.spread([9, 1, 2, 2, 4, 1, 6])          # 1 1 2 2 4 6 9
    assert (found.count, found.median, found.mad) == (7, 2.0, 1.0)   # |v-2|: 0 0 1 1 1 2 7
    assert found.bins.edges == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert found.bins.counts == (2, 2, 0, 1, 0, 1, 0, 0, 1)
    assert found.bins.fullest == 0                       # two bins of 2: the lower one
    found = stats.spread([4, 1, 3, 2])
    assert (found.median, found.mad) == (2.5, 1.0)       # |v-2.5|: 0.5 0.5 1.5 1.5
    assert stats.spread([0, 1, 1, 4, 4, 5]).mad == 1.5   # |v-2.5|: 1.5 1.5 1.5 1.5 2.5 2.5
    assert stats.spread([7]) == stats.Spread(1, 7.0, 0.0, stats.Bins((7, 8), (1,), 1))
    assert stats.spread([]) is None


def test_mad_of_the_largest_values_does_not_overflow():
    assert stats.mad(np.array([0, letters.INT64_MAX])) == letters.INT64_MAX / 2


def test_a_beacon_every_2_2_seconds_gets_linear_bins_of_a_round_width():
    bins = stats.spread(GAPS[:8]).bins                    # 2.15 s to 2.25 s
    assert bins.width == 20_000                           # 10,000 would make 11 bins
    assert bins.edges == tuple(range(2_140_000, 2_260_001, 20_000))
    assert bins.counts == (1, 0, 1, 5, 0, 1)
    found = stats.spread(GAPS)                            # and a missed one: 4.4 s
    assert (found.median, found.mad, found.bins.width) == (2_200_000.0, 5_000.0, 500_000)
    assert found.bins.edges == (2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000, 4_500_000)
    assert found.bins.counts == (9, 0, 0, 0, 1)
    assert terminal.histogram(GAPS, width=9, unit=SECOND) == [
        ('2 - 2.499999', 9, '#########'), ('2.5 - 2.999999', 0, ''), ('3 - 3.499999', 0, ''),
        ('3.5 - 3.999999', 0, ''), ('4 - 4.499999', 1, '#')]


def test_values_over_two_orders_of_magnitude_get_decades():
    bins = stats.spread([0, 3, 40, 40, 7_000]).bins       # 7,000 > 100 times 3
    assert (bins.edges, bins.counts, bins.width) == ((0, 1, 10, 100, 1_000, 7_001),
                                                     (1, 1, 2, 0, 1), None)
    assert stats.spread([20, 2_001]).bins.edges == (10, 100, 1_000, 2_002)
    # exactly 100 times is not wide: linear bins
    assert stats.spread([1, 100]).bins.edges == (0, 20, 40, 60, 80, 100, 120)


def test_histogram_rows_and_the_spread_table():
    assert terminal.histogram([1, 1, 2, 10], width=4, most=3) == [
        ('0 - 4', 3, '####'), ('5 - 9', 0, ''), ('10 - 14', 1, '#')]
    (summary, gaps) = common.spreads([('gap (s)', GAPS, SECOND, 'gaps')])
    assert summary.rows == [('gap (s)', '2.2', '0.005', '2 - 2.499999', '0.5 wide')]
    assert gaps.headers == ['range', 'gaps', ''] and gaps.title == 'gap (s)'
    (summary, empty) = common.spreads([('gap (s)', [], SECOND, 'gaps')])
    assert (summary.rows, empty.rows) == ([('gap (s)', '-', '-', '-', '-')], [])
    assert common.number(2_135.5, 1) == '2,135.5' and common.number(0.25, 1) == '0.25'


def test_sparkline_heights_linear_and_log():
    assert stats.heights([None, 1, 2, 4, 8, 0]) == (' ▁▂▄█▁', 'linear')
    assert stats.heights([1, 10, 100, 1_000, None]) == ('▁▃▆█ ', 'log')
    assert stats.heights([None, None]) == ('  ', 'linear')


# -- connections -H and models -H

def test_histograms_of_a_beacon(capture):
    items = seen(capture, f'connections -H {BEACON}')
    assert items[0].pairs == [('flows', '11'), ('state length', 21)]
    assert items[1].rows == [
        ('duration (s)', '0.5', '0', '0.5 - 0.519999', '0.02 wide'),
        ('size (bytes)', '300', '0', '300 - 304', '5 wide'),
        ('time between flows (s)', '2.2', '0.005', '2 - 2.499999', '0.5 wide')]
    assert [table.title for table in items[2:]] == [
        'duration (s)', 'size (bytes)', 'time between flows (s)']
    assert [(low, count) for low, count, _ in items[3].rows] == [
        ('290 - 294', 1), ('295 - 299', 0), ('300 - 304', 8), ('305 - 309', 1), ('310 - 314', 1)]
    assert shown(items[4:]) == (
        'time between flows (s)\n'
        '+----------------+------+------------------------------------------+\n'
        '| range          | gaps |                                          |\n'
        '+----------------+------+------------------------------------------+\n'
        '| 2 - 2.499999   | 9    | ######################################## |\n'
        '| 2.5 - 2.999999 | 0    |                                          |\n'
        '| 3 - 3.499999   | 0    |                                          |\n'
        '| 3.5 - 3.999999 | 0    |                                          |\n'
        '| 4 - 4.499999   | 1    | ####                                     |\n'
        '+----------------+------+------------------------------------------+\n')


def test_histograms_of_a_wide_spread_and_of_one_flow(capture):
    items = seen(capture, f'connections -H {BROWSER}')
    assert items[1].rows[1:] == [
        ('size (bytes)', '2,135', '1,295', '0 - 1,999', '2,000 wide'),
        ('time between flows (s)', '9', '8', '1 - 9.999999', 'decades')]
    assert items[4].rows == [('1 - 9.999999', 5, '#' * 40), ('10 - 99.999999', 3, '#' * 24),
                             ('100 - 110', 2, '#' * 16)]
    items = seen(capture, 'connections -H 10.0.0.1-3.3.3.3-80-tcp')
    assert items[1].rows[2] == ('time between flows (s)', '-', '-', '-', '-')
    assert shown(items[4:]) == 'time between flows (s)\n(none)\n'


def test_histogram_of_state_lengths(capture):
    (summary, table, periodicity) = seen(capture, 'models -H 0-1')
    assert summary.rows == [('state lengths of group 0-1', '21', '0', '20 - 24', '5 wide')]
    assert table.rows == [('0 - 4', 1, '#' * 20), ('5 - 9', 0, ''), ('10 - 14', 0, ''),
                          ('15 - 19', 0, ''), ('20 - 24', 2, '#' * 40)]
    assert periodicity.title == 'periodicity of group 0-1'
    # the beacon's 0.78 and the browser's 0.11; the single flow has no periodicity
    assert [(text, count) for text, count, _ in periodicity.rows if count] == [
        ('0.1 - 0.2', 1), ('0.7 - 0.8', 1)]
    assert len(periodicity.rows) == 10 and periodicity.footer == (
        'periodicity: 2 models with letters that say it (1 without, left out)')


def test_histograms_as_json(capture):
    (text,) = ok(capture, f'connections -H {BEACON} --json')
    found = json.loads(text.text)
    assert list(found) == ['10_0_0_1_1_1_1_1_80_tcp_group_0', 'summary', 'duration_s',
                           'size_bytes', 'time_between_flows_s']
    assert found['summary'][2] == {'values': 'time between flows (s)', 'median': 2.2,
                                   'mad': 0.005, 'mode_fullest_bin': '2 - 2.499999',
                                   'bins': '0.5 wide'}


# -- connections -T

BEACON_TIMELINE = [
    'timeline of 10.0.0.1-1.1.1.1-80-tcp (group 0): 11 flows from 2020-01-01 10:00:00.000000 UTC '
    'to',
    '2020-01-01 10:00:24.200000 UTC',
    'time    0                  5s                 10s                15s                20s',
    '        ┬──────────────────┬──────────────────┬──────────────────┬──────────────────┬'
    '───────────────',
    'flows   █       █       █        █       █       █        █       █       █                █'
    '       █',
    'gap             ▄       ▄        ▅       ▄       ▄        ▅       ▄       ▄                █'
    '       ▄',
    'bytes   █       █       █        █       █       █        █       █       █                █'
    '       █',
    'letters 5       5       e        e       e       e        e       e       e                v'
    '       v',
    "a column: 263ms; flows █ 1; gap █ 4.4s; bytes █ 310; letters: each column's commonest"]


def test_the_timeline_of_a_beacon_in_batch_mode(capture):
    (item,) = seen(capture, f'connections -T {BEACON}')
    assert item.letters == '55' + 'e' * 7 + 'vv'
    assert shown([item]) == '\n'.join(BEACON_TIMELINE) + '\n'
    assert max(len(line) for line in BEACON_TIMELINE) == terminal.BATCH_WIDTH


def test_a_timeline_of_flows_sharing_columns_with_a_log_scale(capture):
    (item,) = seen(capture, f'connections -T {BROWSER}')
    assert terminal.timeline_drawing(item, 40) == [
        'timeline of 10.0.0.1-2.2.2.2-80-tcp',
        '(group 0): 11 flows from 2020-01-01',
        '10:00:01.000000 UTC to 2020-01-01',
        '10:05:00.000000 UTC',
        'time    0           2min         4min',
        '        ┬───────────┬────────────┬──────',
        'flows   █ ▆  █   ▃           ▃         ▃',
        'gap     ▂ ▄  ▁   ▆           █         █',
        'bytes   ▁ ▁  ▂   ▃           ▆         █',
        'letters 1 U  X   X           x         G',
        'a column: 9.344s; flows █ 3; gap ▁ 1s █',
        '1.833min (log); bytes █ 11,200; letters:',
        "each column's commonest"]


def test_a_timeline_of_one_flow():
    item = Timeline('one', [7 * SECOND], [90], 'e')
    assert terminal.timeline_drawing(item, 30) == [
        'one', 'time    0', '        ┬', 'flows   █', 'gap', 'bytes   █', 'letters e',
        'a column: 1µs; flows █ 1; gap:', "none; bytes █ 90; letters:", "each column's commonest"]


def test_a_timeline_fits_the_terminal_and_colors_its_letters(capture, monkeypatch):
    monkeypatch.setenv('COLUMNS', '60')
    monkeypatch.setenv('LINES', '40')
    (item,) = seen(capture, f'connections -T {BEACON}')
    out = shown([item], width=60)
    assert 'letters \x1b[35m5\x1b[0m' in out
    plain = [display_width(line) for line in out.splitlines()]
    assert max(plain) == 60


def test_timeline_as_json(capture):
    (text,) = ok(capture, f'connections -T {BEACON} --json')
    found = json.loads(text.text)
    assert len(found) == 11
    assert found[9] == {'flow': 9, 'start': '2020-01-01T10:00:22.000000Z', 'gap_s': 4.4,
                        'bytes': 305, 'dur_s': 0.5, 'letter': 'v'}
    assert found[0]['gap_s'] is None


def test_a_timeline_of_an_unknown_connection_is_one_error_line(capture):
    assert error(capture, 'connections -T 10.0.0.1-9.9.9.9-80-tcp') == (
        "no group of connections of dataset 'rhythm' has a connection "
        "'10.0.0.1-9.9.9.9-80-tcp'; check the id or name the group with -g")
    assert error(capture, f'connections -T {BEACON} -g 4') == (
        "there is no group of connections 4; list them with 'connections -l'")
    assert error(capture, 'connections -T 10.0.0.1-9.9.9.9-80-tcp -g 0') == (
        "group 0 has no connection '10.0.0.1-9.9.9.9-80-tcp'; "
        "list them with 'connections -L 0'")
    assert error(capture, 'connections -T') == (
        "connections: argument -T/--timeline: expected one argument; see 'connections -h'")


def test_a_timeline_across_the_whole_clock():
    """Flows of a broken clock, 2**63 µs apart: more than int64 holds."""
    item = Timeline('broken', [-2 ** 62, 3 * SECOND - 2 ** 62, 2 ** 62], [90, 90, 90], 'eee')
    assert terminal.timeline_drawing(item, 30)[1:5] == [
        'time    0         50,000,000d', '        ┬─────────┬─────────┬─',
        'flows   █                    ▄', 'gap     ▁                    █']


def test_g_with_a_group_works_with_t_and_is_named_when_misplaced(capture):
    (item,) = seen(capture, f'connections -T {BEACON} -g 0')
    assert item.letters == '55' + 'e' * 7 + 'vv'
    assert error(capture, 'connections -g 0') == (
        'connections: -g 0 names a group only with -F, -H, -T or -P; to make connections '
        'give -g alone (and -i FILE_ID)')
