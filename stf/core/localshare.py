"""Several stf consoles on one local database file.

A FileStorage can be open in one process only (its lock). So the first stf
to open the database serves it over a ZEO unix socket beside the file, and
every stf on it, the first included, is a ZEO client of that socket: they all
see each other's commits. When the serving stf leaves, the next command of
another one finds the server gone, takes the file over and serves it in turn;
its client reconnects by itself.
"""
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from stf.core import database
from stf.core.errors import UserError

# A unix socket path must fit in sun_path (108 bytes on Linux).
SOCKET_PATH_LIMIT = 100
CONNECT_SECONDS = 5


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

    def stop(self):
        self.server.close()
        self.thread.join(5)


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
        import ZEO.ClientStorage
        try:
            storage = ZEO.ClientStorage.ClientStorage(
                self.address, wait_timeout=CONNECT_SECONDS, server_sync=True)
        except Exception:
            self.stop()
            raise UserError(f'the database {self.path} is locked by a program that does not '
                            f'serve it at {self.address}; close that program, or open '
                            'another file with --db') from None
        return database.database_of(storage)

    def take_over(self):
        """Serve the file if nobody does; True if this process serves it now."""
        if self.server is None:
            self.server = try_to_serve(self.path, self.address)
        if self.server is None:
            return False
        deadline = time.monotonic() + CONNECT_SECONDS
        while not self.db.storage.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None
