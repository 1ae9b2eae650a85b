"""The database's own record of commands, and undo.

Each transaction stf commits carries the analyst (user@host) and the
command that made it (its first 200 characters), and what the command did
outside the database, which undo cannot take back. `entries` reads them
back from the storage's undo log (FileStorage, ZEO); `undo_blocker` finds a
later transaction that changed what a transaction wrote, which ZODB's undo
would refuse.
"""
import base64
import binascii
import getpass
import socket
from dataclasses import dataclass

DESCRIPTION_CHARACTERS = 200
# Extension key of a transaction: what its command did outside the database.
OUTSIDE = 'stf_outside'
# Characters of a transaction id shown: the end of the id, its sub-minute
# part, which tells transactions apart (the start is the date).
SHORT_ID = 8
# How far back `undo ID` looks for ID.
SEARCHED = 10000


def analyst():
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = 'unknown'
    return f'{user}@{socket.gethostname()}'


def mark(txn, command, outside=''):
    """Write who and what on the transaction before it commits."""
    txn.user = analyst()
    txn.description = command[:DESCRIPTION_CHARACTERS]
    if outside:
        txn.extension[OUTSIDE] = outside


@dataclass(frozen=True)
class Entry:
    """One transaction of the database's history.

    tid: its transaction id (bytes); undo_id: what the storage's undo takes."""
    tid: bytes
    undo_id: object
    time: float
    analyst: str
    command: str
    outside: str = ''

    @property
    def short(self):
        return self.tid.hex()[-SHORT_ID:]


def text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value or '')


def entry(record):
    """An Entry from one record of the storage's undo log."""
    undo_id = record['id']
    try:
        tid = base64.decodebytes(undo_id if isinstance(undo_id, bytes) else undo_id.encode())
    except (binascii.Error, ValueError):
        tid = b''
    user = text(record.get('user_name')).strip()
    if user.startswith('/ '):  # ZODB's own spelling: path, space, user
        user = user[2:]
    return Entry(tid, undo_id, record.get('time', 0.0), user,
                 text(record.get('description')), text(record.get(OUTSIDE)))


def entries(db, count):
    """The newest count transactions, newest first."""
    return [entry(record) for record in db.undoLog(0, -count)]


def find(db, typed):
    """The transactions typed names (hex, any case): the start of the id
    history shows, or the end of the full id."""
    typed = typed.lower()
    return [item for item in entries(db, SEARCHED)
            if item.short.startswith(typed) or item.tid.hex().endswith(typed)]


def written(storage, tid):
    """The ids of the objects transaction tid wrote (or created)."""
    for transaction in storage.iterator(tid, tid):
        return [record.oid for record in transaction]
    return []


def undo_blocker(storage, tid):
    """The newest later revision (a dict of the storage's history: tid,
    user_name, description, time) of an object transaction tid wrote and a
    later one changed, or None. A later transaction that left the object as
    tid wrote it (an undo of the commands after it) does not block: ZODB's
    undo accepts it, and successive undos go back command by command."""
    for oid in written(storage, tid):
        data, serial = storage.load(oid)
        if serial != tid and data != storage.loadSerial(oid, tid):
            newest = storage.history(oid, 1)
            return newest[0] if newest else {'description': 'another transaction'}
    return None
