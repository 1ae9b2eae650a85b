"""A database names only the classes stf stores (stf.db.classes): a record
that names anything else (os.system, a class of another program) is refused
in one line naming the object, and nothing it names is run: when stf reads
it, when a server resolves a conflict on it, when a server reads a request.

The records are written through the storage API, as anyone who can write to
a shared server or hand over a database file could write them."""
import pickle
import pickletools
import socket
import struct
import subprocess
import sys

import pytest
import transaction
import ZODB
import ZODB.FileStorage
from ZODB.Connection import TransactionMetaData
from ZODB.POSException import ConflictError
from ZODB.utils import p64, u64

from tests.conftest import ROOT, error, free_port, ok

PROTOCOL = b'\x80\x03'


def text(value):
    """The pickle opcodes of a str."""
    encoded = value.encode()
    return b'X' + struct.pack('<I', len(encoded)) + encoded


def calling(module, name, argument):
    """Pickle opcodes that call module.name(argument) when unpickled."""
    return b'c' + f'{module}\n{name}\n'.encode() + text(argument) + b'\x85R'


def pickles(record):
    """The two pickles of a ZODB record (class, then state)."""
    end = next(at for opcode, _, at in pickletools.genops(record) if opcode.name == 'STOP') + 1
    return record[:end], record[end:]


def touching(marker):
    return calling('os', 'system', f'touch {marker}')


def refused(oid, named):
    return (f'object 0x{u64(oid):04x} names the class {named}, which stf does not store; the '
            'database may have been tampered with; nothing was run')


def open_app(path):
    from stf.console import config
    from stf.console.app import App
    from stf.db.database import Database
    from stf.db.storages import open_file_storage
    return App(config.load(), Database(open_file_storage(path)))


def make_database(path):
    """stf's structures with a dataset and notes 0 and 1; the oid of note 1."""
    app = open_app(path)
    try:
        flows = path.parent / 'f.binetflow'
        flows.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,'
                         'dTos,TotPkts,TotBytes\n'
                         '2020/01/01 10:00:00.0,1,tcp,1.1.1.1,1,->,2.2.2.2,80,C,0,0,1,90\n')
        ok(app, f'datasets -c {flows} --name lab')
        ok(app, 'notes -c --text "first note"')
        ok(app, 'notes -c --text "second note"')
        return app.notes.get(1)._p_oid
    finally:
        app.close()


def replace_record(storage, oid, data):
    """Store data as oid's new record, in a transaction of its own."""
    _, serial = storage.load(oid)
    meta = TransactionMetaData()
    storage.tpc_begin(meta)
    storage.store(oid, serial, data, '', meta)
    storage.tpc_vote(meta)
    return storage.tpc_finish(meta)


def tamper(path, oid, change):
    """Replace oid's record by change(class pickle, state pickle)."""
    storage = ZODB.FileStorage.FileStorage(str(path))
    try:
        record, _ = storage.load(oid)
        replace_record(storage, oid, change(*pickles(record)))
    finally:
        storage.close()


# What a tampered note names, and its record from the note's own two pickles.
TAMPERINGS = {
    'a call in its state': ('os.system', lambda marker, kind, state: kind + PROTOCOL + b'}(' +
                            text('id') + b'K\x01' + text('text') + touching(marker) + b'u.'),
    'a call as its class': ('os.system', lambda marker, kind, state:
                            PROTOCOL + touching(marker) + b'.' + state),
    'a class of another program': ('nowhere.Thing', lambda marker, kind, state:
                                   PROTOCOL + b'cnowhere\nThing\n.' + state),
}


@pytest.mark.parametrize('tampering', TAMPERINGS)
def test_a_note_naming_another_class_is_refused_and_runs_nothing(tmp_path, tampering):
    path, marker = tmp_path / 'stf.db', tmp_path / 'MARKER'
    oid = make_database(path)
    named, make = TAMPERINGS[tampering]
    tamper(path, oid, lambda kind, state: make(marker, kind, state))
    app = open_app(path)
    try:
        assert error(app, 'notes -l') == refused(oid, named)
        assert error(app, 'notes -s 1') == refused(oid, named)
        # The console goes on: the rest of the database reads as it was.
        assert ok(app, 'notes -s 0')[-1].text == 'first note'
        (table,) = ok(app, 'datasets -l')
        assert [row[1] for row in table.rows] == ['lab']
        assert error(app, 'notes -d 1') == refused(oid, named)
    finally:
        app.close()
    assert not marker.exists()


def app_on(how, path, tmp_path):
    """An App on the database file at path, opened as stf opens it in each
    setting: (app, what to stop afterwards or None)."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import storages
    from stf.db.database import Database
    if how == 'file':
        return open_app(path), None
    if how == 'configuration':
        zodb = tmp_path / 'zodb.conf'
        zodb.write_text(f'<zodb>\n  <filestorage>\n    path {path}\n  </filestorage>\n</zodb>\n')
        return App(config.load(), Database(storages.open_config(zodb, ROOT))), None
    if how == 'shared local file':
        from stf.db.localshare import SharedFile
        shared = SharedFile(path)
        return App(config.load(), Database(shared.db, shared=shared)), None
    from tests.test_zeo import stf_server
    port = free_port()
    server = stf_server(path, port, tmp_path)
    return App(config.load(), Database(storages.open_zeo(f'127.0.0.1:{port}'))), server


@pytest.mark.parametrize('how', ['file', 'configuration', 'shared local file', 'ZEO server'])
def test_every_way_of_opening_a_database_refuses_other_classes(tmp_path, how):
    path, marker = tmp_path / 'stf.db', tmp_path / 'MARKER'
    oid = make_database(path)
    _, make = TAMPERINGS['a call in its state']
    tamper(path, oid, lambda kind, state: make(marker, kind, state))
    app, server = app_on(how, path, tmp_path)
    try:
        assert error(app, 'notes -s 1') == refused(oid, 'os.system')
        assert ok(app, 'notes -s 0')[-1].text == 'first note'
    finally:
        app.close()
        if server:
            server.terminate()
            server.wait(timeout=30)
    assert not marker.exists()


def test_batch_run_on_a_tampered_note_says_one_line(tmp_path):
    path, marker = tmp_path / 'stf.db', tmp_path / 'MARKER'
    oid = make_database(path)
    _, make = TAMPERINGS['a call in its state']
    tamper(path, oid, lambda kind, state: make(marker, kind, state))
    result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db', str(path),
                             '-c', 'notes -l', '-c', 'notes -s 0'],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        1, f'error: line 1: {refused(oid, "os.system")}\n')
    assert result.stdout.splitlines()[-1] == 'first note'
    assert not marker.exists()


def test_a_tampered_root_stops_stf_at_start_in_one_line(tmp_path):
    path, marker = tmp_path / 'stf.db', tmp_path / 'MARKER'
    make_database(path)
    root = p64(0)
    storage = ZODB.FileStorage.FileStorage(str(path))
    kind, state = pickles(storage.load(root)[0])
    storage.close()
    for part, record in (('class', PROTOCOL + touching(marker) + b'.' + state),
                         ('state', kind + PROTOCOL + touching(marker) + b'.')):
        tamper(path, root, lambda *_: record)
        result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db', str(path),
                                 '-c', 'info'], capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout, result.stderr) == (
            2, '', f'error: {refused(root, "os.system")}\n'), part
    assert not marker.exists()


def test_every_persistent_class_of_stf_is_allowed_and_nothing_else_of_its_modules():
    import importlib
    from persistent import Persistent
    from stf.db.classes import ALLOWED
    from tests.test_old_database import STORED_CLASSES
    assert STORED_CLASSES <= {(module, name) for module, names in ALLOWED.items()
                              for name in names}
    for module in [name for name in ALLOWED if name.startswith('stf.')]:
        found = {name for name, value in vars(importlib.import_module(module)).items()
                 if isinstance(value, type) and issubclass(value, Persistent)
                 and value.__module__ == module}
        assert ALLOWED[module] == found


def test_allow_lets_a_later_room_store_its_classes(tmp_path):
    from stf.db import classes
    assert not classes.allowed('stf.plugins.sample', 'Sample')
    classes.allow('stf.plugins.sample', 'Sample')
    try:
        assert classes.allowed('stf.plugins.sample', 'Sample')
    finally:
        classes.ALLOWED.pop('stf.plugins.sample')


def counter_database(storage):
    """A database on storage holding root['count'], a BTrees Length (which
    resolves its conflicts); (oid, its first serial)."""
    from BTrees.Length import Length
    db = ZODB.DB(storage)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    connection.root()['count'] = Length(0)
    manager.commit()
    oid = connection.root()['count']._p_oid
    connection.close()
    return db, oid, storage.load(oid)[1]


def test_conflict_resolution_refuses_a_record_naming_another_class(tmp_path):
    from stf.db import classes
    classes.install()
    marker = tmp_path / 'MARKER'
    storage = ZODB.FileStorage.FileStorage(str(tmp_path / 'c.fs'))
    db, oid, first = counter_database(storage)
    try:
        record, _ = storage.load(oid)
        kind, state = pickles(record)
        committed = replace_record(storage, oid, kind + PROTOCOL + touching(marker) + b'.')
        with pytest.raises(ConflictError):
            storage.tryToResolveConflict(oid, committed, first, kind + PROTOCOL + b'K\x05.')
        # A record of allowed classes still merges (5 added to the counter at 0).
        fine = replace_record(storage, oid, record)
        resolved = storage.tryToResolveConflict(oid, fine, first, kind + PROTOCOL + b'K\x05.')
        assert pickle.loads(pickles(resolved)[1]) == 5
    finally:
        db.close()
    assert not marker.exists()


def test_transaction_notes_naming_another_class_are_refused(tmp_path):
    from stf.db import classes
    from stf.core.errors import UserError
    marker = tmp_path / 'MARKER'
    assert classes.transaction_notes(PROTOCOL + b'}(' + text('stf') + text('x') + b'u.') == {
        'stf': 'x'}
    with pytest.raises(UserError) as refusal:
        classes.transaction_notes(PROTOCOL + touching(marker) + b'.')
    assert str(refusal.value) == (
        "a transaction's notes names the class os.system, which stf does not store; the "
        'database may have been tampered with; nothing was run')
    assert not marker.exists()


@pytest.fixture
def stf_server(tmp_path):
    """(port, database path) of `stf.py --serve` on a new database."""
    from tests.test_zeo import stf_server as started
    port, path = free_port(), tmp_path / 'served.fs'
    server = started(path, port, tmp_path)
    yield port, server
    server.terminate()
    server.wait(timeout=30)


def test_stf_server_resolves_no_conflict_on_a_record_naming_another_class(stf_server, tmp_path):
    from ZEO.ClientStorage import ClientStorage
    port, server = stf_server
    marker = tmp_path / 'MARKER'
    storage = ClientStorage(('127.0.0.1', port), wait_timeout=30)
    db, oid, first = counter_database(storage)
    try:
        record, _ = storage.load(oid)
        kind, _ = pickles(record)
        replace_record(storage, oid, kind + PROTOCOL + touching(marker) + b'.')
        meta = TransactionMetaData()
        storage.tpc_begin(meta)
        storage.store(oid, first, kind + PROTOCOL + b'K\x05.', '', meta)
        with pytest.raises(ConflictError):
            storage.tpc_vote(meta)
        storage.tpc_abort(meta)
        # The server goes on.
        replace_record(storage, oid, record)
        assert storage.load(oid)[0] == record
    finally:
        db.close()
    assert not marker.exists() and server.poll() is None


def framed(data):
    return struct.pack('>I', len(data)) + data


def test_stf_server_runs_nothing_a_request_names(stf_server, tmp_path):
    """ZEO's own server unpickles a request naming builtins.eval and runs it."""
    port, server = stf_server
    marker = tmp_path / 'MARKER'
    with socket.create_connection(('127.0.0.1', port), timeout=10) as connection:
        size = struct.unpack('>I', connection.recv(4))[0]
        version = connection.recv(size)
        assert version.startswith(b'Z')
        request = (PROTOCOL + b'(K\x01\x89' + text('lastTransaction') +
                   calling('builtins', 'eval', f"__import__('os').system('touch {marker}')") +
                   b'\x85t.')
        connection.sendall(framed(version) + framed(request))
        assert connection.recv(100) == b''  # the server hangs up
    assert not marker.exists() and server.poll() is None
    # and serves others
    from ZEO.ClientStorage import ClientStorage
    db, _, _ = counter_database(ClientStorage(('127.0.0.1', port), wait_timeout=30))
    db.close()
