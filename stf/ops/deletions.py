"""One cascade for each kind of deletion: what goes with a model, a group of
models, a label, a note, a dataset. `root` is the database root."""
from stf.models import STRUCTURES


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
    """A group of models with its labels' hold on it (labels left empty go)
    and its models' notes."""
    root['models'].remove(group.id)
    root['labels'].forget_group(group.id)
    delete_notes(root, list(group.notes.values()))


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
    groups = [group for group in root['models'].values() if group.dataset_id == dataset_id]
    for group in groups:
        delete_model_group(root, group)
    removed = {name: root[name].forget_dataset(dataset_id) for name in STRUCTURES
               if name != 'datasets' and name in root}
    removed['groups of models'] = len(groups)
    root['datasets'].remove(dataset_id)
    return removed
