"""One cascade for each kind of deletion: what goes with a model, a group of
models, a label, a note, a dataset. `root` is the database root."""


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
    """A group of models with its labels' hold on it (labels left empty go,
    with their notes) and its models' notes."""
    root['models'].remove(group.id)
    for label in root['labels'].values():
        if group.id in label.members:
            del label.members[group.id]
            label.datasets.pop(group.id, None)
            if not len(label.members):
                delete_label(root, label)
    delete_notes(root, list(group.notes.values()))


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


def delete_note(root, note):
    """A note, and its place on what it was attached to."""
    kind, key = note.owner or (None, None)
    if kind in ('dataset', 'label'):
        owner = root['datasets' if kind == 'dataset' else 'labels'].get(key)
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
           'labels': 'labels', 'notes': 'notes'}

# How everything of one top-level structure goes (database -d): item by item
# through the cascades, so that nothing points at what went and ids are not
# given again.
EMPTYING = {
    'datasets': lambda root, item: delete_dataset(root, item.id),
    'connections': delete_connection_group,
    'models': delete_model_group,
    'labels': delete_label,
    'notes': delete_note,
}


def empty_structure(root, name):
    """Delete every item of one of stf's top-level structures."""
    for item in list(root[name].values()):
        if item is not None and (name != 'labels' or item.id in root['labels']):
            EMPTYING[name](root, item)
