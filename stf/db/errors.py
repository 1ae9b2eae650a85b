"""What the database room raises besides UserError, as classes.

ClientDisconnected is ZEO's: a request that found the server gone. A command
that met it ends in ServerAway, which says whether the save had begun (a
server lost after the database voted yes may have saved the command) and
whether stf hung up on a silent server (no other stf will serve the file then).
"""
try:
    from ZEO.Exceptions import ClientDisconnected  # noqa: F401  (caught by the console)
except ImportError:  # without ZEO only local files open (--db), and this is never raised
    class ClientDisconnected(Exception):
        """ZEO's, when ZEO is installed."""


class ServerAway(Exception):
    """The database server was away during a command.

    Attributes: while_saving (it went away once the command was being
    saved), silent (stf hung up on a server that answered nothing)."""

    def __init__(self, message, while_saving=False, silent=False):
        super().__init__(message)
        self.while_saving = while_saving
        self.silent = silent
