"""labels --import: a file with wrong names or types is refused in one line
naming the row."""
import json

import pytest

from tests.conftest import error, ok
from tests.test_labels import CC, DNS, OTHER, label_of


# -- names (labels -a refuses the same)

@pytest.mark.parametrize('name, why', [
    ('From-Botnet-TCP-HTTP-CC 12-1', "label details 'CC 12' must be at most 30 characters "
                                     "without '-' or spaces"),
    ('Botnet', "label 'Botnet' does not follow Direction-Decision-Proto3-Proto4-Details-N "
               '(e.g. From-Botnet-TCP-HTTP-CC12-1)'),
    ('=HYPERLINK("x")', "label '=HYPERLINK(\"x\")' does not follow Direction-Decision-Proto3-"
                        'Proto4-Details-N (e.g. From-Botnet-TCP-HTTP-CC12-1)'),
])
def test_names_outside_the_grammar_are_refused(models, tmp_path, name, why):
    # They were attached as they were, spaces and all.
    path = tmp_path / 'names.json'
    path.write_text(json.dumps([{'group': '0-1', 'connection': CC, 'label': 'From-Botnet-'
                                 'TCP-HTTP-CC-1'},
                                {'group': '0-1', 'connection': DNS, 'label': name}]))
    assert error(models, f'labels --import {path}') == f'{path}: row 2: {why}; fix the file'
    assert len(models.root['labels']) == 0


def test_a_name_with_a_line_break_is_refused(models, tmp_path):
    path = tmp_path / 'names.csv'
    path.write_text(f'group,connection,label\n0-1,{CC},"From-Botnet-TCP-HTTP-CC-1\nrm"\n')
    assert error(models, f'labels --import {path}') == (
        f"{path}: row 1: label 'From-Botnet-TCP-HTTP-CC-1\\nrm' is not a label name (a TAB, "
        'line break or other control character, or more than 200 characters); fix the file')


def test_names_of_other_tools_letters_files_still_import(models, tmp_path):
    path = tmp_path / 'other.csv'
    path.write_text(f'group,connection,label\n0-1,{DNS},From-Malware-Synthetic-TCP-HTTPS\n'
                    f'0-1,{OTHER},From-Normal-TCP-Other-SSL.Imap.CVUT-1\n')
    assert ok(models, f'labels --import {path}')[0].text == (
        f'2 labeled connections imported from {path}')
    assert label_of(models, DNS) == 'From-Malware-Synthetic-TCP-HTTPS'


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
