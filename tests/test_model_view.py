"""models -S GROUP -i ID: one model whole (its letters wrapped and colored,
the legend of its constructor, its counts, periodicity, gap, label, note and
its reading in words), and models -s in words with the letter table."""
import io
import json
import os
import re
import sys

import pytest

from stf.commands.results import Letters
from stf.console.render import Renderer
from stf.core.flows import letters
from tests.conftest import ROOT, error, ok
from tests.test_connections_models import HEADER

BEACON = '10.0.0.1-1.1.1.1-80-tcp'
MIXED = '10.0.0.1-2.2.2.2-80-tcp'
# (start s, duration s, bytes) of the mixed model's flows and the piece each writes
MIXED_FLOWS = ((0, '0.05', 100),     # 1     small, short; no periodicity yet
               (2, '0.05', 100),     # 1.    2 s after
               (4, '20', 5000),      # i.    gaps 2, 2: TD 1, strongly periodic; large, long
               (6, '20', 5000),      # i.
               (100, '1', 600),      # V+    gaps 2, 94: TD 47, not periodic; medium, medium
               (200, '1', 600),      # E+    gaps 94, 100: TD 1.064, weakly periodic
               (7400, '0.05', 100),  # 00R   a gap of 7200 s: two zeros; TD 72
               (7402, '0.05', 100))  # R.    gaps 7200, 2: TD 3600
MIXED_STATE = '11.i.i.V+E+00RR.'
BEACON_STATE = '55' + ',e' * 10 + ','


def flow(start, dur, size, dst):
    return (f'{1577872800 + start}.000000,{dur},tcp,10.0.0.1,4000,   ->,{dst},80,CON,0,0,3,'
            f'{size},100,flow=From-Botnet-V1-TCP-CC\n')


@pytest.fixture
def lab(app, tmp_path):
    """Group of models 0-1: a beacon every 10 s (medium size, medium
    duration) and MIXED, labeled and with a note."""
    lines = [(second, flow(second, '0.5', 300, '1.1.1.1')) for second in range(0, 120, 10)]
    lines += [(start, flow(start, dur, size, '2.2.2.2')) for start, dur, size in MIXED_FLOWS]
    path = tmp_path / 'lab.binetflow'
    path.write_text(HEADER + ''.join(line for _, line in sorted(lines)))
    ok(app, f'datasets -c {path} --name lab')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    ok(app, f'labels -a -g 0-1 -c {MIXED} --name From-Botnet-TCP-HTTP-Mixed-1')
    ok(app, f'models -n 0-1 -i {MIXED} --text "Seen on day 2.\\n\\nAsk the owner."')
    return app


def batch(items):
    out, err = io.StringIO(), io.StringIO()
    Renderer(out, err).show(items)
    assert err.getvalue() == ''
    return out.getvalue()


LEGEND_1 = [
    ('TD', 'from the 3rd flow: the longer of its gap and the gap before, over the shorter '
     '(1 when either is 0)'),
    ('gap', "the time from the previous flow's start to this flow's start"),
    ('1-9', 'no periodicity yet: the first two flows'),
    ('a-i', 'strongly periodic: TD ≤ 1.05'),
    ('A-I', 'weakly periodic: 1.05 < TD ≤ 1.3'),
    ('r-z', 'weakly not periodic: 1.3 < TD ≤ 5'),
    ('R-Z', 'not periodic: TD > 5'),
    ('1-3 a-c A-C r-t R-T', 'small: size ≤ 250 B'),
    ('4-6 d-f D-F u-w U-W', 'medium size: 250 B < size ≤ 1100 B'),
    ('7-9 g-i G-I x-z X-Z', 'large: size > 1100 B'),
    ('147 adg ADG rux RUX', 'short: duration ≤ 0.1 s'),
    ('258 beh BEH svy SVY', 'medium duration: 0.1 s < duration ≤ 10 s'),
    ('369 cfi CFI twz TWZ', 'long: duration > 10 s'),
    ('.', 'seconds apart: gap ≤ 5 s'),
    (',', 'under a minute apart: 5 s < gap ≤ 60 s'),
    ('+', 'minutes apart: 60 s < gap ≤ 300 s'),
    ('*', 'under an hour apart: 300 s < gap ≤ 3600 s'),
    ('0', 'hours apart: gap > 3600 s: a 0 for every 3600 s of it, before the letter instead '
     'of a symbol after it')]


WIDEST = max(len(meaning) for _, meaning in LEGEND_1)   # the borders close around it


def test_the_legend_of_each_constructor():
    assert letters.legend(letters.CONSTRUCTORS[1]) == LEGEND_1
    model_0 = dict(letters.legend(letters.CONSTRUCTORS[0]))
    assert model_0['A-I'] == 'weakly periodic: 1.05 < TD ≤ 1.1'
    assert model_0['r-z'] == 'weakly not periodic: 1.1 < TD ≤ 5'
    assert model_0['1-3 a-c A-C r-t R-T'] == 'small: size ≤ 125 B'
    assert model_0['4-6 d-f D-F u-w U-W'] == 'medium size: 125 B < size ≤ 1100 B'
    single = letters.legend(letters.CONSTRUCTORS[2])
    assert single[:-1] == LEGEND_1[:-1]
    assert single[-1] == ('0', 'hours apart: gap > 3600 s: one 0 however long, before the '
                          'letter instead of a symbol after it')


def test_each_letter_and_symbol_in_words():
    assert [letters.meaning(char) for char in '1eIRz.,+*0?'] == [
        'no periodicity yet, small, short', 'strongly periodic, medium size, medium duration',
        'weakly periodic, large, long', 'not periodic, small, short',
        'weakly not periodic, large, long', 'seconds apart', 'under a minute apart',
        'minutes apart', 'under an hour apart', 'hours apart', None]


def test_the_reading_of_a_chain_in_words():
    assert letters.reading(BEACON_STATE) == (
        'strongly periodic, medium size, medium duration, under a minute apart')
    assert letters.reading('88*y*y*i*H*H*H*y*0yy*H*H*H*y*y*') == (   # SPEC.md's C&C channel
        'weakly not periodic, large, medium duration, under an hour apart')
    # periodicity of i V E R R: not periodic; a run of zeros is one gap (. . . . + + 00)
    assert letters.reading(MIXED_STATE) == 'not periodic, small, short, seconds apart'
    assert letters.reading('9') == 'no periodicity yet, large, long'     # one flow: no gap
    assert letters.reading('aR') == 'strongly periodic, small, short'    # a tie: table order
    assert letters.reading('0000000a') == 'strongly periodic, small, short, hours apart'
    assert letters.reading('') == letters.reading('.,') == ''


def test_one_model_whole_in_batch(lab):
    assert batch(ok(lab, f'models -S 0-1 -i {MIXED}')) == '\n'.join([
        'model',
        '  group        : 0-1',
        '  model        : 10.0.0.1-2.2.2.2-80-tcp',
        '  label        : From-Botnet-TCP-HTTP-Mixed-1',
        '  flows        : 8',
        '  state length : 16',
        '  periodicity  : 0.33',          # i i of i i V E R R
        '  gap          : 2.000000',             # the median of 2 2 2 2 94 100 7200
        '  constructor  : 1 (default)',
        '  reading      : not periodic, small, short, seconds apart',
        'letters',
        '  11.i.i.V+E+00RR.',
        'counts',
        '+--------+-------+-----------------------------------------------+',
        '| symbol | count | meaning                                       |',
        '+--------+-------+-----------------------------------------------+',
        '| 1      | 2     | no periodicity yet, small, short              |',
        '| i      | 2     | strongly periodic, large, long                |',
        '| R      | 2     | not periodic, small, short                    |',
        '| E      | 1     | weakly periodic, medium size, medium duration |',
        '| V      | 1     | not periodic, medium size, medium duration    |',
        '| .      | 4     | seconds apart                                 |',
        '| +      | 2     | minutes apart                                 |',
        '| 0      | 2     | hours apart                                   |',
        '+--------+-------+-----------------------------------------------+',
        'legend',
        f"+---------------------+{'-' * (WIDEST + 2)}+",
        f"| symbol              | {'meaning':{WIDEST}} |",
        f"+---------------------+{'-' * (WIDEST + 2)}+",
        *(f'| {symbol:19} | {meaning:{WIDEST}} |' for symbol, meaning in LEGEND_1),
        f"+---------------------+{'-' * (WIDEST + 2)}+",
        'note 0',
        '  Seen on day 2.',
        '',
        '  Ask the owner.',
        ''])


def test_the_counts_and_reading_of_a_strongly_periodic_chain(lab):
    model, state, counts, legend, note = ok(lab, f'models -S 0-1 -i {BEACON}')
    assert state.text == BEACON_STATE
    assert counts.rows == [('e', '10', 'strongly periodic, medium size, medium duration'),
                           ('5', '2', 'no periodicity yet, medium size, medium duration'),
                           (',', '11', 'under a minute apart')]
    assert dict(model.pairs)['reading'] == (
        'strongly periodic, medium size, medium duration, under a minute apart')
    assert [dict(model.pairs)[key] for key in ('label', 'flows', 'periodicity', 'gap')] == [
        '-', '12', '1.00', '10.000000']
    assert legend.rows == LEGEND_1
    assert note.text == 'note\n  (none)'


def test_a_group_made_before_gaps_gets_them_for_one_model(lab):
    group = lab.root['models'].get('0-1')
    del group.gaps, group.model_columns         # as an earlier version left it
    lab.database.tm.commit()
    model = ok(lab, f'models -S 0-1 -i {BEACON}')[0]
    assert dict(model.pairs)['gap'] == '10.000000'
    assert group.gap_of(MIXED) == 2


def test_the_model_id_completes(lab):
    from tests.test_completion import completions
    assert completions(lab, 'models -S ') == {'0-1'}
    assert completions(lab, 'models -S 0-1 -i 10.0.0.1-2') == {MIXED}


def test_unknown_group_or_model_is_one_line_naming_what_to_list(lab):
    assert error(lab, 'models -S 0-1') == (
        "models -S 0-1 needs -i ID, a model of the group; list them with 'models -L 0-1'")
    assert error(lab, 'models -S 0-1 -i 10.0.0.1-9.9.9.9-80-tcp') == (
        "group 0-1 has no model '10.0.0.1-9.9.9.9-80-tcp'; list them with 'models -L 0-1'")
    assert error(lab, 'models -S 7-1 -i x') == (
        "there is no group of models '7-1' (ids look like 0-1); list them with 'models -l'")
    assert error(lab, 'models -n 0-1 -i nope --text x') == (
        "group 0-1 has no model 'nope'; list them with 'models -L 0-1'")


def test_the_view_as_json_holds_the_same_content(lab):
    (text,) = ok(lab, f'models -S 0-1 -i {MIXED} --json')
    found = json.loads(text.text)
    assert list(found) == ['model', 'letters', 'counts', 'legend', 'note']
    assert found['model'] == {
        'group': '0-1', 'model': MIXED, 'label': 'From-Botnet-TCP-HTTP-Mixed-1', 'flows': 8,
        'state_length': 16, 'periodicity': 0.33, 'gap': 2, 'constructor': '1 (default)',
        'reading': 'not periodic, small, short, seconds apart'}
    assert found['letters'] == {'state': MIXED_STATE}
    assert found['counts'][0] == {'symbol': '1', 'count': 2,
                                  'meaning': 'no periodicity yet, small, short'}
    assert [row['symbol'] for row in found['counts']] == list('1iREV.+0')   # '1', '0': text
    assert [tuple(row.values()) for row in found['legend']] == LEGEND_1
    assert found['note'] == {'id': 0, 'text': 'Seen on day 2.\n\nAsk the owner.'}
    (beacon,) = ok(lab, f'models -S 0-1 -i {BEACON} --json')
    assert json.loads(beacon.text)['note'] == {'id': None, 'text': None}
    (tsv,) = ok(lab, f'models -S 0-1 -i {MIXED} --tsv')
    assert tsv.text.splitlines()[:3] == ['# model', 'field\tvalue', 'group\t0-1']
    assert '# letters\nfield\tvalue\nstate\t11.i.i.V+E+00RR.\n# counts\n' in tsv.text


def letters_file(tmp_path, state, conn=BEACON):
    path = tmp_path / 'letters.tsv'
    path.write_text(f'tuple_id\tflows\tlabel\tstate\n{conn}\t1\t\t{state}\n')
    return path


def test_batch_wraps_the_letters_at_100_columns_without_colors(app, tmp_path):
    state = 'A,' * 120
    ok(app, f'datasets -c {letters_file(tmp_path, state)} --name long')
    text = batch(ok(app, f'models -S 0-1 -i {BEACON}'))
    start = text.index('letters\n') + len('letters\n')
    assert text[start:text.index('counts\n')] == (
        f'  {state[:98]}\n  {state[98:196]}\n  {state[196:]}\n')
    assert '\x1b' not in text


def test_a_terminal_wraps_the_letters_to_its_width_and_colors_them(monkeypatch):
    monkeypatch.setenv('COLUMNS', '12')
    monkeypatch.setenv('LINES', '100')
    out, err = io.StringIO(), io.StringIO()
    block = Letters('55,e,e,e,e,e,', title='letters')
    Renderer(out, err, terminal=True, pager='none').show([block])
    assert re.sub(r'\x1b\[[0-9;]*m', '', out.getvalue()) == (
        'letters\n  55,e,e,e,e\n  ,e,\n')
    assert out.getvalue().startswith('letters\n  \x1b[35m5\x1b[0m\x1b[35m5\x1b[0m\x1b[2m,')


def test_constructors_in_words_and_the_letter_table(app):
    constructors, words, table = ok(app, 'models -s')
    assert [row[0] for row in constructors.rows] == [0, 1, 2]
    assert words.rows[1] == (1, 'default', (
        'TD up to 1.05: strongly periodic, up to 1.3: weakly periodic, up to 5: weakly not '
        'periodic, above: not periodic; size up to 250 B: small, up to 1100 B: medium size, '
        'above: large; duration up to 0.1 s: short, up to 10 s: medium duration, above: long; '
        'a gap over 3600 s: a 0 for every 3600 s of it'))
    assert words.rows[0][2].startswith('TD up to 1.05: strongly periodic, up to 1.1: weakly '
                                       'periodic, up to 5')
    assert words.rows[2][2].endswith('a gap over 3600 s: one 0 however long')
    assert batch([table]).splitlines() == [
        'letters',
        '+---------------------+-----+-----+-----+-----+-----+-----+-----+-----+-----+',
        '| periodicity         | s,s | s,m | s,l | m,s | m,m | m,l | l,s | l,m | l,l |',
        '+---------------------+-----+-----+-----+-----+-----+-----+-----+-----+-----+',
        '| no periodicity yet  | 1   | 2   | 3   | 4   | 5   | 6   | 7   | 8   | 9   |',
        '| strongly periodic   | a   | b   | c   | d   | e   | f   | g   | h   | i   |',
        '| weakly periodic     | A   | B   | C   | D   | E   | F   | G   | H   | I   |',
        '| weakly not periodic | r   | s   | t   | u   | v   | w   | x   | y   | z   |',
        '| not periodic        | R   | S   | T   | U   | V   | W   | X   | Y   | Z   |',
        '+---------------------+-----+-----+-----+-----+-----+-----+-----+-----+-----+',
        'columns: size (s small, m medium size, l large), duration (s short, m medium '
        'duration, l long)']


def test_the_letter_table_is_the_one_that_makes_letters(app):
    """Every cell of models -s's table is the letter flow_piece writes for
    that class (three flows, so that the third has a periodicity)."""
    chosen = letters.CONSTRUCTORS[1]
    second = letters.SECOND
    # the gaps before a flow, for each row: none yet, then TD 1, 1.2, 2 and 10
    gaps = ((None, None), (10, 10), (10, 12), (10, 20), (10, 100))
    sizes, durations = (100, 600, 5000), (second // 20, second, 20 * second)
    rows = [(word, *(letters.flow_piece(t1 and t1 * second, t2 and t2 * second,
                                        durations[column % 3], sizes[column // 3],
                                        chosen)[0] for column in range(9)))
            for word, (t1, t2) in zip(letters.WORDS['periodicity'], gaps)]
    assert ok(app, 'models -s')[2].rows == rows


def test_a_terminal_of_80_columns_wraps_the_view_in_color(tmp_path):
    columns = 80
    pexpect = pytest.importorskip('pexpect')
    state = '55' + ',e' * 60
    path = letters_file(tmp_path, state)
    env = dict(os.environ, STF_HOME=str(tmp_path / 'home'), TERM='xterm')
    env.pop('COLUMNS', None)
    env.pop('LINES', None)
    # tall enough for the whole view: it is written, not paged
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--db',
                                           str(tmp_path / 'db' / 'stf.db')],
                          env=env, encoding='utf-8', timeout=15, dimensions=(100, columns))
    child.expect('stf >')
    child.send(f'datasets -c {path} --name wide\r')
    child.expect('imported as group of models 0-1')
    child.send(f'models -S 0-1 -i {BEACON}\r')
    child.expect('model\r\n')
    child.expect(r'note\s+\(none\)')
    shown = child.before
    child.expect('stf >')
    child.send('exit\r')
    child.expect(pexpect.EOF)
    plain = re.sub(r'\x1b\[[0-9;]*m', '', shown)
    lines = plain.replace('\r\n', '\n').split('\n')
    assert max(map(len, lines)) <= columns
    start = lines.index('letters') + 1
    assert lines[start:start + 2] == ['  ' + state[:78], '  ' + state[78:]]
    # each letter colored: ESC[..m 5 ESC[0m ESC[..m 5 ESC[0m
    assert re.search(r'\n  \x1b\[35m5\x1b\[0m\x1b\[35m5\x1b\[0m\x1b\[2m,\x1b\[0m\x1b\[32me',
                     shown.replace('\r\n', '\n'))
    assert '  reading      : strongly periodic, medium size, medium duration, under a minute\n' \
           '                 apart' in '\n'.join(lines)
