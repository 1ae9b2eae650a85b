"""A persistent collection of objects with integer ids counted from 0.

Items live in a BTree, so two analysts adding items at the same time conflict
only if they take the same id: BTrees merge concurrent inserts of distinct
keys. The next id is past the newest one; a BTrees.Length (the counter) keeps
it past ids removed too. The counter is written only when an id is removed:
an object every command wrote would be a row every commit locks, and on
PostgreSQL (RelStorage) such a row makes analysts who label at once wait for
each other and deadlock with the BTree nodes they read.

Ids: an analyst alone takes the next id, so ids are consecutive. Analysts
who have just collided (a conflict in this session within CONTENTION_SECONDS)
each keep to a lane, the ids of one residue modulo LANES, chosen among the
lanes the newest ids do not use, so that racing writers take distinct ids
and their commits merge instead of failing. Ids then skip some numbers
while analysts race, as database sequences do. An id is never given twice:
the next one is past the newest id and past the counter, which stays past
every id removed.
"""
import random
import time

from BTrees.IOBTree import IOBTree
from BTrees.Length import Length
from persistent import Persistent

LANES = 8
CONTENTION_SECONDS = 30

_lane = None
_contended_until = 0.0


def contended():
    """This session just lost a race for the same objects: take another lane."""
    global _lane, _contended_until
    _lane = None  # chosen at the next allocation, from the ids it sees then
    _contended_until = time.monotonic() + CONTENTION_SECONDS


def lane_for(tree, newest):
    """This session's lane: kept while racing, else one the newest ids leave free."""
    global _lane
    if time.monotonic() >= _contended_until:
        return None
    if _lane is None:
        used = {key % LANES for key in tree.keys(min=newest - 2 * LANES)} if newest >= 0 else ()
        free = [lane for lane in range(LANES) if lane not in used]
        _lane = random.choice(free or range(LANES))
    return _lane


def allocate_id(tree, counter):
    """The next free id of tree (keys: ints): past its newest id and past
    counter (a Length past every id removed), which it only reads."""
    try:
        newest = tree.maxKey()
    except ValueError:  # empty
        newest = -1
    candidate = max(counter(), newest + 1)
    if counter._p_jar is not None:
        # Another analyst's removal of the newest id writes the counter: read
        # as current, it makes this commit conflict instead of merging an id
        # given and removed meanwhile into the tree again.
        counter._p_jar.readCurrent(counter)
    lane = lane_for(tree, newest)
    if lane is not None:
        candidate += (lane - candidate) % LANES
    return candidate


def release_id(counter, item_id):
    """item_id was removed: keep the counter past it so it is never reused."""
    if counter() <= item_id:
        counter.change(item_id + 1 - counter())

class Store(Persistent):
    """Objects by integer id.

    Attributes: items (IOBTree id -> object), counter (Length: past every id removed).
    """


    def __init__(self):
        self.items = IOBTree()
        self.counter = Length(0)

    def add(self, make):
        """Create an object with make(new_id), store and return it."""
        item_id = allocate_id(self.items, self.counter)
        item = make(item_id)
        self.items[item_id] = item
        return item

    def get(self, item_id):
        return self.items.get(item_id)

    def remove(self, item_id):
        item = self.items.pop(item_id, None)
        if item is not None:
            release_id(self.counter, item_id)
        return item

    def values(self):
        return list(self.items.values())

    def __len__(self):
        return len(self.items)

    def __contains__(self, item_id):
        return item_id in self.items
