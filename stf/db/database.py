"""One database session: one transaction per command, retried on conflicts,
following the local file to a new server; upkeep (info, pack, refresh).

Nothing here assumes a local file: size and path are reported only when the
storage has them.
"""
import contextlib
import random
import signal
import threading
import time
from pathlib import Path

import transaction
from ZODB.POSException import ConflictError

from stf.core.errors import UserError
from stf.db import commitwatch, history, postgres, storages, zeohooks
from stf.db.errors import ServerAway, lock_held, server_lost
from stf.models import store
from stf.core.formats import counted

# A conflict means another analyst committed the same objects first; the
# command runs again on fresh data, after a random pause so that busy writers
# do not collide again in step, and new ids come from this session's lane
# (stf.models.store). The longest pause doubles from RETRY_PAUSE up to a cap,
# and a command gives up after RETRIES such conflicts. Short pauses and many
# tries: while others keep committing, each try is a new chance, and a
# writer whose pauses grew long would only fall behind them.
# Conflicts over rows another commit holds (errors.lock_held) do not count:
# on PostgreSQL two commits that lock each other's rows wait for the server's
# deadlock check (deadlock_timeout, 1 s by default) while a third writer that
# needs one of those rows fails at once, try after try. Those are tried again,
# with pauses up to HELD_PAUSE_CAP, until LOCK_PATIENCE seconds after the
# first of them, as long as RelStorage itself waits for the rows it writes.
RETRIES = 30
RETRY_PAUSE = 0.004
RETRY_PAUSE_CAP = 0.25
HELD_PAUSE_CAP = 1.0
LOCK_PATIENCE = 30

# How long a command waits for a server that is away before it says so.
SERVER_GRACE_SECONDS = 2
# How many times one command follows the local file to a new server.
TAKE_OVERS = 8


def retry_pause(attempt, cap=RETRY_PAUSE_CAP):
    """Seconds to wait after the conflict of attempt (0 for the first)."""
    return random.uniform(0, min(cap, RETRY_PAUSE * 2 ** attempt))


class Retrying:
    """The retries of one command: pause_after(conflict) is the pause before
    the next attempt, or UserError when the command is to give up."""

    def __init__(self, retries):
        self.retries = retries
        self.attempts = 0
        self.changed = 0  # conflicts over data another analyst changed
        self.held_since = None  # the first conflict over rows another commit held

    def pause_after(self, conflict):
        self.attempts += 1
        if lock_held(conflict):
            now = time.monotonic()
            self.held_since = self.held_since or now
            if now - self.held_since >= LOCK_PATIENCE:
                raise UserError(f"another analyst's commit held the same data for "
                                f'{LOCK_PATIENCE} s while this command ran; nothing was '
                                'changed, run it again') from None
            return retry_pause(self.attempts - 1, HELD_PAUSE_CAP)
        self.changed += 1
        if self.changed >= self.retries:
            raise UserError(f'another analyst changed the same data {self.changed} times '
                            'while this command ran; nothing was changed, run it '
                            'again') from None
        return retry_pause(self.attempts - 1)


@contextlib.contextmanager
def interrupts_held():
    """Hold Ctrl-C (SIGINT) back in the main thread; yields a list that gets
    an item for each one that came meanwhile."""
    held = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda number, frame: held.append(number))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


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

    Attributes: db (ZODB.DB), tm (TransactionManager), conn (Connection),
    saving and saving_what (see __init__).
    """

    def __init__(self, db, shared=None, opened_from=None):
        self.db = db
        self.shared = shared  # a localshare.SharedFile when the file is shared locally
        self.opened_from = opened_from  # the option or file it was opened from, for `info`
        self.tm = transaction.TransactionManager(explicit=False)
        self.conflicts = 0  # conflicts retried since the database was opened
        self.saved_through_interrupt = False  # Ctrl-C held back while the last run saved
        self.conn = db.open(transaction_manager=self.tm)
        self._others_committed = threading.Event()
        if zeohooks.is_client(db.storage) and not zeohooks.watch_commits(
                db.storage, self._others_committed.set):
            db.close()
            raise zeohooks.refusal(['invalidation notes'])
        # A storage that tells nobody of others' commits is watched (from the
        # first time others_committed() is asked: a console's completion).
        self._polls = commitwatch.polls_for_changes(db.storage)
        self._watcher = None
        # False once the server of a polling storage (RelStorage) failed to
        # answer, True again once it answered: a command's or the watcher's
        # last word (the toolbar shows it: looks_away).
        self._answered = True
        self._answered_since = 0.0  # when the attempt that said so began
        self._answer_lock = threading.Lock()
        self._seen = None  # the newest transaction this connection has seen (polling storages)
        self._apart = None  # (transaction manager, connection) of read_apart
        # (command, what it did outside the database) written on the
        # transactions run() commits: the database's history
        self.annotation = None
        # saving(commit, what) runs commit() for a console that says what is
        # being saved while a long save runs; saving_what: what the running
        # command saves ('266,715 connections'), or None
        self.saving = None
        self.saving_what = None
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
        self.saved_through_interrupt = False
        return self._following_the_file(lambda: self._attempts(work, retries))

    def read(self, work):
        """Run work() in a transaction that is never committed: what a command
        reads and gathers before its own transaction (which, run again after
        a conflict or a take-over, does not run this again)."""
        return self._following_the_file(lambda: self._read(work))

    def _read(self, work):
        self.wait_for_server()
        try:
            self.tm.begin()
            return work()
        except Exception as error:
            if server_lost(error):
                raise ServerAway(str(error), silent=isinstance(error, zeohooks.ServerSilent)) \
                    from error
            raise
        finally:
            self._abort()

    def _following_the_file(self, step):
        """step(), again on the file's new server when the stf that served the
        local file left before anything was saved."""
        began = time.monotonic()
        try:
            result = self._following(step)
        except ServerAway:
            self._reached(False, began)
            raise
        self._reached(True, began)
        return result

    def _following(self, step):
        # A take-over that failed (nobody serves the file, and we cannot) is
        # not tried again for this command: it says so at once.
        failed_take_over = not self.reachable() and self.shared and not self.take_over()
        # Several consoles leaving one after the other mean as many take-overs.
        try:
            for _ in range(TAKE_OVERS):
                try:
                    return step()
                except Exception as error:
                    if (failed_take_over or not self._server_left(error)
                            or not self.take_over()):
                        raise
            return step()
        finally:
            self._note_seen()

    @staticmethod
    def _server_left(error):
        """True for a server lost before the save began (not a silent one,
        which has not left: no other console will serve the file)."""
        return isinstance(error, ServerAway) and not (error.while_saving or error.silent)

    def _attempts(self, work, retries):
        self.wait_for_server()
        retry = Retrying(retries)
        while True:
            phase = SavePhase()
            try:
                self.tm.begin()  # also syncs: we see others' commits
                self.tm.get().join(phase)
                if self.annotation:
                    history.mark(self.tm.get(), *self.annotation)
                result = work()
                self.saved_through_interrupt = self._commit()
                return result
            except BaseException as error:
                self._abort()
                if isinstance(error, ConflictError) or lock_held(error):
                    self.conflicts += 1
                    store.contended()
                    time.sleep(retry.pause_after(error))
                    continue
                if not server_lost(error):
                    raise
                # Once the server voted yes, a server lost may have saved it.
                raise ServerAway(str(error), while_saving=phase.voted,
                                 silent=isinstance(error, zeohooks.ServerSilent)) from error

    def _abort(self):
        """Abort the running transaction. A server lost says so at the next
        request, not here: a storage that polls at each transaction's end
        (RelStorage) would otherwise hide the error that ended the command."""
        try:
            self.tm.abort()
        except Exception as error:
            if not server_lost(error):
                raise

    def _commit(self):
        """Commit with Ctrl-C held back, so that a command is saved in full or
        not at all; True when Ctrl-C came while it was saved."""
        with interrupts_held() as held:
            try:
                if self.saving is None:
                    self.tm.commit()
                else:
                    self.saving(self.tm.commit, self.saving_what)
            except ConflictError:
                if held:  # the analyst asked to stop: no new attempt
                    raise KeyboardInterrupt from None
                raise
            except Exception as error:
                # A full disk (here or on the server): nothing was saved.
                message = storages.no_room(error, self._stored_in())
                if message is None:
                    raise
                raise UserError(message) from None
        return bool(held)

    def _stored_in(self):
        """Where the database's data lies, for a message."""
        path = self.shared.path if self.shared else getattr(self.db.storage, '_file_name', None)
        return str(path) if path else f'the database of the server {self.describe()[1]}'

    def wait_for_server(self, seconds=SERVER_GRACE_SECONDS):
        """A ZEO client whose server is away: give it a moment to come back
        (a restart), then fail at once rather than at the first request."""
        deadline = time.monotonic() + seconds
        while not self.reachable():
            if time.monotonic() > deadline:
                raise ServerAway('the server is away')
            time.sleep(0.1)

    def reachable(self):
        """False while the ZEO server of this database is away (no request made)."""
        connected = getattr(self.db.storage, 'is_connected', None)
        return connected is None or connected()

    def looks_away(self):
        """True while the server is away as far as this console knows: a ZEO
        client's connection says it; a PostgreSQL server failed to answer
        the last command or poll (RelStorage keeps no connection state)."""
        return not self._answered if self._polls else not self.reachable()

    def _reached(self, answered, since):
        """The server answered (or not) an attempt begun at since: the newest
        attempt's word stands (a poll that hung must not undo a command's)."""
        with self._answer_lock:
            if since >= self._answered_since:
                self._answered, self._answered_since = answered, since

    def own_storage_instances(self):
        """Storage instances of this stf besides its database's and its
        connections': the commit watcher's."""
        watcher = self._watcher
        if watcher is None or watcher.instance is None:
            return []
        return [watcher.instance]

    def last_transaction(self):
        """The newest transaction this console knows of: the storage's (a ZEO
        client's follows the server), or, on a storage each connection polls
        (RelStorage, whose own never moves), what this connection has seen."""
        if self._polls:
            self._note_seen()
            return self._seen
        return self.db.lastTransaction()

    def _note_seen(self):
        """Remember what this connection has seen, for the commit watcher's
        thread (which must not use the connection itself)."""
        if self._polls:
            try:
                self._seen = self.conn._storage.lastTransaction()
            except Exception as error:
                if not server_lost(error):
                    raise

    def describe(self):
        """(kind, location) of the storage, for the toolbar and `database -i`."""
        if self.shared:
            return 'FileStorage', f'{self.shared.path} (shared by the stf on this machine)'
        storage = self.db.storage
        kind = type(storage).__name__
        if postgres.is_relstorage(storage):
            return kind, postgres.location(storage)
        path = getattr(storage, '_file_name', None)
        if path:
            return kind, str(path)
        return kind, self._address() + (' (TLS)' if self.uses_tls() else '')

    def _address(self):
        """The server's address ('host:port' or a socket's path), else the
        storage's name."""
        storage = self.db.storage
        addr = getattr(storage, '_addr', None)
        if isinstance(addr, list) and len(addr) == 1:
            addr = addr[0]
        if isinstance(addr, tuple):
            addr = f'{addr[0]}:{addr[1]}'
        if addr:
            return str(addr)
        return postgres.location(storage) if postgres.is_relstorage(storage) else storage.getName()

    def key(self):
        """What tells this database from the analyst's others (an analyst's
        own state, such as the current dataset, is kept per database): the
        file's absolute path, or the server's address."""
        if self.shared:
            return str(self.shared.path)
        path = getattr(self.db.storage, '_file_name', None)
        if postgres.is_relstorage(self.db.storage):
            return postgres.location(self.db.storage)
        return str(Path(path).resolve()) if path else self._address()

    def note_other_commit(self):
        self._others_committed.set()

    def _watch_commits(self):
        """Start polling for others' commits, on a storage that tells nobody."""
        if self._polls and self._watcher is None:
            self._note_seen()
            self._watcher = commitwatch.CommitWatcher(
                self.db.storage, lambda: self._seen or b'', self.note_other_commit,
                reached=self._reached)
            self._watcher.start()

    def read_apart(self, read):
        """read(root) in a connection and transaction of its own: for a thread
        other than the console's (ZODB connections are not shared by threads)."""
        with self._apart_lock:
            if self._apart is None:
                manager = transaction.TransactionManager(explicit=False)
                self._apart = manager, self.db.open(transaction_manager=manager)
            manager, connection = self._apart
            try:
                manager.begin()  # sees the newest commits
                return read(connection.root())
            except Exception as error:
                if server_lost(error):
                    raise ServerAway(str(error)) from error
                raise
            finally:
                try:
                    manager.abort()
                except Exception as error:
                    if not server_lost(error):
                        raise

    def others_committed(self):
        """True once after another analyst committed (ZEO clients, and
        storages the commit watcher polls)."""
        self._watch_commits()
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
        return zeohooks.server_behind(self.db.storage)

    def uses_tls(self):
        return zeohooks.uses_tls(self.db.storage)

    def info(self):
        kind, location = self.describe()
        pairs = [('storage', kind), ('location', location)]
        size = self.db.storage.getSize()
        pairs.append(('size', f'{counted(size, "byte")}'))
        storage = self.db.storage
        relstorage = postgres.is_relstorage(storage)
        objects = postgres.object_count(storage) if relstorage else len(storage)
        pairs.append(('objects', f'{objects:,}'))
        if relstorage:
            pairs += postgres.details(storage)
        last = self.db.lastTransaction()
        if last and last != b'\0' * 8:
            from ZODB.TimeStamp import TimeStamp
            stamp = TimeStamp(last)
            pairs.append(('last commit', time.strftime('%Y-%m-%d %H:%M:%S UTC',
                                                       time.gmtime(stamp.timeTime()))))
        return pairs

    def transactions(self, count):
        """The newest count transactions (stf.db.history.Entry), newest first."""
        return history.entries(self.db, count)

    def find_transaction(self, short):
        return history.find(self.db, short)

    def undo_blocker(self, tid):
        # RelStorage's own storage never polls, so it would read objects as
        # they were when it opened: the connection's instance reads them now.
        storage = self.conn._storage if self._polls else self.db.storage
        return history.undo_blocker(storage, tid)

    def undo(self, entry):
        """Join the undo of entry to the running transaction (run() commits it)."""
        self.db.undo(entry.undo_id, self.tm.get())

    def pack(self):
        """Drop old revisions: (unit, before, after) of what was stored, in
        bytes, or in revisions on PostgreSQL, whose files keep their size
        (it reuses the room freed after its next VACUUM)."""
        storage = self.db.storage
        if postgres.is_relstorage(storage):
            before = postgres.revision_count(storage)
            self.db.pack()
            return 'stored revision', before, postgres.revision_count(storage)
        before = storage.getSize()
        self.db.pack()
        return 'byte', before, storage.getSize()

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
            if self._watcher is not None:
                self._watcher.stop()
            self._abort()
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

