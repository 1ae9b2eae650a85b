"""The file `labels -o` writes and `labels --import` reads: one row per
labeled connection, as CSV or (for a .json name) JSON.

A row names the group of models, the connection and the label, and — since
labels move between databases where the same capture has another group id —
the constructor of the group and the sha256 of the file its connections
were made from. Files written before rows had those two still import, by
group id. Every row is checked as it is read: a mistake is one line naming
the row and the field.
"""
import csv
import json
import re
from dataclasses import dataclass

from stf.core.cells import guarded, unguarded
from stf.core.errors import UserError
from stf.core.flows import labelnames

FIELDS = ('group', 'connection', 'label', 'constructor', 'sha256')
REQUIRED = FIELDS[:3]
EXAMPLES = {'group': 'text like 0-1', 'connection': 'text like 10.0.0.1-10.0.0.2-80-tcp',
            'label': 'text like From-Botnet-TCP-HTTP-CC12-1'}
SHA256 = re.compile(r'[0-9a-fA-F]{64}\Z')
# Names that letters files of other tools carry (From-Normal-UDP-NTP--2,
# From-Malware-TCP-Other-CC.njRAT-1): the grammar's first two words, then
# parts without spaces. They come into stf with those files and must travel
# on between databases.
LONGEST_NAME = 200


@dataclass(frozen=True)
class Row:
    """One row: number (the first row after a CSV header is 1), group,
    connection, label (in the grammar's spelling), constructor (None in
    files written before rows had it) and sha256 ('' when unknown)."""
    number: int
    group: str
    connection: str
    label: str
    constructor: object = None
    sha256: str = ''


def write(handle, records, suffix):
    """records: dicts of FIELDS (any iterable). CSV cells a spreadsheet would
    take for a formula are guarded (stf.core.cells); JSON is written as it is."""
    if suffix.lower() == '.json':
        json.dump(list(records), handle, indent=1)
        return
    writer = csv.writer(handle, lineterminator='\n')
    writer.writerow(FIELDS)
    for record in records:
        writer.writerow([guarded('' if record[field] is None else str(record[field]))
                         for field in FIELDS])


def read(path):
    """The checked rows of a labels file."""
    records = load(path)
    return [checked(path, number, record) for number, record in enumerate(records, 1)]


def load(path):
    """The file's records: dicts for CSV (cells unguarded), anything for JSON."""
    not_export = f'{path} is not a labels file written by labels -o'
    try:
        with open(path, newline='', encoding='utf-8-sig') as handle:
            if path.suffix.lower() == '.json':
                records = json.load(handle)
            else:
                records = csv_records(path, handle, not_export)
    except OSError as error:
        raise UserError(f'cannot read {path}: {error.strerror}; check the path') from None
    except RecursionError:
        raise UserError(f'{not_export}: its JSON is nested too deeply') from None
    except (ValueError, csv.Error) as error:
        raise UserError(f'{not_export}: {error}') from None
    if not isinstance(records, list):
        raise UserError(f'{not_export}: it holds {kind(records)}, not a list of rows')
    return records


def csv_records(path, handle, not_export):
    reader = csv.DictReader(handle)
    missing = [field for field in REQUIRED if field not in (reader.fieldnames or ())]
    if missing:
        raise UserError(f'{not_export}: its header lacks {", ".join(missing)} (it needs '
                        f'{", ".join(REQUIRED)})')
    # A short row's missing cells (None) are left out: the row lacks them.
    return [{key: unguarded(value) if isinstance(value, str) else value
             for key, value in record.items() if value is not None} for record in reader]


def checked(path, number, record):
    """A Row from one record, or a UserError naming the row and the field."""
    where = f'{path}: row {number}'
    if not isinstance(record, dict):
        raise UserError(f'{where} must be an object with {", ".join(REQUIRED)}, '
                        f'not {kind(record)}')
    if record.get(None):
        raise UserError(f'{where} has more columns than the header names')
    values = {}
    for field in REQUIRED:
        value = record.get(field)
        if field not in record:
            raise UserError(f"{where} has no '{field}'; each row needs "
                            f'{", ".join(REQUIRED)}')
        if not isinstance(value, str):
            raise UserError(f"{where}: '{field}' must be {EXAMPLES[field]}, "
                            f'not {kind(value)}')
        values[field] = value
    constructor = constructor_of(where, record.get('constructor'))
    sha256 = sha256_of(where, record.get('sha256'))
    if sha256 and constructor is None:
        raise UserError(f"{where} has a 'sha256' but no 'constructor'; a row needs both, "
                        'or neither')
    return Row(number, values['group'], values['connection'], label_name(where, values['label']),
               constructor, sha256.lower())


def constructor_of(where, value):
    if value is None or value == '':
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    shown = repr(value) if isinstance(value, str) else kind(value)
    raise UserError(f"{where}: 'constructor' must be a whole number like 1, not {shown}")


def sha256_of(where, value):
    if value is None or value == '':
        return ''
    if isinstance(value, str) and SHA256.match(value):
        return value
    shown = repr(value[:70]) if isinstance(value, str) else kind(value)
    raise UserError(f"{where}: 'sha256' must be 64 hexadecimal digits (or empty), not {shown}")


def label_name(where, name):
    """The name in the grammar's spelling; anything else is refused, as
    labels -a --name refuses it (names of other tools come in with their
    letters files: models -i)."""
    if not name.isprintable() or len(name) > LONGEST_NAME:
        raise UserError(f'{where}: label {name[:60]!r} is not a label name (a TAB, line break '
                        f'or other control character, or more than {LONGEST_NAME} characters); '
                        'fix the file')
    try:
        return str(labelnames.parse(name))
    except UserError as error:
        raise UserError(f'{where}: {error}; fix the file') from None


def kind(value):
    """What a JSON value is, in words."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true or false'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, list):
        return 'a list'
    if isinstance(value, dict):
        return 'an object'
    return 'text'
