"""Listings for the rest of the tool chain: --sort, and --json / --csv / --tsv.

Every command's results pass through here when one of those options is
given (one place, whatever the command). A table's field names are its
headers in snake case ('flows', 'label_name'); a single table is a JSON array
of objects, several are an object keyed by their names; key/value details
are an object (an Exact key is its field name as it is); numbers written with
separators become numbers, '-' (none) null, times ('YYYY-MM-DD HH:MM:SS',
'YYYY/MM/DD ...') ISO 8601 UTC, a cell of several values (a list) an array.
CSV and TSV write each table with its header row (several tables: a '#
name' line before each), a list cell's values joined by a space, text cells
guarded against spreadsheet formulas. Tables are cut to their limits after
--sort (results.cut_items), so that what programs get is what the screen
shows.
"""
import csv
import dataclasses
import io
import json
import re

from stf.commands import common
from stf.commands.results import Exact, Fields, Message, Plot, Table, Text, shown_items
from stf.core import formats
from stf.core.cells import guarded
from stf.core.errors import UserError

FORMATS = ('json', 'csv', 'tsv')
TEXT_RESULT = 'text'   # the title of a text result given as structured data
_NUMBER = re.compile(r'-?\d{1,3}(,\d{3})*(\.\d+)?\Z|-?\d+(\.\d+)?\Z')
_TIME = re.compile(r'(\d{4})[-/](\d{2})[-/](\d{2})[ T](\d{2}:\d{2}:\d{2}(\.\d+)?)( UTC)?\Z')


def field_name(header):
    """'Flows' -> 'flows', 'label name' -> 'label_name', 'from \\ to' -> 'from_to'."""
    name = re.sub(r'[^0-9a-z]+', '_', str(header).lower()).strip('_')
    return name or 'value'


def value(cell):
    """A cell as JSON wants it: numbers as numbers, times in ISO 8601 UTC."""
    if isinstance(cell, (int, float)) or cell is None:
        return cell
    if isinstance(cell, Exact):
        return str(cell)
    if isinstance(cell, (list, tuple)):
        return [value(each) for each in cell]
    text = str(cell)
    if text == '-':                     # what a listing shows for "none"
        return None
    if _NUMBER.match(text):
        plain = text.replace(',', '')
        return float(plain) if '.' in plain else int(plain)
    moment = _TIME.match(text)
    if moment:
        year, month, day, clock = moment.groups()[:4]
        return f'{year}-{month}-{day}T{clock}Z'
    return text


def chosen_format(args):
    found = [name for name in FORMATS if getattr(args, name, False)]
    if len(found) > 1:
        raise UserError(f"give one of --{', --'.join(FORMATS)}, not {len(found)}")
    return found[0] if found else None


def check_output(command, args, form):
    """The Path of --output FILE that a listing in form is written to,
    checked before the command runs (None: none). --output, the one every
    listing takes, needs a form to write."""
    target = getattr(args, 'output', None)
    if form is not None and isinstance(target, str):
        return common.target_file(target, '--output', f'listing.{form}',
                                  bool(getattr(args, 'force', False)))
    generic = any('--output' in flag.flags for flag in command.output_flags())
    if not generic or target is None:
        return None
    export = any('--export' in flag.flags for flag in command.flags())
    raise UserError('--output FILE writes a listing given as --json, --csv or --tsv: add one '
                    f'of them{"; to export, --export FILE" if export else ""}; nothing was '
                    'written')


# -- sorting ------------------------------------------------------------------------
def sort_argument(argv):
    """argv with '--sort -flows' read as '--sort=-flows' (argparse would take
    '-flows' for an option): descending keys work as typed."""
    argv = list(argv)
    for index, word in enumerate(argv[:-1]):
        if word == '--sort' and argv[index + 1].startswith('-'):
            argv[index:index + 2] = [f'--sort={argv[index + 1]}']
            break
    return argv

def sort_items(items, text):
    """The items with their tables sorted by --sort: keys comma-separated,
    '-key' or 'key:desc' descending; a key no table has is an error naming
    the keys there are."""
    keys = [_sort_key(part) for part in str(text).split(',') if part.strip()]
    if not keys:
        raise UserError('--sort needs a key, e.g. --sort -flows')
    tables = [item for item in shown_items(items) if isinstance(item, Table)]
    known = {field_name(header) for table in tables for header in table.headers}
    missing = [name for name, _ in keys if name not in known]
    if missing:
        raise UserError(f"--sort: no field '{missing[0]}' here; the fields are "
                        f"{', '.join(sorted(known)) or 'none (nothing is listed)'}")
    return _sorted_within(items, keys)


def _sorted_within(items, keys):
    """The items with their tables sorted, those a Plot shows too (the Plot
    stays: --png draws it, the screen its chart)."""
    found = []
    for item in items:
        if isinstance(item, Table):
            item = _sorted(item, keys)
        elif isinstance(item, Plot) and item.shown is not None:
            item = dataclasses.replace(item, shown=_sorted_within(item.shown, keys))
        found.append(item)
    return found


def _sort_key(text):
    text = text.strip()
    if text.endswith(':desc'):
        return field_name(text[:-5]), True
    if text.endswith(':asc'):
        return field_name(text[:-4]), False
    if text.startswith('-'):
        return field_name(text[1:]), True
    return field_name(text), False


def _sorted(table, keys):
    names = [field_name(header) for header in table.headers]
    rows = list(table.rows)
    for name, descending in reversed(keys):
        if name not in names:
            continue
        index = names.index(name)
        keyed = [(_order(row[index]), row) for row in rows]
        present = [pair for pair in keyed if pair[0] is not None]
        absent = [row for order, row in keyed if order is None]   # '-': always last
        present.sort(key=lambda pair: pair[0], reverse=descending)
        rows = [row for _, row in present] + absent
    return dataclasses.replace(table, rows=rows)


def _order(cell):
    """A sortable form of a cell: numbers before text; None for '-' or empty."""
    found = value(cell)
    if found is None or found in ('-', '', []):
        return None
    if isinstance(found, list):         # several values: in the order of what is shown
        return (1, 0, str(cell).lower())
    if isinstance(found, (int, float)):
        return (0, found, '')
    return (1, 0, str(found).lower())


# -- rendering ------------------------------------------------------------------------
def render(items, form):
    """(the text of the tables and details in form, the other items): the
    messages are said apart, so that the data stays readable by a program."""
    items = as_data(items)
    data = [item if isinstance(item, (Table, Fields)) else item.data for item in items
            if isinstance(item, (Table, Fields)) or getattr(item, 'data', None) is not None]
    others = [item for item in items if not isinstance(item, (Table, Fields))
              and getattr(item, 'data', None) is None]
    texts = [item.text for item in others if isinstance(item, Text)]
    if not data and texts:     # a result that is text (a chain, a drawing): kept as text
        data = [Fields([('text', '\n'.join(texts))], title=TEXT_RESULT)]
    if form == 'json':
        return _json(data), others
    return _delimited(data, ',' if form == 'csv' else '\t'), others


def as_data(items):
    """Plots as what they give other programs: the items they show, else
    their data, else their series as a table."""
    found = []
    for item in shown_items(items):
        if isinstance(item, Plot):
            found.append(item.data if item.data is not None else series_table(item.figure))
        else:
            found.append(item)
    return found


def series_table(figure):
    """Every point of a figure: its panel, series, x and y (x as a UTC time
    on a time axis; a histogram's x: its bins' low edges; a timeline's
    points with their letter)."""
    timeline = any(panel.kind == 'timeline' for panel in figure.panels)
    rows = []
    for panel in figure.panels:
        for series in panel.series:
            xs = panel.edges[:-1] if panel.kind == 'histogram' else series.x
            marks = series.letters or [''] * len(series.y)
            rows += [(panel.title, series.label, _x_cell(x, panel.x_time), y)
                     + ((letter,) if timeline else ()) for x, y, letter in zip(xs, series.y, marks)]
    return Table(['panel', 'series', 'x', 'y'] + (['letter'] if timeline else []), rows,
                 title=figure.title)


def _x_cell(x, time):
    return formats.from_us(round(x * 1_000_000)) if time else x


def _records(table):
    names = _unique([field_name(header) for header in table.headers])
    return [dict(zip(names, _cells(table, row))) for row in table.rows]


def _cells(table, row):
    """A row's values; a letters column stays text ('111' is a chain, not a number)."""
    return [str(cell) if index == table.letters_column else value(cell)
            for index, cell in enumerate(row)]


def _joined(found):
    """A value for CSV and TSV: several values (a list) joined by a space."""
    return ' '.join('' if each is None else str(each) for each in found) \
        if isinstance(found, list) else found


def _key(key):
    """A Fields key as a field name; an Exact key as it is ('CompanyName')."""
    return str(key) if isinstance(key, Exact) else field_name(key)


def _unique(names):
    seen, found = {}, []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        found.append(name if seen[name] == 1 else f'{name}_{seen[name]}')
    return found


def _object(item):
    if isinstance(item, Table):
        return _records(item)
    if item.title == TEXT_RESULT:      # '1111' is a chain here, not a number
        return {key: str(cell) for key, cell in item.pairs}
    return {_key(key): value(cell) for key, cell in item.pairs}


def _json(data):
    if len(data) == 1:
        found = _object(data[0])
    else:
        found = {}
        for number, item in enumerate(data):
            name = field_name(item.title) if item.title else f'table_{number + 1}'
            found[name if name not in found else f'{name}_{number + 1}'] = _object(item)
    return json.dumps(found, indent=1, ensure_ascii=False)


def _delimited(data, separator):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator='\n')
    for item in data:
        if len(data) > 1:
            out.write(f'# {item.title or "table"}\n')
        if isinstance(item, Table):
            writer.writerow(_unique([field_name(header) for header in item.headers]))
            writer.writerows(_safe(map(_joined, _cells(item, row))) for row in item.rows)
        else:
            keep = item.title == TEXT_RESULT
            writer.writerow(['field', 'value'])
            writer.writerows(_safe((_key(key), str(cell) if keep else _joined(value(cell))))
                             for key, cell in item.pairs)
    return out.getvalue().rstrip('\n')


def _safe(cells):
    """Text cells a spreadsheet would take for a formula get a "'" first
    (stf.core.cells), as in every CSV stf writes."""
    return [guarded(cell) if isinstance(cell, str) else cell for cell in cells]


def as_notes(items):
    """Messages said beside structured output go to stderr (level 'note'),
    so that what stdout holds is only the data."""
    return [Message(item.text, 'note') if isinstance(item, Message) and item.level != 'error'
            else item for item in items if not isinstance(item, Text)]
