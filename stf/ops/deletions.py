"""One cascade for each kind of deletion: what goes with a model, a group of
models, a label, a note, a dataset; and, for each, what it would take (an
Impact), told to the analyst before anything goes. `root` is the database root.

Labels are the analysts' own words: deleting models or groups takes the
labels' place on those connections, never the labels themselves (a label
left without connections stays, listed with 0 connections, until
`labels -d`)."""
from collections import Counter
from dataclasses import dataclass

# How many labels an impact names one by one before it sums up the rest.
NAMED_LABELS = 10


def delete_models(root, group, conns):
    """Models of a group, with their place on their labels and their notes;
    the number of models deleted."""
    forget_connections(root, group, conns)
    return group.delete(conns)


def forget_connections(root, group, conns):
    """Labels and notes of a group's connections go (their models stay)."""
    labels = root['labels']
    for conn in conns:
        label = labels.get(group.labels.pop(conn, None))
        if label is not None:
            label.remove(group.id, conn)
    delete_notes(root, [group.notes.pop(conn) for conn in conns if conn in group.notes])


def delete_model_group(root, group):
    """A group of models with its labels' hold on it and its models' notes."""
    root['models'].remove(group.id)
    for label in root['labels'].values():
        if group.id in label.members:
            del label.members[group.id]
            label.datasets.pop(group.id, None)
    delete_notes(root, list(group.notes.values()))


def delete_connections(root, group, conns):
    """Connections of a group with their models (their labels' places and
    notes); (connections deleted, models deleted)."""
    models = sum(delete_models(root, model_group, [conn for conn in conns
                                                   if conn in model_group.states])
                 for model_group in root['models'].of_connections(group.id))
    return group.delete(conns), models


def delete_connection_group(root, group):
    """A group of connections with the groups of models made from it; those
    groups' ids."""
    models = root['models'].of_connections(group.id)
    for model_group in models:
        delete_model_group(root, model_group)
    root['connections'].remove(group.id)
    return [model_group.id for model_group in models]


def delete_notes(root, note_ids):
    for note_id in note_ids:
        root['notes'].remove(note_id)


# Kinds of things a note is attached to by their integer id -> their root key.
NOTE_HOLDERS = {'dataset': 'datasets', 'label': 'labels', 'experiment': 'experiments'}


def delete_note(root, note):
    """A note, and its place on what it was attached to."""
    kind, key = note.owner or (None, None)
    if kind in NOTE_HOLDERS:
        owner = root[NOTE_HOLDERS[kind]].get(key)
        if owner is not None and owner.note_id == note.id:
            owner.note_id = None
    elif kind == 'model':
        group_id, _, conn = key.partition('/')
        group = root['models'].get(group_id)
        if group is not None and group.notes.get(conn) == note.id:
            del group.notes[conn]
    root['notes'].remove(note.id)


def delete_label(root, label, noted=None):
    """A label and its place on every connection; noted(group, conn, line)
    adds a line to the model's note when given."""
    for group_id, conn in label.connections():
        group = root['models'].get(group_id)
        if group is not None and group.labels.get(conn) == label.id:
            del group.labels[conn]
            if noted:
                noted(group, conn, f'label {label.name} deleted')
    if label.note_id is not None:
        delete_notes(root, [label.note_id])
    root['labels'].remove(label.id)


def delete_dataset(root, dataset_id):
    """A dataset and everything made from it; {what: how many} went with it."""
    before = {name: len(root[name]) for name in COUNTED}
    for group in root['connections'].of_dataset(dataset_id):
        delete_connection_group(root, group)
    for group in [group for group in root['models'].values()
                  if group.dataset_id == dataset_id]:  # imported, without connections
        delete_model_group(root, group)
    for note in root['notes'].for_owner('dataset', dataset_id):
        delete_note(root, note)
    root['datasets'].remove(dataset_id)
    return {COUNTED[name]: before[name] - len(root[name]) for name in COUNTED}


# What delete_dataset counts, by root key.
COUNTED = {'connections': 'groups of connections', 'models': 'groups of models',
           'notes': 'notes'}

# How everything of one top-level structure goes (database -d): item by item
# through the cascades, so that nothing points at what went and ids are not
# given again.
EMPTYING = {
    'datasets': lambda root, item: delete_dataset(root, item.id),
    'connections': delete_connection_group,
    'models': delete_model_group,
    'labels': delete_label,
    'notes': delete_note,
    'detectors': lambda root, item: root['detectors'].remove(item.name),
    'experiments': lambda root, item: delete_experiment(root, item),
}


def delete_experiment(root, experiment):
    """An experiment with its note."""
    if experiment.note_id is not None:
        delete_notes(root, [experiment.note_id])
    root['experiments'].remove(experiment.id)


def empty_structure(root, name):
    """Delete every item of one of stf's top-level structures."""
    for item in list(root[name].values()):
        if item is not None and (name != 'labels' or item.id in root['labels']):
            EMPTYING[name](root, item)


# -- what a deletion would take, told before it goes

@dataclass(frozen=True)
class Impact:
    """What one deletion takes: its own objects (subject) and what goes with
    them (also: labels' places, notes, models). Two impacts are equal when
    the same things would go: an impact computed again at the commit that
    differs from the one the analyst agreed to means another analyst changed
    the data meanwhile."""
    subject: str
    also: tuple = ()
    asks: bool = False  # asked even when it takes nothing more

    @property
    def beyond(self):
        """True when it takes more than its own objects (or always asks)."""
        return bool(self.also) or self.asks

    def __str__(self):
        return ', '.join((self.subject, *self.also))


class Tally:
    """Adds up what goes with models: labels' places on their connections,
    and the models' notes."""

    def __init__(self):
        self.pieces = []
        self.labeled = Counter()
        self.notes = 0

    def models(self, group, conns=None):
        """The models of group being deleted (conns: some of them; None: all)."""
        if conns is None:
            self.labeled.update(group.labels.values())
            self.notes += len(group.notes)
        else:
            self.labeled.update(group.labels[conn] for conn in conns if conn in group.labels)
            self.notes += sum(1 for conn in conns if conn in group.notes)

    def impact(self, subject):
        return Impact(subject, (*self.pieces, *label_pieces(self.labeled),
                                *count_piece(self.notes, 'note')))


def label_pieces(labeled):
    """'label 119 on 281 connections' for each label losing connections."""
    ordered = sorted(labeled.items())
    pieces = [f'label {label_id} on {plural(count, "connection")}'
              for label_id, count in ordered[:NAMED_LABELS]]
    rest = ordered[NAMED_LABELS:]
    if rest:
        pieces.append(f'{len(rest):,} more labels on '
                      f'{plural(sum(count for _, count in rest), "connection")}')
    return pieces


def count_piece(count, noun):
    return [plural(count, noun)] if count else []


def plural(count, noun):
    return f'{count:,} {noun}' + ('' if count == 1 else 's')


def models_impact(group, conns):
    """models -D: some models of a group."""
    tally = Tally()
    tally.models(group, conns)
    return tally.impact(f'{plural(len(conns), "model")} of group {group.id}')


def model_group_impact(group):
    """models -d: a whole group of models."""
    tally = Tally()
    tally.models(group)
    return tally.impact(f'group of models {group.id} ({plural(len(group), "model")})')


def connections_impact(root, group, conns):
    """connections -D: some connections of a group, with their models."""
    tally = Tally()
    for model_group in root['models'].of_connections(group.id):
        modeled = [conn for conn in conns if conn in model_group.states]
        if modeled:
            tally.pieces.append(f'{plural(len(modeled), "model")} of group {model_group.id}')
            tally.models(model_group, modeled)
    return tally.impact(f'{plural(len(conns), "connection")} of group {group.id}')


def connection_group_impact(root, group):
    """connections -d: a group of connections and the groups of models made
    from it."""
    tally = Tally()
    add_model_groups(tally, root['models'].of_connections(group.id))
    return tally.impact(f'group {group.id}: {plural(group.connection_count, "connection")}')


def add_model_groups(tally, groups):
    for model_group in groups:
        tally.pieces.append(f'group of models {model_group.id}')
        tally.models(model_group)


def dataset_impact(root, dataset):
    """datasets -d: a dataset and everything made from it (its own groups of
    connections and models, imported groups of models, its notes)."""
    tally = Tally()
    for group in root['connections'].of_dataset(dataset.id):
        tally.pieces.append(f'group {group.id}: '
                            f'{plural(group.connection_count, "connection")}')
        add_model_groups(tally, root['models'].of_connections(group.id))
    made = {group.id for group in root['connections'].of_dataset(dataset.id)}
    add_model_groups(tally, [group for group in root['models'].values()
                             if group.dataset_id == dataset.id
                             and group.connection_group_id not in made])
    tally.notes += len(root['notes'].for_owner('dataset', dataset.id))
    return tally.impact(f"dataset {dataset.id} '{dataset.name}'")


def labels_impact(labels):
    """labels -d, -F: labels with their place on every connection and their
    notes."""
    names = ', '.join(f'{label.id}' for label in labels[:NAMED_LABELS])
    more = f' and {len(labels) - NAMED_LABELS:,} more' if len(labels) > NAMED_LABELS else ''
    places = sum(label.count() for label in labels)
    notes = sum(1 for label in labels if label.note_id is not None)
    subject = ('label ' if len(labels) == 1 else 'labels ') + names + more
    their = 'its' if len(labels) == 1 else 'their'
    return Impact(subject, (*([f'{their} place on {plural(places, "connection")}'] if places
                              else []), *count_piece(notes, 'note')))


def relabel_impact(group, conns, label_id, name):
    """labels -a on connections that already have another label."""
    replaced = Counter(group.labels[conn] for conn in conns
                       if conn in group.labels and group.labels[conn] != label_id)
    return Impact(f'{plural(len(conns), "connection")} of group {group.id} as {name}',
                  tuple(f'{piece} replaced' for piece in label_pieces(replaced)))
