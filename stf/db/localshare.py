"""Several stf consoles on one local database file.

A FileStorage can be open in one process only (its lock). So the first stf
to open the database serves it over a ZEO unix socket beside the file, and
every stf on it, the first included, is a ZEO client of that socket: they all
see each other's commits. When the serving stf leaves, the next command of
another one finds the server gone, takes the file over and serves it in turn
(the others reconnect to it), and runs the command (nothing had changed).
"""
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from stf.db import database
from stf.core.errors import UserError

# A unix socket path must fit in sun_path (108 bytes on Linux).
SOCKET_PATH_LIMIT = 100
CONNECT_SECONDS = 10
# How long an stf that has locked the file may take to listen on its socket:
# when the lock tells which program holds it, and when it does not.
SHARED_START_SECONDS = 30
STARTING_SECONDS = 2


def socket_path(path):
    near = f'{path}.zeo.sock'
    if len(near) <= SOCKET_PATH_LIMIT:
        return near
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f'stf-{digest}.zeo.sock')


class LocalServer:
    """A ZEO server thread for one FileStorage, on a unix socket."""

    def __init__(self, path, address):
        from ZEO.StorageServer import StorageServer
        from ZODB.FileStorage import FileStorage
        storage = FileStorage(str(path))  # LockError when another stf serves it
        if os.path.exists(address):
            os.unlink(address)  # left by a server that died; we hold the lock now
        self.server = StorageServer(address, {'1': storage})
        self.thread = threading.Thread(target=self.server.loop, daemon=True,
                                       name='stf-local-zeo')
        self.thread.start()

    def stop(self, drain_seconds=CONNECT_SECONDS):
        # Let the other consoles finish the transactions they are saving, then
        # hang up on them before the file is closed: ZEO's close() closes the
        # file while their last requests may still be on the way, which they
        # would get as errors instead of a lost connection.
        self._hang_up(time.monotonic() + drain_seconds)
        deadline = time.monotonic() + 1
        while self.clients() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.server.close()
        self.thread.join(5)

    def _hang_up(self, deadline):
        """Once no transaction is being saved, stop listening and close every
        connection, those still in their handshake included (ZEO's close()
        misses those, and a console that had just reconnected would wait on a
        socket nobody reads). It runs in the server's loop, between requests,
        so no transaction can begin between the check and the hang-up."""
        acceptor = self.server.acceptor
        loop = acceptor.event_loop
        done = threading.Event()

        def close_all():
            if self.saving() and time.monotonic() < deadline:
                loop.call_later(0.01, close_all)
                return
            try:
                acceptor.server.close()
                # The loop's own table of open transports (asyncio keeps one
                # per selector loop); the listener is closed already.
                for transport in list(getattr(loop, '_transports', {}).values()):
                    transport.close()
            finally:
                done.set()
        try:
            loop.call_soon_threadsafe(close_all)
        except RuntimeError:  # the loop has stopped already
            return
        done.wait(max(0, deadline - time.monotonic()) + 1)

    def clients(self):
        return list(self.server.zeo_storages_by_storage_id.get('1', []))

    def saving(self):
        return any(getattr(client, 'transaction', None) is not None
                   for client in self.clients())


def try_to_serve(path, address):
    """A LocalServer, or None when another stf serves the file already."""
    try:
        return LocalServer(path, address)
    except Exception as error:
        if type(error).__name__ == 'LockError':
            return None
        raise


class SharedFile:
    """The local database: the ZODB.DB of our client, and our server if we
    are the one serving. take_over() serves the file when the server left."""

    def __init__(self, path):
        self.path = Path(path).expanduser().resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.address = socket_path(self.path)
        self.server = try_to_serve(self.path, self.address)
        self.db = self.connect()

    def connect(self):
        """Our client of the file's server. Several stf starting at once race
        for the file: whoever finds it locked connects, and serves it in turn
        if its server has already left again."""
        started = time.monotonic()
        while True:
            listening = self.server is not None or database.accepts_connections(self.address)
            if listening:
                db = self._client()
                if db is not None:
                    return db
            if self.server is None:
                self.server = try_to_serve(self.path, self.address)
            if self.server is None and not listening:
                holder = lock_holder(self.path)
                kind = holder_kind(holder)
                if kind not in (None, 'shared'):
                    self.stop()
                    raise UserError(held_message(self.path, holder)) from None
                # An stf that has locked the file serves it once the file is
                # open (a large file's index may take a while to load).
                patience = STARTING_SECONDS if kind is None else SHARED_START_SECONDS
            else:
                patience = CONNECT_SECONDS
            if time.monotonic() - started > patience:
                self.stop()
                raise UserError(held_message(self.path, lock_holder(self.path),
                                             waited=patience)) from None
            if not listening:
                time.sleep(0.05)

    def _client(self):
        """A database of a new client of our socket, or None if it did not connect."""
        import ZEO.ClientStorage
        try:
            storage = ZEO.ClientStorage.ClientStorage(
                self.address, wait_timeout=1, server_sync=True)
        except Exception as error:
            if type(error).__name__ != 'ClientDisconnected':
                raise
            return None
        database.harden_client(storage, CONNECT_SECONDS)
        return database.database_of(storage)

    def take_over(self):
        """After the serving stf left: serve the file unless another stf does
        by now. True once our client is connected again."""
        deadline = time.monotonic() + CONNECT_SECONDS
        while time.monotonic() < deadline:
            if self.db.storage.is_connected():
                return True
            if self.server is None:
                # The lock is free once the leaving stf has closed the file.
                self.server = try_to_serve(self.path, self.address)
            time.sleep(0.05)
        return self.db.storage.is_connected()

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None


def lock_holder(path):
    """(pid, arguments) of the process that holds the FileStorage lock of path
    (zc.lockfile writes its pid into the lock file), or None when that cannot
    be told (no /proc, the process gone)."""
    try:
        pid = int(Path(f'{path}.lock').read_text().split()[0])
        arguments = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
    except (OSError, ValueError, IndexError):
        return None
    return pid, [argument.decode(errors='replace') for argument in arguments if argument]


def holder_kind(holder):
    """'shared' (an stf sharing the file here), 'serve' (stf.py --serve), 'db'
    (stf.py --db), 'runzeo', 'other', or None when unknown."""
    if holder is None:
        return None
    _, arguments = holder
    programs = [os.path.basename(argument) for argument in arguments[:3]]
    if 'stf.py' in programs or 'stf' in programs:  # the script, or a link to it
        return 'serve' if '--serve' in arguments else 'db' if '--db' in arguments else 'shared'
    if any('runzeo' in program for program in programs):
        return 'runzeo'
    return 'other'


def served_address(arguments):
    """The address of `stf.py --serve [ADDRESS]` (its default when not given)."""
    following = arguments[arguments.index('--serve') + 1:]
    if following and not following[0].startswith('-'):
        return following[0]
    return '127.0.0.1:8100'


def held_message(path, holder, waited=None):
    """Why the file at path cannot be opened: who holds it and what to do
    (waited: the seconds an stf sharing it was given to start serving)."""
    kind = holder_kind(holder)
    if kind == 'shared' and waited is not None:
        return (f'the database {path} is open in another stf (process {holder[0]}) that has '
                f'not shared it within {waited} s (stopped, or still opening a large file?); '
                'try again, or look at that process')
    if kind == 'shared':
        return (f'the database {path} is open in stf (process {holder[0]}), which shares it '
                'with the stf on this machine: start stf without --db to work beside it, or '
                'close that stf to serve the file')
    if kind is None:
        return (f'the database {path} is open in a program that does not share it with the '
                "stf on this machine: a server ('stf.py --serve' or runzeo: connect to it "
                'with --zeo and the address it listens on, 127.0.0.1:8100 by default), or an '
                'stf started with --db (close it); or open another file with --db')
    pid, arguments = holder
    if kind == 'serve':
        address = served_address(arguments)
        return (f'the database {path} is served by stf.py --serve {address} (process {pid}): '
                f'connect to it with --zeo {address}')
    if kind == 'runzeo':
        return (f'the database {path} is served by runzeo (process {pid}): connect to it '
                'with --zeo and the address in its configuration')
    if kind == 'db':
        return (f'the database {path} is open in an stf started with --db (process {pid}), '
                'which does not share it: close that stf, or open another file with --db')
    names = [os.path.basename(argument) for argument in arguments]
    program = next((name for name in names if not name.startswith('python')), names[0])
    return (f'the database {path} is open in {program} (process {pid}): close it, or open '
            'another file with --db')
