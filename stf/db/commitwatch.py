"""Noticing other analysts' commits on a storage that tells nobody of them.

A ZEO server sends its clients invalidations (stf.db.zeohooks); RelStorage
sends nothing: each connection polls the relational database when its
transaction begins, so a console idle at its prompt would never learn of
another analyst's commit. A CommitWatcher polls on a storage instance of its
own, in a thread, every POLL_SECONDS, and calls noticed() when the database
holds a newer transaction than seen() (what the console's connection has
seen). Its polls also tell whether the server answers (reached(answered,
since): since, when the poll began), so that a console idle at its prompt
shows a server away. instance: its storage instance while it runs (its
connections are this stf's own).
"""
import logging
import threading
import time

from stf.db.errors import server_lost

log = logging.getLogger('stf')

# How often an idle console looks for others' commits: a completion value
# another analyst added is offered at most this much later.
POLL_SECONDS = 5


def polls_for_changes(storage):
    """True for a storage each connection polls for others' changes (RelStorage)."""
    return hasattr(storage, 'poll_invalidations') and hasattr(storage, 'new_instance')


class CommitWatcher:
    """A daemon thread polling storage (see the module's text) until stop()."""

    def __init__(self, storage, seen, noticed, seconds=None, reached=None):
        self.storage = storage
        self.seen = seen
        self.noticed = noticed
        self.reached = reached or (lambda answered, since: None)
        self.instance = None
        self.seconds = seconds or POLL_SECONDS
        self._newest = None  # the newest transaction polled so far
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name='stf-commit-watch')

    def start(self):
        self._thread.start()

    def stop(self):
        self._stopped.set()
        self._thread.join(timeout=self.seconds + 1)

    def _watch(self):
        instance = self.instance = self.storage.new_instance()
        try:
            while not self._stopped.is_set():
                self._poll(instance)
                self._stopped.wait(self.seconds)
        finally:
            instance.release()

    def _poll(self, instance):
        began = time.monotonic()
        try:
            instance.poll_invalidations()
            newest = instance.lastTransaction()
        except Exception as error:
            # A server away is shown in the toolbar; a command says it.
            if server_lost(error):
                self.reached(False, began)
            else:
                log.exception('looking for other analysts\' commits failed')
            return
        finally:
            try:
                instance.afterCompletion()  # no snapshot held open between polls
            except Exception as error:
                if not server_lost(error):
                    raise
        self.reached(True, began)
        if newest != self._newest:
            self._newest = newest
            if newest > self.seen():
                self.noticed()
