"""A ZEO server that fails at awkward moments: it dies as a client starts,
it is stopped with SIGTERM. Real `stf.py --serve` processes on loopback."""
import io
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, error, free_port, ok
from tests.test_zeo import stf_server

ZEO = pytest.importorskip('ZEO')


class Relay:
    """A TCP relay on a port of its own to a ZEO server's port, that kills the
    server (kill -9) just before relaying the client's first request after
    one naming `after`, or the first naming `at`, and then stops listening:
    the server dies at a known step of the client's start."""

    def __init__(self, server_port, server, at=None, after=None):
        self.server_port, self.server = server_port, server
        self.at, self.after = at, after
        self.killed = threading.Event()
        self.port = None
        self.links = []
        self.listen()

    def listen(self):
        """Listen (again, on the same port once it has one)."""
        self.listener = socket.create_server(('127.0.0.1', self.port or 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def back(self, server):
        """Relay to a new server on the same port, killing nothing."""
        self.server, self.at, self.after = server, None, None
        self.listen()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(('127.0.0.1', self.server_port))
            except OSError:
                client.close()
                continue
            self.links += [client, upstream]
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client), daemon=True).start()

    def _requests(self, client, upstream):
        """Relay the client's messages one by one (4-byte size, then the message)."""
        buffer, named = b'', False
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                return
            if not data:
                return close_quietly(upstream)
            buffer += data
            while len(buffer) >= 4 and len(buffer) >= 4 + struct.unpack('>I', buffer[:4])[0]:
                size = 4 + struct.unpack('>I', buffer[:4])[0]
                message, buffer = buffer[:size], buffer[size:]
                if named or (self.at and self.at in message):
                    return self.kill()
                named = bool(self.after and self.after in message)
                upstream.sendall(message)

    @staticmethod
    def _answers(upstream, client):
        while True:
            try:
                data = upstream.recv(65536)
                if not data:
                    return close_quietly(client)
                client.sendall(data)
            except OSError:
                return

    def kill(self):
        self.server.kill()
        self.server.wait()
        self.listener.close()
        for link in self.links:
            close_quietly(link)
        self.links = []
        self.killed.set()


def close_quietly(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def dying_server(tmp_path):
    """dying(at=..., after=...): a database with one note, served by a real
    `stf.py --serve` reached through a Relay that kills it there; returns
    (relay, start) where start() runs a new server on the same file and port."""
    path, port, started = tmp_path / 'shared.fs', free_port(), []
    made = run_stf(tmp_path, '--db', str(path), '-c', 'notes -c --text before')
    assert made.returncode == 0, made.stderr

    def start():
        started.append(stf_server(path, port, tmp_path))
        return started[-1]

    def dying(**where):
        return Relay(port, start(), **where), start
    yield dying
    for server in started:
        server.kill()
        server.wait()


def run_stf(tmp_path, *args, stdin=None):
    return subprocess.run([sys.executable, str(ROOT / 'stf.py'), *args], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))


def went_away(port):
    return (f'error: the database server 127.0.0.1:{port} went away while stf was starting; '
            'no command was run; start stf again once the server is back\n')


def not_reachable(name, port):
    return (f'{name}: the database server 127.0.0.1:{port} is not reachable; nothing was '
            'changed (the console goes on and reconnects when the server is back)')


# -- a server that dies as a client starts


@pytest.mark.parametrize('where', [
    # After giving the database (the root), before stf's first transaction.
    {'after': b'loadBefore'},
    # While giving the database: no database can be opened at all.
    {'at': b'loadBefore'},
])
def test_server_dying_as_a_batch_starts_is_one_line(dying_server, tmp_path, where):
    relay, _ = dying_server(**where)
    result = run_stf(tmp_path, '--zeo', f'127.0.0.1:{relay.port}', '-c', 'notes -l',
                     '-c', 'help')
    assert relay.killed.wait(10)
    assert (result.returncode, result.stdout, result.stderr) == (1, '', went_away(relay.port))


def test_server_dying_as_a_piped_batch_starts_is_one_line(dying_server, tmp_path):
    relay, _ = dying_server(after=b'loadBefore')
    result = run_stf(tmp_path, '--zeo', f'127.0.0.1:{relay.port}', stdin='notes -l\ninfo\n')
    assert relay.killed.wait(10)
    assert (result.returncode, result.stdout, result.stderr) == (1, '', went_away(relay.port))


def test_app_started_as_its_server_died_goes_on_when_it_is_back(dying_server):
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    relay, start = dying_server(after=b'loadBefore')
    db = database.Database(storages.open_zeo(f'127.0.0.1:{relay.port}'))
    app = App(config.load(), db)
    try:
        assert relay.killed.wait(10)
        assert not app.structures_ready
        assert error(app, 'notes -l') == not_reachable('notes', relay.port)
        ok(app, 'help')  # what needs no database works meanwhile
        relay.back(start())
        ok(app, 'notes -c --text after')
        assert app.structures_ready
        assert sorted(note.text for note in app.notes.values()) == ['after', 'before']
    finally:
        app.close()


def test_console_started_as_its_server_died_shows_it_away(dying_server, tmp_path):
    pexpect = pytest.importorskip('pexpect')
    relay, start = dying_server(after=b'loadBefore')
    env = dict(os.environ, STF_HOME=str(tmp_path / 'home'), TERM='xterm', COLUMNS='200')
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--zeo',
                                           f'127.0.0.1:{relay.port}'],
                          env=env, encoding='utf-8', timeout=20, dimensions=(40, 200))
    child.logfile_read = shown = io.StringIO()
    try:
        child.expect('The server is away: commands that need the database say so until it '
                     r'is back \(the console reconnects\)\. ')
        # A terminal that answers where its cursor is gets the toolbar.
        child.expect(r'\x1b\[6n')
        child.send('\x1b[5;1R')
        child.expect(f'database: ClientStorage 127.0.0.1:{relay.port} ' + r'\(server away\)')
        child.send('notes -l\r')
        child.expect(not_reachable('notes', relay.port).replace('(', r'\(').replace(')', r'\)'))
        relay.back(start())
        child.send('notes -l\r')
        deadline = time.monotonic() + 20
        while child.expect([r'\| before', 'not reachable']) == 1:
            assert time.monotonic() < deadline, 'the console did not reconnect'
            time.sleep(0.5)
            child.send('notes -l\r')
        child.send('exit\r')
        child.expect(pexpect.EOF)
        assert 'Traceback' not in shown.getvalue()
    finally:
        child.close(force=True)


# -- stopping a server with SIGTERM


def serve(path, port, tmp_path, log):
    """`stf.py --db path --serve 127.0.0.1:port`, its output in the file log.

    It shows ResourceWarnings (as Python's development mode does): an event
    loop or a socket left open then shows at every exit, whereas the
    "Exception ignored ... Invalid file descriptor" of the loop left open
    shows only when the garbage collector happens to close the loop's
    sockets before the loop."""
    with open(log, 'w') as output:
        server = subprocess.Popen(
            [sys.executable, str(ROOT / 'stf.py'), '--db', str(path), '--serve',
             f'127.0.0.1:{port}'], stdout=output, stderr=subprocess.STDOUT,
            env=dict(os.environ, STF_HOME=str(tmp_path / 'server-home'),
                     PYTHONWARNINGS='always::ResourceWarning'))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return server
        except OSError:
            assert server.poll() is None, log.read_text()
            time.sleep(0.05)
    server.kill()
    raise AssertionError('the server did not listen within 30 s')


def terminated(server, log):
    """SIGTERM: the exit status and the lines logged, once it has stopped."""
    server.terminate()
    status = server.wait(timeout=30)
    return status, log.read_text().splitlines()


def left_open(lines, port):
    """What a server's log says it left open or could not close."""
    signs = ('unclosed event loop', f"laddr=('127.0.0.1', {port})", 'Exception ignored',
             'Invalid file descriptor', 'Traceback')
    return [line for line in lines if any(sign in line for sign in signs)]


def stopped_by_sigterm(lines, pid):
    """The server said it was stopped by SIGTERM, then closed its storage (a
    client's goodbye may be logged between or after them on a loaded machine)."""
    said = [line.split(' ', 1)[1] for line in lines if ' ' in line]
    wanted = [f'INFO ZEO.runzeo ({pid}) terminated by SIGTERM',
              "INFO ZEO.StorageServer closing storage '1'"]
    found = [text for text in said if text in wanted]
    return found[-2:] == wanted


def test_sigterm_stops_a_new_and_a_restarted_server_cleanly(tmp_path):
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    path, port = tmp_path / 'new.fs', free_port()
    first = serve(path, port, tmp_path, tmp_path / 'first.log')
    written = run_stf(tmp_path, '--zeo', f'127.0.0.1:{port}', '-c', 'notes -c --text one')
    assert written.returncode == 0, written.stderr
    status, lines = terminated(first, tmp_path / 'first.log')
    assert (status, left_open(lines, port)) == (0, [])
    assert stopped_by_sigterm(lines, first.pid)
    # Restarted on the same file and port; a client is connected as it stops.
    second = serve(path, port, tmp_path, tmp_path / 'second.log')
    app = App(config.load(), database.Database(storages.open_zeo(f'127.0.0.1:{port}')))
    try:
        ok(app, 'notes -c --text two')
        status, lines = terminated(second, tmp_path / 'second.log')
    finally:
        app.close()
    assert (status, left_open(lines, port)) == (0, [])
    assert stopped_by_sigterm(lines, second.pid)


# -- TLS connections that say nothing, or stall in their handshake


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    """The CA, the server's and alice's certificates of tests/test_zeo_tls.py."""
    if not shutil.which('openssl'):
        pytest.skip('openssl is needed to make the certificates')
    from tests.test_zeo_tls import CLIENT_EXT, SERVER_EXT, make_ca, make_cert
    folder = tmp_path_factory.mktemp('tls')
    make_ca(folder, 'ca')
    make_cert(folder, 'ca', 'server', SERVER_EXT)
    make_cert(folder, 'ca', 'alice', CLIENT_EXT)
    return folder


def tls_files(certs, name):
    return [str(certs / f'{name}.pem'), str(certs / f'{name}.key'), str(certs / 'ca.pem')]


@pytest.fixture
def tls_server(certs, tmp_path):
    """`stf.py --serve` with TLS on a new database; yields (port, log path)."""
    port, log = free_port(), tmp_path / 'server.log'
    cert, key, ca = tls_files(certs, 'server')
    with open(log, 'w') as output:
        server = subprocess.Popen(
            [sys.executable, str(ROOT / 'stf.py'), '--db', str(tmp_path / 'tls.fs'), '--serve',
             f'127.0.0.1:{port}', '--tls-cert', cert, '--tls-key', key, '--tls-ca', ca],
            stdout=output, stderr=subprocess.STDOUT,
            env=dict(os.environ, STF_HOME=str(tmp_path / 'server-home')))
    try:
        deadline = time.monotonic() + 30
        while 'Ctrl-C stops' not in log.read_text():
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield port, log
    finally:
        server.terminate()
        server.wait(timeout=30)


def open_sockets(port, count, first_bytes=b''):
    """count TCP connections to the server, each sending first_bytes."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        sockets.append(sock)
    return sockets


def client_hello(certs):
    """The first bytes of a TLS client: its hello."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certs / 'ca.pem'))
    hello = context.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(),
                             server_hostname='127.0.0.1')
    with pytest.raises(ssl.SSLWantReadError):
        hello.do_handshake()
    return outgoing.read()


def answered(sockets):
    """The sockets on which the server has sent something (or hung up)."""
    poller = select.poll()
    for sock in sockets:
        poller.register(sock, select.POLLIN)
    readable = {fd for fd, _ in poller.poll(0)}
    return [sock for sock in sockets if sock.fileno() in readable]


def alice_writes_and_reads(certs, port, text):
    """A real TLS client of the server: a note written, then read back."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    began = time.monotonic()
    db = storages.open_zeo(f'127.0.0.1:{port}', wait_timeout=30,
                           tls=tls_files(certs, 'alice'))
    app = App(config.load(), database.Database(db))
    try:
        ok(app, f'notes -c --text "{text}"')
        assert [note.text for note in app.notes.values()] == [text]
    finally:
        app.close()
    return time.monotonic() - began


def test_connections_that_say_nothing_take_no_handshake_and_are_closed_after_10s(
        tls_server, certs):
    from stf.db import tlsgate
    port, log = tls_server
    opened = time.monotonic()
    idle = open_sockets(port, 200)
    try:
        # An analyst connects and works at once meanwhile.
        assert alice_writes_and_reads(certs, port, 'among idle sockets') < 5
        assert answered(idle) == []  # none was answered nor closed yet
        select.select(idle[:1], [], [], 15)  # until the first one is closed
        assert tlsgate.HANDSHAKE_SECONDS - 0.5 < time.monotonic() - opened < 12
        time.sleep(0.5)
        assert answered(idle) == idle
        assert [sock.recv(10) for sock in idle] == [b''] * 200  # closed by the server
    finally:
        for sock in idle:
            sock.close()
    assert 'Traceback' not in log.read_text()


def test_at_most_64_handshakes_at_once_and_an_analyst_gets_through(tls_server, certs):
    from stf.db import tlsgate
    port, log = tls_server
    # Clients that send their hello and never go on: each takes a handshake.
    stalled = open_sockets(port, 200, client_hello(certs))
    try:
        time.sleep(2)
        assert len(answered(stalled)) == tlsgate.HANDSHAKES == 64
        # An analyst waits until their time is up, then connects.
        waited = alice_writes_and_reads(certs, port, 'after the stalled ones')
        assert waited < tlsgate.HANDSHAKE_SECONDS + 5
        assert answered(stalled) == stalled
        assert 'Traceback' not in log.read_text()
    finally:
        for sock in stalled:
            sock.close()


def test_a_zeo_whose_acceptor_differs_is_not_served_with_tls(certs, tmp_path, monkeypatch,
                                                             capsys):
    import ZEO.asyncio.server
    from stf.console import main
    from stf.db import tlsgate, zeohooks
    assert tlsgate.parts_missing() == []  # the installed ZEO has every part
    monkeypatch.delattr(ZEO.asyncio.server.Acceptor, '_close')  # as another version might
    cert, key, ca = tls_files(certs, 'server')
    assert main.main(['--db', str(tmp_path / 's.fs'), '--serve', f'127.0.0.1:{free_port()}',
                      '--tls-cert', cert, '--tls-key', key, '--tls-ca', ca]) == 2
    assert capsys.readouterr() == ('', (
        f'error: ZEO {zeohooks.zeo_version()} lacks what stf needs for sharing a database '
        '(bounded TLS handshakes; stf was checked with ZEO 6.2), so stf does not share with '
        'it: install ZEO 6.2 (make setup), or open a local file alone with --db PATH\n'))
