"""labels --import: rows find the same capture in another database (by the
sha256 of its flow file and the constructor), files of the older format
import by group id, rows that match nothing are listed, and a file with wrong
names or types is refused in one line naming the row."""
import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import error, ok, run
from tests.test_connections_models import HEADER, flow_line
from tests.test_labels import CC, DNS, OTHER, label_of

DATA = Path(__file__).resolve().parent / 'data'


def second_database(tmp_path):
    """A second analyst's App, on a database file of its own (closed after)."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    application = App(config.load(), database.Database(
        storages.open_file_storage(tmp_path / 'other' / 'stf.db')))
    yield application
    application.close()


@pytest.fixture
def other(tmp_path):
    yield from second_database(tmp_path)


def capture(app, path, name):
    ok(app, f'datasets -c {path} --name {name}')
    ok(app, 'connections -g')
    ok(app, 'models -g')


def decoy(tmp_path):
    """Another capture with the same connection ids (other times): a group id
    alone cannot tell it from the one the labels were given in."""
    path = tmp_path / 'decoy' / 'labels.binetflow'
    path.parent.mkdir()
    path.write_text(HEADER + ''.join(flow_line(second) for second in (30, 70, 110))
                    + flow_line(35, dst='8.8.8.8', dport='53').replace(',tcp,', ',udp,')
                    + flow_line(37, src='10.0.0.9', dport='443'))
    return path


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def labeled_export(models, tmp_path, suffix='.csv'):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    ok(models, f'labels -a -c {OTHER} -g 0-1 --name From-Normal-TCP-HTTPS--1')
    out = tmp_path / f'exported{suffix}'
    ok(models, f'labels -o {out}')
    return out


@pytest.mark.parametrize('suffix', ['.csv', '.json'])
def test_labels_go_to_the_same_capture_under_another_group_id(models, other, tmp_path,
                                                              suffix):
    # The group id alone put them on group 0-1 of the other database: a
    # different capture whose connections have the same ids.
    out = labeled_export(models, tmp_path, suffix)
    capture(other, decoy(tmp_path), 'decoy')
    capture(other, tmp_path / 'labels.binetflow', 'lab')
    assert ok(other, f'labels --import {out}')[0].text == (
        f'2 labeled connections imported from {out}')
    assert (label_of(other, CC, '1-1'), label_of(other, OTHER, '1-1')) == (
        'From-Botnet-TCP-HTTP-CC-1', 'From-Normal-TCP-HTTPS--1')
    assert (label_of(other, CC, '0-1'), label_of(other, OTHER, '0-1')) == (None, None)


def test_in_one_database_a_row_keeps_its_group_and_follows_its_capture(models, tmp_path):
    out = labeled_export(models, tmp_path)
    capture(models, tmp_path / 'labels.binetflow', 'again')  # the same file: group 1-1
    assert ok(models, f'labels --import {out}')[0].text == (
        f'2 labeled connections imported from {out}')
    assert label_of(models, CC, '1-1') is None
    ok(models, 'datasets -d 0 --yes')
    assert ok(models, f'labels --import {out}')[0].text == (
        f'2 labeled connections imported from {out}')
    assert label_of(models, CC, '1-1') == 'From-Botnet-TCP-HTTP-CC-1'


def test_a_group_whose_file_is_gone_exports_rows_that_import_by_group_id(models, tmp_path):
    flows = tmp_path / 'labels.binetflow'
    moved = flows.rename(tmp_path / 'elsewhere.binetflow')
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    out = tmp_path / 'exported.csv'
    done, gone = ok(models, f'labels -o {out}')
    assert gone.text == (
        'the flow files of groups 0-1 are not where they were, so their rows carry no sha256 '
        "and import only into a group with the same id; if the files were moved, run "
        "'datasets -o' and export again")
    assert out.read_text().splitlines()[1] == f'0-1,{CC},From-Botnet-TCP-HTTP-CC-1,1,'
    ok(models, f'labels -D {CC} -g 0-1 --yes')
    assert ok(models, f'labels --import {out}')[0].text == (
        f'1 labeled connections imported from {out}')
    assert label_of(models, CC) == 'From-Botnet-TCP-HTTP-CC-1'
    moved.rename(flows)


def test_a_row_with_a_hash_says_which_files_could_not_be_read(models, tmp_path):
    out = labeled_export(models, tmp_path)
    (tmp_path / 'labels.binetflow').rename(tmp_path / 'elsewhere.binetflow')
    reply = run(models, f'labels --import {out}')
    assert reply.items[-1].text == (
        '2 of the 2 rows matched no model here and were not imported (listed above); the flow '
        'files of groups 0-1 are not where they were, so their captures could not be told: if '
        "they were moved, run 'datasets -o'")


@pytest.mark.parametrize('suffix', ['.csv', '.json'])
def test_files_written_before_rows_had_a_hash_import_by_group_id(models, suffix):
    path = DATA / f'labels-by-group-id{suffix}'
    assert ok(models, f'labels --import {path}')[0].text == (
        f'2 labeled connections imported from {path}')
    assert (label_of(models, CC), label_of(models, OTHER)) == (
        'From-Botnet-TCP-HTTP-CC-1', 'From-Normal-TCP-HTTPS--1')


def test_rows_that_match_nothing_are_listed_and_the_rest_saved(models, tmp_path):
    # Skipped rows were counted with a warning and the command succeeded.
    sha = sha256_of(tmp_path / 'labels.binetflow')
    path = tmp_path / 'mixed.csv'
    path.write_text('group,connection,label,constructor,sha256\n'
                    f'5-1,{CC},From-Botnet-TCP-HTTP-CC-1,1,{sha}\n'
                    f'0-1,{DNS},From-Normal-UDP-DNS--1,1,{"0" * 64}\n'
                    f'0-1,10.9.9.9-10.0.0.2-80-tcp,From-Botnet-TCP-HTTP-CC-1,1,{sha}\n'
                    f'0-1,{DNS},From-Normal-UDP-DNS--1,2,{sha}\n'
                    f'7-1,{OTHER},From-Normal-TCP-HTTPS--1,,\n')
    reply = run(models, f'labels --import {path}')
    assert not reply.ok
    done, table, failed = reply.items
    assert done.text == f'1 labeled connections imported from {path}'
    assert table.title == '4 rows that matched no model'
    assert table.rows == [
        (2, DNS, f'no group of models here was made from its file (sha256 {"0" * 12}…) with '
                 'constructor 1'),
        (3, '10.9.9.9-10.0.0.2-80-tcp', 'group 0-1 has no model of this connection'),
        (4, DNS, f'no group of models here was made from its file (sha256 {sha[:12]}…) with '
                 'constructor 2'),
        (5, OTHER, 'there is no group of models 7-1')]
    assert (failed.level, failed.text) == (
        'error', '4 of the 5 rows matched no model here and were not imported (listed above)')
    assert label_of(models, CC) == 'From-Botnet-TCP-HTTP-CC-1'  # saved


def test_a_batch_run_with_unmatched_rows_exits_with_status_1(models, tmp_path):
    import io
    from stf.console.batch import run_batch
    from stf.console.render import Renderer
    path = tmp_path / 'nowhere.csv'
    path.write_text(f'group,connection,label\n9-1,{CC},From-Botnet-TCP-HTTP-CC-1\n')
    out, err = io.StringIO(), io.StringIO()
    assert run_batch(models, [f'labels --import {path}'], Renderer(out, err)) == 1
    assert err.getvalue() == ('error: line 1: 1 of the 1 row matched no model here and were '
                              'not imported (listed above)\n')


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


def test_names_of_other_tools_are_refused_row_by_row(models, tmp_path):
    """Outside the grammar, as labels -a --name refuses them; nothing is saved."""
    path = tmp_path / 'other.csv'
    path.write_text(f'group,connection,label\n0-1,{CC},From-Botnet-TCP-HTTP-CC-1\n'
                    f'0-1,{DNS},From-Malware-Synthetic-TCP-HTTPS\n')
    assert 'row 2' in error(models, f'labels --import {path}')
    assert label_of(models, CC) is None


# -- wrong types: one line naming the row and the field

GOOD = {'group': '0-1', 'connection': CC, 'label': 'From-Botnet-TCP-HTTP-CC-1'}


@pytest.mark.parametrize('change, why', [
    ({'group': ['0-1']}, "'group' must be text like 0-1, not a list"),
    ({'group': 0}, "'group' must be text like 0-1, not a number"),
    ({'connection': {}}, "'connection' must be text like 10.0.0.1-10.0.0.2-80-tcp, not an "
                         'object'),
    ({'label': 7}, "'label' must be text like From-Botnet-TCP-HTTP-CC12-1, not a number"),
    ({'label': None}, "'label' must be text like From-Botnet-TCP-HTTP-CC12-1, not null"),
    ({'constructor': 'one', 'sha256': '0' * 64},
     "'constructor' must be a whole number like 1, not 'one'"),
    ({'constructor': True, 'sha256': '0' * 64},
     "'constructor' must be a whole number like 1, not true or false"),
    ({'constructor': 1, 'sha256': 'abc'},
     "'sha256' must be 64 hexadecimal digits (or empty), not 'abc'"),
    ({'sha256': '0' * 64}, "has a 'sha256' but no 'constructor'; a row needs both, or neither"),
])
def test_wrong_types_name_the_row_and_the_field(models, tmp_path, change, why):
    # They gave "unexpected error TypeError" (or AttributeError).
    path = tmp_path / 'typed.json'
    path.write_text(json.dumps([GOOD, GOOD, {**GOOD, **change}]))
    separator = ' ' if why.startswith('has') else ': '
    assert error(models, f'labels --import {path}') == f'{path}: row 3{separator}{why}'
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


# -- a failed import leaves the selection as it was

def test_a_failed_import_leaves_no_deleted_dataset_selected(app, tmp_path, monkeypatch):
    # The dataset the import made and selected went with the transaction;
    # the next command said it was deleted meanwhile (by another analyst?).
    from stf.commands import models as models_command
    letters = tmp_path / 'in.tsv'
    letters.write_text('tuple_id\tflows\tlabel\tstate\na\t1\t\tabc\n')

    def refused(*arguments):
        raise models_command.UserError('refused on the way')
    monkeypatch.setattr(models_command, 'attach_imported_labels', refused)
    assert error(app, f'datasets -c {letters} --name one') == 'refused on the way'
    monkeypatch.undo()
    assert ok(app, 'models -l')[0].rows == []
    assert error(app, 'datasets -f') == ("no dataset is selected; select one with 'datasets -s "
                                         "ID' (list them with 'datasets -l')")
    ok(app, f'datasets -c {letters} --name one')
    bad = tmp_path / 'bad.json'
    bad.write_text('[{"group": [1], "connection": "a", "label": 3}]')
    error(app, f'labels --import {bad}')
    assert ok(app, 'datasets -f')[0].title == "files of dataset 0 'one'"
