"""Labels: names of behaviors, attached to connections of groups of models."""
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent
from persistent.mapping import PersistentMapping

from stf.models.notes import utcnow
from stf.models.store import Store


class Label(Persistent):
    """Attributes: id, name, created, members (OOBTree model group id ->
    OOTreeSet of connection ids), datasets (model group id -> dataset id),
    note_id."""

    def __init__(self, label_id, name):
        self.id = label_id
        self.name = name
        self.created = utcnow()
        self.members = OOBTree()
        self.datasets = PersistentMapping()
        self.note_id = None

    def add(self, group, conn):
        if group.id not in self.members:
            self.members[group.id] = OOTreeSet()
            self.datasets[group.id] = group.dataset_id
        self.members[group.id].add(conn)

    def remove(self, group_id, conn):
        connections = self.members.get(group_id)
        if connections is not None and conn in connections:
            connections.remove(conn)
            if not len(connections):
                del self.members[group_id]
                self.datasets.pop(group_id, None)

    def connections(self):
        """(model group id, connection id) of every labeled connection."""
        return [(group_id, conn) for group_id, conns in self.members.items() for conn in conns]

    def count(self):
        return sum(len(conns) for conns in self.members.values())


class Labels(Store):
    """Labels by id, and their ids by name (name_index, an OOBTree) so that
    finding a label by name reads one bucket, not every label."""

    def __init__(self):
        super().__init__()
        self.name_index = OOBTree()

    def index(self):
        """name -> id; built on first use in databases made before it existed."""
        index = getattr(self, 'name_index', None)
        if index is None:
            index = self.name_index = OOBTree()
            index.update({label.name: label.id for label in self.items.values()})
        return index

    def new(self, name):
        label = self.add(lambda label_id: Label(label_id, name))
        self.index()[name] = label.id
        return label

    def remove(self, label_id):
        label = super().remove(label_id)
        if label is not None and self.index().get(label.name) == label_id:
            del self.index()[label.name]
        return label

    def by_name(self, name):
        label_id = self.index().get(name)
        return self.items.get(label_id) if label_id is not None else None

    def names(self):
        return {label_id: name for name, label_id in self.index().items()}

    def names_starting(self, prefix):
        """Names of labels that start with prefix, in order."""
        return list(self.index().keys(min=prefix, max=prefix + '\U0010ffff'))
