"""A database written by an earlier stf (tests/data/old-stf.db, made by
tests/data/make_old_database.py before stf's modules were moved) opens with
today's code, and every object in it reads as it was written.

Databases name the classes of their objects by module path, so this test
fails when a persistent class moves without a way back."""
import pickletools
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ok

DATA = Path(__file__).resolve().parent / 'data'
BEACON = '10.0.0.5-203.0.113.7-80-tcp'
DNS = '10.0.0.5-8.8.8.8-53-udp'
WEB = '10.0.0.9-198.51.100.2-443-tcp'
DATED = r'- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: '

# Every class the old database names (module, name): stf's persistent
# classes keep these paths for good.
STORED_CLASSES = {
    ('BTrees.IOBTree', 'IOBTree'), ('BTrees.Length', 'Length'), ('BTrees.OLBTree', 'OLBTree'),
    ('BTrees.OOBTree', 'OOBTree'), ('BTrees.OOBTree', 'OOTreeSet'),
    ('persistent.list', 'PersistentList'), ('persistent.mapping', 'PersistentMapping'),
    ('stf.models.behavior', 'ModelGroup'), ('stf.models.behavior', 'ModelGroups'),
    ('stf.models.connections', 'ConnectionGroup'),
    ('stf.models.connections', 'ConnectionGroups'), ('stf.models.connections', 'FlowChunk'),
    ('stf.models.datasets', 'Dataset'), ('stf.models.datasets', 'DatasetFile'),
    ('stf.models.datasets', 'Datasets'), ('stf.models.labels', 'Label'),
    ('stf.models.labels', 'Labels'), ('stf.models.notes', 'Note'),
    ('stf.models.notes', 'Notes'),
}


@pytest.fixture
def old(tmp_path):
    """An App on a copy of the old database (opening writes an index beside it)."""
    from stf.console import config
    from stf.console.app import App
    from stf.db.database import Database
    from stf.db.storages import open_file_storage
    copy = tmp_path / 'old-stf.db'
    shutil.copy(DATA / 'old-stf.db', copy)
    application = App(config.load(), Database(open_file_storage(copy)))
    yield application
    application.close()


def globals_named(path):
    """(module, name) of every class the records' pickles name, read with
    pickletools (nothing is unpickled)."""
    from ZODB.FileStorage import FileStorage
    storage = FileStorage(str(path), read_only=True)
    found = set()
    try:
        for transaction_record in storage.iterator():
            for record in transaction_record:
                if record.data:
                    found |= pickle_globals(record.data)
    finally:
        storage.close()
    return found


def pickle_globals(data):
    """ZODB writes two pickles per record (class, then state)."""
    names, strings, position = set(), [], 0
    while position < len(data):
        for opcode, argument, at in pickletools.genops(data[position:]):
            if opcode.name == 'GLOBAL':
                names.add(tuple(argument.split(' ', 1)))
            elif opcode.name == 'STACK_GLOBAL':
                names.add(tuple(strings[-2:]))
            elif isinstance(argument, str):
                strings.append(argument)
            if opcode.name == 'STOP':
                position += at + 1
                break
    return names


def test_the_old_database_names_only_classes_that_import(tmp_path):
    import importlib
    copy = tmp_path / 'old-stf.db'
    shutil.copy(DATA / 'old-stf.db', copy)
    named = {pair for pair in globals_named(copy) if pair[0] not in ('builtins', 'copy_reg',
                                                                     'datetime', '_codecs')}
    assert named == STORED_CLASSES
    for module, name in named:
        assert getattr(importlib.import_module(module), name)


def test_datasets_and_files(old):
    datasets = old.datasets
    assert sorted(datasets.items.keys()) == [0, 1] and datasets.counter() == 2
    beacon, imported = datasets.get(0), datasets.get(1)
    assert (beacon.name, imported.name) == ('beacon', 'imported')
    assert isinstance(beacon.added, datetime) and beacon.added.tzinfo == timezone.utc
    assert [(f.id, f.name, f.kind, f.size) for f in beacon.files.values()] == [
        (0, 'old-flows.binetflow', 'binetflow', 1414)]
    assert [(f.id, f.name, f.kind, f.size) for f in imported.files.values()] == [
        (0, 'old-models.letters.tsv', 'letters', 119)]
    assert beacon.main_file_id == 0 and beacon.file_counter() == 1
    assert (beacon.note_id, imported.note_id) == (2, None)


def test_groups_of_connections_and_their_flow_columns(old):
    groups = old.root['connections']
    assert sorted(groups.items.keys()) == [0, 1]
    group = groups.get(0)
    assert (group.dataset_id, group.file_id, group.trimmed) == (0, 0, 4)
    assert (group.connection_count, group.flow_count) == (3, 9)
    assert group.read['out_of_order'] == 1
    assert [(conn, flows, original) for conn, flows, original, _, _ in group.connections()] == [
        (BEACON, 4, 6), (DNS, 4, 4), (WEB, 1, 1)]
    flows = group.locate(BEACON)[0].flows(group.locate(BEACON)[1])
    start = 1420106400 * 10 ** 6  # 2015/01/01 10:00:00 UTC in microseconds
    assert flows['start'].tolist() == [start + k * 60 * 10 ** 6 for k in range(4)]
    assert flows['dur'].tolist() == [1_500_000] * 4
    assert flows['size'].tolist() == [1500] * 4
    assert group.flow_labels(*group.locate(DNS)) == ['flow=From-Normal-V1-UDP-DNS']
    assert isinstance(flows['start'], np.ndarray)
    assert groups.get(1).connection_count == 0


def test_groups_of_models_labels_and_notes(old):
    models = old.root['models']
    assert sorted(models.items.keys()) == ['0-0', '0-1', '1-1']
    assert dict(models.get('0-1').states) == {BEACON: (6, '88,h,h,h,h,'), DNS: (4, '11,a,a,'),
                                              WEB: (1, '9')}
    assert dict(models.get('0-0').states)[DNS] == (4, '44,d,d,')
    assert dict(models.get('1-1').states) == {'10.1.1.1-10.2.2.2-80-tcp': (3, '99*i*'),
                                              '10.1.1.1-10.3.3.3-53-udp': (2, '11.')}
    labels = old.root['labels']
    assert labels.names() == {0: 'From-Botnet-TCP-HTTP-Beacon-1', 1: 'From-Normal-UDP-DNS--1',
                              2: 'From-Botnet-TCP-HTTP-Old-1'}
    assert labels.get(0).connections() == [('0-1', BEACON)]
    assert labels.get(2).connections() == [('1-1', '10.1.1.1-10.2.2.2-80-tcp')]
    assert dict(models.get('0-1').labels) == {BEACON: 0, DNS: 1}
    assert dict(models.get('0-1').notes) == {BEACON: 0, DNS: 1}
    notes = old.notes
    assert sorted(notes.items.keys()) == [0, 1, 2, 3]
    assert notes.get(0).text == 'Beacons every minute.\nFirst seen 2015.'
    assert re.fullmatch(DATED + 'labeled From-Normal-UDP-DNS--1\n', notes.get(1).text)
    assert re.fullmatch('Hand-made flows for the old-database test.\n' + DATED +
                        r'trimmed group of connections 0 to at most 4 flows per connection '
                        r'\(1 trimmed\)\n', notes.get(2).text)
    assert (notes.get(3).text, notes.get(3).owner) == ('A note of its own.', None)
    assert [notes.get(n).owner for n in range(3)] == [('model', f'0-1/{BEACON}'),
                                                      ('model', f'0-1/{DNS}'), ('dataset', 0)]


def test_commands_work_on_the_old_database(old):
    (table,) = ok(old, 'models -L 0-1')
    assert [row[5] for row in table.rows] == ['-', '-', '-']   # no gaps kept then
    assert [row[:4] + row[6:] for row in table.rows] == [
        ('*', 'From-Botnet-TCP-HTTP-Beacon-1', BEACON, '6', '88,h,h,h,h,'),
        ('*', 'From-Normal-UDP-DNS--1', DNS, '4', '11,a,a,'), ('', '', WEB, '1', '9')]
    items = ok(old, f'labels -a -c {WEB} -g 0-1 --name From-Normal-TCP-HTTPS-Web-1')
    assert items[-1].text == ('1 connection of group 0-1 labeled From-Normal-TCP-HTTPS-Web-1 '
                              '(label 3)')
    # labeling noted it on the model (note 4); ids go on from the old counter
    assert ok(old, 'notes -c --text "new"')[-1].text == 'note 5 saved (free-standing)'
