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

import zc.lockfile

from stf.core.errors import UserError
from stf.db import zeohooks
from stf.db.errors import ClientDisconnected
from stf.db.holders import held_message, holder_kind, lock_holder
from stf.db.server import accepts_connections
from stf.db.storages import database_of

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
        from stf.db.storages import FileStorage  # usable again after a full disk
        storage = FileStorage(str(path))  # LockError when another stf serves it
        if os.path.exists(address):
            os.unlink(address)  # left by a server that died; we hold the lock now
        self.server = StorageServer(address, {'1': storage})
        missing = zeohooks.server_parts_missing(self.server)
        if missing:
            self.server.close()
            raise zeohooks.refusal(missing)
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
    except zc.lockfile.LockError:
        return None


class SharedFile:
    """The local database: the ZODB.DB of our client, and our server if we
    are the one serving. take_over() serves the file when the server left."""

    def __init__(self, path, cache_size=None):
        zeohooks.check_classes()  # every stf on the file is a ZEO client
        self.cache_size = cache_size
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
            listening = self.server is not None or accepts_connections(self.address)
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
        except ClientDisconnected:
            return None
        try:
            zeohooks.install(storage, CONNECT_SECONDS)
        except zeohooks.HooksMissing:
            self.stop()
            raise
        return database_of(storage, self.cache_size)

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
