"""Ids of stored objects: consecutive alone, distinct and mergeable when racing."""
import pytest
import transaction
import ZODB
import ZODB.FileStorage
from ZODB.POSException import ConflictError

from stf.models import store
from stf.models.labels import Labels
from stf.models.notes import Notes


@pytest.fixture
def two_analysts(tmp_path):
    """Two connections, each with its own transactions, on one database whose
    root holds empty labels and notes."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / 'ids.fs')))
    managers = [transaction.TransactionManager(), transaction.TransactionManager()]
    connections = [db.open(manager) for manager in managers]
    root = connections[0].root()
    root['labels'], root['notes'] = Labels(), Notes()
    managers[0].commit()
    for manager in managers:
        manager.begin()
    yield connections, managers
    for manager in managers:
        manager.abort()
    db.close()


def test_alone_ids_are_consecutive_and_removed_ids_never_return():
    notes = Notes()
    assert [notes.new(f'n{i}').id for i in range(4)] == [0, 1, 2, 3]
    notes.remove(3)
    notes.remove(1)
    assert notes.new('after').id == 4
    assert sorted(notes.items.keys()) == [0, 2, 4]


def test_racing_writers_without_lanes_collide(two_analysts):
    (first, second), (tm1, tm2) = two_analysts
    assert first.root()['labels'].new('A').id == second.root()['labels'].new('B').id == 0
    tm1.commit()
    with pytest.raises(ConflictError):
        tm2.commit()


def test_racing_writers_in_lanes_both_commit(two_analysts, monkeypatch):
    (first, second), (tm1, tm2) = two_analysts
    for (conn, manager), name in zip(((first, tm1), (second, tm2)), 'AB'):
        conn.root()['labels'].new(f'{name}0')  # an id before the race
    tm1.commit()
    tm2.abort()
    tm1.begin()
    tm2.begin()
    monkeypatch.setattr(store, '_contended_until', float('inf'))
    monkeypatch.setattr(store, '_lane', 3)
    a = first.root()['labels'].new('A1')
    monkeypatch.setattr(store, '_lane', 6)
    b = second.root()['labels'].new('B1')
    assert (a.id, b.id) == (3, 6)  # the next id (1) moved up to each lane
    tm1.commit()
    tm2.commit()  # distinct keys in one bucket: merged, not a conflict
    tm1.begin()
    labels = first.root()['labels']
    assert sorted(labels.items.keys()) == [0, 3, 6]
    assert labels.names() == {0: 'A0', 3: 'A1', 6: 'B1'}
    assert labels.counter() == 0  # written only when an id is removed
    monkeypatch.setattr(store, '_contended_until', 0.0)
    assert labels.new('C').id == 7


def test_adding_writes_the_tree_not_the_counter(two_analysts):
    """The counter is not a row every commit locks: adding leaves it alone,
    removing the newest id moves it past that id."""
    (first, _), (tm1, _) = two_analysts
    labels = first.root()['labels']
    serial = labels.counter._p_serial
    assert [labels.new(name).id for name in 'ABC'] == [0, 1, 2]
    assert labels.counter._p_changed is False  # a ghost or up to date, not changed
    tm1.commit()
    assert labels.counter._p_serial == serial and labels.counter() == 0
    labels.remove(2)
    assert labels.counter._p_changed and labels.counter() == 3
    tm1.commit()
    assert labels.new('D').id == 3


def test_an_id_given_and_removed_meanwhile_is_not_given_again(tmp_path):
    """A adds id 3 and commits; C removes it and commits; B, whose snapshot
    is older than both, adds: without a conflict the tree would merge B's
    id 3 back in. B's commit conflicts; run again, it takes 4."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / 'race.fs')))
    managers = [transaction.TransactionManager() for _ in range(3)]
    a, b, c = (db.open(manager) for manager in managers)
    a.root()['notes'] = Notes()
    for text in ('n0', 'n1', 'n2'):
        a.root()['notes'].new(text)
    managers[0].commit()
    for manager in managers:
        manager.begin()
    assert len(b.root()['notes'].items) == 3  # B's snapshot: ids 0 to 2
    assert a.root()['notes'].new('by A').id == 3
    managers[0].commit()
    managers[2].begin()
    c.root()['notes'].remove(3)
    managers[2].commit()
    assert b.root()['notes'].new('by B').id == 3  # from its old snapshot
    with pytest.raises(ConflictError):
        managers[1].commit()
    managers[1].begin()
    assert b.root()['notes'].new('by B').id == 4
    managers[1].commit()
    managers[0].begin()
    assert sorted(a.root()['notes'].items.keys()) == [0, 1, 2, 4]
    db.close()


def test_a_new_lane_avoids_the_lanes_of_the_newest_ids():
    notes = Notes()
    for key in (17, 18, 20, 21, 22, 23):  # others racing in lanes 1, 2 and 4 to 7
        notes.items[key] = None
    taken = set()
    for attempt in range(20):
        store.contended()
        taken.add(notes.new('racing').id)
        notes.remove(max(taken))
    # The next id is 24 (lane 0); in lane 3 it is 27. Removed ids are not
    # given again, so later attempts move on by whole rounds of lanes.
    assert {key % store.LANES for key in taken} == {0, 3}
    assert min(taken) in (24, 27)


def test_label_names_are_indexed_and_old_databases_get_the_index():
    labels = Labels()
    for name in ('From-Botnet-TCP-HTTP-1', 'From-Normal-UDP-DNS-1', 'From-Botnet-TCP-HTTP-2'):
        labels.new(name)
    assert labels.by_name('From-Normal-UDP-DNS-1').id == 1
    assert labels.names_starting('From-Botnet-TCP-HTTP-') == ['From-Botnet-TCP-HTTP-1',
                                                              'From-Botnet-TCP-HTTP-2']
    labels.remove(0)
    assert labels.by_name('From-Botnet-TCP-HTTP-1') is None
    assert labels.names() == {1: 'From-Normal-UDP-DNS-1', 2: 'From-Botnet-TCP-HTTP-2'}
    del labels.name_index  # as in a database made before the index
    assert labels.by_name('From-Botnet-TCP-HTTP-2').id == 2
    assert dict(labels.name_index) == {'From-Normal-UDP-DNS-1': 1, 'From-Botnet-TCP-HTTP-2': 2}
