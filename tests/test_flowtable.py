"""Grouping flows into connections: code-point order of ids, stable sort by start,
labels and line numbers carried along, `only`, int64 limits, read()."""
import numpy as np
import pytest

from stf.core.flows import flowfile, flowtable
from stf.core.errors import UserError
from stf.core.flows.flowfile import FlowBlock
from stf.core.flows.letters import states

HEADER = 'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotBytes,Label'


def make_block(flows, first_line=2, labels=None):
    """A FlowBlock of (connection, start, dur, size) flows, one line each."""
    names, starts, durs, sizes = (list(column) for column in zip(*flows)) if flows else \
        ([], [], [], [])
    lines = list(range(first_line, first_line + len(flows)))
    return FlowBlock(lines, [100 * line for line in lines], starts, durs, sizes,
                     ['tcp'] * len(flows), [f'10.0.0.{name}' for name in names],
                     ['1'] * len(flows), ['1.1.1.1'] * len(flows), ['80'] * len(flows),
                     list(labels) if labels is not None else [''] * len(flows))


def conn(name):
    return f'10.0.0.{name}-1.1.1.1-80-tcp'


def test_ids_in_code_point_order_and_flows_by_start():
    table = flowtable.from_blocks([make_block([('b', 9, 1, 10), ('B', 5, 2, 20), ('b', 3, 3, 30)]),
                                   make_block([('é', 1, 4, 40), ('b', 3, 5, 50)], 5)])
    assert table.ids == ['10.0.0.B-1.1.1.1-80-tcp', '10.0.0.b-1.1.1.1-80-tcp',
                         '10.0.0.é-1.1.1.1-80-tcp']
    assert table.bounds.tolist() == [0, 1, 4, 5]
    assert table.start.tolist() == [5, 3, 3, 9, 1]
    assert table.dur.tolist() == [2, 3, 5, 1, 4]
    assert table.size.tolist() == [20, 30, 50, 10, 40]
    assert table.offset.tolist() == [300, 400, 600, 200, 500]
    # the file order of each row (lines start at 2): equal starts keep file order
    assert (table.line - 2).tolist() == [1, 2, 4, 0, 3]
    assert (len(table), table.flows) == (3, 5)


def test_without_flows():
    table = flowtable.from_blocks([])
    assert table.ids == [] and table.bounds.tolist() == [0]
    assert table.labels == [''] and table.label.dtype == np.int32 and len(table.label) == 0
    assert states(table.start, table.dur, table.size, table.bounds) == []


def test_huge_sizes_are_clamped_and_huge_times_name_their_line():
    table = flowtable.from_blocks([make_block([('a', 0, 2 ** 70, 2 ** 80)])])
    assert table.size.tolist() == table.dur.tolist() == [flowtable.INT64_MAX]
    with pytest.raises(UserError, match='line 3: the start time is out of range'):
        flowtable.from_blocks([make_block([('a', 0, 0, 0), ('a', 2 ** 63, 0, 0)])])


def test_labels_are_codes_sorted_with_their_flows():
    table = flowtable.from_blocks([
        make_block([('b', 2, 0, 0), ('a', 1, 0, 0), ('b', 1, 0, 0)], labels=['x', '', 'y']),
        make_block([('a', 0, 0, 0)], 5, labels=['y'])])
    assert table.labels[0] == '' and sorted(table.labels) == ['', 'x', 'y']
    assert table.label.dtype == np.int32
    assert [table.labels[code] for code in table.label] == ['y', '', 'y', 'x']
    assert table.line.tolist() == [5, 3, 4, 2]


def test_only_keeps_the_wanted_connections():
    blocks = [make_block([('c', 3, 0, 0), ('a', 2, 0, 0), ('b', 1, 0, 0)], labels='xyz'),
              make_block([('a', 1, 0, 0), ('c', 0, 0, 0)], 5, labels='uv')]
    table = flowtable.from_blocks(blocks, only={conn('c'), conn('a'), conn('absent')})
    assert table.ids == [conn('a'), conn('c')]
    assert table.bounds.tolist() == [0, 2, 4]
    assert table.start.tolist() == [1, 2, 0, 3]
    assert table.line.tolist() == [5, 3, 6, 2]
    assert [table.labels[code] for code in table.label] == ['u', 'y', 'v', 'x']
    assert 'z' not in table.labels
    assert flowtable.from_blocks(blocks, only=set()).flows == 0


def test_read_is_from_blocks_of_the_file(tmp_path):
    path = tmp_path / 'flows.binetflow'
    rows = [('2021/03/28 00:30:02', '10.0.0.2', 'flow=b'), ('2021/03/28 00:30:00', '10.0.0.1', ''),
            ('2021/03/28 00:30:01', '10.0.0.2', 'flow=a')]
    path.write_text(HEADER + '\n' + ''.join(
        f'{start}.000000,1.000000,tcp,{src},1234,   ->,1.1.1.1,80,CON,100,{label}\n'
        for start, src, label in rows))
    seen = []
    table = flowtable.read(path, progress=lambda done, total: seen.append((done, total)))
    assert table.ids == ['10.0.0.1-1.1.1.1-80-tcp', '10.0.0.2-1.1.1.1-80-tcp']
    assert table.line.tolist() == [3, 4, 2]
    assert [table.labels[code] for code in table.label] == ['', 'flow=a', 'flow=b']
    assert (table.stats.flows, table.stats.out_of_order) == (3, 1)
    assert seen == [(table.offset.max(), path.stat().st_size)]
    stats = flowfile.ReadStats()
    again = flowtable.from_blocks(flowfile.iter_blocks(path, stats=stats), stats=stats)
    for name in ('bounds', *flowtable.COLUMNS, 'label'):
        assert np.array_equal(getattr(again, name), getattr(table, name)), name
    assert (again.ids, again.labels, again.stats) == (table.ids, table.labels, table.stats)
    only = flowtable.read(path, only={'10.0.0.2-1.1.1.1-80-tcp'})
    assert only.ids == ['10.0.0.2-1.1.1.1-80-tcp'] and only.start.tolist() == \
        table.start[1:].tolist()


def same_tables(first, second):
    import numpy as np
    assert first.ids == second.ids
    for name in ('bounds', 'start', 'dur', 'size', 'offset', 'line'):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    assert ([first.labels[code] for code in first.label]
            == [second.labels[code] for code in second.label])
    assert vars(first.stats) == vars(second.stats)


PARALLEL_FILES = ['binetflow/test2-malicious.binetflow', 'binetflow/test5-mixed.binetflow',
                  'binetflow/headerless-test7.binetflow', 'zeek/normal40-labeled.conn.log',
                  'zeek/njrat-labeled.conn.log']


@pytest.mark.parametrize('name', PARALLEL_FILES)
def test_reading_in_parts_gives_the_same_table(shared, monkeypatch, name):
    monkeypatch.setattr(flowtable, 'PARALLEL_BYTES', 0)
    serial = flowtable.read(shared / name, workers=1)
    assert flowtable._read_in_parts(shared / name, (shared / name).stat().st_size, 3,
                                    None) is not None
    same_tables(serial, flowtable.read(shared / name, workers=3))


def test_parts_with_a_new_header_fall_back_to_one_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(flowtable, 'PARALLEL_BYTES', 0)
    first = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
             'TotBytes\n')
    second = ('Dur,StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
              'TotBytes\n')
    lines = [first] + [f'2020/01/01 10:00:{n:02d}.0,1,tcp,1.1.1.1,1,->,2.2.2.2,80,C,0,0,1,9\n'
                       for n in range(40)]
    lines += [second] + [f'1,2020/01/01 10:01:{n:02d}.0,tcp,1.1.1.1,1,->,2.2.2.2,80,C,0,0,1,9\n'
                         for n in range(40)]
    path = tmp_path / 'concatenated.binetflow'
    path.write_text(''.join(lines))
    assert flowtable._read_in_parts(path, path.stat().st_size, 2, None) is None
    table = flowtable.read(path, workers=2)
    same_tables(flowtable.read(path, workers=1), table)
    assert table.flows == 80 and table.stats.headers_skipped == 1
