"""The real console: batch runs through a pipe, and a pseudo-terminal."""
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, write_pcap


def stf(tmp_path, script, *options):
    return subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db',
                           str(tmp_path / 'db' / 'stf.db'), *options],
                          input=script, capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))


def test_batch_runs_every_line_and_reports_status(tmp_path):
    folder = tmp_path / "it's; a folder"
    folder.mkdir()
    capture = write_pcap(folder / 'c 1.pcap', [1.0, 2.0, 3.0])
    script = (f'# a comment\n\ndatasets -c "{capture}" --name case\n'
              'datasets -l\ndatasets -F 0\n')
    result = stf(tmp_path, script)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    lines = result.stdout.splitlines()
    assert lines[0] == "dataset 0 'case' created with c 1.pcap (pcap) and selected"
    assert '\x1b' not in result.stdout
    assert any(line.startswith('  packets') and line.endswith(': 3') for line in lines)
    # Committed per command: a second run sees the dataset.
    again = stf(tmp_path, 'datasets -s 0\ndatasets -f\n')
    assert again.returncode == 0
    assert "dataset 0 'case' selected" in again.stdout
    assert '| c 1.pcap' in again.stdout


def test_batch_failure_status_and_stop_on_error(tmp_path):
    script = 'datasets -s 5\nbogus\ndatabase -l\n'
    result = stf(tmp_path, script)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: line 1: there is no dataset 5; list them with 'datasets -l'",
        "error: line 2: unknown command 'bogus'; type 'help' for the list of commands"]
    assert 'top-level structures' in result.stdout
    stopped = stf(tmp_path, script, '--stop-on-error')
    assert stopped.returncode == 1
    assert len(stopped.stderr.splitlines()) == 1
    assert 'top-level structures' not in stopped.stdout


def test_filter_words_reach_the_command_intact(tmp_path):
    result = stf(tmp_path, 'datasets -s statelength>100\n')
    # No redirection: '>' stays in the argument, which -s refuses as an id.
    assert result.stderr.strip() == ("error: line 1: datasets: argument -s/--select: invalid "
                                     "int value: 'statelength>100'; see 'datasets -h'")
    assert not (tmp_path / '100').exists()


def test_exit_stops_batch(tmp_path):
    result = stf(tmp_path, 'exit\nbogus\n')
    assert result.returncode == 0 and result.stderr == ''


def test_bad_database_path_is_one_line(tmp_path):
    (tmp_path / 'adir').mkdir()
    result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db', str(tmp_path / 'adir')],
                            input='', capture_output=True, text=True,
                            env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))
    assert result.returncode == 2
    assert result.stderr == (f"error: {tmp_path / 'adir'} is a folder; give the path of a "
                             f"database file, e.g. {tmp_path / 'adir' / 'stf.db'}\n")


def terminal(pexpect, tmp_path):
    """stf in a pseudo-terminal on a database of the test's, and its environment."""
    env = dict(os.environ, STF_HOME=str(tmp_path / 'home'), TERM='xterm', COLUMNS='120')
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--db',
                                           str(tmp_path / 'db' / 'stf.db')],
                          env=env, encoding='utf-8', timeout=15, dimensions=(40, 200))
    return child, env


def test_terminal_completion_prompt_and_history(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    capture = write_pcap(tmp_path / 'c.pcap', [1.0, 2.0])
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send('datase')
    child.expect('create, select, list')  # the completion menu is up
    child.send('\t')
    child.send(f' -c {capture} --name termtest\r')
    # Only a completed command name can have created it.
    child.expect("dataset 0 'termtest' created")
    child.expect('termtest: ')
    child.send('datasets -u\r')
    child.expect('no dataset is selected now')
    child.send('datasets -s ')
    child.expect('termtest')  # the menu offers id 0 with its name
    child.send('\t')
    child.send('\r')
    child.expect("dataset 0 'termtest' selected")
    child.send('exit\r')
    child.expect(pexpect.EOF)
    history = (tmp_path / 'home' / 'history').read_text()
    assert f'datasets -c {capture} --name termtest' in history


def test_failing_shell_line_in_batch(tmp_path):
    result = stf(tmp_path, '!false\n')
    assert result.returncode == 1
    assert result.stderr == 'error: line 1: the shell command exited with status 1\n'


def test_ctrl_c_right_after_enter_stops_the_command(tmp_path):
    """A terminal that does not answer cursor position requests (this
    pseudo-terminal does not) keeps prompt_toolkit in raw mode for up to a
    second after Enter: a Ctrl-C then used to be kept for the next prompt,
    and the command ran and committed. It is now taken as interrupting it."""
    pexpect = pytest.importorskip('pexpect')
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send('notes -c --text "not wanted"\r')
    time.sleep(0.2)
    child.sendintr()
    child.expect('notes: interrupted; nothing was changed')
    child.expect('stf >')
    child.send('notes -l\r')
    child.expect(r'\(none\)|\+----')
    assert 'not wanted' not in child.before + child.after
    child.send('exit\r')
    child.expect(pexpect.EOF)
    database = tmp_path / 'db' / 'stf.db'
    listing = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db', str(database),
                              '-c', 'notes -l'], capture_output=True, text=True, env=env)
    assert 'not wanted' not in listing.stdout


def test_a_command_file_and_a_configuration_with_a_byte_order_mark(tmp_path):
    conf = tmp_path / 'stf.conf'
    conf.write_bytes(b'\xef\xbb\xbf[stf]\nbin_seconds = 60\n')
    script = '\ufeffnotes -c --text first\nnotes -l\n'
    result = stf(tmp_path, script, '--conf', str(conf))
    assert (result.returncode, result.stderr) == (0, '')
    assert result.stdout.splitlines()[0] == 'note 0 saved (free-standing)'


def test_ctrl_c_right_after_answering_a_question_stops_the_command(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    capture = write_pcap(tmp_path / 'c.pcap', [1.0, 2.0])
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send(f'datasets -c {capture}\r')
    child.expect('Name of the dataset')
    child.send('not wanted\r')
    time.sleep(0.2)
    child.sendintr()
    child.expect('datasets: interrupted; nothing was changed')
    child.send('exit\r')
    child.expect(pexpect.EOF)
    listing = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db',
                              str(tmp_path / 'db' / 'stf.db'), '-c', 'datasets -l'],
                             capture_output=True, text=True, env=env)
    assert 'not wanted' not in listing.stdout and '(none)' in listing.stdout


@pytest.mark.parametrize('columns', [160, 80])
def test_models_keep_their_letters_in_view_at_any_width(tmp_path, columns):
    pexpect = pytest.importorskip('pexpect')
    long_name = 'fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8-ff02:0:0:0:0:1:ff00:1-136-icmp'
    state = '55' + ',e' * 25 + ',Z'
    letters = tmp_path / 'letters.tsv'
    letters.write_text('tuple_id\tflows\tlabel\tstate\n'
                       f'{long_name}\t27\tFrom-Botnet-ICMP-Unknown-Beacon.Long.Name-1\t{state}\n')
    env = dict(os.environ, STF_HOME=str(tmp_path / 'home'), TERM='xterm')
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--db',
                                           str(tmp_path / 'db' / 'stf.db')],
                          env=env, encoding='utf-8', timeout=15, dimensions=(40, columns))
    child.expect('stf >')
    child.send(f'datasets -c {letters} --name wide\r')
    child.expect('imported as group of models 0-1')
    child.send('models -L 0-1\r')
    if columns == 160:     # one table, the name shortened in its middle, the letters whole
        child.expect('…')
    else:                  # too narrow beside the other columns: one record per block
        child.expect(r'-\[ record 1 \]')
    # the letters are on the screen, each colored: ESC[..m 5 ESC[0m ESC[..m 5 ESC[0m
    child.expect(r'\x1b\[[0-9;]+m5\x1b\[0m\x1b\[[0-9;]+m5\x1b\[0m')
    if child.expect([r'\(END\)', 'stf >']) == 0:     # wider than the screen: the pager
        child.send('q')
        child.expect('stf >')
    child.send('exit\r')
    child.expect(pexpect.EOF)


def test_did_you_mean_in_batch(tmp_path):
    result = stf(tmp_path, 'dataset -l\ndatsets\nmodels --sot -flows\n')
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: line 1: unknown command 'dataset' (did you mean 'datasets'?); type 'help' for "
        "the list of commands",
        "error: line 2: unknown command 'datsets' (did you mean 'datasets'?); type 'help' for "
        "the list of commands",
        "error: line 3: models: unrecognized arguments: --sot (did you mean --sort?); see "
        "'models -h'"]


def test_terminal_completes_note_owners_folders_and_says_did_you_mean(tmp_path):
    pexpect = pytest.importorskip('pexpect')
    capture = write_pcap(tmp_path / 'c.pcap', [1.0, 2.0])
    (tmp_path / 'folder').mkdir()
    (tmp_path / 'folder' / 'inside.pcap').write_bytes(b'')
    child, env = terminal(pexpect, tmp_path)
    child.expect('stf >')
    child.send(f'datasets -c {capture} --name owner\r')
    child.expect("dataset 0 'owner' created")
    child.send('notes -c --to ')
    child.expect('an experiment: experiment:ID')   # the menu offers the kinds
    child.send('dataset:')
    child.expect('dataset:0')
    child.expect('owner')                          # the id with the dataset's name
    child.send('\t')
    child.send(' --text "seen"\r')
    # Only a completed id can have attached it.
    child.expect(r"note 0 saved \(dataset 0 'owner'\)")
    child.send(f'datasets -a {tmp_path}/fol')
    child.expect('folder/')
    child.send('\t')        # takes folder/ ...
    child.send('\t')        # ... and goes on inside it
    child.expect('inside.pcap')
    child.sendcontrol('c')
    child.expect('stf >')
    child.send('datsets -l\r')
    child.expect(r"unknown command 'datsets' \(did you mean 'datasets'\?\); type 'help' for the "
                 'list of commands')
    child.send('exit\r')
    child.expect(pexpect.EOF)
