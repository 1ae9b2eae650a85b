"""Files stf writes for the analyst: never over an existing file without
--force; letters TSV files keep every model under a name of its own."""
import pytest

from stf.core.flows import letterstsv
from tests.conftest import error, ok
from tests.test_labels import CC


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
    assert [row[1:] for row in ok(app, 'models -L 0-1')[0].rows] == [
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
