"""models -S GROUP -i ID: one model whole. Its letters (the renderer wraps
and colors them), what each letter and symbol means for the group's
constructor, how many of each the model has, its periodicity, gap, label and
note, and its letters read in words."""
from collections import Counter

from stf.commands import common, context
from stf.commands.results import Exact, Fields, Letters, Table, Text
from stf.core.errors import UserError
from stf.core.flows import connid, letters
from stf.ops.gaps import ensure_gaps

# The order of the counts: letters as in the letter table, then the symbols.
ORDER = ''.join(letters.LETTERS) + letters.GAP_SYMBOLS
FIRST_SYMBOL = len(ORDER) - len(letters.GAP_SYMBOLS)
NOT_A_LETTER = 'not a letter or symbol of stf'


def show(app, args):
    group = common.model_group(app, args.show)
    conn = chosen_model(group, args.id, '-S')
    flows, state = group.states[conn]
    ensure_gaps(app.root, group)
    constructor = letters.get_constructor(group.constructor_id)
    label = app.root['labels'].names().get(group.labels.get(conn))
    return [details(group, conn, flows, state, label, constructor, dns_names(app, group, conn)),
            Letters(state, title='letters'),
            Table(['symbol', 'count', 'meaning'], counts(state), title='counts'),
            Table(['symbol', 'meaning'], [(Exact(symbol), meaning) for symbol, meaning in
                                          letters.legend(constructor)], title='legend'),
            note_block(app, group.notes.get(conn))]


def chosen_model(group, conn, action):
    """conn, a model of the group; one line naming what to list when it is
    not given or not there."""
    if not conn:
        raise UserError(f"models {action} {group.id} needs -i ID, a model of the group; "
                        f"list them with 'models -L {group.id}'")
    if conn not in group.states:
        raise UserError(f"group {group.id} has no model '{conn}'; "
                        f"list them with 'models -L {group.id}'")
    return conn


def details(group, conn, flows, state, label, constructor, dns=None):
    periodicity = letters.periodicity(state)
    gap = group.gap_of(conn)
    return Fields([('group', group.id), ('model', Exact(conn)), ('label', label or '-'),
                   ('flows', f'{flows:,}'), ('state length', f'{len(state):,}'),
                   ('periodicity', '-' if periodicity is None else f'{periodicity:.2f}'),
                   ('gap', '-' if gap is None else f'{gap:,.6f}'),
                   ('constructor', f'{constructor.id} ({constructor.name})'),
                   ('reading', letters.reading(state) or '-')]
                  + ([('dns names', dns)] if dns else []), title='model')


def dns_names(app, group, conn):
    """What the DNS answers of the model's capture say of its destination
    (the part after 'DNS names of IP: '), or None when they say nothing: no
    connections left, an imported id, no DNS payloads."""
    connections = app.root['connections'].get(group.connection_group_id)
    try:
        destination = connid.parse(conn).dst
    except UserError:
        return None
    if connections is None or not connections.flow_count:
        return None
    line = context.dns_line(app, connections, destination)
    return line.split(': ', 1)[1] if line else None


def counts(state):
    """(symbol, count, meaning) of every character of the state: the letters,
    then the symbols, then anything else (imported letters may hold it),
    each the most frequent first (ties in the order of the letter table)."""
    found = Counter(state)
    return [(Exact(char), f'{found[char]:,}', letters.meaning(char) or NOT_A_LETTER)
            for char in sorted(found, key=lambda char: _order(char, found[char]))]


def _order(char, count):
    at = ORDER.find(char)
    section = 2 if at < 0 else int(at >= FIRST_SYMBOL)
    return section, -count, at, char


def note_block(app, note_id):
    """The model's note whole (Markdown, on lines of its own)."""
    note = app.notes.get(note_id) if note_id is not None else None
    if note is None:
        return Text('note\n  (none)', data=Fields([('id', None), ('text', None)], title='note'))
    lines = [f'  {line}' if line else '' for line in note.text.rstrip('\n').splitlines()]
    return Text('\n'.join([f'note {note.id}', *lines]),
                data=Fields([('id', note.id), ('text', Exact(note.text))], title='note'))
