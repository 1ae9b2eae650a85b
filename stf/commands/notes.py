"""notes: the lab notebook. Markdown text attached to a dataset, model or
label, or free-standing; stf adds dated lines when it changes data."""
from stf.commands import common
from stf.commands.registry import Action, Command, Flag
from stf.core.flows import filters
from stf.core import formats
from stf.core.errors import UserError
from stf.commands.results import Fields, Table, Text, ok
from stf.ops import deletions
from stf.core.formats import counted


def owner_text(app, owner):
    """Where a note belongs, in words the analyst can go back with."""
    if owner is None:
        return 'free-standing'
    kind, key = owner
    if kind == 'dataset':
        dataset = app.datasets.get(key)
        return f"dataset {key} '{dataset.name}'" if dataset else f'dataset {key} (deleted)'
    if kind == 'label':
        label = app.root['labels'].get(key)
        return f'label {key} {label.name}' if label else f'label {key} (deleted)'
    return f'{kind} {key}'


def list_notes(app, args):
    conditions = filters.parse('notes', args.filter)
    rows = [(note.id, owner_text(app, note.owner), formats.when(note.modified), note.summary(50))
            for note in app.notes.values() if filters.matches(conditions, {'text': note.text})]
    return [Table(['id', 'attached to', 'changed', 'first line'], rows, title='notes')]


def find_note(app, note_id):
    note = app.notes.get(note_id)
    if note is None:
        raise UserError(f"there is no note {note_id}; list them with 'notes -l'")
    return note


def show(app, args):
    note = find_note(app, args.show)
    return [Fields([('attached to', owner_text(app, note.owner)),
                    ('created', formats.when(note.created)),
                    ('changed', formats.when(note.modified))], title=f'note {note.id}'),
            Text(note.text.rstrip() or '(empty)', markdown=not args.raw)]


def gather_edit(app, args):
    return common.gather_note(app, find_note(app, args.edit).id, args.text)


def edit(app, args, gathered):
    note = find_note(app, args.edit)
    _, changed = common.save_note(app, gathered, note.id, note.owner)
    return [ok(f'note {note.id} saved' if changed else 'the note is unchanged')]


def delete(app, args):
    note = find_note(app, args.delete)
    deletions.delete_note(app.root, note)
    return [ok(f'note {note.id} ({owner_text(app, note.owner)}) deleted')]


def search(app, args):
    wanted = args.search.lower()
    rows = [(note.id, owner_text(app, note.owner), line.strip())
            for note in app.notes.values() for line in note.text.splitlines()
            if wanted in line.lower()]
    return [Table(['note', 'attached to', 'line'], rows, title=f"notes with '{args.search}'",
                  footer=f'{counted(len(rows), "line")}')]


def gather_new(app, args):
    unattached(app, args)
    return common.gather_note(app, None, args.text)


def create(app, args, gathered):
    owner, holder = unattached(app, args)
    note, changed = common.save_note(app, gathered, None, owner)
    if not changed:
        return [ok('empty note: nothing was saved')]
    set_holder_note(holder, owner, note.id)
    return [ok(f'note {note.id} saved ({owner_text(app, owner)})')]


def unattached(app, args):
    """(owner, holder) of --to, which must have no note yet."""
    owner, holder = attachment(app, args.to)
    if holder is not None and holder_note(holder, owner) is not None:
        raise UserError(f'{owner_text(app, owner)} has a note already; edit it with '
                        f"'notes -e {holder_note(holder, owner)}'")
    return owner, holder


def attachment(app, text):
    """(owner, the object that keeps the note id) for --to KIND:ID."""
    if not text:
        return None, None
    kind, _, key = text.partition(':')
    if kind in deletions.NOTE_HOLDERS and key.isdigit():
        holder = app.root[deletions.NOTE_HOLDERS[kind]].get(int(key))
        if holder is not None:
            return (kind, int(key)), holder
    if kind == 'model':
        group_id, _, conn = key.partition('/')
        group = app.root['models'].get(group_id)
        if group is not None and conn in group.states:
            return ('model', key), group
    raise UserError(f"--to {text}: write dataset:ID, label:ID, experiment:ID or "
                    'model:GROUP/CONN_ID of something that exists')


def holder_note(holder, owner):
    if owner[0] == 'model':
        return holder.notes.get(owner[1].partition('/')[2])
    return holder.note_id


def set_holder_note(holder, owner, note_id):
    if holder is None:
        return
    if owner[0] == 'model':
        holder.notes[owner[1].partition('/')[2]] = note_id
    else:
        holder.note_id = note_id


COMMANDS = [Command(
    'notes', 'the lab notebook: notes of datasets, models and labels',
    actions=(
        Action(('-l', '--list'), 'list the notes (-f text=...)', apply=list_notes),
        Action(('-s', '--show'), 'show a note (rendered on a terminal; --raw as written)',
               metavar='ID', type=int, complete='note_id', apply=show),
        Action(('-e', '--edit'), 'edit a note in $EDITOR (or --text)', metavar='ID', type=int,
               complete='note_id', gather=gather_edit, apply=edit),
        Action(('-d', '--delete'), 'delete a note', metavar='ID', type=int, complete='note_id',
               apply=delete),
        Action(('-S', '--search'), 'find notes with this text (any case) and where they are '
               'attached', metavar='TEXT', apply=search),
        Action(('-c', '--create'), 'write a new note (--to KIND:ID attaches it; --text in '
               'batch)', gather=gather_new, apply=create),
    ),
    options=(
        Flag(('-f', '--filter'), 'text=...', metavar='FILTER', nargs='+', extend=True,
             complete='filter:notes'),
        Flag(('--text',), 'the note text, instead of $EDITOR', metavar='TEXT'),
        Flag(('--raw',), '-s: the Markdown as written, not rendered'),
        Flag(('--to',), '-c: attach to dataset:ID, label:ID, experiment:ID or '
             'model:GROUP/CONN_ID',
             metavar='KIND:ID', complete='note_owner'),
    ))]
