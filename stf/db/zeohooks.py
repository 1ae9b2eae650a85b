"""The private parts of ZEO that stf changes, all in one place.

ZEO's client lacks four things stf needs, so stf replaces four of its private
methods on each client it opens:

- new object ids after reconnection: the client fetches new object ids from
  its server in batches. A server restarted from its file (after a crash, or
  another stf serving the local file) hands out again the ids it had given
  but that were never stored: a client keeping its old batch would give a
  second object the id of one another analyst stored meanwhile, overwriting it.
- bounded waits: ZEO waits for each answer without a time limit; a request
  sent as the server dies, or to a server that stopped without closing its
  connections, would freeze the console.
- paced reconnections: ZEO reconnects at once when a connection closes during
  its handshake; a server refusing our certificate would get hundreds of
  connections a second.
- invalidation notes: the server tells each client of the others' commits;
  the console notes them to refresh its completion values.

These are private methods, so another ZEO may lack them: `check_classes` looks
for them before anything is shared, and `install` confirms each hook on the
client. A hook silently missing would mean duplicate object ids, so stf then
refuses to share (ZEO client, --serve, local sharing) in one line naming the
ZEO version; a local file opened with --db needs none of this.
"""
import concurrent.futures
import threading
import time
from importlib import metadata

from stf.core.errors import UserError
from stf.db.errors import ClientDisconnected

# The ZEO versions these hooks were checked with (dependencies.txt pins them).
CHECKED_WITH = '6.2'

# A request unanswered this long while connected makes stf check that the
# server answers at all: a stopped server process, or a network that drops
# packets, keeps the connection up and never answers.
SILENCE_SECONDS = 10
# How long the server may fail those checks before the client hangs up. A
# live server answers them unless one request blocks it this long (ZEO's
# server replays a transaction's stores inside its vote: about 0.5 s per
# 50 MB here, so a minute is several gigabytes).
UNANSWERED_SECONDS = 60
# Least time between two reconnection rounds of a ZEO client.
RECONNECT_PAUSE_SECONDS = 1.0


class ServerSilent(ClientDisconnected):
    """stf hung up on a server that accepted requests but answered none."""


class HooksMissing(UserError):
    """This ZEO lacks a private part stf changes: stf does not share with it."""


def zeo_version():
    try:
        return metadata.version('ZEO')
    except metadata.PackageNotFoundError:
        return 'unknown'


def refusal(missing):
    return HooksMissing(
        f'ZEO {zeo_version()} lacks what stf needs for sharing a database '
        f"({', '.join(missing)}; stf was checked with ZEO {CHECKED_WITH}), so stf does not "
        f'share with it: install ZEO {CHECKED_WITH} (make setup), or open a local file alone '
        'with --db PATH')


def _class_parts():
    """(hook, holds) for each private part, looked up on ZEO's classes."""
    try:
        import ZEO.asyncio.client as client_module
        import ZEO.ClientStorage
    except ImportError:  # a ZEO laid out otherwise
        return [(hook, False) for hook in HOOKS]
    storage = ZEO.ClientStorage.ClientStorage
    io = getattr(client_module, 'ClientIO', None)
    runner = getattr(client_module, 'ClientRunner', None)
    return [
        ('new object ids after reconnection', hasattr(storage, 'notify_connected')),
        ('bounded waits', hasattr(runner, 'setup_delegation')
         and hasattr(io, 'disconnected')),
        ('paced reconnections', hasattr(io, 'try_connecting')),
        ('invalidation notes', hasattr(storage, 'invalidateTransaction')),
    ]


HOOKS = ('new object ids after reconnection', 'bounded waits', 'paced reconnections',
         'invalidation notes')


def check_classes():
    """Before sharing: raise HooksMissing when ZEO's classes lack a part."""
    missing = [hook for hook, holds in _class_parts() if not holds]
    if missing:
        raise refusal(missing)


def install(storage, seconds):
    """Install the client hooks on a ZEO ClientStorage; HooksMissing (the
    storage closed) when one could not be."""
    installed = {
        'new object ids after reconnection': forget_fetched_ids(storage),
        'bounded waits': bound_waits(storage, seconds),
        'paced reconnections': pace_reconnections(getattr(storage, '_server', None)),
    }
    missing = [hook for hook, done in installed.items() if not done]
    if missing:
        storage.close()
        raise refusal(missing)


def forget_fetched_ids(storage):
    notify_connected = getattr(storage, 'notify_connected', None)
    if notify_connected is None or not hasattr(storage, '_oids'):
        return False

    def forget_and_notify(conn, info):
        storage._oids = []
        return notify_connected(conn, info)
    storage.notify_connected = forget_and_notify
    return True


def watch_commits(storage, noted):
    """Call noted() whenever the server tells of another client's commit (in
    the client's network thread). False when this ZEO cannot be watched."""
    invalidate = getattr(storage, 'invalidateTransaction', None)
    if invalidate is None or not hasattr(storage, '_server'):
        return False

    def note_commit(tid, oids):
        noted()
        return invalidate(tid, oids)
    storage.invalidateTransaction = note_commit
    return True


def is_client(storage):
    try:
        import ZEO.ClientStorage
    except ImportError:
        return False
    return isinstance(storage, ZEO.ClientStorage.ClientStorage)


def pace_reconnections(runner, pause=RECONNECT_PAUSE_SECONDS):
    """One reconnection round per `pause` at most."""
    client = getattr(runner, 'client', None)
    try_connecting = getattr(client, 'try_connecting', None)
    if try_connecting is None or not hasattr(client, 'loop'):
        return False
    state = {'last': 0.0, 'scheduled': False}

    def paced():  # runs in the client's network thread
        if state['scheduled']:
            return
        wait = state['last'] + pause - time.monotonic()
        if wait > 0:
            state['scheduled'] = True
            client.loop.call_later(wait, scheduled)
            return
        state['last'] = time.monotonic()
        try_connecting()

    def scheduled():
        state['scheduled'] = False
        paced()
    client.try_connecting = paced
    return True


def bound_waits(storage, seconds):
    """Make a ZEO client give up on a request once its server has been gone
    for `seconds`, or does not answer a new connection while the request
    waits. Requests still run as long as they need while the server answers."""
    runner = getattr(storage, '_server', None)
    io_call = getattr(runner, 'io_call', None)
    # The addresses tell whether the server still answers a new connection.
    if io_call is None or not getattr(getattr(runner, 'client', None), 'addrs', None):
        return False

    def bounded_io_call(coroutine, wait=True):
        future = io_call(coroutine, wait=False)
        if not wait:
            return future
        return _bounded_result(storage, runner, future, seconds)

    runner.io_call = bounded_io_call
    return True


def _bounded_result(storage, runner, future, seconds):
    gone_since = silent_since = None
    next_check = time.monotonic() + SILENCE_SECONDS
    while True:
        try:
            return future.result(timeout=0.25)
        except concurrent.futures.TimeoutError:
            now = time.monotonic()
            if not storage.is_connected():
                gone_since = gone_since or now
                if now - gone_since > seconds:
                    future.cancel()
                    raise ClientDisconnected('the server went away during a request') from None
                continue
            gone_since = None
            if now < next_check:
                continue
            silent_since = None if server_answers(runner) else silent_since or now
            if silent_since and now - silent_since > UNANSWERED_SECONDS:
                hang_up(runner)  # fails the request; ZEO reconnects later
                return silent_result(future)
            next_check = now + SILENCE_SECONDS / 2


def silent_result(future):
    """The outcome of a request whose connection stf dropped: its error, as
    ServerSilent (no other server took over: no re-run)."""
    try:
        return future.result(timeout=5)
    except ClientDisconnected as error:
        raise ServerSilent(f'the server does not answer ({error})') from error


def server_answers(runner):
    """True when the client's server completes the start of a new connection."""
    from stf.db import zeotls
    client = getattr(runner, 'client', None)
    addresses = getattr(client, 'addrs', None)
    if not addresses:
        return True  # nothing to check against: keep waiting
    return any(zeotls.answers(address, getattr(client, 'ssl', None),
                              getattr(client, 'ssl_server_hostname', None))
               for address in addresses)


def hang_up(runner):
    """Drop the client's connection as if the server had: the pending
    requests fail, and the client reconnects once the server answers.
    Returns once done, so that the caller sees the client disconnected."""
    done = threading.Event()

    def drop():
        try:
            client = runner.client
            protocol = getattr(client, 'protocol', None)
            if protocol is not None:
                # ZEO's own order for a lost connection: the pending requests
                # fail (their error handlers still see the protocol), then the
                # client counts as disconnected and reconnects.
                protocol.close('the server does not answer')
                client.disconnected(protocol)
        finally:
            done.set()
    runner.loop.call_soon_threadsafe(drop)
    done.wait(5)


def server_parts_missing(server):
    """The parts of a ZEO StorageServer that the local hand-over reads (its
    acceptor's loop, its clients and their transactions), as hooks missing."""
    acceptor = getattr(server, 'acceptor', None)
    parts = (hasattr(acceptor, 'event_loop') and hasattr(acceptor, 'server')
             and isinstance(getattr(server, 'zeo_storages_by_storage_id', None), dict))
    return [] if parts else ['hand-over of a local file']


def server_behind(storage):
    """True when the ZEO server came back with a database older than what
    this client has seen (ZEO's client then refuses to reconnect)."""
    runner = getattr(storage, '_server', None)
    result = getattr(getattr(runner, 'client', None), 'verify_result', None)
    return result == 'Cache newer than server'


def uses_tls(storage):
    # ZEO keeps the client's TLS context on its connection object.
    runner = getattr(storage, '_server', None)
    return getattr(getattr(runner, 'client', None), 'ssl', None) is not None


