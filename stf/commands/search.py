"""search: where a text appears, across every dataset and group.

An IP address matches whole address fields of connection ids (the source or
the destination); any other text matches as a case-insensitive substring of
dataset and file names, connection ids, label names and note texts."""
import ipaddress

from stf.commands import models
from stf.commands.registry import Action, Command
from stf.commands.results import Table
from stf.core.errors import UserError
from stf.core.flows import connid
from stf.core.formats import counted

# Places listed per kind: a common text can match half a capture.
MOST = 200


def matcher(text):
    """(what it is, match(conn id) -> bool, match(other text) -> bool)."""
    try:
        address = str(ipaddress.ip_address(text.strip()))
    except ValueError:
        wanted = text.lower()
        return 'text', (lambda conn: wanted in conn.lower()), (lambda other: wanted in
                                                               (other or '').lower())
    wanted = text.strip()

    def in_connection(conn):
        if wanted not in conn:          # cheap first: most ids do not hold it at all
            return False
        try:
            parts = connid.parse(conn)
        except UserError:
            return False
        return wanted in (parts.src, parts.dst) or address in (parts.src, parts.dst)
    return f'the address {address}', in_connection, (lambda other: wanted in (other or ''))


def search(app, args):
    text = args.text.strip()
    if not text:
        raise UserError('search needs a text: an IP address, a connection id, a label or '
                        'words of a note')
    what, in_connection, in_text = matcher(text)
    rows = []
    rows += _datasets(app, in_text)
    rows += _connections(app, in_connection)
    rows += _models(app, in_connection)
    rows += [('label', str(label.id), label.name, f'{counted(label.count(), "connection")}')
             for label in app.root['labels'].values() if in_text(label.name)][:MOST]
    rows += [('note', str(note.id), _first_line(note.text), '')
             for note in app.notes.values() if in_text(note.text)][:MOST]
    return [Table(['kind', 'where', 'what', 'more'], rows,
                  title=f'where {what if what != "text" else repr(text)} appears',
                  footer=f'{counted(len(rows), "place")}' + (f' (at most {MOST} of each kind)'
                                                    if len(rows) >= MOST else ''),
                  shorten=(2,), highlight=text)]


def _datasets(app, in_text):
    rows = []
    for dataset in app.datasets.values():
        if in_text(dataset.name):
            rows.append(('dataset', str(dataset.id), dataset.name, dataset.folder))
        rows += [('file', f'{dataset.id}/{item.id}', item.name, f'dataset {dataset.name}')
                 for item in dataset.files.values() if in_text(item.name)]
    return rows[:MOST]


def _connections(app, in_connection):
    rows = []
    for group in app.root['connections'].values():
        found = [conn for conn in group.index.keys() if in_connection(conn)]
        rows += [('connection', f'group {group.id}', conn, f'dataset {group.dataset_id}')
                 for conn in found[:MOST - len(rows)]]
    return rows


def _models(app, in_connection):
    names = app.root['labels'].names()
    rows = []
    for group in app.root['models'].values():
        for conn in models.model_columns(app, group).arrays()[0]:
            if len(rows) >= MOST:
                return rows
            if in_connection(conn):
                label = names.get(group.labels.get(conn))
                rows.append(('model', f'group {group.id}', conn,
                             f'label {label}' if label else ''))
    return rows


def _first_line(text):
    line = (text or '').strip().splitlines()[0] if (text or '').strip() else ''
    return line[:80]


COMMANDS = [Command(
    'search', 'where an IP, a connection, a label or a note text appears', example='',
    options=(Action(('text',), 'an IP address (whole address fields) or any text '
                    '(case-insensitive)', metavar='TEXT', apply=search),))]
