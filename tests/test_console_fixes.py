"""The researcher's console: the label wizard asks a bad answer again, datasets -g
on a dataset with two captures, datasets -l's capture start, the current
dataset remembered per analyst and database, notes rendered on a terminal."""
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from stf.commands.results import Text
from stf.console import markdown, remembered
from stf.console.render import Renderer
from stf.console.repl import choice_hint, chosen
from stf.core.errors import UserError
from tests.conftest import ROOT, error, ok, write_pcap
from tests.test_connections_models import HEADER, flow_line
from tests.test_end_to_end import stf, terminal

DNS = '10.0.0.1-8.8.8.8-53-udp'
DETAILS = 'Details (up to 30 characters, no - or spaces)'
DECISIONS = 'Botnet, Malware, Attack, Normal, Background'
# 2020-09-13 12:26:40.5 UTC and later
TIMES = [1_600_000_000.5, 1_600_000_001.25, 1_600_000_299.0]
ARGUS = pytest.mark.skipif(not shutil.which('argus', path=os.environ['PATH'] + ':/usr/sbin'),
                           reason='argus is not installed (make setup installs it)')


# -- the label wizard asks a bad answer again -----------------------------------

def test_a_wrong_choice_is_refused_with_its_reason():
    assert chosen('botnet', ('Botnet', 'Normal')) == 'Botnet'
    assert chosen('anything at all', ()) == 'anything at all'
    with pytest.raises(UserError) as empty:
        chosen('', ('From', 'To'))
    assert str(empty.value) == 'an answer is needed: one of From, To'
    with pytest.raises(UserError) as wrong:
        chosen('Botnt', ('Botnet', 'Normal'))
    assert str(wrong.value) == "'Botnt' is not one of Botnet, Normal"
    assert choice_hint({'0': 'a.pcap', '3': 'b c.pcap'}) == ' (0 a.pcap | 3 b c.pcap)'
    assert choice_hint(('From', 'To')) == ' (From | To)'
    assert choice_hint(()) == ''


def test_a_proto3_the_connection_contradicts_is_asked_again(models):
    """It used to be found after the last question, and every answer was lost."""
    refused = []

    def choose(question, choices, default, check):
        if question == 'Layer-3 protocol':
            with pytest.raises(UserError) as wrong:
                check('TCP')
            refused.append(str(wrong.value))
        answer = {'Decision': 'Botnet', DETAILS: 'Tunnel'}.get(question, default)
        check(answer)
        return answer
    models.choose = choose
    assert ok(models, f'labels -a -c {DNS} -g 0-1')[-1].text == (
        '1 connection of group 0-1 labeled From-Botnet-UDP-DNS-Tunnel-1 (label 0)')
    assert refused == [f'connection {DNS} is udp, not TCP; answer UDP, or label with --force '
                       'to keep TCP']


def test_labeling_an_address_names_every_contradicting_connection(models):
    refused = []

    def choose(question, choices, default, check):
        if question == 'Layer-3 protocol':
            for answer in ('ICMP', 'TCP'):
                with pytest.raises(UserError) as wrong:
                    check(answer)
                refused.append(str(wrong.value))
        return {'Decision': 'Botnet'}.get(question, default)
    models.choose = choose
    error(models, 'labels -a -c 10.0.0.1 -g 0-1')   # the defaults then clash as before
    assert refused == [
        'connection 10.0.0.1-10.0.0.2-80-tcp is tcp (and 1 more connections), not ICMP; '
        'answer TCP, or label with --force to keep ICMP',
        f'connection {DNS} is udp, not TCP; answer UDP, or label with --force to keep TCP']
    # With --force the wizard takes any Proto3.
    models.choose = lambda question, choices, default, check: check(
        {'Decision': 'Botnet', 'Layer-3 protocol': 'ICMP'}.get(question, default))
    assert ok(models, 'labels -a -c 10.0.0.1 -g 0-1 --force --yes')[-1].text == (
        '2 connections of group 0-1 labeled From-Botnet-ICMP-HTTP--1 (label 0)')


def write_models_flows(folder):
    path = folder / 'lab.binetflow'
    path.write_text(HEADER + ''.join(flow_line(second) for second in (0, 10, 20)) + flow_line(
        5, dst='8.8.8.8', dport='53').replace(',tcp,', ',udp,'))
    return path


def test_the_wizard_in_a_terminal_asks_each_bad_answer_again(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    flows = write_models_flows(tmp_path)
    made = stf(tmp_path, f'datasets -c {flows} --name lab\nconnections -g\nmodels -g\n')
    assert made.returncode == 0, made.stderr
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send(f'labels -a -c {DNS} -g 0-1\r')
    for prompt, answer, reason in (
            ('Direction (From | To) [From]:', '', None),
            (f'Decision ({DECISIONS.replace(", ", " | ")}):', '',
             f'an answer is needed: one of {DECISIONS}'),
            ('Decision', 'Botnt', f"'Botnt' is not one of {DECISIONS}"),
            ('Decision', 'botnet', None),
            ('Layer-3 protocol', 'TCP',
             f'connection {DNS} is udp, not TCP; answer UDP, or label with --force to keep '
             'TCP'),
            ('Layer-3 protocol', '', None),
            ('Main layer-4 protocol', '', None),
            (f'{DETAILS}:', 'Brute-force',
             "label details 'Brute-force' must be at most 30 characters without '-' or "
             'spaces'),
            (DETAILS, 'Tunnel', None)):
        child.expect_exact(prompt)
        child.send(answer + '\r')
        if reason:
            child.expect_exact(f'{reason}\r\n')
    child.expect_exact('1 connection of group 0-1 labeled From-Botnet-UDP-DNS-Tunnel-1 '
                       '(label 0)')
    child.send('exit\r')
    child.expect(pexpect.EOF)
    listing = stf(tmp_path, 'labels -l --tsv\n')
    assert listing.stdout.splitlines() == ['id\tname\tgroup_of_models\tconnections\tverdict',
                                           '0\tFrom-Botnet-UDP-DNS-Tunnel-1\t0-1\t1\tmalicious']


# -- datasets -g with two captures, and where it writes ----------------------------

@pytest.fixture
def two_captures(app, tmp_path):
    folder = tmp_path / 'case'
    folder.mkdir()
    first = write_pcap(folder / 'first.pcap', TIMES)
    second = write_pcap(folder / 'second one.pcap', TIMES[1:])
    ok(app, f'datasets -c {first} --name case')
    ok(app, f'datasets -a "{second}"')
    return folder


def test_batch_generation_needs_to_be_told_which_capture(app, two_captures):
    assert error(app, 'datasets -g') == (
        "dataset 'case' has 2 captures: 0 (first.pcap), 1 (second one.pcap); say which to "
        'make flows from with -i FILE_ID')
    assert sorted(path.name for path in two_captures.iterdir()) == [
        'first.pcap', 'second one.pcap']
    assert error(app, 'datasets -g -i 5') == (
        "dataset 'case' has no pcap, pcapng or biargus file 5; list its files with "
        "'datasets -f'")


@ARGUS
def test_a_terminal_asks_which_capture_and_says_where_the_flows_go(app, two_captures):
    asked, told = [], []

    def choose(question, choices, default, check=None):
        asked.append((question, choices, default))
        return '1'

    def tell(text):
        # Said before argus runs: nothing is written yet.
        told.append((text, sorted(path.name for path in two_captures.iterdir())))
    app.choose, app.tell = choose, tell
    assert [item.text for item in ok(app, 'datasets -g')] == [
        'second one.biargus generated and added as file 2',
        'second one.binetflow generated and added as file 3']
    assert asked == [('Which of the captures to make flows from',
                      {'0': 'first.pcap', '1': 'second one.pcap'}, '0')]
    assert told == [(f'making second one.biargus with argus and second one.binetflow with ra '
                     f'in {two_captures}, from second one.pcap (file 1)',
                     ['first.pcap', 'second one.pcap'])]
    # -i chooses without a question; an argus file alone needs ra only.
    asked.clear(), told.clear()
    ok(app, 'datasets -g -i 2 --force')
    assert asked == [] and [text for text, _ in told] == [
        f'making second one.binetflow with ra in {two_captures}, from second one.biargus '
        '(file 2)']


@ARGUS
def test_generation_in_a_terminal(app, two_captures, tmp_path):
    pexpect = pytest.importorskip('pexpect')
    app.close()   # the terminal's stf opens the database file next
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send('datasets -s 0\r')
    child.expect_exact("dataset 0 'case' selected")
    child.send('datasets -g\r')
    child.expect_exact('Which of the captures to make flows from (0 first.pcap | 1 second '
                       'one.pcap) [0]:')
    child.send('2\r')
    child.expect_exact("'2' is not one of 0, 1\r\n")
    child.send('1\r')
    # the line is wrapped to the terminal's width (the pager never holds it)
    child.expect_exact('making second one.biargus with argus and second one.binetflow')
    child.expect_exact('from second one.pcap (file 1)')
    child.expect_exact('second one.biargus generated and added as file 2')
    child.expect_exact('second one.binetflow generated and added as file 3')
    child.send('exit\r')
    child.expect(pexpect.EOF)


def test_a_file_in_the_way_is_found_before_argus_runs(app, two_captures):
    (two_captures / 'first.binetflow').write_text('not ours\n')
    told = []
    app.tell = told.append
    assert error(app, 'datasets -g -i 0') == (
        f"{two_captures / 'first.binetflow'} exists and is not a file of this dataset; "
        'remove it, choose another folder with --out, or overwrite with --force')
    assert told == [] and not (two_captures / 'first.biargus').exists()


# -- datasets -l: when the capture starts ----------------------------------------

def test_the_listing_shows_when_the_capture_starts_once_read(app, two_captures):
    def start():
        (table,) = ok(app, 'datasets -l')
        assert table.headers[4] == 'capture start'
        return table.rows[0][4]
    assert start() == '-'
    ok(app, 'datasets -F 1')   # another file of the dataset: the main one is not read yet
    assert start() == '2020-09-13 12:26:41 UTC'
    ok(app, 'datasets -F 0')
    assert start() == '2020-09-13 12:26:40 UTC'
    (listed,) = ok(app, 'datasets -l --json')
    assert json.loads(listed.text)[0]['capture_start'] == '2020-09-13T12:26:40Z'


def test_flow_files_know_their_first_flow_after_reading(app, tmp_path):
    flows = write_models_flows(tmp_path)
    ok(app, f'datasets -c {flows} --name lab')
    assert ok(app, 'datasets -l')[0].rows[0][4] == '-'
    ok(app, 'connections -g')
    assert ok(app, 'datasets -l')[0].rows[0][4] == '2020-01-01 10:00:00 UTC'
    app.database.run(lambda: setattr(app.current().files[0], 'span', None))
    assert ok(app, 'datasets -l')[0].rows[0][4] == '-'
    fields = ok(app, 'datasets -F 0')[1]
    assert dict(fields.pairs)['first flow'] == '2020-01-01 10:00:00.000000 UTC'
    assert ok(app, 'datasets -l')[0].rows[0][4] == '2020-01-01 10:00:00 UTC'
    # The details come from the scan kept with the file: the same again.
    assert ok(app, 'datasets -F 0')[1] == fields


# -- the current dataset, remembered per analyst and database ----------------------

def test_the_remembered_dataset_is_kept_per_database(app, tmp_path, stf_home):
    write_pcap(tmp_path / 'c.pcap', TIMES)
    ok(app, f'datasets -c {tmp_path / "c.pcap"} --name kept')
    key = str((tmp_path / 'db' / 'stf.db').resolve())
    assert app.database.key() == key
    remembered.remember(key, 0)
    remembered.remember('127.0.0.1:8100', 4)
    assert json.loads((stf_home / 'current.json').read_text()) == {key: 0, '127.0.0.1:8100': 4}
    app.current_id = None
    assert remembered.start(app, None, terminal=False) == [] and app.current_id is None
    assert remembered.start(app, None, terminal=True) == ["current dataset: 0 'kept'"]
    assert (app.current_id, app.current_name) == (0, 'kept')
    ok(app, 'datasets -d 0 --yes')
    assert remembered.start(app, None, terminal=True) == [
        'the dataset 0 that was current no longer exists (deleted by another analyst?); no '
        'dataset is selected']
    assert json.loads((stf_home / 'current.json').read_text()) == {'127.0.0.1:8100': 4}
    (stf_home / 'current.json').write_text('{not json')
    assert remembered.recalled(key) is None


def test_batch_runs_start_with_none_unless_told(tmp_path):
    write_pcap(tmp_path / 'c.pcap', TIMES)
    assert stf(tmp_path, f'datasets -c {tmp_path / "c.pcap"} --name first\n').returncode == 0
    home = tmp_path / 'home'
    key = str((tmp_path / 'db' / 'stf.db').resolve())
    (home / 'current.json').write_text(json.dumps({key: 0}))
    assert stf(tmp_path, 'datasets -f\n').stderr == (
        "error: line 1: no dataset is selected; select one with 'datasets -s ID' (list them "
        "with 'datasets -l')\n")
    told = stf(tmp_path, 'datasets -f\n', '--dataset', '0')
    assert (told.returncode, told.stderr) == (0, '')
    assert told.stdout.splitlines()[0] == "files of dataset 0 'first'"
    missing = stf(tmp_path, 'datasets -f\n', '--dataset', '7')
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2, '', "error: --dataset 7: there is no dataset 7; list them with ./stf.py -c "
               "'datasets -l'\n")
    # Batch runs never change what a terminal remembers.
    assert json.loads((home / 'current.json').read_text()) == {key: 0}
    served = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--serve', '--dataset', '0'],
                            capture_output=True, text=True, timeout=60)
    assert (served.returncode, served.stderr) == (
        2, 'error: --serve only serves; --dataset is for the console and batch runs\n')


def test_a_terminal_comes_back_to_its_dataset(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    write_pcap(tmp_path / 'c.pcap', TIMES)
    stf(tmp_path, f'datasets -c {tmp_path / "c.pcap"} --name first\n'
        f'datasets -c {tmp_path / "c.pcap"} --name second\n')
    child, env = terminal(pexpect, tmp_path)
    child.expect_exact("Type 'help' for the commands.\r\n")
    child.expect_exact('stf >')
    assert 'current dataset' not in child.before   # none remembered yet
    child.send('datasets -s 1\r')
    child.expect_exact("dataset 1 'second' selected")
    child.send('exit\r')
    child.expect(pexpect.EOF)
    key = str((tmp_path / 'db' / 'stf.db').resolve())
    assert json.loads((tmp_path / 'home' / 'current.json').read_text()) == {key: 1}
    child, env = terminal(pexpect, tmp_path)
    child.expect_exact("Type 'help' for the commands.\r\ncurrent dataset: 1 'second'\r\n")
    child.expect_exact('second: ')
    child.send('exit\r')
    child.expect(pexpect.EOF)
    assert stf(tmp_path, 'datasets -d 1 --yes\n').returncode == 0
    child, env = terminal(pexpect, tmp_path)
    child.expect_exact("Type 'help' for the commands.\r\nthe dataset 1 that was current no "
                       'longer exists (deleted by another analyst?); no dataset is selected\r\n')
    child.send('exit\r')
    child.expect(pexpect.EOF)
    assert json.loads((tmp_path / 'home' / 'current.json').read_text()) == {}


# -- notes rendered on a terminal --------------------------------------------------

NOTE = ('# Beacon of **test7**\n'
        'Seen every `10 s`, e.g. 88*y*y*i*H*\n'
        '- first **flow** at 10:00\n'
        '  * then `GET /gate.php`\n'
        '2. numbered\n'
        '```\n'
        'ra -r capture.biargus\n'
        '  **not bold** here\n'
        '```\n'
        '## Done ##')
RENDERED = ['\x1b[1mBeacon of \x1b[1mtest7\x1b[22m\x1b[1m\x1b[22m',
            'Seen every \x1b[2m10 s\x1b[22m, e.g. 88*y*y*i*H*',
            '  • first \x1b[1mflow\x1b[22m at 10:00',
            '    • then \x1b[2mGET /gate.php\x1b[22m',
            '  2. numbered',
            '    \x1b[2mra -r capture.biargus\x1b[22m',
            '    \x1b[2m  **not bold** here\x1b[22m',
            '\x1b[1mDone\x1b[22m']


def test_markdown_subset():
    assert markdown.rendered(NOTE).split('\n') == RENDERED
    # An unclosed fence runs to the end, as in CommonMark; ~~~ fences too.
    assert markdown.rendered('~~~\ncode\n````\nafter') == (
        '    \x1b[2mcode\x1b[22m\n    \x1b[2m````\x1b[22m\n    \x1b[2mafter\x1b[22m')


def shown(items, terminal):
    out, err = io.StringIO(), io.StringIO()
    Renderer(out, err, terminal=terminal, pager='none').show(items)
    return out.getvalue()


def test_notes_are_rendered_on_a_terminal_only(app):
    ok(app, f'notes -c --text "{NOTE}"')
    text = ok(app, 'notes -s 0')[1]
    assert text == Text(NOTE, markdown=True)
    assert shown([text], terminal=True) == '\n'.join(RENDERED) + '\n'
    assert shown([text], terminal=False) == NOTE + '\n'
    raw = ok(app, 'notes -s 0 --raw')[1]
    assert shown([raw], terminal=True) == NOTE + '\n'
    # Control characters in a note are escaped before anything is drawn.
    assert shown([Text('# a\x1b[31mred', markdown=True)], terminal=True) == (
        '\x1b[1ma\\x1b[31mred\x1b[22m\n')


def test_a_note_in_the_terminal(app, tmp_path):
    pexpect = pytest.importorskip('pexpect')
    ok(app, 'notes -c --text "# Findings\n- one `two`"')
    app.close()   # the terminal's stf opens the database file next
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send('notes -s 0\r')
    child.expect_exact('\x1b[1mFindings\x1b[22m\r\n  • one \x1b[2mtwo\x1b[22m\r\n')
    child.send('notes -s 0 --raw\r')
    child.expect_exact('# Findings\r\n- one `two`\r\n')
    child.send('exit\r')
    child.expect(pexpect.EOF)


def test_the_toolbar_fits_the_terminal():
    from stf.console.repl import toolbar_text
    database = 'FileStorage /tmp/tryout/stf.db'
    assert toolbar_text('test7', database, '', 120) == (
        ' dataset: test7   database: FileStorage /tmp/tryout/stf.db   help: help, Ctrl-D exits ')
    assert toolbar_text('test7', database, '', 60) == (
        ' dataset: test7   database: FileStorage /tmp/tryout/stf.db ')
    narrow = toolbar_text('test7', database, ' (server away)', 60)
    assert narrow == ' dataset: test7   database: FileStor…t/stf.db (server away) '
    assert len(narrow) <= 60
