"""Which classes a database may name, and the refusal of every other one.

A ZODB record is a pickle, and unpickling calls what the pickle names: a
record written by anyone who can write to the database (a client of a
shared server, the sender of a database file) could name os.system and run
a command in every stf that reads it. So stf unpickles only what its own
data is made of (ALLOWED): every class or function a record names, as the
record's class or anywhere in its state, is looked up in that table first.

The table is checked wherever a pickle from the database is read:
- objects read by stf's connections (GuardedDB, GuardedConnection), which
  name the refused object by its id;
- records ZODB reads to resolve a conflict, in stf's ZEO servers (`stf.py
  --serve`, a console sharing its local file) and with a local file;
- the notes ZODB keeps on each transaction (undo log, history).
`install` also narrows what a ZEO server unpickles from its clients' requests:
ZEO's own server lets a client name any builtin (eval included).

Later rooms that store classes of their own register them with `allow`
(a server only knows the classes registered in its own process).
"""
import importlib
import logging
from io import BytesIO

import ZODB
import ZODB.broken
import ZODB.ConflictResolution
import zodbpickle.pickle
from ZODB.Connection import Connection
from ZODB.POSException import StateLoadError
from ZODB.utils import u64

from stf.core.errors import UserError

log = logging.getLogger('stf.db.classes')

# The BTrees families (key and value types) BTrees provides; each module
# holds a tree, a bucket, a set and a tree set.
BTREE_FAMILIES = ('IF', 'II', 'IO', 'IU', 'LF', 'LL', 'LO', 'LQ', 'OI', 'OL', 'OO', 'OQ',
                  'OU', 'QF', 'QL', 'QO', 'QQ', 'UF', 'UI', 'UO', 'UU')

# module -> the names in it a database may name: stf's persistent classes,
# the containers they use, and the values they hold (dates and their zone).
ALLOWED = {
    'stf.models.behavior': {'ModelGroup', 'ModelGroups', 'ModelColumns',
                            'ColumnPart'},
    'stf.models.connections': {'ConnectionGroup', 'ConnectionGroups', 'FlowChunk'},
    'stf.models.datasets': {'Dataset', 'DatasetFile', 'Datasets'},
    'stf.models.detection': {'DetectorRecord', 'Detectors', 'Experiment', 'Experiments'},
    'stf.models.labels': {'Label', 'Labels'},
    'stf.models.markov': {'MarkovRecord', 'MarkovModels', 'DistanceRecord', 'Distances'},
    'stf.models.notes': {'Note', 'Notes'},
    'persistent.mapping': {'PersistentMapping'},  # also the database's root
    'persistent.list': {'PersistentList'},
    'BTrees.Length': {'Length'},
    'datetime': {'datetime', 'date', 'time', 'timedelta', 'timezone'},
    **{f'BTrees.{family}BTree': {family + kind for kind in ('BTree', 'Bucket', 'Set', 'TreeSet')}
       for family in BTREE_FAMILIES},
}

# What a ZEO server unpickles from a client's request besides plain values:
# ZEO's undo-log filter and the data types pickles build by calling them.
REQUEST_GLOBALS = {
    'ZopeUndo.Prefix': {'Prefix'},
    'zodbpickle': {'binary'},
    'builtins': {'set', 'frozenset', 'bytearray', 'complex'},
}


def allow(module, name):
    """Let databases name module.name (a persistent class of a later room)."""
    ALLOWED.setdefault(module, set()).add(name)


def allowed(module, name):
    return name in ALLOWED.get(module, ())


class RefusedClass(UserError):
    """A pickle from the database names a class or function stf does not
    store. Attributes: module, name, oid (of the object whose record names
    it, or None), where (what named it, for a pickle that is no object)."""

    def __init__(self, module, name, where=None):
        self.module, self.name, self.where, self.oid = module, name, where, None
        super().__init__()

    def of_object(self, oid):
        """self, naming the object whose record named the class (the first
        one told: an object read while reading another is the one at fault)."""
        if self.oid is None and self.where is None:
            self.oid = oid
        return self

    def __str__(self):
        what = (self.where if self.oid is None else f'object 0x{u64(self.oid):04x}') or 'a record'
        return (f'{what} names the class {self.module}.{self.name}, which stf does not store; '
                'the database may have been tampered with; nothing was run')


def class_factory(connection, module, name):
    """DB.classFactory: the class or function a record names, if allowed (a
    class whose module is gone reads as ZODB's broken object, as before)."""
    if not allowed(module, name):
        raise RefusedClass(module, name)
    return ZODB.broken.find_global(module, name)


class GuardedConnection(Connection):
    """A connection that refuses the objects naming classes stf does not
    store, in one line naming the object."""

    def get(self, oid):
        try:
            return super().get(oid)
        except RefusedClass as refused:
            raise refused.of_object(oid) from None

    def setstate(self, obj):
        try:
            super().setstate(obj)
        except StateLoadError as error:  # ZODB wraps what reading the state raised
            if isinstance(error.__cause__, RefusedClass):
                raise error.__cause__.of_object(obj._p_oid) from None
            raise


class GuardedDB(ZODB.DB):
    """A ZODB.DB whose connections read only the classes stf stores."""

    klass = GuardedConnection

    def __init__(self, storage, **options):
        install()
        super().__init__(storage, **options)

    def classFactory(self, connection, module, name):
        return class_factory(connection, module, name)


# -- conflict resolution, transaction notes and ZEO requests: ZODB and ZEO
# read these pickles with module-level functions of theirs, replaced here
# for the whole process (stf's, a server's).

_ZODB_FIND_GLOBAL = ZODB.ConflictResolution.find_global


class RefusedInConflict(ZODB.ConflictResolution.BadClassName):
    """A record met in resolving a conflict names a class stf does not store:
    the conflict stays unresolved (the client gets a ConflictError)."""


def conflict_find_global(module, name):
    """ZODB.ConflictResolution.find_global, for allowed names only."""
    if not allowed(module, name):
        log.warning('conflict left unresolved: a record names %s.%s, which stf does not '
                    'store; nothing was run', module, name)
        raise RefusedInConflict(module, name)
    return _ZODB_FIND_GLOBAL(module, name)


class NotesUnpickler(zodbpickle.pickle.Unpickler):
    def find_class(self, module, name):
        if not allowed(module, name):
            raise RefusedClass(module, name, where="a transaction's notes")
        return super().find_class(module, name)


def transaction_notes(data):
    """ZODB._compat.loads, for the notes (extension) of a transaction."""
    return NotesUnpickler(BytesIO(data), encoding='ASCII', errors='bytes').load()


def request_find_global(module, name):
    """What a ZEO server may unpickle from a client's request."""
    if name not in REQUEST_GLOBALS.get(module, ()):
        log.warning('request refused: it names %s.%s; nothing was run', module, name)
        raise ImportError(f'{module}.{name} is not allowed in a request')
    return getattr(__import__(module, fromlist=[name]), name)


def install():
    """Check every pickle this process reads from a database or a ZEO client
    against the tables (again and again: nothing changes after the first)."""
    # (the modules by name: ZODB's packages hide some behind their classes)
    ZODB.ConflictResolution.find_global = conflict_find_global
    for module in ('ZODB.FileStorage.FileStorage', 'ZODB.Connection'):  # undo log, iterators
        importlib.import_module(module).loads = transaction_notes
    try:
        marshal = importlib.import_module('ZEO.asyncio.marshal')
    except ImportError:  # without ZEO there is no server
        return
    marshal.server_find_global = request_find_global
