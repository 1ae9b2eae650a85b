"""The door of the TLS server: handshakes bounded in number and in time.

ZEO's acceptor serves TLS with loop.create_server(ssl=...), which begins a
handshake on every connection it accepts; a handshake holds about 310 KB
(OpenSSL's state and asyncio's 256 KB read buffer) until it ends, after 60
seconds for a connection that says nothing: 3,000 such connections took a
server from 36 MB to 930 MB (bench/bench_tls_idle.py --server zeo).

stf's acceptor accepts TCP connections itself and hands one to TLS
(loop.connect_accepted_socket) only once its client has spoken (sent its
hello), with at most HANDSHAKES handshakes at once. Every connection must
have finished its handshake HANDSHAKE_SECONDS after it connected; one that
said nothing by then, or still waits for a free handshake, is closed. A
connection that says nothing costs a socket and a timer.

The trade-off: a client that takes longer than HANDSHAKE_SECONDS (a very slow
link) is closed, and reconnects. Idle connections never keep an analyst out;
clients that send a hello and then stall take handshakes, but for
HANDSHAKE_SECONDS at most: an analyst connecting behind HANDSHAKES of them
waits until they are dropped, and while someone keeps opening them faster
than that, analysts may be refused and reconnect, as with any flood of
connections (a firewall is the answer to that).

This replaces ZEO's private Acceptor.__init__ (through StorageServer's
Acceptor argument): `parts_missing` checks that this ZEO still has the parts
used here, as stf.db.zeohooks does for the client.
"""
import asyncio
import errno
import inspect
import logging
import socket

log = logging.getLogger('stf.tlsgate')

HANDSHAKES = 64
HANDSHAKE_SECONDS = 10
# The kernel's queue of connections not yet accepted (asyncio's default is
# 100): a burst of connections beyond it waits a second for its next try.
BACKLOG = 1024
# Errors of accept() that mean the process or the system is out of sockets:
# stop accepting for a moment, as asyncio does.
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
PAUSE_SECONDS = 1.0


# What stf.db.server gives ZEO's StorageServer (as ZEO.runzeo.create_server does).
SERVER_ARGUMENTS = {'addr', 'storages', 'read_only', 'client_conflict_resolution', 'msgpack',
                    'invalidation_queue_size', 'invalidation_age', 'transaction_timeout',
                    'ssl', 'Acceptor'}


def parts_missing():
    """The parts of ZEO's server this acceptor relies on, as missing hooks."""
    try:
        import ZEO.asyncio.compat  # noqa: F401
        import ZEO.runzeo
        from ZEO.StorageServer import StorageServer
        from ZEO.asyncio.server import Acceptor
    except ImportError:
        return ['bounded TLS handshakes']
    fits = (
        list(inspect.signature(Acceptor.__init__).parameters)
        == ['self', 'storage_server', 'addr', 'ssl', 'msgpack']
        and all(hasattr(Acceptor, name) for name in ('factory', 'loop', 'close', '_close'))
        and SERVER_ARGUMENTS <= set(inspect.signature(StorageServer.__init__).parameters)
        and hasattr(ZEO.runzeo, 'create_server')
        and hasattr(ZEO.runzeo.ZEOServer, 'create_server'))
    return [] if fits else ['bounded TLS handshakes']


def acceptor_class():
    """ZEO's Acceptor, listening through a Gate when it serves TLS over TCP."""
    from ZEO.asyncio.compat import new_event_loop
    from ZEO.asyncio.server import Acceptor

    class GatedAcceptor(Acceptor):
        def __init__(self, storage_server, addr, ssl, msgpack):
            if ssl is None or not isinstance(addr, tuple):
                super().__init__(storage_server, addr, ssl, msgpack)
                return
            # ZEO's own __init__, with a Gate instead of loop.create_server.
            self.storage_server = storage_server
            self.addr = addr
            self.ssl_context = ssl
            self.msgpack = msgpack
            self.event_loop = loop = new_event_loop()
            self.server = Gate(loop, listening_sockets(*addr), ssl, self.factory)
            if addr[1] == 0:
                self.addr = self.server.sockets[0].getsockname()[:2]
            log.info('listening on %s with TLS: at most %d handshakes at once, %d s each',
                     self.addr, HANDSHAKES, HANDSHAKE_SECONDS)
    return GatedAcceptor


def listening_sockets(host, port, backlog=BACKLOG):
    """Non-blocking sockets listening on every address of host (all
    interfaces for '' or None), as loop.create_server binds them."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    sockets = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Gate:
    """Accepts connections on listening sockets and gives each a TLS
    handshake once its client has spoken (see the module's text).

    It has the part of asyncio.Server's face that ZEO's acceptor uses:
    sockets, close() and wait_closed(). Runs in the loop's thread only."""

    def __init__(self, loop, sockets, context, protocol_factory,
                 handshakes=HANDSHAKES, seconds=HANDSHAKE_SECONDS):
        self.loop = loop
        self.sockets = sockets
        self.context = context
        self.protocol_factory = protocol_factory
        self.handshakes = handshakes
        self.seconds = seconds
        self.waiting = {}  # connection -> the timer that closes it: no handshake yet
        self.spoken = {}  # of those, the ones whose client spoke, in order (values unused)
        self.handshaking = set()  # tasks
        self.closed = False
        for listener in sockets:
            loop.add_reader(listener.fileno(), self._accept, listener)

    def _accept(self, listener):
        for _ in range(BACKLOG):  # then the loop's other work gets a turn
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in OUT_OF_RESOURCES:
                    self._pause(listener, error)
                    return
                continue  # a connection reset before it was accepted
            connection.setblocking(False)
            self.waiting[connection] = self.loop.call_later(self.seconds, self._drop, connection)
            self.loop.add_reader(connection.fileno(), self._spoke, connection)

    def _pause(self, listener, error):
        log.warning('cannot accept connections for %s s (%s)', PAUSE_SECONDS, error)
        self.loop.remove_reader(listener.fileno())
        self.loop.call_later(PAUSE_SECONDS, self._resume, listener)

    def _resume(self, listener):
        if not self.closed:
            self.loop.add_reader(listener.fileno(), self._accept, listener)

    def _spoke(self, connection):
        try:
            data = connection.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        self.loop.remove_reader(connection.fileno())
        if not data:  # the client left
            self._forget(connection).close()
            return
        self.spoken[connection] = None
        self._start_handshakes()

    def _start_handshakes(self):
        while self.spoken and len(self.handshaking) < self.handshakes:
            connection = next(iter(self.spoken))
            del self.spoken[connection]
            # What is left of its time: waiting for a handshake counts.
            seconds = self.waiting[connection].when() - self.loop.time()
            self._forget(connection)
            if seconds <= 0.01:
                connection.close()
                continue
            task = self.loop.create_task(self._handshake(connection, seconds))
            self.handshaking.add(task)
            task.add_done_callback(self._handshake_done)

    async def _handshake(self, connection, seconds):
        try:
            await self.loop.connect_accepted_socket(
                self.protocol_factory, connection, ssl=self.context,
                ssl_handshake_timeout=seconds)
        except OSError as error:  # refused, too slow, or gone: asyncio closed it
            log.debug('TLS handshake failed: %s', error)
        except Exception:
            log.exception('TLS handshake failed')

    def _handshake_done(self, task):
        self.handshaking.discard(task)
        if not self.closed:
            self._start_handshakes()

    def _drop(self, connection):
        """Its time is up before its handshake began."""
        if connection in self.spoken:
            del self.spoken[connection]
        else:
            self.loop.remove_reader(connection.fileno())
        self.waiting.pop(connection)
        connection.close()

    def _forget(self, connection):
        self.waiting.pop(connection).cancel()
        return connection

    # -- asyncio.Server's face
    def close(self):
        if self.closed:
            return
        self.closed = True
        for listener in self.sockets:
            self.loop.remove_reader(listener.fileno())
            listener.close()
        for connection, timer in list(self.waiting.items()):
            timer.cancel()
            if connection not in self.spoken:
                self.loop.remove_reader(connection.fileno())
            connection.close()
        self.waiting.clear()
        self.spoken.clear()
        for task in self.handshaking:
            task.cancel()

    async def wait_closed(self):
        if self.handshaking:
            await asyncio.wait(list(self.handshaking))
