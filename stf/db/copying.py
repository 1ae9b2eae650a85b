"""The open database copied into another storage (a ZConfig file names it),
every transaction with its history, then compared object by object.

Refused: a destination that holds anything (nothing is overwritten), the
open database itself, and a source someone else may write to meanwhile
(other clients of its ZEO server, other sessions on its PostgreSQL
database). The copy reads the source up to its last transaction as the copy
began; a commit that came meanwhile makes the copy incomplete, which is said.
"""
from pathlib import Path

import transaction
from ZODB.POSException import POSKeyError
from ZODB.utils import load_current, p64, z64

from stf.core.errors import UserError
from stf.core.formats import counted
from stf.db import postgres, storages, zconf, zeohooks
from stf.db.classes import GuardedDB


def copy_to(database, root, conf_path, root_dir, update=None):
    """Copy database (stf.db.database.Database; root: the root its read
    transaction sees) into the storage conf_path names; the line that says
    what was copied and that both are the same. update(done, total):
    transactions copied (None: no progress shown)."""
    source = database.db.storage
    refuse_the_same_file(database, conf_path, root_dir)
    refuse_other_writers(database)  # before the destination is made
    destination = open_destination(conf_path, root_dir)
    try:
        refuse_the_same_storage(source, destination, conf_path)
        refuse_unless_empty(destination, conf_path)
        last = newest_transaction(source)
        copied = copy_transactions(source, destination, last, update)
        if newest_transaction(source) != last:
            raise UserError(f'someone committed to the open database while it was copied: the '
                            f'copy in {conf_path} is incomplete; empty it and copy again when '
                            'no one else works on the database')
        compared = compare(root, destination, conf_path)
        what = copied_what(copied, history_kept(source), history_kept(destination))
    finally:
        destination.close()
    return (f'{what}; every dataset, group, model, label and note is the same '
            f'({counted(compared, "object")})')


def copied_what(transactions, source_kept, destination_kept):
    """What the copy copied, said with what a history-free side gave up."""
    if not source_kept:
        return (f'copied the newest state of every object ({counted(transactions, "transaction")}'
                '; the open database keeps no history)')
    if not destination_kept:
        return (f'copied {counted(transactions, "transaction")} into a database that keeps no '
                'history: only the newest state of each object is there, history and undo '
                'start empty')
    return f'copied {counted(transactions, "transaction")}'


def history_kept(storage):
    """False for a history-free RelStorage (the other storages keep history)."""
    return not postgres.is_relstorage(storage) or postgres.keeps_history(storage)


# -- the destination


def refuse_the_same_file(database, conf_path, root_dir):
    """A file the open database is: refused before it is opened (its lock
    would only say that some program holds it)."""
    mine = own_file(database)
    _, top = storages.read_config(conf_path, root_dir)
    if mine and any(Path(path).expanduser().resolve() == mine
                    for path in zconf.filestorage_paths(top)):
        raise UserError(f'{conf_path} names the open database itself ({mine}); give the '
                        'configuration of another, empty database')


def own_file(database):
    """The resolved path of the open database's file, or None."""
    path = (database.shared.path if database.shared
            else getattr(database.db.storage, '_file_name', None))
    return Path(path).expanduser().resolve() if path else None


def open_destination(conf_path, root_dir):
    """The storage of the first <zodb> of conf_path, opened (created when new;
    a PostgreSQL database checked as stf checks its own, its tables created
    when it has none)."""
    import zc.lockfile
    text, top = storages.read_config(conf_path, root_dir)
    place = storages.check_relstorage(top, conf_path, create_tables=True)
    config = storages.load_config(text, top, root_dir, conf_path, create_tables=True)
    try:
        return config.database[0].config.storage.open()
    except zc.lockfile.LockError:
        raise UserError(f'the database {conf_path} names is open in another program; close '
                        'it there, or copy into another database') from None
    except Exception as error:
        raise storages.cannot_open(error, conf_path, place) from None


def refuse_the_same_storage(source, destination, conf_path):
    mine = identity(source)
    if mine is not None and identity(destination) == mine:
        raise UserError(f'{conf_path} names the open database itself; give the configuration '
                        'of another, empty database')


def identity(storage):
    """What tells one storage from another: a file's path, a ZEO server's
    address and storage name, a PostgreSQL database on its server; None
    for another kind."""
    path = getattr(storage, '_file_name', None)
    if path:
        return 'file', str(Path(path).resolve())
    if zeohooks.is_client(storage):
        addresses = storage._addr if isinstance(storage._addr, list) else [storage._addr]
        return 'zeo', tuple(map(str, addresses)), storage._storage
    if postgres.is_relstorage(storage):
        return ('postgresql', *postgres.query(storage, 'SELECT current_database(), '
                                              "current_setting('port'), "
                                              'pg_postmaster_start_time()')[0])
    return None


def refuse_unless_empty(destination, conf_path):
    """A database holding anything (a root, a transaction) is never overwritten."""
    try:
        load_current(destination, z64)
    except POSKeyError:
        if destination.lastTransaction() == z64:
            return
    raise UserError(f'the database {conf_path} names is not empty; stf copies only into an '
                    'empty database and never overwrites one: give another')


# -- others on the source


def refuse_other_writers(database):
    """Refused while anyone else may commit to the database's storage."""
    storage = database.db.storage
    if zeohooks.is_client(storage):
        others = storage.server_status()['connections'] - 1  # this stf is one
        where = 'its ZEO server'
    elif postgres.is_relstorage(storage):
        others = other_sessions(database)
        where = 'its PostgreSQL database'
    else:
        return  # a file this stf opened alone
    if others > 0:
        raise UserError(f'{counted(others, "other client")} connected to {where}; they could '
                        'commit while it is copied: copy when only this stf is connected')


def other_sessions(database):
    """Sessions on the PostgreSQL database of the database's RelStorage that
    are not this stf's own connections."""
    db = database.db
    rows = postgres.query(db.storage, "SELECT pid FROM pg_stat_activity WHERE datname = "
                          "current_database() AND pid <> pg_backend_pid() AND backend_type = "
                          "'client backend'")
    own = postgres.own_backends(db, database.own_storage_instances())
    return len({pid for (pid,) in rows} - own)


def newest_transaction(storage):
    """The id of the last transaction committed to storage, asked of its
    server or database (a client's own idea of it may lag)."""
    if zeohooks.is_client(storage):
        return bytes.fromhex(storage.server_status()['last-transaction'])
    if postgres.is_relstorage(storage):
        table = 'transaction' if postgres.keeps_history(storage) else 'object_state'
        ((tid,),) = postgres.query(storage, f'SELECT COALESCE(MAX(tid), 0) FROM {table}')
        return p64(tid)
    return storage.lastTransaction()


# -- the copy


def copy_transactions(source, destination, last, update=None):
    """Every transaction of source up to last restored into destination
    (ids, times, users, descriptions and records as they were); their count."""
    iterator = source.iterator(stop=last)
    try:
        total = count_transactions(source, iterator, last) if update else None
        copied = 0
        if update:
            update(0, total)
        for record in iterator:
            restore(destination, record)
            copied += 1
            if update:
                update(copied, total)
    finally:
        getattr(iterator, 'close', lambda: None)()
    return copied


def count_transactions(storage, iterator, last):
    """How many transactions the copy reads, when that costs little: an
    iterator that knows (RelStorage's lists them first), a local file (its
    headers); else None (the progress counts without a total)."""
    try:
        return len(iterator)
    except TypeError:
        pass
    if not getattr(storage, '_file_name', None):
        return None
    headers = storage.iterator(stop=last)
    try:
        return sum(1 for _ in headers)
    finally:
        headers.close()


def restore(destination, record):
    """One transaction (an iterator's record) committed to destination as it was."""
    destination.tpc_begin(record, record.tid, record.status)
    try:
        for data in record:
            destination.restore(data.oid, data.tid, data.data, '', data.data_txn, record)
        destination.tpc_vote(record)
    except BaseException:
        destination.tpc_abort(record)
        raise
    destination.tpc_finish(record)


# -- the comparison


def compare(root, destination, conf_path):
    """Every dataset, group, model, label and note of root against the
    copy's (opened as stf opens a database); how many were compared, or the
    first difference as a UserError."""
    copy_db = GuardedDB(destination)  # closed with the destination
    manager = transaction.TransactionManager(explicit=False)
    connection = copy_db.open(transaction_manager=manager)
    try:
        manager.begin()
        compared = 0
        mine, theirs = contents(root), contents(connection.root())
        for compared, (original, copied) in enumerate(zip_all(mine, theirs), 1):
            if original != copied:
                raise UserError(f'the copy in {conf_path} differs from the open database: '
                                f'{difference(original, copied)}; empty it and copy again')
        return compared
    finally:
        manager.abort()
        connection.close()


MISSING = (None, None)


def zip_all(first, second):
    """Pairs of first and second; MISSING for the shorter one's end."""
    first, second = iter(first), iter(second)
    while True:
        left, right = next(first, MISSING), next(second, MISSING)
        if left is MISSING and right is MISSING:
            return
        yield left, right


def difference(original, copied):
    """What one pair of (what, contents) tells."""
    if copied is MISSING:
        return f'{original[0]} is missing from the copy'
    if original is MISSING:
        return f'{copied[0]} is in the copy only'
    if original[0] != copied[0]:
        return f'{original[0]} is missing from the copy, which has {copied[0]} there'
    return f'{original[0]} is not the same'


def contents(root):
    """(what, contents) of every dataset, dataset file, connection group
    (its connection ids and flow columns' bytes), model group, model (its
    state), label and note, in a fixed order."""
    for reader in (datasets, connection_groups, model_groups, labels, notes):
        yield from reader(root)


def datasets(root):
    for dataset_id, dataset in root['datasets'].items.items():
        yield f'dataset {dataset_id}', (dataset.name, dataset.folder, dataset.main_file_id,
                                        dataset.note_id)
        for file_id, item in dataset.files.items():
            yield f'file {file_id} of dataset {dataset_id}', (item.path, item.kind, item.size)


CHUNK_COLUMNS = ('bounds', 'start', 'dur', 'size', 'offset', 'line', 'label', 'original')


def connection_groups(root):
    for group_id, group in root['connections'].items.items():
        what = f'connection group {group_id}'
        yield what, (group.dataset_id, group.file_id, group.file_path, list(group.labels),
                     group.connection_count, group.flow_count, list(group.index.items()))
        for number, chunk in enumerate(group.chunks):
            yield f'flows part {number} of {what}', (
                list(chunk.ids), *(getattr(chunk, name) for name in CHUNK_COLUMNS))


def model_groups(root):
    for group_id, group in root['models'].items.items():
        yield f'model group {group_id}', (group.connection_group_id, group.constructor_id,
                                          group.dataset_id, group.count, group.source)
        for conn, state in group.states.items():
            yield f'model {conn} of group {group_id}', (state, group.labels.get(conn),
                                                        group.notes.get(conn))


def labels(root):
    for label_id, label in root['labels'].items.items():
        yield f'label {label_id}', (label.name, label.note_id, dict(label.datasets), [
            (group_id, list(conns)) for group_id, conns in label.members.items()])


def notes(root):
    for note_id, note in root['notes'].items.items():
        yield f'note {note_id}', (note.text, note.owner)
