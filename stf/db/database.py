"""The object database: opening it, one transaction per command, upkeep.

The database is described by a ZConfig file (a FileStorage by default, a ZEO
client as the alternative) or given as a FileStorage path with --db. Nothing
here assumes a local file: size and path are reported only when the storage
has them.
"""
import concurrent.futures
import logging
import os
import random
import re
import socket
import sys
import threading
import time
from pathlib import Path

import transaction
import ZODB
import ZODB.config
import ZODB.FileStorage
from ZODB.POSException import ConflictError

from stf.core.errors import UserError
from stf.models import store

# A conflict means another analyst committed the same objects first; the
# command runs again on fresh data, after a short random pause (doubling at
# each attempt) so that busy writers do not collide again in step, and new ids come
# from this session's lane (stf.models.store).
RETRIES = 10

# How long a command waits for a server that is away before it says so.
SERVER_GRACE_SECONDS = 2
# How many times one command follows the local file to a new server.
TAKE_OVERS = 8

# Objects a connection keeps in memory (ZODB's default is 400): labels,
# notes and model buckets read by one command stay for the next.
CACHE_OBJECTS = 20000


def database_of(storage):
    """A ZODB.DB on storage. Analysts starting at once on a new database all
    create its root: the losers of that race try again."""
    for attempt in range(RETRIES):
        try:
            return ZODB.DB(storage, cache_size=CACHE_OBJECTS)
        except ConflictError:
            time.sleep(random.uniform(0, 0.05))
    return ZODB.DB(storage, cache_size=CACHE_OBJECTS)


def open_file_storage(path):
    """Open (creating if needed) the FileStorage at path."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise UserError(f'{path} is a folder; give the path of a database file, '
                        f'e.g. {path / "stf.db"}')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = ZODB.FileStorage.FileStorage(str(path))
    except PermissionError as error:
        raise UserError(f'cannot open database {path}: permission denied '
                        f'({error.filename}); choose another path with --db') from None
    except Exception as error:
        if type(error).__name__ == 'LockError':
            from stf.db.localshare import held_message, lock_holder
            raise UserError(held_message(path, lock_holder(path))) from None
        raise
    return database_of(storage)


def open_config(conf_path, root_dir):
    """Open the database a ZConfig file describes.

    $ROOT in the file stands for stf's folder so that the shipped
    configuration works from any working directory. A ZEO client gets the
    same checks and diagnosis as --zeo: its TLS files are checked before
    connecting, a refused handshake is explained, and its requests give up
    when the server has been away for its wait-timeout.
    """
    conf_path = Path(conf_path)
    try:
        text = conf_path.read_text()
    except OSError as error:
        raise UserError(f'cannot read database configuration {conf_path}: '
                        f'{error.strerror}; fix zodb_conf in stf.conf') from None
    client = zeo_client_settings(text.replace('$ROOT', str(root_dir)))
    tls = client and client_tls(client, conf_path)
    server = client and single_server(client)
    if server:
        from stf.db import zeotls
        refused = zeotls.refusal(*server, tls, conf_path)
        if refused:
            raise UserError(refused)
    text = f'%define ROOT {root_dir}\n' + text
    _make_storage_folder(text, root_dir)
    try:
        db = ZODB.config.databaseFromString(text)
    except Exception as error:
        if type(error).__name__ == 'LockError':
            raise UserError(f'the database in {conf_path} is open in another program: an stf '
                            "(close it), or a server ('stf.py --serve' or runzeo: connect to it "
                            'with --zeo and the address it listens on); or use --db '
                            'PATH') from None
        if server and type(error).__name__ == 'ClientDisconnected':
            from stf.db import zeotls
            raise UserError(zeotls.unreachable(*server, error, tls, conf_path)) from None
        raise UserError(f'cannot open the database of {conf_path}: '
                        f'{type(error).__name__}: {error}') from None
    if client:
        harden_client(db.storage, float(client.get('wait-timeout', 30)))
    return db


def zeo_client_settings(text):
    """The settings of the first <clientstorage> section (its <ssl> section as
    'ssl'), or None when the file describes no ZEO client."""
    text = re.sub(r'(?m)^\s*#.*$', '', text)  # ZConfig comments: whole lines
    match = re.search(r'<clientstorage\b[^>]*>(.*?)</clientstorage>', text, re.S | re.I)
    if not match:
        return None
    body = match.group(1)
    ssl_section = re.search(r'<ssl\b[^>]*>(.*?)</ssl>', body, re.S | re.I)
    settings = _section_values(body[:ssl_section.start()] + body[ssl_section.end():]
                               if ssl_section else body)
    settings['ssl'] = _section_values(ssl_section.group(1)) if ssl_section else None
    return settings


def _section_values(body):
    values = {}
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith(('#', '<', '%')):
            key, _, value = line.partition(' ')
            key, value = key.lower(), value.strip()
            # A key given on several lines (several servers) keeps them all.
            values[key] = f'{values[key]} {value}' if key in values else value
    return values


def single_server(client):
    """(text, address) of a client file's one server, or None when it names
    several (ZEO tries each) or one in a form only ZConfig reads ('8100')."""
    servers = client.get('server', '').split()
    if len(servers) != 1:
        return None
    try:
        return servers[0], zeo_address(servers[0])
    except UserError:
        return None


def client_tls(client, conf_path):
    """The checked (certificate, key, CA) of a client file's <ssl> section, or None."""
    from stf.db import zeotls
    ssl_settings = client.get('ssl')
    if ssl_settings is None:
        return None
    options = zeotls.config_options(conf_path)
    files = [ssl_settings.get(name) for name in ('certificate', 'key', 'authenticate')]
    for (role, _), path in zip(options.items(), files):
        if not path:
            raise UserError(f'{conf_path}: the <ssl> section gives no {role}; add '
                            f'{options[role].split(" in ")[0]} (see docs/zeo-tls.md)')
    for (role, _), path in zip(options.items(), files):
        _check_config_path(path, options[role])
    tls = zeotls.TLSFiles(*files)
    zeotls.check_files(*tls, options=options)
    return tls


def _check_config_path(path, setting):
    """ZConfig takes paths as written: no '~', and relative to the folder stf
    was started from."""
    if path.startswith('~'):
        raise UserError(f"{setting} starts with '~', which is not expanded there; write the "
                        f'full path ({os.path.expanduser(path)})')
    if not os.path.isabs(path) and not os.path.exists(path):
        raise UserError(f'{setting}: {path} is not in {os.getcwd()}, the folder relative paths '
                        'start from; write the full path')


def _make_storage_folder(config_text, root_dir):
    """Create the folder of each configured FileStorage path (first run).

    ZConfig refuses a path whose folder does not exist, so the folder is
    found in the text itself.
    """
    for match in FILESTORAGE_PATH.finditer(config_text):
        path = match.group(1).strip().replace('$ROOT', str(root_dir))
        try:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported properly when the database is opened


FILESTORAGE_PATH = re.compile(r'<filestorage>.*?^\s*path\s+(\S.*?)\s*$', re.S | re.M)


def zeo_address(text):
    """'HOST:PORT' -> (host, port); anything with a '/' is a unix socket path."""
    if '/' in text:
        return text
    host, _, port = text.rpartition(':')
    if not port.isdigit() or not host or not 0 < int(port) < 65536:
        raise UserError(f"'{text}' is not a ZEO server address; write HOST:PORT "
                        '(e.g. 127.0.0.1:8100) or the path of a unix socket')
    return host.strip('[]'), int(port)


def open_zeo(text, wait_timeout=10, tls=None):
    """A client of the ZEO server at text; sees others' commits at every command.

    tls: (certificate, key, CA) PEM files to connect with TLS (docs/zeo-tls.md);
    they are checked before connecting.
    """
    import ZEO.ClientStorage
    from stf.db import zeotls
    address = zeo_address(text)
    options = {}
    if tls:
        tls = zeotls.TLSFiles(*tls)
        zeotls.tcp_only(address)
        options = dict(ssl=zeotls.client_context(*tls), ssl_server_hostname=address[0])
    refused = zeotls.refusal(text, address, tls)
    if refused:
        raise UserError(refused)
    try:
        storage = ZEO.ClientStorage.ClientStorage(address, wait_timeout=wait_timeout,
                                                  server_sync=True, **options)
    except Exception as error:
        # A refused TLS handshake shows only as a timeout: the message says why.
        raise UserError(zeotls.unreachable(text, address, error, tls)) from None
    harden_client(storage, wait_timeout)
    return database_of(storage)


def harden_client(storage, seconds):
    """What stf adds to a ZEO ClientStorage: bounded waits (below), and new
    object ids fetched anew after every reconnection.

    The client fetches new object ids from its server in batches. A server
    restarted from its file (after a crash, or another stf serving the local
    file) hands out again the ids it had given but that were never stored: a
    client keeping its old batch would give a second object the id of one
    another analyst stored meanwhile, overwriting it.
    """
    bound_waits(storage, seconds)
    pace_reconnections(getattr(storage, '_server', None))
    notify_connected = getattr(storage, 'notify_connected', None)
    if notify_connected is None or not hasattr(storage, '_oids'):
        return  # not a ZEO client

    def forget_fetched_ids(conn, info):
        storage._oids = []
        return notify_connected(conn, info)
    storage.notify_connected = forget_fetched_ids


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


def pace_reconnections(runner, pause=RECONNECT_PAUSE_SECONDS):
    """ZEO's client reconnects at once when a connection closes before its
    handshake is done: a server that refuses our certificate, or anything
    that accepts and hangs up, gets hundreds of connections a second. One
    round per `pause` at most."""
    client = getattr(runner, 'client', None)
    try_connecting = getattr(client, 'try_connecting', None)
    if try_connecting is None or not hasattr(client, 'loop'):
        return
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


def bound_waits(storage, seconds):
    """Make a ZEO client give up on a request once its server has been gone
    for `seconds`, or does not answer a new connection while the request waits.

    ZEO's client waits for each answer without a time limit and relies on the
    lost connection to fail what is pending; a request sent just as the server
    dies can miss that and wait forever, freezing the console, and so does
    one sent to a server that stopped without closing its connections.
    Requests still run as long as they need while the server answers.
    """
    runner = getattr(storage, '_server', None)
    io_call = getattr(runner, 'io_call', None)
    if io_call is None:  # another ZEO: its own waiting applies
        return
    from ZEO.Exceptions import ClientDisconnected

    def bounded_io_call(coroutine, wait=True):
        future = io_call(coroutine, wait=False)
        if not wait:
            return future
        gone_since = silent_since = None
        next_check = time.monotonic() + SILENCE_SECONDS
        while True:
            try:
                return future.result(timeout=0.25)
            except concurrent.futures.TimeoutError:
                if storage.is_connected():
                    gone_since = None
                    if time.monotonic() >= next_check:
                        silent_since = (None if server_answers(runner)
                                        else silent_since or time.monotonic())
                        if silent_since and time.monotonic() - silent_since > UNANSWERED_SECONDS:
                            hang_up(runner)  # fails the request; ZEO reconnects later
                            return silent_result(future)
                        next_check = time.monotonic() + SILENCE_SECONDS / 2
                    continue
                gone_since = gone_since or time.monotonic()
                if time.monotonic() - gone_since > seconds:
                    future.cancel()
                    raise ClientDisconnected('the server went away during a request') from None

    runner.io_call = bounded_io_call


def silent_result(future):
    """The outcome of a request whose connection stf dropped: its error, marked
    as the server's silence (no other server took over: no re-run)."""
    try:
        return future.result(timeout=5)
    except Exception as error:
        error.server_silent = True
        raise


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


def serve(path, address, tls=None):
    """Run ZEO's own server (runzeo) for the FileStorage at path, until stopped.

    tls: (certificate, key, CA) PEM files: only clients with a certificate
    signed by the CA are accepted (docs/zeo-tls.md).
    """
    import ZEO.runzeo
    from stf.db import zeotls
    context = None
    if tls:
        if '/' in address:
            zeotls.tcp_only(address)
        context = zeotls.server_context(*tls)
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    host, port = zeo_address(address) if '/' not in address else (address, None)
    listen = address if port is None else f'{host}:{port}'
    check_can_serve(path, address if port is None else (host, port), listen)
    OneLineLogServer = _one_line_log_server()
    options = ZEO.runzeo.ZEOOptions()
    options.realize(['-a', listen, '-f', str(path)])
    # What runzeo's <ssl> section gives it (ZEO.zconfig.server_ssl), from our checked files.
    options.ssl = context
    print(f'stf: serving {path} on {listen}{" with TLS" if tls else ""} (Ctrl-C stops)',
          flush=True)
    if port is not None and not tls and not loopback_only(host):
        print(f'stf: warning: {listen} is reachable from other machines and this server has no '
              'TLS: anyone who reaches it can read and change the database; serve other '
              'machines with TLS (docs/zeo-tls.md)', file=sys.stderr, flush=True)
    OneLineLogServer(options).main()


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
        between records)."""

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


def check_can_serve(path, address, listen):
    """One clear line, before saying "serving", when the file is held by
    another program or the address is taken (runzeo would show a traceback)."""
    if isinstance(address, str):
        if accepts_connections(address):
            raise UserError(f'a server already listens on {listen}; stop it or choose another '
                            'socket with --serve PATH')
    else:
        _check_can_listen(address, listen)
    import zc.lockfile
    try:
        zc.lockfile.LockFile(f'{path}.lock').close()
    except zc.lockfile.LockError:
        from stf.db.localshare import held_message, lock_holder
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


class SavePhase:
    """A data manager that joins each transaction last: its tpc_vote runs
    once the database voted yes, after which only tpc_finish remains. A
    server lost before that has saved nothing; lost after, it may have."""

    transaction_manager = None

    def __init__(self):
        self.voted = False

    def sortKey(self):
        return '~stf-save-phase'  # after every storage's key

    def tpc_vote(self, txn):
        self.voted = True

    def abort(self, txn):
        pass

    tpc_begin = commit = tpc_finish = tpc_abort = abort


class Database:
    """An open database with its own transaction manager and connection.

    Attributes: db (ZODB.DB), tm (TransactionManager), conn (Connection).
    """

    def __init__(self, db, shared=None, opened_from=None):
        self.db = db
        self.shared = shared  # a localshare.SharedFile when the file is shared locally
        self.opened_from = opened_from  # the option or file it was opened from, for `info`
        self.tm = transaction.TransactionManager(explicit=False)
        self.attempt = 0  # of the running command: > 0 when retried after a conflict
        self.conflicts = 0  # conflicts retried since the database was opened
        self.conn = db.open(transaction_manager=self.tm)
        self._others_committed = threading.Event()
        self._watch_other_commits()
        self._apart = None  # (transaction manager, connection) of read_apart
        self._apart_lock = threading.Lock()

    @property
    def root(self):
        return self.conn.root()

    def run(self, work, retries=RETRIES):
        """Run work() as one transaction: commit on success, abort on failure.

        A ConflictError (another analyst committed the same objects) is retried
        with fresh data; after the retries it is one clear error. When the
        console that served the local file has left, this one serves it and
        runs the work again (nothing was changed).
        """
        # A take-over that failed (nobody serves the file, and we cannot) is
        # not tried again for this command: it says so at once.
        failed_take_over = not self.reachable() and self.shared and not self.take_over()
        # Several consoles leaving one after the other mean as many take-overs.
        for _ in range(TAKE_OVERS):
            try:
                return self._attempts(work, retries)
            except Exception as error:
                if (failed_take_over or not self._server_left(error) or not self.take_over()):
                    raise
        return self._attempts(work, retries)

    @staticmethod
    def _server_left(error):
        """True for a server lost before the save began (not a silent one,
        which has not left: no other console will serve the file)."""
        return (type(error).__name__ == 'ClientDisconnected'
                and not getattr(error, 'while_saving', False)
                and not getattr(error, 'server_silent', False))

    def _attempts(self, work, retries):
        self.wait_for_server()
        for attempt in range(retries):
            self.attempt = attempt
            self.tm.begin()  # also syncs: we see others' commits
            phase = SavePhase()
            self.tm.get().join(phase)
            try:
                result = work()
                self.tm.commit()
                return result
            except ConflictError:
                self.tm.abort()
                self.conflicts += 1
                store.contended()
                time.sleep(random.uniform(0, min(0.1, 0.002 * 2 ** attempt)))
            except BaseException as error:
                # Once the server voted yes, a server lost may have saved it.
                error.while_saving = phase.voted
                self.tm.abort()
                raise
        raise UserError(f'another analyst changed the same data {retries} times '
                        'while this command ran; nothing was changed, run it again')

    def wait_for_server(self, seconds=SERVER_GRACE_SECONDS):
        """A ZEO client whose server is away: give it a moment to come back
        (a restart), then fail at once rather than at the first request."""
        deadline = time.monotonic() + seconds
        while not self.reachable():
            if time.monotonic() > deadline:
                from ZEO.Exceptions import ClientDisconnected
                raise ClientDisconnected('the server is away')
            time.sleep(0.1)

    def reachable(self):
        """False while the ZEO server of this database is away (no request made)."""
        connected = getattr(self.db.storage, 'is_connected', None)
        return connected is None or connected()

    def last_transaction(self):
        return self.db.lastTransaction()

    def storage(self):
        return self.db.storage

    def describe(self):
        """(kind, location) of the storage, for the toolbar and `database -i`."""
        if self.shared:
            return 'FileStorage', f'{self.shared.path} (shared by the stf on this machine)'
        storage = self.db.storage
        kind = type(storage).__name__
        path = getattr(storage, '_file_name', None)
        if path:
            return kind, str(path)
        addr = getattr(storage, '_addr', None)
        if isinstance(addr, list) and len(addr) == 1:
            addr = addr[0]
        if isinstance(addr, tuple):
            addr = f'{addr[0]}:{addr[1]}'
        location = str(addr) if addr else storage.getName()
        return kind, location + (' (TLS)' if self.uses_tls() else '')

    def _watch_other_commits(self):
        # A ZEO server tells each client about the others' commits as they
        # happen (in the client's network thread): noted here for the console.
        storage = self.db.storage
        invalidate = getattr(storage, 'invalidateTransaction', None)
        if invalidate is None or not hasattr(storage, '_server'):
            return

        def note_commit(tid, oids):
            self._others_committed.set()
            return invalidate(tid, oids)
        storage.invalidateTransaction = note_commit

    def note_other_commit(self):
        self._others_committed.set()

    def read_apart(self, read):
        """read(root) in a connection and transaction of its own: for a thread
        other than the console's (ZODB connections are not shared by threads)."""
        with self._apart_lock:
            if self._apart is None:
                manager = transaction.TransactionManager(explicit=False)
                self._apart = manager, self.db.open(transaction_manager=manager)
            manager, connection = self._apart
            manager.begin()  # sees the newest commits
            try:
                return read(connection.root())
            finally:
                manager.abort()

    def others_committed(self):
        """True once after another analyst committed (ZEO clients only)."""
        if not self._others_committed.is_set():
            return False
        self._others_committed.clear()
        return True

    def server_location(self):
        """Where the ZEO server of this database listens."""
        return self.shared.address if self.shared else self.describe()[1]

    def server_behind(self):
        """True when the ZEO server came back with a database older than what
        this client has seen (ZEO's client then refuses to reconnect)."""
        runner = getattr(self.db.storage, '_server', None)
        result = getattr(getattr(runner, 'client', None), 'verify_result', None)
        return result == 'Cache newer than server'

    def uses_tls(self):
        # ZEO keeps the client's TLS context on its connection object.
        runner = getattr(self.db.storage, '_server', None)
        return getattr(getattr(runner, 'client', None), 'ssl', None) is not None

    def info(self):
        kind, location = self.describe()
        pairs = [('storage', kind), ('location', location)]
        size = self.db.storage.getSize()
        pairs.append(('size', f'{size:,} bytes'))
        pairs.append(('objects', f'{len(self.db.storage):,}'))
        last = self.db.lastTransaction()
        if last and last != b'\0' * 8:
            from ZODB.TimeStamp import TimeStamp
            stamp = TimeStamp(last)
            pairs.append(('last commit', time.strftime('%Y-%m-%d %H:%M:%S UTC',
                                                       time.gmtime(stamp.timeTime()))))
        return pairs

    def pack(self):
        before = self.db.storage.getSize()
        self.db.pack()
        return before, self.db.storage.getSize()

    def refresh(self):
        """Drop what this connection holds and see the newest committed state."""
        self.tm.abort()
        self.conn.sync() if hasattr(self.conn, 'sync') else None
        self.tm.begin()
        self.tm.abort()

    def take_over(self):
        """After the console that served the local file left: make sure it is
        served again (by us if needed); True once we are connected again."""
        return bool(self.shared) and self.shared.take_over()

    def close(self):
        try:
            self.tm.abort()
            self.conn.close()
            # A read apart still waiting for the server is left to the
            # database's own closing rather than holding up the exit.
            if self._apart_lock.acquire(timeout=1):
                try:
                    if self._apart is not None:
                        self._apart[1].close()
                finally:
                    self._apart_lock.release()
        finally:
            self.db.close()
            if self.shared is not None:
                self.shared.stop()

