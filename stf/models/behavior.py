"""Groups of behavioral models: one connection's letters each."""
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from stf.models.notes import utcnow


class ModelGroup(Persistent):
    """The models of one group of connections made with one constructor.

    Attributes: id ('<connections group>-<constructor>'), connection_group_id,
    constructor_id, dataset_id, created, states (OOBTree connection id ->
    (flows, state)), labels (OOBTree connection id -> label name), notes
    (OOBTree connection id -> note id), source (where the models came from).
    """

    def __init__(self, connection_group_id, constructor_id, dataset_id, source=''):
        self.id = group_id(connection_group_id, constructor_id)
        self.connection_group_id = connection_group_id
        self.constructor_id = constructor_id
        self.dataset_id = dataset_id
        self.created = utcnow()
        self.states = OOBTree()
        self.labels = OOBTree()
        self.notes = OOBTree()
        self.source = source
        self.count = 0

    def __len__(self):
        # Kept as a number: len() of a BTree loads all of it (a listing of the
        # groups must not read 500,000 models).
        return self.count

    def set_states(self, rows):
        """rows: (connection id, flows, state); replaces every state."""
        self.states.clear()
        self.states.update({conn: (flows, state) for conn, flows, state in rows})
        self.count = len(self.states)

    def set_gaps(self, pairs):
        """(connection id, median seconds between its flows or None)."""
        self.gaps = OOBTree({conn: gap for conn, gap in pairs if gap is not None})

    def gap_of(self, conn):
        """The median seconds between a model's flows; None when unknown (one
        flow, imported letters, or a group made before gaps were kept)."""
        gaps = getattr(self, 'gaps', None)
        return gaps.get(conn) if gaps is not None else None

    def delete(self, conns):
        count = 0
        for conn in conns:
            if self.states.pop(conn, None) is not None:
                count += 1
            self.labels.pop(conn, None)
            self.notes.pop(conn, None)
        self.count -= count
        return count


def group_id(connection_group_id, constructor_id):
    return f'{connection_group_id}-{constructor_id}'


class ModelGroups(Persistent):
    """Model groups by id ('0-1'); not a Store since ids are made of two parts."""

    def __init__(self):
        self.items = OOBTree()

    def get(self, model_group_id):
        return self.items.get(model_group_id)

    def put(self, group):
        self.items[group.id] = group
        return group

    def remove(self, model_group_id):
        return self.items.pop(model_group_id, None)

    def values(self):
        return list(self.items.values())

    def of_connections(self, connection_group_id):
        return [group for group in self.items.values()
                if group.connection_group_id == connection_group_id]

    def __len__(self):
        return len(self.items)
