"""Serving a FileStorage to other analysts with ZEO's own server (runzeo),
reading only the classes stf stores (stf.db.classes).

Nothing here writes to the screen: `prepare` checks everything that can be
told in one line before serving (the file held by another program, the
address taken, TLS files) and returns a Server that says what it will do;
the console prints that and runs it.
"""
import logging
import os
import socket
from pathlib import Path

import zc.lockfile

from stf.core.errors import UserError
from stf.db import zeohooks
from stf.db.holders import held_message, lock_holder
from stf.db.storages import zeo_address


class Server:
    """A ZEO server ready to run. Attributes: path, listen (the address as
    text), tls (bool), announcement (one line), warning (one line or None)."""

    def __init__(self, path, listen, options, tls, warning):
        self.path = path
        self.listen = listen
        self.tls = tls
        self.warning = warning
        self._options = options
        self.announcement = (f'serving {path} on {listen}{" with TLS" if tls else ""} '
                             '(Ctrl-C stops)')

    def run(self):
        """Serve until stopped (Ctrl-C or a signal)."""
        _one_line_log_server()(self._options).main()


def prepare(path, address, tls=None):
    """A Server for the FileStorage at path on address (HOST:PORT or a unix
    socket path). tls: (certificate, key, CA) PEM files: only clients with a
    certificate signed by the CA are accepted (docs/zeo-tls.md)."""
    import ZEO.runzeo
    from stf.db import classes, zeotls
    zeohooks.check_classes()  # its clients are stf's: they need the hooks
    # Conflicts are resolved here: records name only classes stf stores, and
    # requests no builtins (ZEO's own server lets a client name eval).
    classes.install()
    context = None
    if tls:
        if '/' in address:
            zeotls.tcp_only(address)
        context = zeotls.server_context(*tls)
        from stf.db import tlsgate
        missing = tlsgate.parts_missing()
        if missing:
            raise zeohooks.refusal(missing)
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise UserError(f'{path} is a folder; give the path of a database file, '
                        f'e.g. {path / "stf.db"}')
    path.parent.mkdir(parents=True, exist_ok=True)
    host, port = zeo_address(address) if '/' not in address else (address, None)
    listen = address if port is None else f'{host}:{port}'
    check_can_serve(path, address if port is None else (host, port), listen)
    options = ZEO.runzeo.ZEOOptions()
    options.realize(['-a', listen, '-f', str(path)])
    # What runzeo's <ssl> section gives it (ZEO.zconfig.server_ssl), from our checked files.
    options.ssl = context
    warning = None
    if port is not None and not tls and not loopback_only(host):
        warning = (f'{listen} is reachable from other machines and this server has no TLS: '
                   'anyone who reaches it can read and change the database; serve other '
                   'machines with TLS (docs/zeo-tls.md)')
    return Server(path, listen, options, bool(tls), warning)


def loopback_only(host):
    """True when every address host stands for is a loopback address."""
    import ipaddress
    try:
        infos = socket.getaddrinfo(host or None, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return all(ipaddress.ip_address(info[4][0].split('%')[0]).is_loopback for info in infos)


def _one_line_log_server():
    import ZEO.runzeo

    class OneLineLogServer(ZEO.runzeo.ZEOServer):
        """runzeo, logging one line per record (its default puts '------'
        between records), and stopping cleanly on SIGTERM and Ctrl-C."""

        def open_storages(self):
            # stf's FileStorage: a write the disk refused leaves the file whole
            # (ZODB's own keeps the refused bytes and writes them at close).
            from stf.db.storages import FileStorage
            self.storages = {}
            for opener in self.options.storages:
                ZEO.runzeo.log(f'opening storage {opener.name!r} using stf FileStorage')
                self.storages[opener.name] = FileStorage(opener.config.path)

        def create_server(self):
            self.server = storage_server(self.storages, self.options)

        def close_server(self):
            acceptor = getattr(self.server, 'acceptor', None)
            super().close_server()
            close_event_loop(acceptor)

        def setup_default_logging(self):
            if self.options.config_logger is not None:
                return
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(
                '%(asctime)s %(levelname)s %(name)s %(message)s', '%Y-%m-%dT%H:%M:%S'))
            root = logging.getLogger()
            root.setLevel(logging.INFO)
            root.addHandler(handler)
    return OneLineLogServer


def storage_server(storages, options):
    """ZEO.runzeo.create_server's StorageServer; with TLS, its acceptor
    bounds the handshakes (stf.db.tlsgate, checked by prepare)."""
    from ZEO.StorageServer import StorageServer
    acceptor = {}
    if options.ssl is not None:
        from stf.db import tlsgate
        acceptor['Acceptor'] = tlsgate.acceptor_class()
    msgpack = options.msgpack
    return StorageServer(
        options.address, storages, read_only=options.read_only,
        client_conflict_resolution=options.client_conflict_resolution,
        msgpack=msgpack if isinstance(msgpack, bool) else os.environ.get('ZEO_MSGPACK'),
        invalidation_queue_size=options.invalidation_queue_size,
        invalidation_age=options.invalidation_age,
        transaction_timeout=options.transaction_timeout, ssl=options.ssl, **acceptor)


def close_event_loop(acceptor):
    """Finish closing a ZEO server's acceptor and close its event loop.

    runzeo stops on SIGTERM and SIGINT by raising SystemExit from the signal
    handler, out of the acceptor's event loop: the closing ZEO then schedules
    (the listening socket, the clients' connections) never runs, and the
    loop is left open. Python closed it only when collecting it, sometimes
    after its own sockets ("Exception ignored in BaseEventLoop.__del__ ...
    Invalid file descriptor"). Here that closing runs, then the loop closes.
    """
    loop = getattr(acceptor, 'event_loop', None)
    if loop is None or loop.is_closed() or loop.is_running():
        return
    loop.run_forever()  # until the acceptor's _close stops it (a second at most)
    loop.close()


def check_can_serve(path, address, listen):
    """One clear line, before saying "serving", when the file is held by
    another program or the address is taken (runzeo would show a traceback)."""
    if isinstance(address, str):
        if accepts_connections(address):
            raise UserError(f'a server already listens on {listen}; stop it or choose another '
                            'socket with --serve PATH')
    else:
        _check_can_listen(address, listen)
    try:
        zc.lockfile.LockFile(f'{path}.lock').close()
    except zc.lockfile.LockError:
        raise UserError(held_message(path, lock_holder(path))) from None


def _check_can_listen(address, listen):
    try:
        family = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise UserError(f'cannot listen on {listen} ({error.strerror or error}); choose another '
                        'address with --serve HOST:PORT') from None


def accepts_connections(socket_path):
    """True when a server listens on the unix socket at socket_path (whether
    or not it has announced itself yet)."""
    from stf.db import zeotls
    try:
        zeotls.greeting(socket_path, 1)
    except OSError:
        return False
    return True
