"""A command that finds no room for the database says so in one line, saves
nothing, and the console goes on (and saves again once there is room); the
database stays whole and stf exits cleanly.

stf runs as a process on a small disk of its own (a tmpfs, when this test
may mount one) and under a file size limit (ulimit -f), which refuses writes
with another error (EFBIG instead of ENOSPC)."""
import os
import resource
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# A note larger than the room left: its record goes first to the temporary
# file beside the database, then into the database at the end of the
# command. It is smaller than the buffer of these files (8 KiB): a write the
# disk refused stays in the buffer and is tried again at every later write,
# abort and close, unless stf throws it away.
NOTE = 'x' * 6000
DISK_BYTES = 1024 * 1024
# Room left on the disk: none for the temporary file, or for it only. A tmpfs
# counts whole pages, and the database file's last page may still hold part of
# a record, so the room is kept well under two pages.
ROOM = {'temporary file': 1000, 'database file': 7000}


def stf(database, *commands, home, limit=None, conf=None):
    """stf.py in batch mode: (exit status, stdout, stderr)."""
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    where = ['--conf', str(conf)] if conf else ['--db', str(database)]
    arguments = [argument for command in commands for argument in ('-c', command)]
    result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), *where, *arguments],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, STF_HOME=str(home)),
                            preexec_fn=limited if limit else None)
    return result.returncode, result.stdout, result.stderr


def intact(database, home):
    """The notes' first lines, once fstest found the file whole."""
    check = subprocess.run([sys.executable, '-m', 'ZODB.scripts.fstest', str(database)],
                           capture_output=True, text=True, timeout=120)
    assert (check.returncode, check.stdout, check.stderr) == (0, '', '')
    status, out, err = stf(database, 'notes -l', home=home)
    assert (status, err) == (0, '')
    rows = [line.split('|') for line in out.splitlines() if line.startswith('|')][1:]
    return [row[4].strip() for row in rows]


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of DISK_BYTES (skips where mounting is not allowed)."""
    folder = tmp_path / 'disk'
    folder.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={DISK_BYTES}', 'tmpfs',
                              str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: the file size limit test covers this')
    yield folder
    subprocess.run(['umount', '-l', str(folder)], check=True)


def fill(folder, leave):
    """A file taking the room of folder's disk but about leave bytes."""
    stats = os.statvfs(folder)
    filler = folder / 'filler'
    filler.write_bytes(b'\0' * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def full_disk_message(database):
    return (f'error: line 1: the disk holding {database} is full; nothing was changed; free '
            'some space and try again\n')


@pytest.mark.parametrize('full_at', ROOM)
def test_a_full_disk_is_one_line_and_the_console_saves_again_once_freed(small_disk, full_at):
    database, home = small_disk / 'stf.db', small_disk / 'home'  # the log is on it too
    assert stf(database, 'notes -c --text first', home=home)[0] == 0
    filler = fill(small_disk, ROOM[full_at])
    assert stf(database, f'notes -c --text {NOTE}', f'!rm {filler}', 'notes -c --text second',
               home=home) == (1, 'note 1 saved (free-standing)\n', full_disk_message(database))
    assert intact(database, home) == ['first', 'second']


def test_a_full_disk_under_a_shared_local_file_is_one_line(small_disk, tmp_path):
    """The configured file, which the consoles on this machine share (a ZEO
    server inside the first one: the error comes from the server)."""
    database, home = small_disk / 'stf.db', small_disk / 'home'
    zodb, conf = tmp_path / 'zodb.conf', tmp_path / 'stf.conf'
    zodb.write_text(f'<zodb>\n  <filestorage>\n    path {database}\n  </filestorage>\n</zodb>\n')
    conf.write_text(f'[stf]\nzodb_conf = {zodb}\n')
    assert stf(None, 'notes -c --text first', home=home, conf=conf)[0] == 0
    filler = fill(small_disk, ROOM['database file'])
    assert stf(None, f'notes -c --text {NOTE}', f'!rm {filler}', 'notes -c --text second',
               home=home, conf=conf) == (
        1, 'note 1 saved (free-standing)\n', full_disk_message(database))
    assert intact(database, home) == ['first', 'second']


@pytest.mark.parametrize('size', [len(NOTE), 40000])  # buffered, and written at once
def test_a_file_size_limit_is_one_line_and_the_console_goes_on(tmp_path, size):
    database, home = tmp_path / 'stf.db', tmp_path / 'home'
    assert stf(database, 'notes -c --text first', home=home)[0] == 0
    limit = database.stat().st_size + 4000
    assert stf(database, f'notes -c --text {"x" * size}', 'notes -c --text second', home=home,
               limit=limit) == (
        1, 'note 1 saved (free-standing)\n',
        f'error: line 1: {database} cannot grow: it reached the largest file size stf may '
        'write (ulimit -f); nothing was changed; raise the limit and try again\n')
    assert intact(database, home) == ['first', 'second']


def test_a_full_disk_under_stf_serve_is_one_line_and_the_file_stays_whole(small_disk,
                                                                          tmp_path):
    """stf.py --serve writes with stf's FileStorage too: the refused write
    does not stay in its buffer to be written at the next commit or at the
    end (ZODB's own FileStorage does, and fstest then finds the file broken)."""
    import time
    from tests.conftest import free_port
    database, home = small_disk / 'stf.db', tmp_path / 'home'
    address = f'127.0.0.1:{free_port()}'
    server = subprocess.Popen([sys.executable, str(ROOT / 'stf.py'), '--db', str(database),
                               '--serve', address], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, STF_HOME=str(home)))
    try:
        deadline = time.monotonic() + 30
        while 'serving' not in server.stdout.readline():
            assert time.monotonic() < deadline
        zeo = ['--zeo', address]
        run = [sys.executable, str(ROOT / 'stf.py'), *zeo]
        first = subprocess.run([*run, '-c', 'notes -c --text first'], capture_output=True,
                               text=True, timeout=60, env=dict(os.environ, STF_HOME=str(home)))
        assert first.returncode == 0, first.stderr
        filler = fill(small_disk, ROOM['database file'])
        result = subprocess.run([*run, '-c', f'notes -c --text {NOTE}', '-c', f'!rm {filler}',
                                 '-c', 'notes -c --text second'], capture_output=True,
                                text=True, timeout=60, env=dict(os.environ, STF_HOME=str(home)))
        assert (result.returncode, result.stdout) == (1, 'note 1 saved (free-standing)\n')
        assert result.stderr == (f'error: line 1: the disk holding the database of the server '
                                 f'{address} is full; nothing was changed; free some space and '
                                 'try again\n')
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert intact(database, home) == ['first', 'second']
