"""A persistent collection of objects with integer ids counted from 0.

Items live in a BTree and the id counter in a BTrees.Length, so two analysts
adding items at the same time conflict only if they take the same id, and the
retry gives the later one the next id.
"""
import random

from BTrees.IOBTree import IOBTree
from BTrees.Length import Length
from persistent import Persistent


# How many analysts collided on ids in the running command: 0 on a first
# attempt, the attempt number when it runs again after a conflict (set by
# stf.core.database). Retried commands then take an id a random step further,
# so that writers racing for the next id take distinct ones, which the BTree
# merges, instead of colliding on the same one again. Ids stay consecutive
# when analysts do not race.
contention = 0


def allocate_id(tree, counter):
    """The next free id of tree, advancing counter (a BTrees.Length).

    The counter may lag behind an id another analyst just used: skip ahead
    so that ids stay unique.
    """
    candidate = counter()
    try:
        highest = tree.maxKey()
    except ValueError:  # empty
        highest = -1
    candidate = max(candidate, highest + 1)
    if contention:
        candidate += random.randrange(4 * contention)
    counter.change(candidate + 1 - counter())
    return candidate


class Store(Persistent):
    """Objects by integer id.

    Attributes: items (IOBTree id -> object), counter (Length: next id).
    """

    title = 'items'

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
        return self.items.pop(item_id, None)

    def values(self):
        return list(self.items.values())

    def __len__(self):
        return len(self.items)

    def __contains__(self, item_id):
        return item_id in self.items

    def forget_dataset(self, dataset_id):
        """Delete what was made from a dataset; stores that hold such data override."""
        return 0
