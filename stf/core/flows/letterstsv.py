"""Letters TSV: behavioral models as text, one per line,
`tuple_id<TAB>flows<TAB>label<TAB>state` under that header line. What
`models -e` writes and a labeled-models dataset imports.

Text cells that a spreadsheet would take for a formula are written with a
"'" before them and read back without it (stf.core.cells)."""
from stf.core.cells import guarded, unguarded
from stf.core.errors import UserError

HEADER = ('tuple_id', 'flows', 'label', 'state')


def read(path):
    """(conn, flows, state) rows and conn -> label of a letters TSV.

    Files that gather models of several captures repeat tuple ids; a repeated
    id gets '#2', '#3', ... (the first that is neither an id of the file nor
    given to another repeat: a file may hold 'a', 'a' and 'a#2') so that no
    model is lost.
    """
    lines = list(_fields(path))
    in_file = {conn for _, conn, _, _, _ in lines}
    rows, labels, taken, repeats = [], {}, set(), {}
    for _, conn, flows, label, state in lines:
        name = conn
        if name in taken:
            name = _free_name(conn, in_file, taken, repeats)
        taken.add(name)
        rows.append((name, flows, state))
        if label:
            labels[name] = label
    return rows, labels


def _free_name(conn, in_file, taken, repeats):
    """conn#N with the smallest N from the last one given to conn that no
    row of the file and no other repeat has."""
    number = repeats.get(conn, 1)
    while True:
        number += 1
        name = f'{conn}#{number}'
        if name not in in_file and name not in taken:
            repeats[conn] = number
            return name


def _fields(path):
    """(line number, conn, flows, label, state) of every line after the header."""
    with open(path, encoding='utf-8', errors='replace', newline='') as handle:
        for number, line in enumerate(handle, 1):
            if number == 1:
                continue  # the header, checked when the file type was found
            fields = line.rstrip('\r\n').split('\t')
            if len(fields) != 4:
                raise UserError(f'{path}: line {number} is not tuple_id<TAB>flows<TAB>label'
                                f'<TAB>state: it has {len(fields)} columns, not 4; fix the file')
            conn, flows, label, state = fields
            if not _is_count(flows):
                raise UserError(f'{path}: line {number} is not tuple_id<TAB>flows<TAB>label'
                                f'<TAB>state: column 2 (flows) is {_shown(flows)}, not a whole '
                                'number; fix the file')
            yield number, unguarded(conn), int(flows), unguarded(label), unguarded(state)


def _is_count(text):
    """ASCII digits, few enough for int(): '²'.isdigit() is true but int()
    refuses it, and int() refuses more than 4,300 digits."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _shown(text, limit=40):
    """A cell in a message: quoted, and cut when long."""
    return repr(text if len(text) <= limit else text[:limit] + '…')


def write(handle, models):
    """Write (conn, flows, label, state) rows under the header to a text handle.

    Fields are written as they are, since read takes no quoting (a csv writer
    would put quotes around an id holding '"', and the id would come back
    changed); a TAB or line break inside a field could not be read back.
    """
    handle.write('\t'.join(HEADER) + '\n')
    for conn, flows, label, state in models:
        cells = (guarded(str(conn)), str(flows), guarded(str(label)), guarded(str(state)))
        line = '\t'.join(cells)
        if line.count('\t') != 3 or '\n' in line or '\r' in line:
            raise UserError(f'model {str(conn)!r} has a TAB or line break in its id, label '
                            'or state, which a letters TSV cannot hold; delete that model '
                            '(models -D) and export again')
        handle.write(line + '\n')
