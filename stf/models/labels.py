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
    title = 'labels'

    def new(self, name):
        return self.add(lambda label_id: Label(label_id, name))

    def by_name(self, name):
        return next((label for label in self.items.values() if label.name == name), None)

    def names(self):
        return {label.id: label.name for label in self.items.values()}

    def forget_group(self, group_id):
        """Drop every membership in a group of models; labels left empty go."""
        for label in self.values():
            if group_id in label.members:
                del label.members[group_id]
                label.datasets.pop(group_id, None)
                if not len(label.members):
                    del self.items[label.id]

    def forget_dataset(self, dataset_id):
        groups = {group_id for label in self.items.values()
                  for group_id, owner in label.datasets.items() if owner == dataset_id}
        before = len(self.items)
        for group_id in groups:
            self.forget_group(group_id)
        return before - len(self.items)
