"""Errors that reach the user as one line.

A UserError is bad input or a state the user can fix: the console prints its
message (what was wrong, what to do) and goes on. Anything else is a bug: it is
logged with its traceback and the console goes on too.
"""


class UserError(Exception):
    """Bad input or a fixable state; the message is shown as one line."""


class Interrupted(UserError):
    """Ctrl-C during a command; the command's transaction is aborted."""
