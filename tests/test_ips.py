"""The IPS: windows, lateness, eviction and verdicts (the engine), its inputs
(file, stdin, argus), its config file and the stf-ips program end to end."""
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stf.core.detect.detector import Detector
from stf.core.detect.stream import TupleStates, TupleTable
from stf.core.flows import flowfile
from stf.ips import config
from stf.ips.alerts import AlertOutput
from stf.ips.engine import Engine
from stf.ips.whitelist import Whitelist
from tests.conftest import ROOT, free_port
from tests.test_flowfile import HEADER, T0, ZEEK_HEADER

PROGRAM = str(ROOT / 'stf-ips')
SECOND = 1_000_000
WAIT = 20


class Recording(AlertOutput):
    """The real output, also keeping what it was given."""

    def __init__(self, verbose=0):
        super().__init__(out=io.StringIO(), print_all=True, verbose=verbose)
        self.given, self.windows, self.notes = [], [], []

    def report(self, alert):
        self.given.append(alert)
        super().report(alert)

    def window_stats(self, window_start_us, window_end_us, counts):
        self.windows.append((window_start_us, window_end_us, dict(counts)))
        super().window_stats(window_start_us, window_end_us, counts)

    def note(self, text):
        self.notes.append(text)
        super().note(text)


@pytest.fixture(scope='module')
def detector():
    return Detector.default()


def time_text(offset_seconds):
    """The binetflow time of T0 (2021/03/28 00:30:00 UTC) plus offset_seconds."""
    seconds = T0 // SECOND + offset_seconds
    return time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(seconds)) + '.000000'


def flow_line(offset, src='10.0.0.1', dst='1.1.1.1', dport='80', size=100):
    return f'{time_text(offset)},1.000000,tcp,{src},1234,   ->,{dst},{dport},CON,0,0,2,{size},10,x'


def write_flows(path, lines):
    path.write_text(HEADER + '\n' + ''.join(line + '\n' for line in lines))
    return path


def run_engine(detector, path, whitelist=None, **settings):
    output = Recording(settings.get('verbose', 0))
    settings.setdefault('print_all', True)
    engine = Engine(detector, config.Settings(**settings), output, whitelist)
    stats = flowfile.ReadStats()
    engine.read_stats = stats
    for block in flowfile.iter_blocks(path, stats=stats):
        engine.feed(block)
    engine.flush()
    return engine, output


def window_flows(output):
    return [(begin - T0, end - T0, counts['flows'], counts['late'])
            for begin, end, counts in output.windows]


# ---- the engine ---------------------------------------------------------------

def test_windows_start_at_the_first_flow_and_a_gap_of_days_is_skipped(tmp_path, detector):
    days = 3 * 86400
    path = write_flows(tmp_path / 'flows', [
        flow_line(7), flow_line(17), flow_line(107), flow_line(407),
        flow_line(days + 7), flow_line(days + 8, src='10.0.0.2')])
    _, output = run_engine(detector, path)
    us = SECOND
    assert window_flows(output) == [
        (7 * us, 307 * us, 3, 0), (307 * us, 607 * us, 1, 0),
        ((days + 7) * us, (days + 307) * us, 2, 0)]
    assert [(alert.window_end_us - T0, alert.ip) for alert in output.given] == [
        (307 * us, '10.0.0.1'), (607 * us, '10.0.0.1'),
        ((days + 307) * us, '10.0.0.1'), ((days + 307) * us, '10.0.0.2')]


def test_flows_within_the_lateness_join_the_open_window_and_later_ones_are_counted(
        tmp_path, detector):
    path = write_flows(tmp_path / 'flows', [
        flow_line(0), flow_line(100), flow_line(310),     # 310 closes the first window
        flow_line(250),                                   # 50 s before the open one: joins
        flow_line(-1, src='10.0.0.9'),                    # 301 s before: late
        flow_line(320)])
    engine, output = run_engine(detector, path)
    us = SECOND
    assert window_flows(output) == [(0, 300 * us, 2, 0), (300 * us, 600 * us, 3, 1)]
    assert output.notes == ['1 flow started more than 300 s before its window and '
                            'was counted as late, not judged']
    assert engine.totals['late'] == 1
    # the late-but-joined flow is put in start-time order within the window
    in_order = TupleStates()
    for offset in (0, 100, 250, 310, 320):
        in_order.add('10.0.0.1-1.1.1.1-80-tcp', T0 + offset * us, us, 100)
    assert engine.table.state('10.0.0.1-1.1.1.1-80-tcp') == \
        in_order.state('10.0.0.1-1.1.1.1-80-tcp')
    assert '10.0.0.9' not in {alert.ip for alert in output.given}


def test_out_of_order_zeek_input_within_the_lateness(tmp_path, detector):
    # Zeek writes a connection when it ends: a long one comes after later ones.
    def line(offset, src='10.0.0.1'):
        return '\t'.join((f'{T0 // SECOND + offset}.000000', 'C1', src, '5000', '2.2.2.2',
                          '443', 'tcp', '0.5', '40', '60', '-', '-'))
    offsets = [0, 30, 60, 290, 305, 20, 320, 10, 900, 330]
    path = tmp_path / 'conn.log'
    path.write_text(ZEEK_HEADER + ''.join(line(offset) + '\n' for offset in offsets))
    engine, output = run_engine(detector, path)
    us = SECOND
    # 20 and 10 come after the first window closed: within 300 s they join the
    # second; 330 comes after 900 opened the fourth window: late
    assert window_flows(output) == [(0, 300 * us, 4, 0), (300 * us, 600 * us, 4, 0),
                                    (900 * us, 1200 * us, 1, 1)]
    assert engine.totals['late'] == 1


def test_idle_tuples_are_evicted_and_states_capped(tmp_path, detector):
    lines = [flow_line(second * 10) for second in range(150)]     # 1500 s, one tuple
    lines += [flow_line(5000, src='10.0.0.2')]
    path = write_flows(tmp_path / 'flows', lines)
    engine, output = run_engine(detector, path, idle=1000, state_length=40)
    assert [counts['evicted'] for _, _, counts in output.windows] == [0, 0, 0, 0, 0, 1]
    assert list(engine.table.index) == ['10.0.0.2-1.1.1.1-80-tcp']
    engine, _ = run_engine(detector, path, state_length=40)
    assert len(engine.table.state('10.0.0.1-1.1.1.1-80-tcp')) == 40


def test_a_tuple_table_grown_window_by_window_holds_the_flow_by_flow_states():
    """TupleTable (a window's flows at once, in any order, late ones clamped to
    their tuple's last start) holds what TupleStates holds when fed the same
    flows one by one in start-time order; evicted rows are reused."""
    import random

    import numpy as np
    for seed in range(60):
        rng = random.Random(seed)
        reference, table = TupleStates(max_length=30), TupleTable(max_length=30)
        ids = [f'10.0.0.{n}-1.1.1.{n}-80-tcp' for n in range(5)]
        moment = T0
        for _ in range(8):
            flows = []
            for _ in range(rng.randint(0, 30)):
                moment += rng.choice([0, 1, 5, SECOND, 3 * SECOND, 100 * SECOND, 4000 * SECOND])
                flows.append((moment - rng.choice([0, 0, 0, 10 * SECOND]),
                              rng.randint(0, 10 * SECOND), rng.randint(0, 5000), rng.choice(ids)))
            for start, dur, size, tuple_id in sorted(flows, key=lambda flow: flow[0]):
                entry = reference.tuples.get(tuple_id)
                reference.add(tuple_id, max(start, entry.last_start) if entry else start,
                              dur, size)
            if flows:
                rows, _, _ = table.rows_of([flow[3] for flow in flows])
                table.add(rows, *(np.array([flow[k] for flow in flows], np.int64)
                                  for k in range(3)))
            assert [table.state(i) for i in ids] == [reference.state(i) for i in ids]
    gone = table.evict(moment + 1)
    assert (len(table), sorted(table.free)) == (0, sorted(gone.tolist()))
    rows, new_rows, new_ids = table.rows_of(['a-b-1-tcp', 'a-b-1-tcp'])
    assert rows.tolist() == [new_rows[0]] * 2 and new_ids == ['a-b-1-tcp']
    assert new_rows[0] in gone.tolist() and table.state('a-b-1-tcp') == ''


def test_whitelisted_flows_are_never_judged(tmp_path, detector):
    path = write_flows(tmp_path / 'flows', [flow_line(0), flow_line(1, src='10.0.0.2'),
                                            flow_line(2, dport='53')])
    listed = tmp_path / 'whitelist'
    listed.write_text('10.0.0.2\nport:53\n')
    _, output = run_engine(detector, path, Whitelist.load(listed))
    assert [alert.ip for alert in output.given] == ['10.0.0.1']
    assert [(counts['flows'], counts['whitelisted'], counts['judged'])
            for _, _, counts in output.windows] == [(1, 2, 1)]


def test_whitelisted_flows_are_counted_in_their_window(tmp_path, detector):
    lines = []
    for second in range(0, 900, 30):    # three windows, one block
        lines += [flow_line(second), flow_line(second + 1, src='10.0.0.2')]
    lines += [flow_line(950, src='10.0.0.2')]     # the last one whitelisted
    path = write_flows(tmp_path / 'flows', lines)
    listed = tmp_path / 'whitelist'
    listed.write_text('10.0.0.2\n')
    _, output = run_engine(detector, path, whitelist=Whitelist.load(listed))
    assert [(counts['flows'], counts['whitelisted']) for _, _, counts in output.windows] == [
        (10, 10), (10, 10), (10, 11)]


def test_alerts_name_the_tuples_judged_malicious_highest_score_first(shared, detector):
    _, output = run_engine(detector, shared / 'binetflow' / 'test5-mixed.binetflow')
    (alert,) = [alert for alert in output.given if alert.malicious]
    assert alert.ip == '10.0.2.15'
    assert len(alert.tuples) == 12
    scores = [finding.score for finding in alert.tuples]
    assert scores == sorted(scores, reverse=True)
    assert all(finding.tuple.startswith('10.0.2.15-') for finding in alert.tuples)
    assert alert.tuples[0].label.startswith('From-Botnet')


def test_verbose_3_shows_every_judged_tuple(tmp_path, detector):
    path = write_flows(tmp_path / 'flows', [flow_line(0), flow_line(1, dport='443')])
    _, output = run_engine(detector, path, verbose=3)
    lines = output.out.getvalue().splitlines()
    assert [line.split()[2] for line in lines if line.startswith('  ')] == [
        '10.0.0.1-1.1.1.1-80-tcp', '10.0.0.1-1.1.1.1-443-tcp']


# ---- config -------------------------------------------------------------------

def test_config_made_with_commented_defaults_and_overridden(tmp_path):
    path = tmp_path / 'ips.conf'
    assert config.ensure(path) is True
    assert config.read(path) == {}
    assert '# window = 300\n' in path.read_text()
    file = config.ConfigFile(path, {'verbose': 2})
    assert file.load() == config.Settings(verbose=2)
    path.write_text('[ips]\nwindow = 60\nverbose = 1\nprint_all = yes\n')
    settings, message = file.reload()
    assert (settings.window, settings.verbose, settings.print_all) == (60.0, 2, True)
    assert message == f'{path} reloaded'


def test_an_invalid_config_keeps_the_last_good_one(tmp_path):
    path = tmp_path / 'ips.conf'
    path.write_text('[ips]\nrule = any\n')
    file = config.ConfigFile(path, {})
    assert file.load().rule == 'any'
    path.write_text('[ips]\nrule = most\n')
    assert file.changed()
    assert file.reload() == (None, f"{path}: rule = 'most' is not valid: it is the verdict "
                                   'rule: evidence, any, majority; keeping the previous settings')
    assert file.settings.rule == 'any'
    path.write_text('[ips]\nwindwo = 5\n')
    assert 'unknown setting' in file.reload()[1]


# ---- the program --------------------------------------------------------------

def stf_ips(*args, stdin=None, home=None):
    env = dict(os.environ)
    if home is not None:
        env['STF_HOME'] = str(home)
    else:
        config.ensure(config.default_path())     # no 'created' line
    return subprocess.run([PROGRAM, *map(str, args)], input=stdin, capture_output=True,
                          timeout=120, env=env)


@pytest.mark.parametrize('name', ['binetflow/test5-mixed.binetflow',
                                  'zeek/njrat-labeled.conn.log'])
def test_the_same_verdicts_from_a_file_and_from_stdin(shared, name):
    path = shared / name
    from_file = stf_ips(path, '--print-all')
    from_stdin = stf_ips('-', '--print-all', stdin=path.read_bytes())
    assert from_file.returncode == from_stdin.returncode == 0
    assert from_file.stdout == from_stdin.stdout
    lines = from_file.stdout.decode().splitlines()
    malicious = sorted({line.split()[3] for line in lines if ' malicious ' in line})
    counts = {'binetflow/test5-mixed.binetflow': (['10.0.2.15'], 1),
              'zeek/njrat-labeled.conn.log': (['192.168.1.115',
                                               'fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8'], 11)}
    assert (malicious, sum(' malicious ' in line for line in lines)) == counts[name]


def test_the_same_verdicts_from_a_hand_made_file_and_stdin(tmp_path):
    path = write_flows(tmp_path / 'flows', [flow_line(second * 7) for second in range(100)])
    from_file = stf_ips(path, '--print-all', '--window', '60')
    from_stdin = stf_ips('-', '--print-all', '--window', '60', stdin=path.read_bytes())
    assert from_file.stdout == from_stdin.stdout
    assert len(from_file.stdout.decode().splitlines()) == 12       # 700 s in 60 s windows


def test_malformed_lines_binary_garbage_and_an_overlong_line_are_counted(tmp_path):
    path = tmp_path / 'flows'
    path.write_bytes((HEADER + '\n' + flow_line(0) + '\ntoo,few,fields\n').encode()
                     + b'\x00\xff\xfe garbage \x81\n' + b'x' * (2 << 20) + b'\n'
                     + (flow_line(1) + '\n').encode())
    result = stf_ips(path, '--verbose', '2')
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0
    assert lines[-1] == ('3 lines skipped as unreadable or longer than 1 MiB '
                         '(the first: lines 3, 4, 5)')
    assert '  flows 2  ' in lines[-2] and '  skipped 3  ' in lines[-2]


def test_alerts_and_log_files_from_the_command_line(shared, tmp_path):
    alerts, log = tmp_path / 'alerts.jsonl', tmp_path / 'ips.log'
    result = stf_ips(shared / 'binetflow' / 'test5-mixed.binetflow', '--alerts', alerts,
                     '--log', log)
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert log.read_text().splitlines() == lines
    assert [line.split()[3] for line in lines] == ['10.0.2.15']
    (alert,) = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert (alert['Version'], alert['Source'], alert['Analyzer']['Name']) == (
        '2.D.V04', [{'IP': '10.0.2.15'}], 'stf-ips')
    tuples = alert['Attachment'][0]['Content']['tuples']
    assert len(tuples) == 12
    assert all(set(entry) == {'tuple', 'letters', 'label', 'score'} for entry in tuples)
    assert [entry['score'] for entry in tuples] == sorted(
        (entry['score'] for entry in tuples), reverse=True)
    assert all(entry['tuple'].startswith('10.0.2.15-') and entry['label'].startswith('From-')
               for entry in tuples)
    assert f"{len(tuples)} tuples: {tuples[0]['tuple']} {tuples[0]['label']} " in lines[0]


def test_max_line_skips_and_counts_longer_lines(tmp_path):
    path = tmp_path / 'flows'
    labeled = flow_line(1) + 'y' * 3000           # a flow, with a long label
    path.write_text(HEADER + '\n' + flow_line(0) + '\n' + labeled + '\n' + flow_line(2) + '\n')
    result = stf_ips(path, '--max-line', '2048', '--verbose', '2')
    lines = result.stdout.decode().splitlines()
    assert lines[-1] == '1 line skipped as unreadable or longer than 2 KiB (the first: line 3)'
    assert '  flows 2  ' in lines[-2] and '  skipped 1  ' in lines[-2]
    from_stdin = stf_ips('-', '--max-line', '2048', '--verbose', '2', stdin=path.read_bytes())
    assert from_stdin.stdout.decode().splitlines()[-1] == lines[-1]
    default = stf_ips(path, '--verbose', '2').stdout.decode().splitlines()
    assert '  flows 3  ' in default[-1] and '  skipped 0  ' in default[-1]
    refused = stf_ips(path, '--max-line', '10')
    assert (refused.returncode, refused.stderr.decode()) == (
        2, "stf-ips: --max-line: max_line = '10' is not valid: it is the bytes a line may "
           'have; longer ones are skipped and counted (read at start); give a whole number of '
           'bytes from 1024 to 67108864\n')


def test_a_config_file_given_that_does_not_exist_is_made(tmp_path):
    flows = write_flows(tmp_path / 'flows', [flow_line(0)])
    made = tmp_path / 'sensor' / 'ips.conf'
    result = stf_ips(flows, '--config', made, home=tmp_path / 'home')
    assert result.stdout.decode().splitlines()[0] == f'created {made} with the default settings'
    assert made.read_text() == config.default_text()
    assert not (tmp_path / 'home').exists()
    refused = stf_ips(flows, '--config', tmp_path, home=tmp_path / 'home')
    assert (refused.returncode, refused.stderr.decode()) == (
        2, f'stf-ips: the config file {tmp_path} is a folder; give a file name\n')


def test_blocks_cross_to_the_reader_process_unchanged():
    from stf.ips import frames
    block = flowfile.FlowBlock([1, 2, 3], [0, 0, 0], [5, -7, 6], [0, 3, 1], [9, 10, 11],
                               ['tcp', 'udp', 'tcp'], ['10.0.0.1', 'a\nb', '10.0.0.1'],
                               ['1', '2', '3'], ['1.1.1.1', '\u00e9\udcff', '1.1.1.1'],
                               ['80', '', '80'], ['', '', ''])
    stream = io.BytesIO(frames.block_frame(block) + frames.text_frame(b'N', 'ra ended')
                        + frames.block_frame(block._replace(**{
                            name: [] for name in block._fields})))
    kind, payload = frames.read_frame(stream)
    flows = frames.block_of(payload)
    assert (kind, flows.start.tolist(), flows.dur.tolist(), flows.bytes.tolist()) == (
        b'B', [5, -7, 6], [0, 3, 1], [9, 10, 11])
    assert (flows.tuples, flows.tuple.tolist()) == (
        ['10.0.0.1-1.1.1.1-80-tcp', 'a\nb-\u00e9\udcff--udp'], [0, 1, 0])
    assert (flows.src, flows.dst, flows.dport) == (
        ['10.0.0.1', 'a\nb', '10.0.0.1'], ['1.1.1.1', '\u00e9\udcff', '1.1.1.1'],
        ['80', '', '80'])
    assert frames.read_frame(stream) == (b'N', b'ra ended')
    empty = frames.block_of(frames.read_frame(stream)[1])
    assert (len(empty.start), empty.tuples, empty.src) == (0, [], [])
    assert frames.read_frame(stream) is None
    assert frames.read_frame(io.BytesIO(frames.text_frame(b'N', 'cut')[:-1])) is None


def test_bad_input_is_one_line_and_no_alert(tmp_path):
    flows = write_flows(tmp_path / 'flows', [flow_line(0)])
    tampered = tmp_path / 'tampered'
    Detector.default().save(tampered)
    text = (tampered / 'detector.json').read_text()
    (tampered / 'detector.json').write_text(text.replace('0.', '0.9', 1))
    cases = [((tmp_path / 'missing',), f"cannot read {tmp_path / 'missing'}: No such file "
              'or directory; check the path'),
             ((flows, '--models', tmp_path), f'{tmp_path} is not a detector folder (it has no '
              'manifest.json); make one with python -m stf.detect train'),
             ((flows, '--rule', 'most'), "--rule: rule = 'most' is not valid: it is the verdict "
              'rule: evidence, any, majority')]
    for args, message in cases:
        result = stf_ips(*args)
        assert (result.returncode, result.stdout, result.stderr.decode()) == \
            (2, b'', f'stf-ips: {message}\n')
    result = stf_ips(flows, '--models', tampered)
    assert result.returncode == 2 and result.stdout == b''
    assert result.stderr.decode().count('\n') == 1
    assert 'so the detector was changed after it was saved; refused' in result.stderr.decode()


def test_first_run_makes_the_config_and_a_broken_one_is_refused(tmp_path):
    home = tmp_path / 'home'
    flows = write_flows(tmp_path / 'flows', [flow_line(0)])
    result = stf_ips(flows, home=home)
    assert result.stdout.decode().splitlines()[0] == \
        f'created {home / "ips.conf"} with the default settings'
    assert (home / 'ips.conf').read_text() == config.default_text()
    (home / 'ips.conf').write_text('[ips]\nwindow = 0\n')
    result = stf_ips(flows, home=home)
    assert (result.returncode, result.stderr.decode()) == (
        2, f"stf-ips: {home / 'ips.conf'}: window = '0' is not valid: it is seconds of each "
           'time window; give a number of seconds above 0 and below 1e9\n')


class Running:
    """stf-ips reading its stdin from a pipe, its stdout lines gathered."""

    def __init__(self, home, *args):
        self.child = subprocess.Popen(
            [PROGRAM, '-', *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=dict(os.environ, STF_HOME=str(home)))
        self.lines = queue.Queue()
        threading.Thread(target=self._gather, daemon=True).start()

    def _gather(self):
        for line in self.child.stdout:
            self.lines.put(line.decode().rstrip('\n'))

    def send(self, text):
        self.child.stdin.write(text.encode())
        self.child.stdin.flush()

    def wait_line(self, part):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if part in line:
                return line
        raise AssertionError(f'no line with {part!r}')


def test_sighup_reloads_and_sigterm_judges_the_open_window(tmp_path):
    home = tmp_path / 'home'
    config.ensure(home / 'ips.conf')
    conf = home / 'ips.conf'
    conf.write_text('[ips]\nprint_all = no \n')
    ips = Running(home, '--verbose', '1', '--window', '10')
    try:
        ips.send(HEADER + '\n' + ''.join(flow_line(second) + '\n' for second in range(20)))
        ips.wait_line('window from')       # running: the first window closed
        # the same size and time: only SIGHUP makes it read again
        stat = conf.stat()
        conf.write_text('[ips]\nprint_all = yes\n')
        os.utime(conf, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        ips.child.send_signal(signal.SIGHUP)
        assert ips.wait_line('reloaded') == f'{conf} reloaded'
        ips.child.send_signal(signal.SIGTERM)
        line = ips.wait_line('10.0.0.1')
        assert line.startswith('2021-03-28 00:30:20 UTC  10.0.0.1  ')
        assert ips.child.wait(WAIT) == 0
    finally:
        ips.child.kill()
        ips.child.wait()


def test_a_config_changed_on_disk_is_read_again_and_a_broken_one_kept_out(tmp_path):
    home = tmp_path / 'home'
    conf = home / 'ips.conf'
    config.ensure(conf)
    ips = Running(home, '--print-all', '--window', '1')
    try:
        ips.send(HEADER + '\n' + flow_line(0) + '\n' + flow_line(5) + '\n')
        ips.wait_line('10.0.0.1')          # running, with the first settings
        conf.write_text('[ips]\nverbose = 9\n')
        assert ips.wait_line('verbose') == (f"{conf}: verbose = '9' is not valid: it is 0..3: "
                                            'window statistics, late and skipped counts, every '
                                            'tuple; give 0, 1, 2 or 3; keeping the previous '
                                            'settings')
        conf.write_text('[ips]\nverbose = 1\n')
        assert ips.wait_line('reloaded') == f'{conf} reloaded'
        ips.child.stdin.close()
        assert '  flows 1  ' in ips.wait_line('window from')
        assert ips.child.wait(WAIT) == 0
    finally:
        ips.child.kill()
        ips.child.wait()


def test_on_live_input_a_window_closes_when_the_wall_clock_passes_its_end(tmp_path):
    home = tmp_path / 'home'
    config.ensure(home / 'ips.conf')
    ips = Running(home, '--window', '2', '--lateness', '1', '--print-all')
    try:
        now = time.time()
        stamp = time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(now))
        lines = [f'{stamp}.{number:06d},0.1,udp,10.0.0.7,5000,   ->,1.1.1.1,53,CON,0,0,2,90,'
                 '60,x' for number in range(5)]
        ips.send(HEADER + '\n' + ''.join(line + '\n' for line in lines))
        line = ips.wait_line('10.0.0.7')     # stdin stays open: the clock closed it
        waited = time.time() - now
        assert line.split()[3:5] == ['10.0.0.7', 'normal']
        assert 2 <= waited < 3 + 2.5        # its end (2 s after the first flow) + 1 s + a tick
        ips.child.send_signal(signal.SIGTERM)
        assert ips.child.wait(WAIT) == 0
    finally:
        ips.child.kill()
        ips.child.wait()


def test_the_ips_imports_neither_the_database_nor_the_console():
    code = ('import stf.ips.__main__, sys; print(sorted(m for m in sys.modules '
            'if m.split(".")[0] in ("ZODB", "prompt_toolkit", "persistent")))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout == '[]\n'


def test_the_program_runs_with_the_project_python(tmp_path):
    flows = write_flows(tmp_path / 'flows', [flow_line(0)])
    result = subprocess.run(['/usr/bin/env', '-i', f'PATH={os.defpath}',
                             f'STF_HOME={tmp_path}', PROGRAM, str(flows), '--print-all'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert Path(tmp_path / 'ips.conf').exists()


ARGUS = shutil.which('argus', path=os.pathsep.join([os.defpath, '/usr/sbin', '/sbin']))
RA = shutil.which('ra')


def send_udp(port, count):
    """count datagrams to 127.0.0.1:port, 50 ms apart (received, so that no
    ICMP port-unreachable answers them)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(('127.0.0.1', port))
        for number in range(count):
            sender.sendto(b'x' * (40 + number % 7), ('127.0.0.1', port))
            time.sleep(0.05)


@pytest.mark.skipif(not (ARGUS and RA), reason='argus and ra are not installed')
def test_the_same_verdicts_from_argus_as_from_its_file(tmp_path):
    port, target = free_port(), free_port()
    conf = tmp_path / 'argus.conf'
    # flows reported every second, so the client sees them while they go on
    conf.write_text((ROOT / 'confs' / 'argus.conf').read_text()
                    + '\nARGUS_FLOW_STATUS_INTERVAL=1\n')
    record = tmp_path / 'capture.argus'
    # argus reports its own connection to ra too
    whitelist = tmp_path / 'whitelist'
    whitelist.write_text(f'port:{port}\n')
    env = dict(os.environ, TZ='UTC')
    argus_server = subprocess.Popen(
        [ARGUS, '-F', str(conf), '-i', 'lo', '-P', str(port), '-w', str(record),
         f'udp and port {target}'], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    ips = None
    try:
        time.sleep(1.0)
        if argus_server.poll() is not None:
            pytest.skip('argus cannot capture on lo here: '
                        + argus_server.stderr.read().decode(errors='replace').strip()[-200:])
        config.ensure(config.default_path())
        ips = subprocess.Popen([PROGRAM, '--argus', f'127.0.0.1:{port}', '--print-all',
                                '--window', '60', '--whitelist', str(whitelist),
                                '--verbose', '3'],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
        time.sleep(1.5)
        send_udp(target, 40)
        time.sleep(3)
        argus_server.terminate()
        argus_server.wait(WAIT)
        time.sleep(1.0)
        ips.send_signal(signal.SIGTERM)
        live_out, live_err = ips.communicate(timeout=WAIT)
    finally:
        for child in (argus_server, ips):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    assert ips.returncode == 0
    flows = tmp_path / 'capture.binetflow'
    with open(flows, 'wb') as out:
        subprocess.run([RA, '-n', '-F', str(ROOT / 'confs' / 'ra.conf'), '-r', str(record)],
                       stdout=out, check=True, env=env)
    if len(flows.read_text().splitlines()) <= 1:   # a header at most
        pytest.skip('argus ran but saw no packets on lo here (a sandbox without capture)')
    from_file = stf_ips(flows, '--print-all', '--window', '60', '--whitelist', whitelist,
                        '--verbose', '3')

    def judged(output):
        # the test's own conversation, tuple by tuple: other loopback traffic
        # argus reports live (other programs, other tests) may come and go
        return [line for line in output.splitlines()
                if line.startswith('  ') and f'-{target}-udp' in line]
    live = judged(live_out.decode())
    assert live and live == judged(from_file.stdout.decode())
    assert all(line.split()[2].startswith('127.0.0.1-127.0.0.1-') for line in live)
    # ra ended with argus and was started again (and refused): said, not fatal
    assert b'ra ended (exit status' in live_out
