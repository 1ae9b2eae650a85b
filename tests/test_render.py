"""The renderer: plain text in batch, colors and the pager on a terminal
(only for what is taller or wider than the screen), errors on stderr; and
the listings of groups, counts and histograms it shows."""
import io
import re
from datetime import datetime, timezone

import pytest

from stf.commands.results import Fields, Message, Table, Text, ok, warning
from stf.console.render import Renderer
from tests.conftest import error, ok as run_ok

BEACON = '10.0.0.1-10.0.0.2-80-tcp'
ESCAPE = re.compile(r'\x1b\[')
TABLE = Table(['id', 'state'], [(0, '88,h,h,'), (1, '11.')], title='models', letters_column=1)


@pytest.fixture
def pager(tmp_path):
    """A real pager program that keeps what it was given and its LESS setting."""
    seen = tmp_path / 'paged.txt'
    script = tmp_path / 'pager.sh'
    script.write_text(f'#!/bin/sh\necho "LESS=$LESS" > "{seen}"\ncat >> "{seen}"\n')
    script.chmod(0o755)
    return str(script), seen


def rendered(items, terminal=False, pager='none'):
    out, err = io.StringIO(), io.StringIO()
    Renderer(out, err, terminal=terminal, pager=pager).show(items)
    return out.getvalue(), err.getvalue()


def screen(monkeypatch, columns, lines):
    monkeypatch.setenv('COLUMNS', str(columns))
    monkeypatch.setenv('LINES', str(lines))


def test_batch_is_plain_text_and_errors_go_to_stderr():
    out, err = rendered([ok('done'), TABLE, Message('went wrong', 'error'), warning('careful'),
                         Fields([('size', '3 bytes')], title='file'), Text('free text')])
    assert out == ('done\nmodels\n+----+---------+\n| id | state   |\n+----+---------+\n'
                   '| 0  | 88,h,h, |\n| 1  | 11.     |\n+----+---------+\n'
                   'warning: careful\nfile\n  size : 3 bytes\nfree text\n')
    assert err == 'error: went wrong\n'
    assert not ESCAPE.search(out + err)


def test_a_terminal_colors_messages_and_letters_without_paging_what_fits(monkeypatch, pager):
    screen(monkeypatch, 80, 24)
    out, err = rendered([ok('done'), TABLE, Message('bad', 'error')], terminal=True,
                        pager=pager[0])
    assert out.startswith('\x1b[32mdone\x1b[0m\n')
    assert '\x1b[35m8\x1b[0m\x1b[35m8\x1b[0m' in out  # letters before periodicity: magenta
    assert err == '\x1b[31merror: bad\x1b[0m\n'
    assert not pager[1].exists()


@pytest.mark.parametrize('columns, lines', [(80, 5), (15, 24)])
def test_what_is_taller_or_wider_than_the_screen_goes_through_the_pager(monkeypatch, pager,
                                                                        columns, lines):
    screen(monkeypatch, columns, lines)
    out, _ = rendered([TABLE], terminal=True, pager=pager[0])
    assert out == ''
    paged = pager[1].read_text()
    assert paged.startswith('LESS=-R -F -X -S\nmodels\n+----+')
    assert paged.count('\n') == 8


def test_width_is_what_the_screen_shows(monkeypatch, pager):
    """Color codes take no room and wide characters two: a colored table as
    wide as the screen is not paged, a line of wide characters is."""
    from stf.console.render import display_width
    assert display_width('\x1b[35m8\x1b[0m\x1b[2m,\x1b[0m') == 2
    assert display_width('漢字 ok') == 7
    screen(monkeypatch, 16, 24)  # the table is 16 columns wide
    out, _ = rendered([TABLE], terminal=True, pager=pager[0])
    assert out.startswith('models\n') and not pager[1].exists()
    rendered([Text('漢字' * 5)], terminal=True, pager=pager[0])  # 20 columns
    assert pager[1].read_text() == 'LESS=-R -F -X -S\n' + '漢字' * 5 + '\n'


def test_without_a_pager_a_long_listing_is_written(monkeypatch):
    screen(monkeypatch, 80, 5)
    out, _ = rendered([TABLE], terminal=True, pager='none')
    assert out.count('\n') == 7 and out.startswith('models\n')
    out, _ = rendered([TABLE], terminal=True, pager='no-such-pager-program')
    assert out.startswith('models\n')


def test_an_empty_table_says_none():
    assert rendered([Table(['a'], [], title='t', footer='0 things')])[0] == 't\n(none)\n0 things\n'


def test_histogram_rows():
    """Linear bins of a round width (1, 2 or 5 times a power of 10), decades
    when the values span more than two orders of magnitude (tests/test_rhythm.py)."""
    from stf.plots.terminal import histogram
    assert histogram([1, 1, 2, 10], most=3, width=4) == [
        ('0 - 4', 3, '####'), ('5 - 9', 0, ''), ('10 - 14', 1, '#')]
    assert histogram([2_500_000, 10_000_000], most=4, width=2, unit=1_000_000) == [
        ('0 - 4.999999', 1, '##'), ('5 - 9.999999', 0, ''), ('10 - 14.999999', 1, '##')]
    assert histogram([5, 50, 5000], width=3) == [
        ('1 - 9', 1, '###'), ('10 - 99', 1, '###'), ('100 - 999', 0, ''),
        ('1,000 - 5,000', 1, '###')]
    assert histogram([]) == []


def test_groups_counts_and_model_notes(models):
    today = datetime.now(timezone.utc).strftime('%Y-%m-%d')
    (groups,) = run_ok(models, 'connections -l')
    assert groups.headers == ['group', 'dataset', 'dataset name', 'file', 'connections', 'flows',
                              'trimmed']
    assert groups.rows == [(0, 0, 'lab', 'labels.binetflow', '3', '5', '')]
    (model_groups,) = run_ok(models, 'models -l')
    assert [row[:6] for row in model_groups.rows] == [('0-1', 0, 0, 1, '3', '0')]
    assert model_groups.rows[0][6].startswith(today)
    assert run_ok(models, 'models -C 0-1 -f statelength>2')[0].text == (
        '1 of the 3 models of group 0-1 match')
    assert run_ok(models, f'models -n 0-1 -i {BEACON} --text "beacon"')[0].text == (
        f'note 0 of model {BEACON} (group 0-1) saved')
    assert run_ok(models, 'models -L 0-1 -f statelength>2')[0].rows == [
        ('*', '', BEACON, '3', '1.00', '10.000000', '55,e,')]
    assert error(models, 'models -n 0-1 --text x') == (
        "models -n 0-1 needs -i ID, a model of the group; list them with 'models -L 0-1'")


def test_letters_stay_in_view_other_columns_give_way_then_one_record_per_block():
    from stf.console.render import table_text
    model = 'fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8-ff02::1:ff00:1-136-icmp'
    state = '55' + ',e' * 30
    table = Table(['note', 'label', 'model', 'flows', 'periodicity', 'gap', 'state'],
                  [('', 'From-Botnet-UDP-DNS-CC-1', model, '12', '0.91', '10', state)],
                  letters_column=6)
    wide = table_text(table, columns=160).splitlines()
    assert model in wide[3] and state in wide[3]
    narrower = table_text(table, columns=110).splitlines()
    assert 'fd2d:ab8c:2…:1-136-icmp' in narrower[3]         # a middle ellipsis
    assert narrower[3].index(state) + 20 <= 110             # the letters start on screen
    narrow = table_text(table, columns=80).splitlines()
    assert narrow[:2] == ['-[ record 1 ]--------------------', 'note        | ']
    assert narrow[-1] == f'state       | {state}'
    assert table_text(table).splitlines()[3].count(model) == 1   # batch: never shortened


def test_a_message_wider_than_the_terminal_is_wrapped_not_paged():
    from stf.commands.results import Message
    from stf.console.render import message_text
    text = ('group of connections 0: 308 connections from 338 flows of '
            'test7-malicious.binetflow')
    assert message_text(Message(text, 'ok'), False, 40).split('\n') == [
        'group of connections 0: 308 connections', 'from 338 flows of',
        'test7-malicious.binetflow']
    assert message_text(Message(text, 'ok'), False) == text      # batch: as it is


def test_a_long_last_column_keeps_the_borders_closed_unless_it_is_letters():
    from stf.commands.results import Table
    from stf.console.render import table_text
    command = 'datasets -c /work/data/binetflow/test2-malicious.binetflow --name test2'
    lines = table_text(Table(['id', 'command'], [('1', command), ('2', 'x')])).split('\n')
    assert {len(line) for line in lines} == {len('| 1  |  |') + len(command)}
    letters = Table(['id', 'state'], [('1', 'a.' * 100), ('2', 'b')], letters_column=1)
    assert table_text(letters).split('\n')[3] == '| 1  | ' + 'a.' * 100    # not padded


def test_a_table_narrowed_for_the_screen_breaks_dates_and_names_at_their_spaces():
    from stf.commands.results import Table
    from stf.console.render import table_text
    table = Table(['id', 'name', 'added', 'folder'],
                  [('0', 'test7', '2026-12-02 08:26:54 UTC',
                    '/tmp/tryout/datasets/test7-malicious')])
    lines = table_text(table, columns=50).split('\n')
    assert max(map(len, lines)) <= 50
    assert lines[3:6] == ['| 0  | test7 | 2026-12-02 | /tmp/tryout/datasets |',
                          '|    |       | 08:26:54   | /test7-malicious     |',
                          '|    |       | UTC        |                      |']
