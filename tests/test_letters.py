"""Letters: exact chains for every shared file (byte for byte), every threshold of
every constructor, and the vectorized states() against the flow-by-flow reference."""
import random
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stf.core.captures import argus
from stf.core.flows import flowtable, letters
from stf.core.errors import UserError
from stf.core.flows.letters import CONSTRUCTORS, DEFAULT_CONSTRUCTOR, flow_letters, states
from tests.test_flowtable import make_block


def reference_state(starts, durs, sizes, constructor=CONSTRUCTORS[DEFAULT_CONSTRUCTOR]):
    """One connection's state, following SPEC.md literally, one flow at a time
    (flow_letters, with Fractions), to hold the vectorized states() to."""
    flows = sorted(zip(starts, durs, sizes), key=lambda flow: flow[0])
    return ''.join(row.piece for row in flow_letters(*zip(*flows), constructor)) \
        if flows else ''

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent.parent.parent / 'shared' / 'data'
S = 1_000_000   # µs


def shared_files(*folders):
    """Every file of these shared folders, or one skipped case when they are absent."""
    paths = sorted(path for folder in folders if (DATA / folder).is_dir()
                   for path in (DATA / folder).iterdir())
    return [pytest.param(path, id=path.name) for path in paths] or \
        [pytest.param(None, marks=pytest.mark.skip(reason=f'{DATA} is absent'))]


def tsv(table, chains):
    """The expected-file form: tuple_id<TAB>flows<TAB>state lines."""
    flows = np.diff(table.bounds).tolist()
    return ''.join(f'{ident}\t{count}\t{chain}\n'
                   for ident, count, chain in zip(table.ids, flows, chains)).encode()


def expected(path):
    return (DATA / 'expected' / f'{path.name}.letters.tsv').read_bytes()


def file_states(path, constructor=CONSTRUCTORS[1]):
    table = flowtable.read(path)
    return table, states(table.start, table.dur, table.size, table.bounds, constructor)


# ---- the shared files --------------------------------------------------------

@pytest.mark.parametrize('path', shared_files('binetflow', 'zeek'))
def test_flow_files_give_the_expected_chains(path):
    table, chains = file_states(path)
    assert tsv(table, chains) == expected(path)


@pytest.mark.parametrize('path', shared_files('binetflow', 'zeek'))
def test_reference_gives_the_expected_chains(path):
    table = flowtable.read(path)
    rows = zip(table.bounds[:-1], table.bounds[1:])
    chains = [reference_state(table.start[a:b], table.dur[a:b], table.size[a:b])
              for a, b in rows]
    assert tsv(table, chains) == expected(path)


needs_tools = pytest.mark.skipif(
    not (argus.find_tool('argus') and argus.find_tool('ra')),
    reason='argus and ra are not installed (make setup installs them)')


@pytest.fixture(scope='module')
def pcap_flows(tmp_path_factory):
    """pcap name -> its binetflow; argus idles a second per run, so all run at once."""
    folder = tmp_path_factory.mktemp('pcap-flows')

    def flows(pcap):
        biargus = argus.generate_biargus(pcap, folder / f'{pcap.name}.biargus',
                                         ROOT / 'confs' / 'argus.conf')
        return argus.generate_binetflow(biargus, folder / f'{pcap.name}.binetflow',
                                        ROOT / 'confs' / 'ra.conf')
    pcaps = sorted((DATA / 'pcap').iterdir())
    with ThreadPoolExecutor(len(pcaps)) as pool:
        return dict(zip((pcap.name for pcap in pcaps), pool.map(flows, pcaps)))


@needs_tools
@pytest.mark.parametrize('pcap', shared_files('pcap'))
def test_pcaps_through_argus_give_the_expected_chains(pcap, pcap_flows):
    table, chains = file_states(pcap_flows[pcap.name])
    assert tsv(table, chains) == expected(pcap)


# ---- the tables --------------------------------------------------------------

def test_constructors_are_the_spec_table():
    spec = {0: ('Model 0', '1.05', '1.1', '5', 125),
            1: ('default', '1.05', '1.3', '5', 250),
            2: ('single timeout', '1.05', '1.3', '5', 250)}
    for ident, (name, tt1, tt2, tt3, ts1) in spec.items():
        c = CONSTRUCTORS[ident]
        assert (c.id, c.name, c.ts1, c.ts2) == (ident, name, ts1, 1100)
        assert [Fraction(*ratio) for ratio in c.ratios] == [Fraction(tt1), Fraction(tt2),
                                                           Fraction(tt3)]
        assert (c.td1_us, c.td2_us, c.timeout_us) == (100_000, 10 * S, 3600 * S)
        assert c.single_zero == (ident == 2)
    assert letters.DEFAULT_CONSTRUCTOR == 1
    assert letters.get_constructor() is CONSTRUCTORS[1]
    assert letters.get_constructor('2') is CONSTRUCTORS[2]


def test_an_unknown_constructor_names_the_valid_ones():
    with pytest.raises(UserError,
                       match=r'there is no model constructor 7; choose one of 0 \(Model 0\)'):
        letters.get_constructor(7)


# SPEC's letter table, typed again: row = periodicity, column = (size, duration).
SPEC_LETTERS = {'none': '123456789', 'strong': 'abcdefghi', 'weak': 'ABCDEFGHI',
                'weak-not': 'rstuvwxyz', 'not': 'RSTUVWXYZ'}
# T2 after a T1 of 100 s that puts the 3rd flow in each row (constructor 1).
ROW_GAPS = {'strong': 100 * S, 'weak': 120 * S, 'weak-not': 200 * S, 'not': 1000 * S}
SIZES, DURATIONS = (0, 500, 5000), (0, S, 20 * S)


def test_every_letter_of_the_table():
    start, dur, size, bounds, wanted = [], [], [], [0], []
    for row, gap in ROW_GAPS.items():
        for column, (total, duration) in enumerate((s, d) for s in SIZES for d in DURATIONS):
            start += [0, 100 * S, 100 * S + gap]
            dur += [duration] * 3
            size += [total] * 3
            bounds.append(bounds[-1] + 3)
            first = SPEC_LETTERS['none'][column]
            wanted.append(first + first + '+' + SPEC_LETTERS[row][column])
    chains = states(*map(np.array, (start, dur, size, bounds)), CONSTRUCTORS[1])
    assert [chain[:4] for chain in chains] == wanted


# ---- every threshold, exact letters per constructor ------------------------

def chain(starts, durs=None, sizes=None, ident=1):
    """The state of one connection, from states() and checked against the reference."""
    durs = durs or [0] * len(starts)
    sizes = sizes or [0] * len(starts)
    result, = states(np.array(starts), np.array(durs), np.array(sizes),
                     np.array([0, len(starts)]), CONSTRUCTORS[ident])
    assert result == reference_state(starts, durs, sizes, CONSTRUCTORS[ident])
    return result


@pytest.mark.parametrize('size, letters_0_1_2', [
    (0, '111'), (125, '111'), (126, '411'), (250, '411'), (251, '444'),
    (1100, '444'), (1101, '777'), (10 ** 12, '777')])
def test_size_thresholds(size, letters_0_1_2):
    assert [chain([0], sizes=[size], ident=i) for i in (0, 1, 2)] == list(letters_0_1_2)


@pytest.mark.parametrize('dur, letter', [
    (0, '1'), (100_000, '1'), (100_001, '2'), (10 * S, '2'), (10 * S + 1, '3'),
    (10 ** 15, '3')])
def test_duration_thresholds(dur, letter):
    assert {chain([0], durs=[dur], ident=i) for i in (0, 1, 2)} == {letter}


@pytest.mark.parametrize('gap, c0_c1, c2', [
    (0, '11.', '11.'), (5 * S, '11.', '11.'), (5 * S + 1, '11,', '11,'),
    (60 * S, '11,', '11,'), (60 * S + 1, '11+', '11+'), (300 * S, '11+', '11+'),
    (300 * S + 1, '11*', '11*'), (3600 * S, '11*', '11*'), (3600 * S + 1, '101', '101'),
    (7200 * S - 1, '101', '101'), (7200 * S, '1001', '101'),
    (10 * 3600 * S + 1, '1' + '0' * 10 + '1', '101'),
    # a year: thousands of zeros, still one for constructor 2
    (365 * 86400 * S, '1' + '0' * 8760 + '1', '101')])
def test_timechars_and_zeros(gap, c0_c1, c2):
    assert [chain([0, gap], ident=i) for i in (0, 1, 2)] == [c0_c1, c0_c1, c2]


@pytest.mark.parametrize('t1, t2, c0, c1', [
    (100 * S, 105 * S, 'a', 'a'),            # TD = 1.05 exactly
    (105 * S, 100 * S, 'a', 'a'),            # big/small, whichever comes first
    (100 * S, 105 * S + 1, 'A', 'A'),
    (100 * S, 110 * S, 'A', 'A'),            # 1.1: constructor 0's tt2
    (100 * S, 110 * S + 1, 'r', 'A'),
    (100 * S, 130 * S, 'r', 'A'),            # 1.3: constructor 1's tt2
    (130 * S, 100 * S, 'r', 'A'),
    (100 * S, 130 * S + 1, 'r', 'r'),
    (100 * S, 500 * S, 'r', 'r'),            # TD = 5
    (100 * S, 500 * S + 1, 'R', 'R'),
    (20, 100, 'r', 'r'), (20, 101, 'R', 'R'),  # microsecond gaps
    (100 * S, 0, 'a', 'a'),                   # equal start times: small = 0
    (0, 100 * S, 'a', 'a'), (0, 0, 'a', 'a'),
])
def test_periodicity_thresholds(t1, t2, c0, c1):
    for ident, letter in ((0, c0), (1, c1), (2, c1)):
        assert chain([0, t1, t1 + t2], ident=ident)[-2:-1] == letter


def test_a_long_gap_keeps_its_periodicity_and_puts_zeros_before_the_letter():
    starts = [0, 100 * S, 100 * S + 7200 * S]
    assert [chain(starts, ident=i) for i in (0, 1, 2)] == ['11+00R', '11+00R', '11+0R']


def test_the_first_flow_has_neither_zeros_nor_timechar():
    assert chain([10 ** 16], durs=[20 * S], sizes=[5000]) == '9'


def test_equal_start_times_keep_file_order():
    # the large flow is second in the file, so it is second in the chain
    block = make_block([('a', 7, 0, 60), ('a', 7, 0, 5000), ('a', 7, 0, 600)])
    table = flowtable.from_blocks([block])
    assert states(table.start, table.dur, table.size, table.bounds) == ['17.d.']


# ---- one connection's flows --------------------------------------------------

def test_flow_letters_rows():
    rows = letters.flow_letters([0, 5 * S, 10 * S + 250_000, 10 * S + 250_000 + 7200 * S + 1],
                                [0, 0, 20 * S, 0], [300, 300, 300, 5000])
    assert rows == [('4', None, None, '-'), ('4.', None, 5 * S, '-'),
                    ('f,', 5 * S, 5_250_000, '1.050000'),
                    ('00X', 5_250_000, 7200 * S + 1, '1371.428572')]
    assert letters.flow_letters([0, 0, 3], [0] * 3, [0] * 3)[2].td == '-'


def test_ratio_text_rounds_up_so_it_compares_like_the_ratio():
    assert letters.ratio_text(100 * S, 105 * S) == '1.050000'
    assert letters.ratio_text(100 * S, 105 * S + 1) == '1.050001'
    assert letters.ratio_text(3, 1) == '3.000000'
    assert letters.ratio_text(3, 10) == '3.333334'
    assert letters.ratio_text(None, 10) == '-'


def test_seconds_text():
    assert [letters.seconds_text(v) for v in (None, 0, 3600 * S + 1, -1_500_000)] == \
        ['-', '0.000000', '3600.000001', '-1.500000']


# ---- int64 limits ---------------------------------------------------------

def test_times_whose_ratios_would_overflow_int64():
    # 4e18 µs gaps: T * 21 (1.05 = 21/20) does not fit in int64, so states()
    # compares Python ints
    starts = [-4 * 10 ** 18, 0, 4 * 10 ** 18, 4 * 10 ** 18 + 1]
    assert chain(starts, ident=2) == '1010aR.'


# ---- states() against the reference on random connections -------------------

GAPS = (0, 0, 1, 7, 5 * S, 5 * S + 1, 60 * S, 60 * S + 1, 300 * S, 3600 * S,
        3600 * S + 1, 7200 * S, 3 * 365 * 86400 * S)
DURS = (0, 1, 100_000, 100_001, 10 * S, 10 * S + 1, 10 ** 12)
SIZES_NEAR = (0, 1, 125, 126, 250, 251, 1100, 1101, 10 ** 9)


def random_flows(rng, connections):
    """(connection, start, dur, size) flows in a shuffled file order, with starts
    built from gaps on and next to every threshold and ratios of exactly 1.05, 1.1,
    1.3 and 5."""
    flows = []
    for name in range(connections):
        start, gap = rng.randrange(-10 ** 15, 10 ** 15), rng.choice(GAPS)
        for _ in range(rng.randrange(1, 12)):
            ratio = rng.choice((Fraction(1), Fraction(105, 100), Fraction(11, 10),
                                Fraction(13, 10), Fraction(5), Fraction(1, 5)))
            gap = rng.choice(GAPS) if rng.random() < 0.4 else \
                min(int(gap * ratio), 10 ** 14) + rng.choice((0, 0, 1, -1))
            start += max(gap, 0)
            flows.append((str(name), start, rng.choice(DURS), rng.choice(SIZES_NEAR)))
    rng.shuffle(flows)
    return flows


def test_states_match_the_reference_on_random_connections(monkeypatch):
    rng = random.Random(20240601)
    flows = random_flows(rng, 3000)
    blocks = [make_block(flows[i:i + 1000], i + 2) for i in range(0, len(flows), 1000)]
    table = flowtable.from_blocks(blocks)
    by_connection = {}
    for name, start, dur, size in flows:   # file order: the reference sorts itself
        by_connection.setdefault(f'10.0.0.{name}-1.1.1.1-80-tcp', []).append((start, dur, size))
    # small chunks so that connections also meet chunk boundaries
    monkeypatch.setattr(letters, 'CHUNK_FLOWS', 500)
    for c in CONSTRUCTORS.values():
        wanted = [reference_state(*zip(*by_connection[ident]), c) for ident in table.ids]
        assert states(table.start, table.dur, table.size, table.bounds, c) == wanted


def test_continued_pieces_joined_are_the_whole_state():
    """A state grown part by part (letters.continued, as the IPS grows it
    window by window) is the state of all the flows at once, on gaps on and
    next to every threshold, with every constructor."""
    rng = random.Random(20261202)
    flows = random_flows(rng, 400)
    by_connection = {}
    for name, start, dur, size in flows:
        by_connection.setdefault(name, []).append((start, dur, size))
    for c in CONSTRUCTORS.values():
        for rows in by_connection.values():
            rows.sort()
            start, dur, size = (np.array(column, np.int64) for column in zip(*rows))
            whole = states(start, dur, size, [0, len(rows)], c)[0]
            cuts = sorted({0, len(rows), *(rng.randrange(len(rows) + 1) for _ in range(2))})
            grown = ''
            for first, last in zip(cuts[:-1], cuts[1:]):
                before = start[:first]
                piece, = letters.continued(
                    start[first:last], dur[first:last], size[first:last], [0, last - first],
                    [first], [before[-1] if first else 0],
                    [before[-1] - before[-2] if first >= 2 else 0], c)
                grown += piece
            assert grown == whole


def test_a_gap_from_a_broken_clock_writes_at_most_ten_years_of_zeros():
    """A flow at 10**12 s after one in 2020 would write 277 million zeros (a
    state of 277 MB); a gap writes at most MAX_ZEROS, in both ways of
    computing letters. Gaps under ten years keep one zero per hour."""
    second = letters.SECOND
    year_2020 = 1_577_836_800 * second
    for later, zeros in ((10 ** 12 * second, letters.MAX_ZEROS), (year_2020 + 5 * 3600 * second,
                                                                  5)):
        start = np.array([year_2020, later], np.int64)
        dur, size = np.array([1, 1], np.int64), np.array([100, 100], np.int64)
        (state,) = states(start, dur, size, np.array([0, 2]))
        assert state == '1' + '0' * zeros + '1'  # no periodicity data: digits
        assert ''.join(row.piece for row in flow_letters(start, dur, size)) == state
    assert letters.MAX_ZEROS == 87_660
