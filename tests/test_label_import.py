"""labels --import: a file with wrong types is refused in one line naming
the row and the field."""
import json

import pytest

from tests.conftest import error
from tests.test_labels import CC


# -- wrong types: one line naming the row and the field

GOOD = {'group': '0-1', 'connection': CC, 'label': 'From-Botnet-TCP-HTTP-CC-1'}


@pytest.mark.parametrize('change, why', [
    ({'group': ['0-1']}, "'group' must be text like 0-1, not a list"),
    ({'group': 0}, "'group' must be text like 0-1, not a number"),
    ({'connection': {}}, "'connection' must be text like 10.0.0.1-10.0.0.2-80-tcp, not an "
                         'object'),
    ({'label': 7}, "'label' must be text like From-Botnet-TCP-HTTP-CC12-1, not a number"),
    ({'label': None}, "'label' must be text like From-Botnet-TCP-HTTP-CC12-1, not null"),
])
def test_wrong_types_name_the_row_and_the_field(models, tmp_path, change, why):
    # They gave "unexpected error TypeError" (or AttributeError).
    path = tmp_path / 'typed.json'
    path.write_text(json.dumps([GOOD, GOOD, {**GOOD, **change}]))
    assert error(models, f'labels --import {path}') == f'{path}: row 3: {why}'
    assert len(models.root['labels']) == 0


@pytest.mark.parametrize('text, why', [
    (json.dumps([GOOD, ['0-1', CC]]), 'row 2 must be an object with group, connection, label, '
                                      'not a list'),
    (json.dumps([GOOD, {'group': '0-1', 'connection': CC}]),
     "row 2 has no 'label'; each row needs group, connection, label"),
    (json.dumps({'rows': [GOOD]}), 'is not a labels file written by labels -o: it holds an '
                                   'object, not a list of rows'),
    ('[' * 50_000 + ']' * 50_000, 'is not a labels file written by labels -o: its JSON is '
                                  'nested too deeply'),
])
def test_a_file_of_other_shapes_is_refused_in_one_line(models, tmp_path, text, why):
    path = tmp_path / 'shapes.json'
    path.write_text(text)
    separator = ': ' if why.startswith('row') else ' '
    assert error(models, f'labels --import {path}') == f'{path}{separator}{why}'


@pytest.mark.parametrize('text, why', [
    (f'group,connection,label\n0-1,{CC}\n', "row 1 has no 'label'; each row needs group, "
                                            'connection, label'),
    (f'group,connection,label\n0-1,{CC},From-Botnet-TCP-HTTP-CC-1,x\n',
     'row 1 has more columns than the header names'),
    (f'group,label\n0-1,{CC}\n', 'is not a labels file written by labels -o: its header lacks '
                                 'connection (it needs group, connection, label)'),
])
def test_csv_rows_of_the_wrong_length_are_refused_in_one_line(models, tmp_path, text, why):
    path = tmp_path / 'short.csv'
    path.write_text(text)
    separator = ': ' if why.startswith('row') else ' '
    assert error(models, f'labels --import {path}') == f'{path}{separator}{why}'
