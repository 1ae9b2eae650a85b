"""A console that never leaves the analyst waiting in silence, and colors:
progress bars and spinners on a terminal's status line (never in batch
mode), the 'saving ...' notice of a long save, and verdicts, file states,
histogram bars and search matches in color unless NO_COLOR is set."""
import io
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from stf.commands.results import Message, Table
from stf.console import progress
from stf.console.render import Renderer
from tests.conftest import ROOT, ok
from tests.test_connections_models import HEADER, flow_line

RED, GREEN, YELLOW, CYAN, RESET = '\x1b[31m', '\x1b[32m', '\x1b[33m', '\x1b[36m', '\x1b[0m'
VERDICTS = Table(['id', 'name', 'verdict'],
                 [(0, 'From-Botnet-TCP-HTTP-CC1-1', 'malicious'),
                  (1, 'From-Normal-UDP-DNS-Resolver-1', 'normal'),
                  (2, 'From-Background-UDP-DNS-1', 'background')],
                 title='labels', painted={2: 'verdict'})
PLAIN_VERDICTS = """labels
+----+--------------------------------+------------+
| id | name                           | verdict    |
+----+--------------------------------+------------+
| 0  | From-Botnet-TCP-HTTP-CC1-1     | malicious  |
| 1  | From-Normal-UDP-DNS-Resolver-1 | normal     |
| 2  | From-Background-UDP-DNS-1      | background |
+----+--------------------------------+------------+
"""


@pytest.fixture
def screen(monkeypatch):
    """A terminal of 120 columns and 40 lines, NO_COLOR unset."""
    monkeypatch.setenv('COLUMNS', '120')
    monkeypatch.setenv('LINES', '40')
    monkeypatch.delenv('NO_COLOR', raising=False)
    return monkeypatch


def rendered(items, terminal=True):
    out, err = io.StringIO(), io.StringIO()
    Renderer(out, err, terminal=terminal, pager='none').show(items)
    return out.getvalue(), err.getvalue()


# -- colors, from the data

def test_verdicts_are_red_and_green_on_a_terminal(screen):
    out, err = rendered([VERDICTS])
    assert out == PLAIN_VERDICTS.replace(
        '| malicious  |', f'| {RED}malicious{RESET}  |').replace(
        '| normal     |', f'| {GREEN}normal{RESET}     |')
    assert err == ''


def test_no_color_gives_the_plain_table_and_plain_messages(screen):
    screen.setenv('NO_COLOR', '1')
    letters = Table(['id', 'state'], [(0, '88,h,h,')], letters_column=1)
    out, err = rendered([VERDICTS, letters, Message('done', 'ok'), Message('bad', 'error')])
    assert out == PLAIN_VERDICTS + ('+----+---------+\n| id | state   |\n+----+---------+\n'
                                    '| 0  | 88,h,h, |\n+----+---------+\ndone\n')
    assert err == 'error: bad\n'


def test_an_empty_no_color_keeps_the_colors(screen):
    """no-color.org: only a NO_COLOR with a value turns the colors off."""
    screen.setenv('NO_COLOR', '')
    assert f'{RED}malicious{RESET}' in rendered([VERDICTS])[0]


def test_batch_output_has_no_escapes(screen):
    search = Table(['kind', 'what'], [('label', 'From-Botnet-TCP-HTTP-CC1-1')], highlight='cc1')
    out, err = rendered([VERDICTS, search, Message('done', 'ok'), Message('bad', 'error')],
                        terminal=False)
    assert '\x1b' not in out + err
    assert out.startswith(PLAIN_VERDICTS)


def test_states_bars_decisions_and_search_matches(screen):
    files = Table(['name', 'status'], [('a.pcap', 'missing'), ('b.pcap', 'changed'),
                                       ('c.pcap', '')], painted={1: 'status'})
    bars = Table(['range', 'models', ''], [('1 - 9', 3, '###')], painted={2: 'bar'})
    decisions = Table(['label', 'decision'], [('x', 'Botnet'), ('y', 'Normal')],
                      painted={1: 'verdict'})
    found = Table(['kind', 'what'], [('label', 'From-Botnet-TCP-HTTP-CC1-1')], highlight='http')
    lines = rendered([files, bars, decisions, found])[0].splitlines()
    assert lines[3:6] == [f'| a.pcap | {RED}missing{RESET} |',
                          f'| b.pcap | {YELLOW}changed{RESET} |', '| c.pcap |         |']
    assert lines[10] == f'| 1 - 9 | 3      | {CYAN}###{RESET} |'
    assert lines[15:17] == [f'| x     | {RED}Botnet{RESET}   |',
                            f'| y     | {GREEN}Normal{RESET}   |']
    assert lines[21] == (f'| label | From-Botnet-TCP-\x1b[1;33mHTTP{RESET}-CC1-1 |')


def test_the_listings_say_which_columns_carry_verdicts_and_states(models, screen, tmp_path):
    ok(models, 'labels --from-flows -g 0-1')
    out = rendered(ok(models, 'labels -l'))[0]
    assert f'| {RED}malicious{RESET}  |' in out and f'| {GREEN}normal{RESET}     |' in out
    (tmp_path / 'labels.binetflow').unlink()
    assert f'| {RED}missing{RESET} |' in rendered(ok(models, 'datasets -f'))[0]
    searched = rendered(ok(models, 'search 8.8.8'))[0]
    assert f'10.0.0.1-\x1b[1;33m8.8.8{RESET}.8-53-udp' in searched


# -- progress on the status line

def test_a_bar_with_rate_and_eta():
    assert progress.bar_text('reading x.binetflow', 60 << 20, 100 << 20, 2.0, 119,
                             'bytes') == ('reading x.binetflow [##################------------]'
                                          '  60%  60.0/100.0 MB  30.0 MB/s  ETA 0:01')
    assert progress.bar_text('labeling 52,250 connections', 20900, 52250, 0.2, 79) == (
        'labeling 52,250 connections [###########------------------]  40%  20,900/52,250')
    assert progress.bar_text('x' * 60, 1, 4, 1.0, 79) == (     # no room for the bar
        'x' * 60 + '   25%  1/4  1/s  ETA 0:03')
    assert [progress.clock(seconds) for seconds in (7, 750, 3723)] == \
        ['0:07', '12:30', '1:02:03']


def test_updates_draw_a_bar_a_spinner_and_clear_at_the_end():
    stream = io.StringIO()
    line = progress.StatusLine(stream, columns=80)
    update = line.progress('counting', unit=None)
    update(0, 10)
    update(5, 10)        # within a tenth of a second: not drawn again
    update(10, 10)       # the end clears the line
    line.progress('argus: a.pcap')(0, None)
    assert stream.getvalue().split('\r\x1b[K') == [
        '', 'counting [------------------------------]   0%  0/10', '',
        'argus: a.pcap | 0 s']


def test_nothing_is_drawn_while_a_question_is_asked():
    stream = io.StringIO()
    line = progress.StatusLine(stream, columns=80)
    line.progress('reading')(1, 4)
    asked = line.holding(lambda: line.progress('drawn while asking')(1, 4) or 'yes')
    assert asked() == 'yes'
    assert 'drawn while asking' not in stream.getvalue()
    assert stream.getvalue().endswith('\r\x1b[K')    # the bar was cleared for the question


class Recorded(io.StringIO):
    """A stream that keeps when each write came."""

    def __init__(self):
        super().__init__()
        self.times = []

    def write(self, text):
        self.times.append(time.monotonic())
        return super().write(text)


def slow_commit(seconds):
    def commit():
        time.sleep(seconds)
        return 'committed'
    return commit


def test_a_quick_save_says_nothing():
    stream = Recorded()
    line = progress.StatusLine(stream, columns=80)
    assert progress.saving(slow_commit(0.05), '5 connections', line, delay=0.3) == 'committed'
    assert stream.getvalue() == ''
    assert all(thread.name != 'stf-spinner' for thread in threading.enumerate())


def test_a_long_save_says_what_it_saves_after_the_delay_and_clears_it():
    stream = Recorded()
    line = progress.StatusLine(stream, columns=80)
    began = time.monotonic()
    assert progress.saving(slow_commit(0.7), '266,715 connections', line,
                           delay=0.3) == 'committed'
    pieces = stream.getvalue().split('\r\x1b[K')
    assert pieces[0] == '' and pieces[-1] == ''
    assert len(pieces) >= 4
    assert all(re.fullmatch(r'saving 266,715 connections\.\.\. [|/\\-] \d+ s', piece)
               for piece in pieces[1:-1])
    assert stream.times[0] - began >= 0.3
    assert all(thread.name != 'stf-spinner' for thread in threading.enumerate())


def test_a_command_tells_the_database_what_it_saves(app, tmp_path):
    path = tmp_path / 'flows.binetflow'
    path.write_text(HEADER + ''.join(flow_line(second) for second in (0, 10, 20)) +
                    flow_line(5, dst='8.8.8.8', dport='53'))
    ok(app, f'datasets -c {path} --name lab')
    saved = []
    app.database.saving = lambda commit, what: saved.append(what) or commit()
    ok(app, 'connections -g')
    ok(app, 'models -g')
    ok(app, 'datasets -l')
    assert saved == ['2 connections', '2 models', None]
    assert app.database.saving_what is None


def test_batch_progress_factories_give_nothing(app):
    assert app.progress('reading', unit='bytes') is None
    with app.busy('models -L 0-1'):
        pass


# -- the real console

def big_flow_file(path, flows=40000):
    """About 4 MB of flows, a second apart, each from a host of its own:
    several blocks of the reader, each reported."""
    lines = [f'2020/01/01 {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000000,'
             f'0.5,tcp,10.{second // 62500}.{second // 250 % 250}.{second % 250},4000,   ->,'
             '10.9.9.9,80,CON,0,0,3,300,100,flow=From-Botnet-V1-TCP-CC\n'
             for second in range(flows)]
    path.write_text(HEADER + ''.join(lines))
    return path


def test_batch_runs_stay_quiet(tmp_path):
    flows = big_flow_file(tmp_path / 'big.binetflow')
    script = (f'datasets -c {flows} --name big\nconnections -g\nmodels -g\n'
              'labels --from-flows -g 0-1\nlabels -o labels.csv\n')
    result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db',
                             str(tmp_path / 'db' / 'stf.db')], input=script,
                            capture_output=True, text=True, cwd=tmp_path,
                            env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))
    assert result.stderr == ''
    assert result.stdout == (
        "dataset 0 'big' created with big.binetflow (binetflow) and selected\n"
        'group of connections 0: 40,000 connections from 40,000 flows of big.binetflow\n'
        'group of models 0-1 generated: 40,000 models with constructor 1 (default)\n'
        'labels from the flows of group 0\n'
        '+------------------------------------------+-------------+\n'
        '| label                                    | connections |\n'
        '+------------------------------------------+-------------+\n'
        '| From-Botnet-TCP-HTTP-FromBotnetV1TCPCC-1 | 40,000      |\n'
        '+------------------------------------------+-------------+\n'
        'each connection takes the label most of its flows have\n'
        '40,000 labeled connections written to labels.csv\n')


def console(pexpect, tmp_path, **environment):
    env = dict(os.environ, STF_HOME=str(tmp_path / 'home'), TERM='xterm', **environment)
    env.pop('NO_COLOR', None) if 'NO_COLOR' not in environment else None
    return pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--db',
                                          str(tmp_path / 'db' / 'stf.db')],
                         env=env, encoding='utf-8', timeout=30, dimensions=(40, 160))


def test_a_terminal_shows_the_progress_and_colors(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    flows = big_flow_file(tmp_path / 'big.binetflow')
    child = console(pexpect, tmp_path)
    child.expect('stf >')
    child.send(f'datasets -c {flows} --name big\r')
    child.expect(f"{re.escape(GREEN)}dataset 0 'big' created")
    child.send('datasets -F 0\r')
    megabytes = f'{flows.stat().st_size / (1 << 20):.1f}'
    child.expect(r'\r\x1b\[Kreading big\.binetflow \[[#-]{30}\] +\d+%  [0-9.]+/' + megabytes)
    child.expect(r'\r\x1b\[K')          # cleared before the details
    child.expect('flows out of time order')
    child.send('exit\r')
    child.expect(pexpect.EOF)


def test_no_color_on_a_terminal(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    child = console(pexpect, tmp_path, NO_COLOR='1')
    child.expect('stf >')
    child.send('datasets -s 4\r')
    child.expect('error: there is no dataset 4')
    assert '\x1b[31m' not in child.before
    child.send('exit\r')
    child.expect(pexpect.EOF)
