"""visualize: a group's flows replayed in time order (stf/core/flows/replay.py),
the command that gathers the replay, and its full-screen view driven by keys."""
import numpy as np
import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from stf.commands.results import Replay
from stf.console.replay import ReplayView, run_replay
from stf.core.errors import UserError
from stf.core.flows import letters, replay
from tests.conftest import error, ok

S = replay.SECOND
BEACON, DNS, WEB = ('10.0.0.1-10.0.0.2-80-tcp', '10.0.0.1-8.8.8.8-53-udp',
                    '10.0.0.9-10.0.0.2-443-tcp')


def random_group(seed=1, connections=60, span=300, scale=1):
    """Flows sorted by (connection, start) with many equal starts."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 40, connections)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    start = np.concatenate([np.sort(rng.integers(0, span, count)) for count in counts])
    return start.astype(np.int64) * scale, bounds, [f'c{n}' for n in range(connections)]


def replayed(order, selected=None):
    windows = [order.window(number, selected) for number in range(order.windows)]
    return (np.concatenate([start for start, _ in windows]),
            np.concatenate([tuples for _, tuples in windows]))


# -- the order of the flows

# scale 2**50: windows spanning more than a start and a position fit in one
# int64 key (stable_order sorts the starts themselves then)
@pytest.mark.parametrize('budget, scale', [(1, 1), (37, 1), (10_000, 1), (37, 1 << 50),
                                           (10_000, 1 << 50)])
def test_the_order_across_chunks_is_a_stable_sort_by_start(budget, scale):
    start, bounds, ids = random_group(scale=scale)
    order = replay.FlowOrder(replay.chunks_of(start, bounds, ids, 7), budget)
    tuples = np.repeat(np.arange(len(ids)), np.diff(bounds))
    expected = np.argsort(start, kind='stable')
    got_start, got_tuples = replayed(order)
    assert len(got_start) == len(start) == int(bounds[-1])
    assert (got_start == start[expected]).all()
    assert (got_tuples == tuples[expected]).all()
    assert order.ids == ids and order.counts.tolist() == np.diff(bounds).tolist()
    if budget == 1:   # one window per distinct start at most (ties stay together)
        assert order.windows == len(np.unique(start))


def test_a_selection_leaves_the_other_tuples_flows_out():
    start, bounds, ids = random_group(seed=2)
    order = replay.FlowOrder(replay.chunks_of(start, bounds, ids, 5), 50)
    selected = np.zeros(len(ids), bool)
    selected[[3, 17, 40]] = True
    tuples = np.repeat(np.arange(len(ids)), np.diff(bounds))
    kept = np.flatnonzero(selected[tuples])
    expected = kept[np.argsort(start[kept], kind='stable')]
    got_start, got_tuples = replayed(order, selected)
    assert (got_start == start[expected]).all() and (got_tuples == tuples[expected]).all()
    assert set(got_tuples.tolist()) == {3, 17, 40}


# -- letters after k flows

def test_the_letters_after_k_flows_are_the_states_first_k_pieces():
    # gaps: none, 3 s ('.'), 2 h (two zeros), 30 s (','), 200 s ('+'), 2000 s ('*')
    gaps = [0, 3, 7200, 30, 200, 2000]
    start = np.cumsum(gaps).astype(np.int64) * S
    dur, size = np.zeros(6, np.int64), np.full(6, 100, np.int64)
    (state,) = letters.states(start, dur, size, [0, 6])
    assert state == '11.00RR,R+R*'
    ends = replay.state_ends(state)
    assert ends.tolist() == [1, 3, 6, 8, 10, 12]
    for k in range(1, 7):
        (prefix,) = letters.states(start[:k], dur[:k], size[:k], [0, k])
        assert state[:ends[k - 1]] == prefix
    assert replay.state_ends('').tolist() == []


# -- the playback

def small_playback(speed=1.0, states=None):
    """Three tuples: a at 0, 10, 20 s; b at 5 s; c at 7 and 8 s (chunks of two)."""
    start = np.array([0, 10, 20, 5, 7, 8], np.int64) * S
    source = replay.chunks_of(start, [0, 3, 4, 6], ['a', 'b', 'c'], 2)
    return replay.Playback(replay.FlowOrder(source, 2), speed, states=states)


class States:
    """A Playback's states(tuples, begins, sizes) from a list, recording the
    tuples it was asked and the characters it gave."""

    def __init__(self, states):
        self.states = states
        self.asked = []
        self.given = 0

    def __call__(self, tuples, begins, sizes):
        self.asked.append(tuples.tolist())
        found = [self.states[at][begin:begin + size] for at, begin, size in
                 zip(tuples.tolist(), begins.tolist(), sizes.tolist())]
        self.given += sum(map(len, found))
        return found


@pytest.mark.parametrize('sort', replay.SORTS)
def test_a_page_of_the_order_and_a_tuples_place_in_it(sort):
    start, bounds, ids = random_group(seed=3, connections=300, span=40)
    order = replay.FlowOrder(replay.chunks_of(start, bounds, ids, 16), 100)
    rng = np.random.default_rng(3)
    states = [''.join(rng.choice(list('1aAr'), count)) for count in np.diff(bounds)]
    playback = replay.Playback(order, states=States(states))
    playback.sort = sort
    playback.jump(20)
    whole = playback.ranked()
    assert playback.showing == len(whole) > 200
    for limit in (0, 1, 7, 40, len(whole), len(whole) + 5):
        assert playback.ranked(limit).tolist() == whole[:limit].tolist()
    assert [playback.rank(tuple_) for tuple_ in whole.tolist()] == list(range(len(whole)))
    assert playback.rank(int(np.flatnonzero(playback.seen == 0)[0])) is None


def test_steps_show_one_flow_each_and_the_sorts_order_the_tuples():
    # a's whole model is less periodic than c's (1 of 2 letters, 1 of 1)
    # but its letters so far are as periodic after 2 flows
    states = States(['1.a.R', '1', '1.a'])
    playback = small_playback(states=states)
    assert playback.shown == 0 and playback.total == 6 and len(playback.ranked()) == 0
    for _ in range(4):
        playback.step()
    assert playback.seen.tolist() == [1, 1, 2] and playback.clock == 8 * S
    assert playback.ranked().tolist() == [2, 1, 0]              # most recent first
    playback.next_sort()
    assert playback.sort == 'flows' and playback.ranked().tolist() == [2, 1, 0]
    playback.step()                                          # a at 10 s
    assert playback.ranked().tolist() == [0, 2, 1]              # 2 flows, later than c
    playback.next_sort()
    assert playback.sort == 'periodicity'
    # a '1.a' and c '1.a' periodic (the later first), b '1' unknown
    assert playback.ranked().tolist() == [0, 2, 1]
    assert playback.periodicity.tolist()[::2] == [1.0, 1.0]
    playback.step()                                          # a's 'R' at 20 s
    assert playback.ranked().tolist() == [2, 0, 1] and playback.periodicity[0] == 0.5
    assert states.asked == [[0, 1, 2], [0]]                  # then only the tuple that changed
    playback.jump(6 * S)                      # back: a '1' read again, b kept, c none
    assert playback.ranked().tolist() == [1, 0] and states.asked[2:] == [[0]]
    assert np.isnan(playback.periodicity).all()
    playback.next_sort()
    assert playback.sort == 'recent'
    playback.jump(99 * S)
    assert playback.finished and playback.shown == 6
    playback.step()
    assert playback.shown == 6 and playback.clock == 20 * S


def so_far_periodicity(state, flows):
    """letters.periodicities of the state cut after its flows' pieces."""
    ends = replay.state_ends(state)
    prefix = state[:ends[min(flows, len(ends)) - 1]] if flows and len(ends) else ''
    return letters.periodicities([prefix])[0]


def random_states(rng, count):
    """States of every letter row, zeros (runs of 40 too) and timechars."""
    pieces = [rng.choice(['', '', '0', '00', '0' * 40]) + rng.choice(list('1bBsSi9'))
              + rng.choice(['', '.', ',', '+', '*']) for _ in range(count * 10)]
    cuts = np.sort(rng.choice(np.arange(1, count * 10), count - 2, replace=False))
    return [''.join(part) for part in np.split(np.array(pieces, object), cuts)] + ['']


@pytest.mark.parametrize('batch', [1 << 22, 40])
def test_the_periodicity_of_the_letters_so_far_counted_on_from_the_last_count(
        monkeypatch, batch):
    monkeypatch.setattr(replay, 'BATCH_CHARS', batch)    # 40: a batch of one or two tuples
    rng = np.random.default_rng(5)
    states = random_states(rng, 40)
    flows = np.array([len(replay.state_ends(state)) for state in states])
    source = States(states)
    periodicities = replay.Periodicities(len(states), source)
    seen = np.zeros(len(states), np.int64)
    for step in range(12):          # on, on, ... and back (a jump) every fourth
        seen = (rng.integers(0, flows + 2) if step % 4 == 3 else
                np.minimum(seen + rng.integers(0, 4, len(seen)), flows + 1))
        periodicities.update(seen)
        expected = [so_far_periodicity(state, k) for state, k in zip(states, seen.tolist())]
        assert np.array_equal(periodicities.values, expected, equal_nan=True)
    assert np.isfinite(periodicities.values).sum() > 20
    asked = len(source.asked)
    periodicities.update(seen)
    assert len(source.asked) == asked                   # nothing changed: nothing read
    # a state with fewer letters than flows (the last one: none) stops at its end
    assert seen[-1] >= 0 and np.isnan(periodicities.values[-1])


def test_a_frame_reads_the_piece_its_new_flows_wrote_not_the_whole_state():
    state = '1' + 'a.R,' * 5000                 # 10,001 flows, 20,001 characters
    source = States([state])
    periodicities = replay.Periodicities(1, source)
    for flows in range(1, 102):
        periodicities.update(np.array([flows]))
    assert periodicities.values[0] == so_far_periodicity(state, 101) == 0.5
    # each time one flow more: 3 + 3 characters read from where the last count stopped
    assert len(source.asked) == 101 and source.given == 101 * 6


def test_a_failed_read_counts_the_tuples_again_from_their_start():
    source = States(['1.a.R', '1.a'])
    periodicities = replay.Periodicities(2, source)
    periodicities.update(np.array([2, 1]))
    assert periodicities.values[0] == 1.0

    def away(*asked):
        raise UserError('the server is away')
    periodicities.states = away
    with pytest.raises(UserError):
        periodicities.update(np.array([3, 2]))
    assert np.isnan(periodicities.values).all() and periodicities.flows.tolist() == [0, 0]
    periodicities.states = source
    periodicities.update(np.array([3, 2]))
    assert periodicities.values.tolist() == [0.5, 1.0]


def test_the_clock_runs_at_speed_times_real_time():
    playback = small_playback(speed=2)
    assert playback.clock == -1
    playback.advance(3.5)                # to 7 s - 1 µs: a at 0, b at 5
    assert playback.seen.tolist() == [1, 1, 0] and playback.clock == 7 * S - 1
    playback.paused = True
    playback.advance(100)
    assert playback.shown == 2
    playback.paused = False
    playback.faster()
    playback.advance(1)                  # 4 s more
    assert playback.seen.tolist() == [2, 1, 2] and playback.speed == 4


def test_speed_0_spaces_the_flows_evenly():
    playback = small_playback(speed=0)
    playback.advance(0.25)               # 2.5 flows owed: 2 shown
    assert playback.shown == 2 and playback.clock == 5 * S
    playback.advance(0)
    assert playback.shown == 2
    playback.advance(0.25)               # 0.5 + 2.5 = 3 flows
    assert playback.shown == 5 and playback.clock == 10 * S
    playback.slower()
    assert playback.rate == 5 and playback.speed == 0


def test_a_jump_shows_exactly_the_flows_before_the_time_and_goes_on_from_there():
    playback = small_playback()
    playback.jump(9 * S)
    assert playback.seen.tolist() == [1, 1, 2] and playback.shown == 4
    assert playback.latest.tolist() == [0, 5 * S, 8 * S]
    playback.step()
    assert playback.seen.tolist() == [2, 1, 2] and playback.clock == 10 * S
    playback.jump(5 * S)                 # back
    assert playback.seen.tolist() == [1, 1, 0]
    playback.select(np.array([True, False, False]))
    assert playback.seen.tolist() == [1, 0, 0] and playback.total == 3
    playback.step()
    assert playback.seen.tolist() == [2, 0, 0] and playback.clock == 10 * S
    playback.jump(99 * S)
    assert playback.finished and playback.shown == 3


def test_times_to_jump_to():
    assert replay.moment('2011-08-10 09:46:53 UTC', 0) == 1312969613 * S
    assert replay.moment('2011-08-10 09:46:53', 0) == 1312969613 * S
    assert replay.moment('+90', 5) == 90 * S + 5
    assert replay.moment('+0.5', 0) == S // 2
    with pytest.raises(UserError, match=r"^'\+x' is not \+SECONDS: write e.g. \+90 or \+0.5$"):
        replay.moment('+x', 0)
    with pytest.raises(UserError, match="^'10:00' is not a time: write YYYY-MM-DD HH:MM:SS"):
        replay.moment('10:00', 0)


@pytest.mark.parametrize('speed', [-1, 1e308, 1 / 65, float('inf'), float('nan')])
def test_a_speed_out_of_bounds_is_refused_by_the_playback(speed):
    with pytest.raises(UserError, match='^the speed must be 0 .flows evenly spaced. or from '
                       '0.015625 to 100000, not '):
        small_playback(speed=speed)


def test_plus_and_minus_stop_at_the_slowest_and_fastest():
    playback = small_playback(speed=1 / 64)
    assert playback.bound == 'slowest'
    playback.slower()
    assert playback.speed == 1 / 64 and playback.bound == 'slowest'
    for _ in range(120):
        playback.faster()
    assert playback.speed == 100_000 and playback.bound == 'fastest'
    playback.slower()
    assert playback.speed == 50_000 and playback.bound == ''
    playback = small_playback(speed=0)
    for _ in range(120):
        playback.slower()
    assert playback.rate == 1 / 64 and playback.bound == 'slowest'
    for _ in range(120):
        playback.faster()
    assert playback.rate == 1_000_000 and playback.bound == 'fastest'


def test_the_clock_stops_at_the_last_flow():
    playback = small_playback(speed=100_000)
    playback.advance(3600)                      # 100 hours of flows at once
    assert playback.finished and playback.shown == 6 and playback.clock == 20 * S
    playback.advance(3600)
    assert playback.clock == 20 * S
    playback.jump(1 << 60)
    assert playback.clock == 20 * S and playback.shown == 6
    playback.select(np.array([False, True, True]))     # b and c: the last at 8 s
    assert playback.finished and playback.clock == 8 * S
    playback.jump(6 * S)
    assert playback.clock == 6 * S and not playback.finished


# -- the command and its view

def visualize(app, line='visualize 0'):
    app.interactive = True
    (item,) = ok(app, line)
    assert isinstance(item, Replay)
    return item


def typed(item, *keys):
    """The view after these keys (then Ctrl-C, which leaves from any mode),
    its clock standing still."""
    view = ReplayView(item, clock=lambda: 0.0, color=False)
    with create_pipe_input() as keyboard:
        for key in keys:
            keyboard.send_text(key)
        keyboard.send_text('\x03')
        view.run(input=keyboard, output=DummyOutput(), ticking=False)
    return view


def rows(view):
    return [[line[:1].strip(), *line[1:].split()] for line in view.list_lines(120, 10)]


def test_the_view_shows_tuples_and_their_letters_as_flows_come(models):
    item = visualize(models)
    assert item.heading == "dataset 0 'lab', group 0 (models 0-1)"
    states = {conn: state for conn, (_, state) in models.root['models'].get('0-1')
              .states.items()}
    assert states[BEACON] == '55,e,'
    view = typed(item, ' ', 'nnnn')      # flows at 0 (beacon), 5 (dns), 7 (web), 10 (beacon)
    assert view.playback.paused and view.playback.shown == 4
    assert rows(view) == [['', BEACON, '2', '55,'], ['', WEB, '1', '5'], ['', DNS, '1', '5']]
    # a line fills the screen's columns: its letters' tail where they do not fit
    assert view.list_lines(41, 1) == [f'  {BEACON}         2  55,']
    assert view.list_lines(40, 1) == [f'  {BEACON}         2  5,']
    assert ''.join(text for _, text in view.header()) == (
        "dataset 0 'lab', group 0 (models 0-1)\n2020-01-01 10:00:10 UTC   1× real time   "
        '4 / 5 flows   sort: recent   paused')
    view = typed(item, ' ', 'nnnnn', '\x1b[B\x1b[B')   # all flows; the cursor on the 2nd
    assert rows(view)[:2] == [['', BEACON, '3', '55,e,'], ['>', WEB, '1', '5']]
    assert view.playback.finished


def test_keys_sort_filter_and_jump(models):
    item = visualize(models)
    view = typed(item, ' ', 'nnnn', 's', '/', 'name=10.0.0.1-\r')
    assert view.playback.sort == 'flows' and view.filter_words == ['name=10.0.0.1-']
    assert rows(view) == [['', BEACON, '2', '55,'], ['', DNS, '1', '5']]
    assert view.playback.total == 4 and view.message == ''
    view = typed(item, ' ', 'g', '+6\r')
    assert rows(view) == [['', DNS, '1', '5'], ['', BEACON, '1', '5']]
    # '/' offers the filter now to edit: Ctrl-U clears it, ' flows>=2' adds to it
    view = typed(item, ' ', 'g', '2020-01-01 10:00:07 UTC\r', '/', ' flows>=2\r')
    assert view.filter_words == ['name=10.0.0.1-', 'flows>=2']
    assert rows(view) == [['', BEACON, '1', '5']]
    view = typed(item, '/', '\x15flows<2\r')
    assert view.filter_words == ['flows<2']
    assert rows(view) == [['', WEB, '1', '5'], ['', DNS, '1', '5']]
    view = typed(item, '/', '\x15flows>=2\r')
    assert rows(view) == [['', BEACON, '1', '5']]
    view = typed(item, '+', '+', '-', '/', 'name=x', '\x1b')    # Esc: the filter stays
    assert view.playback.speed == 2 and view.filter_words == ['flows>=2']
    assert view.mode == 'replay' and rows(view) == [['', BEACON, '1', '5']]


def test_the_header_says_the_speed_bound_and_the_models_the_filter_passes(models):
    item = visualize(models, 'visualize 0 -x 65536 -f flows>=2')
    view = typed(item, ' ', '+', '+')
    assert ''.join(text for _, text in view.header()).split('\n')[1] == (
        '2020-01-01 09:59:59 UTC   100000× real time (the fastest)   0 / 3 flows   '
        'sort: recent   paused   models passing flows>=2')


def test_esc_on_the_replay_does_not_quit(models):
    item = visualize(models)
    view = typed(item, ' ', '\x1b', 'n', '\x1b', 'n')
    assert view.playback.shown == 2 and view.mode == 'replay'


def test_the_filter_is_offered_as_typed(models):
    item = visualize(models, 'visualize 0 -f flows>=2')
    # Backspace, then 1: flows>=1 (quoted, it would be 'flows>=2 with its quote open)
    view = typed(item, ' ', '/', '\x7f1\r')
    assert view.message == '' and view.filter_words == ['flows>=1']
    assert view.playback.total == 5


def test_a_filter_no_model_passes_in_the_view_keeps_the_filter(models):
    item = visualize(models, 'visualize 0 -f flows>=2')
    view = typed(item, ' ', '/', '\x7f9\r')
    assert view.message == ("no model of group 0-1 passes the filter flows>=9; count those "
                            "that pass one with 'models -C 0-1 -f FILTER'")
    assert view.filter_words == ['flows>=2'] and view.playback.total == 3


def test_a_jump_outside_the_replay_stops_at_its_ends_and_an_empty_one_cancels(models):
    item = visualize(models)
    view = typed(item, ' ', 'g', '+-50\r')
    assert view.message == ('+-50 is before the first flow: jumped to it, '
                            '2020-01-01 10:00:00 UTC')
    assert view.playback.clock == view.playback.order.first and view.playback.shown == 1
    view = typed(item, 'g', '+1e9\r')
    assert view.message == ('+1e9 is after the last flow: jumped to it, '
                            '2020-01-01 10:00:20 UTC')
    assert view.playback.finished and view.playback.clock == view.playback.order.last
    view = typed(item, 'g', '  \r')
    assert view.message == '' and view.playback.clock == view.playback.order.last


def test_the_periodicity_sort_reads_the_models_columns(models):
    item = visualize(models)
    view = typed(item, ' ', 'nnnn', 's', 's')           # the beacon '55,' after 2 flows
    assert view.playback.sort == 'periodicity'
    assert rows(view) == [['', BEACON, '2', '55,'], ['', WEB, '1', '5'], ['', DNS, '1', '5']]
    assert np.isnan(view.playback.periodicity).all()
    view.playback.step()                                 # '55,e,': periodic
    assert rows(view)[0] == ['', BEACON, '3', '55,e,']
    beacon = view.playback.order.ids.index(BEACON)
    assert view.playback.periodicity[beacon] == 1.0
    ok(models, f'models -D 0-1 -i {WEB} --yes')
    view.playback.jump(view.playback.order.first)       # the beacon's first flow: read again
    assert rows(view) == [['', BEACON, '1', '5']]       # by its latest flow now
    assert view.message == ('group of models 0-1 changed while it was replayed (by another '
                            'analyst?); run visualize again')
    assert view.playback.paused and view.playback.sort == 'recent'


def test_a_bad_filter_or_time_in_the_view_says_why_in_one_line(models):
    item = visualize(models)
    view = typed(item, ' ', '/', 'colour=red\r')
    assert view.message == ("unknown filter key 'colour' for models; valid keys: name, flows, "
                            'statelength, labelname, state, periodicity, gap')
    assert view.filter_words == [] and view.playback.paused
    view = typed(item, ' ', 'g', 'soon\r')
    assert view.message.startswith("'soon' is not a time: write YYYY-MM-DD HH:MM:SS")


def test_enter_opens_the_selected_models_view_and_esc_goes_back(models):
    item = visualize(models)
    view = typed(item, ' ', 'nnnn', '\r')
    assert view.mode == 'model' and view.selected == view.playback.order.ids.index(BEACON)
    text = '\n'.join(view.model_lines)
    assert f'model        : {BEACON}' in text and '  55,e,' in text
    view = typed(item, ' ', 'nnnn', '\x1b[B\x1b[B\r', '\x1b')
    assert view.mode == 'replay' and view.playback.order.ids[view.selected] == WEB


def test_an_unexpected_error_in_the_view_is_one_line_and_the_console_goes_on(models):
    item = visualize(models)

    def broken(conns):
        raise RuntimeError('the states are gone')
    item.states = broken
    with create_pipe_input() as keyboard:
        keyboard.send_text(' nq')
        (said,) = run_replay(item, color=False, input=keyboard, output=DummyOutput())
    assert said.level == 'error' and said.text.startswith(
        'visualize: unexpected error RuntimeError: the states are gone (details in ')
    assert said.text.endswith("stf.log); the console goes on")


def test_visualize_replays_a_shared_capture(shared, app, monkeypatch):
    monkeypatch.setattr(replay, 'WINDOW_FLOWS', 1000)     # several windows on a small file
    path = shared / 'binetflow' / 'test2-malicious.binetflow'
    ok(app, f'datasets -c {path} --name malicious')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    item = visualize(app)
    playback = item.playback
    assert (playback.total, len(playback.order.ids), playback.order.windows) == (6751, 577, 7)
    group = app.root['connections'].get(0)
    start = np.sort(np.concatenate([chunk.column('start') for chunk in group.chunks]))
    view = ReplayView(item, color=False)
    ids = playback.order.ids
    view._read_states(ids)
    for step in range(100):
        playback.step()
        assert playback.clock == start[step]
    playback.speed, playback.rate = 0, 1000.0
    playback.advance(3.275)              # 3,275 flows more: half of them shown
    assert playback.shown == 3375 and playback.clock == start[3374]
    assert int((playback.seen > 1).sum()) > 200
    # each tuple shows the letters of its flows so far
    assert [view.letters(conn, int(playback.seen[at])) for at, conn in enumerate(ids)
            if playback.seen[at]] == so_far(group, ids, playback.seen)
    # the periodicity sort judges those letters, read from the models' columns
    playback.sort = 'periodicity'
    ranked = playback.ranked()
    judged = playback.periodicity[np.flatnonzero(playback.seen)]
    assert np.array_equal(judged, letters.periodicities(so_far(group, ids, playback.seen)),
                          equal_nan=True)
    assert np.isfinite(judged).sum() > 100 and len(ranked) == playback.showing
    playback.sort = 'recent'
    while not playback.finished:
        playback.advance(1)
    assert playback.shown == 6751 and playback.clock == start[-1]
    assert playback.seen.tolist() == playback.order.counts.tolist()
    states = item.states(ids)
    assert all(view.letters(conn, int(playback.seen[at])) == states[conn]
               for at, conn in enumerate(ids))


def so_far(group, ids, seen):
    """The letters of each tuple's first `seen` flows, made from its flows."""
    found = []
    for at, conn in enumerate(ids):
        if seen[at]:
            chunk, position = group.locate(conn)
            flows = chunk.flows(position)
            k = int(seen[at])
            found += letters.states(flows['start'][:k], flows['dur'][:k], flows['size'][:k],
                                    [0, k])
    return found


# -- bad inputs

def test_visualize_needs_a_terminal(models):
    assert error(models, 'visualize 0') == (
        "visualize needs a terminal: it replays the flows full-screen; in a batch run see a "
        "tuple's letters with 'models -S GROUP -i ID' or its flows over time with "
        "'connections -T ID'")


def test_an_unknown_dataset(models):
    models.interactive = True
    assert error(models, 'visualize 7') == "there is no dataset 7; list them with 'datasets -l'"


def test_a_group_of_another_dataset(models, tmp_path):
    models.interactive = True
    other = tmp_path / 'other.binetflow'
    other.write_text((tmp_path / 'labels.binetflow').read_text())
    ok(models, f'datasets -c {other} --name other')
    ok(models, 'connections -g')
    assert error(models, 'visualize 0 -g 1') == (
        "group of connections 1 is of dataset 1, not of dataset 0 'lab'; list the groups "
        "with 'connections -l'")


def test_a_group_without_models(models, tmp_path):
    models.interactive = True
    other = tmp_path / 'other.binetflow'
    other.write_text((tmp_path / 'labels.binetflow').read_text())
    ok(models, f'datasets -c {other} --name other')
    ok(models, 'connections -g')
    assert error(models, 'visualize 1') == (
        "group of connections 1 has no models yet; make them with 'models -g -i 1'")
    assert error(models, 'visualize 0 -g x') == (
        "'x' is not a group of connections id (a number); list them with 'connections -l'")


def test_a_bad_filter(models):
    models.interactive = True
    assert error(models, 'visualize 0 -f colour=red') == (
        "unknown filter key 'colour' for models; valid keys: name, flows, statelength, "
        'labelname, state, periodicity, gap')


@pytest.mark.parametrize('speed, said', [('-2', '-2'), ('1e308', '1e+308'),
                                         ('0.01', '0.01'), ('100001', '100001'),
                                         ('inf', 'inf'), ('nan', 'nan')])
def test_a_speed_out_of_bounds(models, speed, said):
    models.interactive = True
    assert error(models, f'visualize 0 -x {speed}') == (
        '-x must be 0 (flows evenly spaced) or from 1/64 to 100,000 times real time, '
        f'not {said}')


def test_a_filter_no_model_passes(models):
    models.interactive = True
    assert error(models, 'visualize 0 -f flows>100000 name=10.') == (
        "no model of group 0-1 passes the filter flows>100000 name=10.; count those that "
        "pass one with 'models -C 0-1 -f FILTER'")


def test_without_dataset_the_selected_one_or_that_of_the_group(models):
    item = visualize(models, 'visualize')
    assert item.heading == "dataset 0 'lab', group 0 (models 0-1)"
    ok(models, 'datasets -u')
    assert error(models, 'visualize') == (
        "no dataset is selected; select one with 'datasets -s ID' (list them with "
        "'datasets -l')")
    item = visualize(models, 'visualize -g 0')
    assert item.heading == "dataset 0 'lab', group 0 (models 0-1)"
    assert error(models, 'visualize x') == (
        "'x' is not a dataset id (a number); list them with 'datasets -l'")


def test_a_dataset_without_connections(models, tmp_path):
    models.interactive = True
    other = tmp_path / 'empty.binetflow'
    other.write_text((tmp_path / 'labels.binetflow').read_text())
    ok(models, f'datasets -c {other} --name bare')
    assert error(models, 'visualize 1') == (
        "dataset 1 'bare' has no connections yet; make them with 'datasets -s 1' then "
        "'connections -g'")


def test_over_zeo_the_replay_reads_through_the_console_connection(tmp_path, monkeypatch):
    """An analyst replays a group another made through a ZEO server; the
    group deleted meanwhile pauses the replay with one line."""
    zeo = pytest.importorskip('ZEO')
    from tests.test_zeo import client
    from tests.conftest import models_of
    from tests.test_connections_models import HEADER, flow_line
    monkeypatch.setattr(replay, 'WINDOW_FLOWS', 2)
    address, stop = zeo.server(path=str(tmp_path / 'shared.fs'))
    maker, viewer = client(address), client(address)
    try:
        text = HEADER + ''.join(flow_line(second) for second in (0, 10, 20, 30, 40))
        models_of(maker, tmp_path / 'beacon.binetflow', text, 'beacon')
        item = visualize(viewer)
        view = typed(item, ' ', 'nn')
        assert rows(view) == [['', BEACON, '2', '55,']]
        assert view.playback.order.windows == 3
        ok(maker, 'connections -d 0 --yes')
        view = typed(item, 'nnn')
        assert view.playback.paused and view.playback.shown == 2
        # the first draw, reading the letters, is the first to find it
        assert view.message == ('group of models 0-1 was deleted (by another analyst?); run '
                                'visualize again')
        with pytest.raises(UserError, match='^group of connections 0 changed while it was '
                           r'replayed \(by another analyst\?\); run visualize again$'):
            view.playback.step()
    finally:
        maker.close()
        viewer.close()
        stop()
