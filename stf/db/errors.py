"""What the database room raises besides UserError, as classes, and which
errors of the storages' own libraries mean a server lost.

ClientDisconnected is ZEO's: a request that found the server gone. A command
that met a server lost (server_lost) ends in ServerAway, which says whether
the save had begun (a server lost after the database voted yes may have saved
the command) and whether stf hung up on a silent server (no other stf will
serve the file then).
"""
import sys

try:
    from ZEO.Exceptions import ClientDisconnected  # noqa: F401  (caught by the console)
except ImportError:  # without ZEO only local files open (--db), and this is never raised
    class ClientDisconnected(Exception):
        """ZEO's, when ZEO is installed."""


# (module, class names) of the errors that mean the database server was lost:
# ZEO's, and those of RelStorage on PostgreSQL (psycopg2's for a connection
# refused, closed by the server or broken; RelStorage's own for one lost
# while committing). A module not imported names nothing: its storage is not
# open, so none of its errors can come.
SERVER_LOST = (
    ('ZEO.Exceptions', ('ClientDisconnected',)),
    ('psycopg2', ('OperationalError', 'InterfaceError')),
    ('relstorage.storage.interfaces', ('StorageDisconnectedDuringCommit',)),
)
# Of those, the ones that say something else: PostgreSQL's own deadlocks and
# serialization failures, and a statement cancelled (a lock waited too long).
NOT_LOST = (
    ('psycopg2.extensions', ('TransactionRollbackError', 'QueryCanceledError')),
)


# The conflicts that say rows were locked by another commit (RelStorage
# takes the rows an object read as current without waiting, and PostgreSQL
# ends deadlocks between commits): they pass once that commit ends, so a
# command meeting them keeps trying for longer than the count of retries.
LOCK_HELD = (
    ('relstorage.adapters.interfaces', ('UnableToAcquireLockError',)),
)


def _classes(table):
    return tuple(getattr(sys.modules[module], name)
                 for module, names in table if module in sys.modules
                 for name in names if hasattr(sys.modules[module], name))


def server_lost(error):
    """True when error says the database server was lost (down, restarted,
    its connection broken)."""
    return isinstance(error, _classes(SERVER_LOST)) and not isinstance(error, _classes(NOT_LOST))


def lock_held(error):
    """True when error is a conflict over rows another commit holds."""
    return isinstance(error, _classes(LOCK_HELD))


class ServerAway(Exception):
    """The database server was away during a command.

    Attributes: while_saving (it went away once the command was being
    saved), silent (stf hung up on a server that answered nothing)."""

    def __init__(self, message, while_saving=False, silent=False):
        super().__init__(message)
        self.while_saving = while_saving
        self.silent = silent
