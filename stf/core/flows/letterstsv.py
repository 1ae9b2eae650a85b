"""Letters TSV: behavioral models as text, one per line,
`tuple_id<TAB>flows<TAB>label<TAB>state` under that header line. What
`models -e` writes and a labeled-models dataset imports."""
import csv

from stf.core.errors import UserError

HEADER = ('tuple_id', 'flows', 'label', 'state')


def read(path):
    """(conn, flows, state) rows and conn -> label of a letters TSV.

    Files that gather models of several captures repeat tuple ids; a repeated
    id gets '#2', '#3', ... so that no model is lost.
    """
    rows, labels, seen = [], {}, {}
    with open(path, encoding='utf-8', errors='replace', newline='') as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip('\r\n').split('\t')
            if number == 1:
                continue  # the header, checked when the file type was found
            if len(fields) != 4 or not fields[1].isdigit():
                raise UserError(f'{path}: line {number} is not tuple_id<TAB>flows<TAB>label'
                                '<TAB>state; fix the file')
            conn, flows, label, state = fields
            seen[conn] = seen.get(conn, 0) + 1
            conn = conn if seen[conn] == 1 else f'{conn}#{seen[conn]}'
            rows.append((conn, int(flows), state))
            if label:
                labels[conn] = label
    return rows, labels


def write(handle, models):
    """Write (conn, flows, label, state) rows under the header to a text handle."""
    writer = csv.writer(handle, delimiter='\t', lineterminator='\n')
    writer.writerow(HEADER)
    writer.writerows(models)
