"""Two consoles on one local database file."""
import os
import subprocess
import sys
import time

from tests.conftest import ROOT, ok


def console(path):
    from stf.console import config
    from stf.db import database
    from stf.console.app import App
    from stf.db.localshare import SharedFile
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
    from stf.db.localshare import SharedFile
    from tests.conftest import free_port
    from tests.test_zeo import stf_server
    path = tmp_path / 'database' / 'stf.db'
    path.parent.mkdir()
    port = free_port()
    server = stf_server(path, port, tmp_path)
    try:
        started = time.monotonic()
        try:
            SharedFile(path)
            raise AssertionError('the held file was opened')
        except UserError as refused:
            message = str(refused)
        # The lock names the process: no wait for a server on our socket.
        assert time.monotonic() - started < 5
    finally:
        server.kill()
        server.wait()
    assert message == (
        f'the database {path} is served by stf.py --serve 127.0.0.1:{port} (process '
        f'{server.pid}): connect to it with --zeo 127.0.0.1:{port}')


def test_the_program_holding_a_file_is_named(tmp_path):
    from stf.db.holders import held_message, holder_kind, lock_holder, served_address
    path = tmp_path / 'stf.db'
    (tmp_path / 'stf.db.lock').write_text(f' {os.getpid()}\n')
    holder = lock_holder(path)
    assert holder[0] == os.getpid() and holder_kind(holder) == 'other'
    assert held_message(path, holder).startswith(f'the database {path} is open in ')
    assert [holder_kind((1, arguments)) for arguments in (
        ['python3', 'stf.py'], ['python3', '/x/stf.py', '--serve'], ['python3', 'stf.py',
         '--db', 'a.fs'], ['/venv/bin/python', '/venv/bin/runzeo', '-C', 'z.conf'],
        ['vim', 'stf.db'], ['/usr/local/bin/stf'])] == [
        'shared', 'serve', 'db', 'runzeo', 'other', 'shared']
    assert [served_address(arguments) for arguments in (
        ['stf.py', '--serve'], ['stf.py', '--serve', '--db', 'x'],
        ['stf.py', '--serve', '10.0.0.1:9000'])] == [
        '127.0.0.1:8100', '127.0.0.1:8100', '10.0.0.1:9000']
    assert held_message(path, (7, ['python3', 'stf.py']), waited=30) == (
        f'the database {path} is open in another stf (process 7) that has not shared it within '
        '30 s (stopped, or still opening a large file?); try again, or look at that process')
    assert held_message(path, (7, ['vim', 'stf.db'])) == (
        f'the database {path} is open in vim (process 7): close it, or open another file '
        'with --db')
    (tmp_path / 'stf.db.lock').write_text(' 999999999\n')
    assert lock_holder(path) is None


def test_edit_saved_after_a_take_over_does_not_overwrite_the_other(tmp_path, monkeypatch):
    """While one analyst is in the editor, the serving one saves the same note
    and leaves: the take-over runs the command again, which refuses to write
    over the other's words (and keeps the text typed)."""
    path = tmp_path / 'database' / 'stf.db'
    serving = console(path)
    editing = console(path)
    try:
        ok(serving, 'notes -c --text "start"')
        def editor_while_the_other_saves_and_leaves(text):
            ok(serving, 'notes -e 0 --text "the serving analyst"')
            serving.close()
            return 'the editing analyst'
        monkeypatch.setattr(editing, 'editor', editor_while_the_other_saves_and_leaves)
        editing.interactive = True
        reply = editing.execute('notes -e 0')
        assert [item.text for item in reply.items][0] == (
            "note 0 was changed by another analyst while you edited it; nothing was saved: see "
            "theirs with 'notes -s 0' and edit again")
        assert reply.items[1].text.startswith('your text is kept in ')
        assert ok(editing, 'notes -s 0')[1].text == 'the serving analyst'
        assert editing.database.shared.server is not None
    finally:
        editing.close()
