"""Finding the beacon: periodicity and gap of each model, letter filters
(state~REGEX, state=TEXT), numeric filters and sorting on them."""
import pytest

from stf.core.flows import filters, letters
from tests.conftest import error, models_of, ok
from tests.test_connections_models import HEADER, flow_line

SECOND = letters.SECOND


def test_periodicity_and_gap_by_hand():
    assert letters.periodicity('11.a.a.b,A*r0') == 3 / 5     # a a b of a a b A r
    assert letters.periodicity('99.9') is None                # digits only: no data
    start = [0, 10 * SECOND, 30 * SECOND, 7, 100, 200, 300, 1000]
    assert letters.median_gaps(start, [0, 3, 4, 8]) == [15.0, None, 100 / SECOND]


@pytest.fixture
def capture(app, tmp_path):
    lines = [flow_line(10 * step, dst='1.1.1.1') for step in range(12)]          # a beacon
    lines += [flow_line(second, dst='2.2.2.2', size=str(100 + second * 37))
              for second in (1, 3, 4, 20, 21, 55, 56, 57, 90, 200, 300)]          # a browser
    lines += [flow_line(5, dst='3.3.3.3')]                                       # one flow
    return models_of(app, tmp_path / 'capture.binetflow', HEADER + ''.join(sorted(lines)), 'hunt')


def rows(app, line):
    (table, *_) = [item for item in ok(app, line) if hasattr(item, 'rows')]
    return {row[2].split('-')[1]: row[3:6] for row in table.rows}


def test_models_show_periodicity_and_gap_and_filter_on_them(capture):
    found = rows(capture, 'models -L 0-1')
    assert found['1.1.1.1'][:3] == ('12', '1.00', '10.000000')
    assert found['3.3.3.3'][:3] == ('1', '-', '-')
    browser = capture.root['models'].get('0-1').states['10.0.0.1-2.2.2.2-80-tcp'][1]
    assert found['2.2.2.2'][1] == f'{letters.periodicity(browser):.2f}'
    assert found['2.2.2.2'][2] == '9.000000'     # gaps 1 1 1 1 2 | 16 33 34 100 110: (2 + 16) / 2
    assert set(rows(capture, 'models -L 0-1 -f periodicity>0.8')) == {'1.1.1.1'}
    assert set(rows(capture, 'models -L 0-1 -f gap>9.5')) == {'1.1.1.1'}
    # the beacon's letters: 55,e,e,e,...
    assert set(rows(capture, "models -L 0-1 -f 'state~^55(,e){10}'")) == {'1.1.1.1'}
    assert set(rows(capture, 'models -L 0-1 -f state=e,e,e,e,e')) == {'1.1.1.1'}
    ordered = [item for item in ok(capture, 'models -L 0-1 --sort -flows')
               if hasattr(item, 'rows')][0]
    assert [row[2].split('-')[1] for row in ordered.rows] == ['1.1.1.1', '2.2.2.2', '3.3.3.3']


def test_bad_letter_filters_are_one_line(capture):
    assert error(capture, "models -L 0-1 -f 'state~(a'") == (
        "filter state~(a: not a regular expression (missing ), unterminated subpattern at "
        "position 0); quote it, e.g. -f 'state~(a\\.){3}'")
    assert error(capture, 'models -L 0-1 -f periodicity~1') == (
        "filter periodicity: '~' matches text with a regular expression; periodicity is a "
        'number (use = != < <= > >=)')
    assert error(capture, 'models -L 0-1 -f gap>soon') == "filter gap needs a number, not 'soon'"
    (condition,) = filters.parse('models', ['state~^1'])
    assert condition.test('11.a') and not condition.test('a1')


def test_periodicities_of_many_states_equal_one_by_one():
    states = ['11.a.a.b,A*r0', '99.9', '', 'i', '0', 'a,b,c,d,e,f,g,h,i,A,r,R,1', 'ü.a']
    found = letters.periodicities(states)
    expected = [letters.periodicity(state) for state in states]
    assert [None if value != value else value for value in found.tolist()] == expected
    assert expected[:3] == [3 / 5, None, None]


def test_columns_are_cut_in_parts_and_stay_right_after_deletions(capture, monkeypatch):
    from stf.models.behavior import ModelColumns
    monkeypatch.setattr(ModelColumns, 'PART_ROWS', 2)
    group = capture.root['models'].get('0-1')
    group.model_columns = None
    capture.database.tm.commit()
    ok(capture, 'models -L 0-1')
    columns = group.model_columns
    assert [part.ids.count('\n') + 1 for part in columns.parts] == [2, 1]
    ids, states, numbers = columns.arrays()
    assert ids == list(group.states.keys())
    assert states == [state for _, state in group.states.values()]
    assert numbers['flows'].tolist() == [12, 11, 1]
    monkeypatch.setattr(ModelColumns, 'PART_CHARS', 5)    # each state alone in its part
    assert list(ModelColumns.cuts(numbers['lengths'])) == [(0, 1), (1, 2), (2, 3)]
    ok(capture, 'models -D 0-1 -i 10.0.0.1-2.2.2.2-80-tcp')
    assert set(rows(capture, 'models -L 0-1')) == {'1.1.1.1', '3.3.3.3'}
    assert group.model_columns.count == 2
    assert rows(capture, 'models -L 0-1 -f gap>1')['1.1.1.1'][:3] == ('12', '1.00', '10.000000')


def test_a_group_made_before_columns_and_gaps_gets_them_on_first_use(capture):
    group = capture.root['models'].get('0-1')
    del group.gaps, group.model_columns         # as an earlier version left it
    capture.database.tm.commit()
    found = rows(capture, 'models -L 0-1 -f periodicity>0.5')
    assert found == {'1.1.1.1': ('12', '1.00', '10.000000')}
    assert group.gap_of('10.0.0.1-2.2.2.2-80-tcp') == 9
    # its flows trimmed away: the gaps are unknown ('-'), the rest is there
    del group.gaps, group.model_columns
    capture.root['connections'].get(0).trimmed = True
    capture.database.tm.commit()
    assert rows(capture, 'models -L 0-1 -f periodicity>0.5') == {'1.1.1.1': ('12', '1.00', '-')}


def test_label_filters_run_once_per_label(capture):
    ok(capture, 'labels -a -g 0-1 -c 10.0.0.1-1.1.1.1-80-tcp --name From-Botnet-TCP-HTTP-Beacon-1')
    assert set(rows(capture, 'models -L 0-1 -f labelname=Botnet')) == {'1.1.1.1'}
    assert set(rows(capture, 'models -L 0-1 -f labelname!=Botnet')) == {'2.2.2.2', '3.3.3.3'}
    assert set(rows(capture, "models -L 0-1 -f 'labelname~^From' flows>12")) == set()
    assert set(rows(capture, "models -L 0-1 -f 'labelname~^From' flows>=12")) == {'1.1.1.1'}
    assert set(rows(capture, "models -L 0-1 -f 'labelname~^From-Bot' statelength>3")) == {
        '1.1.1.1'}
    assert set(rows(capture, "models -L 0-1 -f 'labelname~.'")) == {'1.1.1.1'}
    assert rows(capture, 'models -L 0-1 -f labelname=Botnet')['1.1.1.1'][0] == '12'
