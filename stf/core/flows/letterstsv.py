"""Letters TSV: behavioral models as text, one per line,
`tuple_id<TAB>flows<TAB>label<TAB>state` under that header line. What
`models -e` writes and a labeled-models dataset imports."""
from stf.core.errors import UserError

HEADER = ('tuple_id', 'flows', 'label', 'state')


def read(path):
    """(conn, flows, state) rows and conn -> label of a letters TSV.

    Files that gather models of several captures repeat tuple ids; a repeated
    id gets '#2', '#3', ... (the first of them no other row has: a file may
    hold 'a', 'a#2' and 'a' again) so that no model is lost.
    """
    rows, labels, seen, names = [], {}, {}, set()
    with open(path, encoding='utf-8', errors='replace', newline='') as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip('\r\n').split('\t')
            if number == 1:
                continue  # the header, checked when the file type was found
            if len(fields) != 4 or not _is_count(fields[1]):
                raise UserError(f'{path}: line {number} is not tuple_id<TAB>flows<TAB>label'
                                '<TAB>state (flows a whole number); fix the file')
            conn, flows, label, state = fields
            repeat = seen.get(conn, 0) + 1
            name = conn if repeat == 1 else f'{conn}#{repeat}'
            while name in names:
                repeat += 1
                name = f'{conn}#{repeat}'
            seen[conn] = repeat
            names.add(name)
            conn = name
            rows.append((conn, int(flows), state))
            if label:
                labels[conn] = label
    return rows, labels


def _is_count(text):
    """ASCII digits, few enough for int(): '²'.isdigit() is true but int()
    refuses it, and int() refuses more than 4,300 digits."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def write(handle, models):
    """Write (conn, flows, label, state) rows under the header to a text handle.

    Fields are written as they are, since read takes no quoting (a csv writer
    would put quotes around an id holding '"', and the id would come back
    changed); a TAB or line break inside a field could not be read back.
    """
    handle.write('\t'.join(HEADER) + '\n')
    for row in models:
        line = '\t'.join(map(str, row))
        if line.count('\t') != 3 or '\n' in line or '\r' in line:
            raise UserError(f'model {str(row[0])!r} has a TAB or line break in its id, label '
                            'or state, which a letters TSV cannot hold; delete that model '
                            '(models -D) and export again')
        handle.write(line + '\n')
