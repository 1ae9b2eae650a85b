"""Files stf writes for the analyst: never over an existing file without
--force, safe to open in a spreadsheet, and read back exactly as written;
letters TSV files keep every model under a name of its own."""
import shlex

import pytest

from stf.core.flows import letterstsv
from tests.conftest import error, ok
from tests.test_labels import CC, label_of
from tests.test_label_import import second_database


@pytest.fixture
def other(tmp_path):
    yield from second_database(tmp_path)


# -- no file overwritten by mistake

@pytest.mark.parametrize('command', ['labels -o {out}', 'labels --export {out}',
                                     'labels -o {out}.json', 'models -e 0-1 -o {out}'])
def test_an_export_never_overwrites_a_file_without_force(models, tmp_path, command):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    out = tmp_path / 'mine.txt'
    line = command.format(out=out)
    target = tmp_path / line.split()[-1]
    target.write_text('the analyst\'s own notes\n')
    assert error(models, line) == (
        f'{target} exists; add --force to overwrite it, or choose another file')
    assert target.read_text() == 'the analyst\'s own notes\n'
    assert ok(models, line + ' --force')[0].text.endswith(f'written to {target}')
    assert 'From-Botnet-TCP-HTTP-CC-1' in target.read_text()


def test_force_is_in_the_help_of_both_exports(models):
    assert '--force' in ok(models, 'models -h')[0].text
    assert '--force' in ok(models, 'labels -h')[0].text


# -- letters TSV: names and numbers

def letters_file(tmp_path, rows, name='in.tsv'):
    """A letters TSV of (conn, flows, label, state) rows, as stf writes it."""
    path = tmp_path / name
    with open(path, 'w', encoding='utf-8', newline='') as handle:
        letterstsv.write(handle, rows)
    return path


def test_a_renamed_repeat_never_takes_a_name_the_file_holds(app, tmp_path):
    # 'a', 'a', 'a#2': the second 'a' became 'a#2' and the file's own 'a#2'
    # then became 'a#2#2'; its label went to the wrong model.
    path = letters_file(tmp_path, [('a', 1, 'From-Botnet-TCP-HTTP-A-1', 'x'),
                                   ('a', 2, 'From-Botnet-TCP-HTTP-B-1', 'y'),
                                   ('a#2', 3, 'From-Botnet-TCP-HTTP-C-1', 'z'),
                                   ('a', 4, '', 'w')])
    assert ok(app, f'datasets -c {path} --name letters')[1].text == (
        '4 models with 3 labels imported as group of models 0-1')
    # (periodicity and gap, columns 4 and 5, are left out here)
    assert [row[1:4] + row[6:] for row in ok(app, 'models -L 0-1')[0].rows] == [
        ('From-Botnet-TCP-HTTP-A-1', 'a', '1', 'x'),
        ('From-Botnet-TCP-HTTP-C-1', 'a#2', '3', 'z'),
        ('From-Botnet-TCP-HTTP-B-1', 'a#3', '2', 'y'),
        ('', 'a#4', '4', 'w')]


@pytest.mark.parametrize('flows', ['\u00b2', '7' * 4301, '-3'])
def test_a_flow_count_that_is_no_number_names_the_line_and_column(app, tmp_path, flows):
    path = letters_file(tmp_path, [('a', 1, '', 'x'), ('b', flows, '', 'y')])
    shown = repr(flows if len(flows) <= 40 else flows[:40] + '…')
    assert error(app, f'datasets -c {path} --name letters') == (
        f'{path}: line 3 is not tuple_id<TAB>flows<TAB>label<TAB>state: column 2 (flows) is '
        f'{shown}, not a whole number; fix the file')
    assert len(app.datasets) == 0


def test_a_line_of_too_few_columns_says_how_many(app, tmp_path):
    path = tmp_path / 'in.tsv'
    path.write_text('tuple_id\tflows\tlabel\tstate\na\t1\tx\n')
    assert error(app, f'datasets -c {path}') == (
        f'{path}: line 2 is not tuple_id<TAB>flows<TAB>label<TAB>state: it has 3 columns, '
        'not 4; fix the file')


# -- spreadsheet formulas, and exact round trips

@pytest.mark.parametrize('text, written', [
    ('=1+2', "'=1+2"), ('+a', "'+a"), ('-x', "'-x"), ('@SUM(A1)', "'@SUM(A1)"),
    ('\tx', "'\tx"), ("'=q", "''=q"), ("'plain", "'plain"), ('plain-=', 'plain-='), ('', '')])
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(text, written):
    from stf.core import cells
    assert cells.guarded(text) == written
    assert cells.unguarded(written) == text


ODD_MODELS = [('=HYPERLINK("http://x","y")', 3, '-1+2', '88*i*'),
              ('-10.0.0.1-x', 1, '@cmd', 'a,b'),
              ("'=already", 2, 'From-Botnet-TCP-HTTP-a"b=-1', '+x'),
              ('10.0.0.1-10.0.0.2-80-tcp', 5, 'From-Normal-TCP-HTTP-=x-1', 'abc')]


def test_models_export_guards_formulas_and_imports_back_exactly(app, other, tmp_path):
    # A '-1+2' label ran as a formula in a spreadsheet; the file read back
    # must give the very same ids and labels.
    ok(app, f'datasets -c {letters_file(tmp_path, ODD_MODELS)} --name odd')
    first = tmp_path / 'first.tsv'
    ok(app, f'models -e 0-1 -o {first}')
    assert first.read_text(encoding='utf-8').splitlines() == [
        'tuple_id\tflows\tlabel\tstate',
        "''=already\t2\tFrom-Botnet-TCP-HTTP-a\"b=-1\t'+x",
        "'-10.0.0.1-x\t1\t'@cmd\ta,b",
        '10.0.0.1-10.0.0.2-80-tcp\t5\tFrom-Normal-TCP-HTTP-=x-1\tabc',
        "'=HYPERLINK(\"http://x\",\"y\")\t3\t'-1+2\t88*i*"]
    ok(other, f'datasets -c {first} --name again')
    assert sorted(row[1:4] + row[6:] for row in ok(other, 'models -L 0-1')[0].rows) == sorted(
        (label, conn, str(flows), state) for conn, flows, label, state in ODD_MODELS)
    second = tmp_path / 'second.tsv'
    ok(other, f'models -e 0-1 -o {second}')
    assert second.read_bytes() == first.read_bytes()


@pytest.mark.parametrize('suffix', ['.csv', '.json'])
def test_labels_export_imports_into_a_fresh_database_exactly(app, other, tmp_path, suffix):
    models = letters_file(tmp_path, [(conn, flows, '', state)
                                     for conn, flows, _, state in ODD_MODELS])
    for database in (app, other):
        ok(database, f'datasets -c {models} --name odd')
    for conn, _, label, _ in ODD_MODELS:
        if label.startswith('From'):
            ok(app, f'labels -a -c {shlex.quote(conn)} -g 0-1 --name {shlex.quote(label)}')
    ok(app, f'labels -a -c {shlex.quote(ODD_MODELS[0][0])} -g 0-1 '
            '--name From-Botnet-TCP-HTTP-=cmd-1')
    first = tmp_path / f'first{suffix}'
    ok(app, f'labels -o {first}')
    assert ok(other, f'labels --import {first}')[0].text == (
        f'3 labeled connections imported from {first}')
    assert label_of(other, "'=already") == 'From-Botnet-TCP-HTTP-a"b=-1'
    second = tmp_path / f'second{suffix}'
    ok(other, f'labels -o {second}')
    assert second.read_bytes() == first.read_bytes()
    if suffix == '.csv':
        assert ('\n0-1,"\'=HYPERLINK(""http://x"",""y"")",From-Botnet-TCP-HTTP-=cmd-1,1,'
                in first.read_text())


def test_a_guarded_cell_is_read_without_its_quote(models, tmp_path):
    path = tmp_path / 'saved.csv'
    path.write_text("group,connection,label\n'-1,10.0.0.1-10.0.0.2-80-tcp,"
                    "From-Botnet-TCP-HTTP-CC-1\n")
    reply = models.execute(f'labels --import {path}')
    assert reply.items[1].rows == [(1, CC, 'there is no group of models -1')]
