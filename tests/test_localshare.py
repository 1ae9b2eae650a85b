"""Two consoles on one local database file."""
import os
import subprocess
import sys
import time

from tests.conftest import ROOT, error, ok


def console(path):
    from stf.core import config, database
    from stf.core.app import App
    from stf.core.localshare import SharedFile
    shared = SharedFile(path)
    return App(config.load(), database.Database(shared.db, shared=shared))


def test_two_consoles_share_one_file_and_take_over(tmp_path):
    path = tmp_path / 'database' / 'stf.db'
    first = console(path)
    second = console(path)
    try:
        assert first.database.shared.server is not None
        assert second.database.shared.server is None
        assert second.database.describe() == (
            'FileStorage', f'{path} (shared by the stf on this machine)')
        ok(first, 'notes -c --text "from the first"')
        ok(second, 'notes -c --text "from the second"')
        assert [row[3] for row in ok(first, 'notes -l')[0].rows] == [
            'from the first', 'from the second']
        first.close()
        # The next command finds the server gone, serves the file and runs.
        assert [row[3] for row in ok(second, 'notes -l')[0].rows] == [
            'from the first', 'from the second']
        assert second.database.shared.server is not None
        ok(second, 'notes -c --text "after"')
    finally:
        second.close()
    third = console(path)
    assert len(third.notes) == 3
    third.close()


def test_two_stf_processes_on_the_configured_database(tmp_path):
    zodb = tmp_path / 'zodb.conf'
    zodb.write_text(f'<zodb>\n  <filestorage>\n    path {tmp_path}/database/stf.db\n'
                    '  </filestorage>\n</zodb>\n')
    conf = tmp_path / 'stf.conf'
    conf.write_text(f'[stf]\nzodb_conf = {zodb}\n')
    env = dict(os.environ, STF_HOME=str(tmp_path / 'home'))
    command = [sys.executable, str(ROOT / 'stf.py'), '--conf', str(conf)]
    first = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    first.stdin.write('notes -c --text one\n!sleep 3\nnotes -l\n')
    first.stdin.close()
    time.sleep(1.5)
    second = subprocess.run(command, input='notes -c --text two\n', capture_output=True,
                            text=True, env=env, timeout=60)
    assert second.returncode == 0, second.stderr
    out, err = first.stdout.read(), first.stderr.read()
    assert first.wait(timeout=60) == 0, err
    assert '| one ' in out and '| two ' in out


def test_stf_processes_started_at_once_on_one_file(tmp_path):
    """Four stf started together race for the file: each works (one serves,
    the others connect, and whoever is left serves when the server exits)."""
    zodb = tmp_path / 'zodb.conf'
    zodb.write_text(f'<zodb>\n  <filestorage>\n    path {tmp_path}/database/stf.db\n'
                    '  </filestorage>\n</zodb>\n')
    conf = tmp_path / 'stf.conf'
    conf.write_text(f'[stf]\nzodb_conf = {zodb}\n')
    children = [subprocess.Popen(
        [sys.executable, str(ROOT / 'stf.py'), '--conf', str(conf)], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, STF_HOME=str(tmp_path / f'home{n}'))) for n in range(4)]
    for n, child in enumerate(children):
        child.stdin.write(''.join(f'notes -c --text "process {n} note {i}"\n' for i in range(20)))
        child.stdin.close()
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read()
        assert child.stderr.read() == ''
    listed = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--conf', str(conf), '-c',
                             'notes -l'], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))
    texts = sorted(line.split('|')[4].strip() for line in listed.stdout.splitlines()
                   if line.startswith('| ') and 'process' in line)
    assert texts == sorted(f'process {n} note {i}' for n in range(4) for i in range(20))


def test_file_held_by_a_server_of_its_own_is_told_at_once(tmp_path):
    from stf.core.errors import UserError
    from stf.core.localshare import SharedFile
    from tests.test_zeo import free_port, stf_server
    path = tmp_path / 'database' / 'stf.db'
    path.parent.mkdir()
    server = stf_server(path, free_port(), tmp_path)
    try:
        started = time.monotonic()
        try:
            SharedFile(path)
            raise AssertionError('the held file was opened')
        except UserError as refused:
            message = str(refused)
        # Not the whole wait for a server that would be starting on our socket.
        assert time.monotonic() - started < 8
    finally:
        server.kill()
        server.wait()
    assert message == (
        f'the database {path} is open in a program that does not share it with the stf on this '
        "machine: a server ('stf.py --serve' or runzeo: connect to it with --zeo and the "
        'address it listens on, 127.0.0.1:8100 by default), or an stf started with --db (close '
        "it); or open another file with --db")
