"""The flow file reader: formats, exact values, skipped lines, the shared data."""
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from stf.core.flows import flowfile
from stf.core.errors import UserError
from stf.core.flows.flowfile import (ReadStats, iter_blocks, line_at, parse_duration_us,
                                     parse_int, parse_time_us, sniff_format, summarize)
from tests.flowreading import iter_flows

DATA = Path(__file__).resolve().parent.parent.parent / 'shared' / 'data'
FLOW_FILES = ('binetflow/edges-epoch.binetflow', 'binetflow/edges.binetflow',
              'binetflow/headerless-test7.binetflow', 'binetflow/test11-portscan.binetflow',
              'binetflow/test2-malicious.binetflow', 'binetflow/test3-mixed.binetflow',
              'binetflow/test4-malicious.binetflow', 'binetflow/test5-mixed.binetflow',
              'zeek/malicious-003.conn.log', 'zeek/njrat-labeled.conn.log',
              'zeek/normal40-labeled.conn.log', 'zeek/normal42-labeled.conn.log')
HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
          'TotBytes,SrcBytes,Label')
ZEEK_HEADER = ('#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n'
               '#unset_field\t-\n#path\tconn\n'
               '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t'
               'duration\torig_ip_bytes\tresp_ip_bytes\tlabel\tdetailedlabel\n'
               '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tcount\t'
               'string\tstring\n')
T0 = 1_616_891_400_000_000          # 2021/03/28 00:30:00 UTC, computed with datetime


def shared(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f'shared test data {path} is absent')
    return path


def write(tmp_path, text, name='flows.binetflow'):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def flow(start='2021/03/28 00:30:00.000000', dur='1.000000', proto='tcp', src='10.0.0.1',
         dport='80', size='100', label='flow=x'):
    return f'{start},{dur},{proto},{src},1234,   ->,1.1.1.1,{dport},CON,0,0,2,{size},10,{label}'


def read(path, **options):
    stats = ReadStats()
    return list(iter_flows(path, stats=stats, **options)), stats


def conn_id(record):
    return f'{record[6]}-{record[8]}-{record[9]}-{record[5]}'


# ---- the shared data -------------------------------------------------------

@pytest.mark.parametrize('name', FLOW_FILES)
def test_connections_and_flow_counts_match_expected(name):
    path = shared(name)
    expected = {}
    for line in (DATA / 'expected' / f'{path.name}.letters.tsv').read_text().splitlines():
        tuple_id, flows, _state = line.split('\t')
        expected[tuple_id] = int(flows)
    assert dict(Counter(map(conn_id, iter_flows(path)))) == expected


def test_every_shared_flow_file_is_checked():
    shared('binetflow')
    present = {f'{folder}/{path.name}' for folder in ('binetflow', 'zeek')
               for path in (DATA / folder).iterdir()}
    assert present == set(FLOW_FILES)


def test_binetflow_first_flow_exact():
    path = shared('binetflow/test2-malicious.binetflow')
    first = next(iter_flows(path))
    assert first == (2, 108, 1_554_394_980_325_010, 27_947, 142, 'udp', '10.8.0.69', '48427',
                     '8.8.8.8', '53', '')
    assert line_at(path, first[1]) == ('2019/04/04 16:23:00.325010,0.027947,udp,10.8.0.69,'
                                       '48427,  <->,8.8.8.8,53,CON,0,0,2,142,63,1,')


def test_spaces_around_fields_are_trimmed():
    path = shared('binetflow/edges.binetflow')
    icmp = [record for record in iter_flows(path) if record[5] == 'icmp']
    assert icmp[0] == (10, 853, T0, 200_000, 98, 'icmp', 'fd00::1', '1234', 'fd00::2',
                       '0x0008', 'flow=edge')
    assert [record[2] - T0 for record in icmp] == [0, 1_000_000, 2_000_000, 3_000_000]


def test_epoch_times_drop_digits_past_six_decimals():
    path = shared('binetflow/edges-epoch.binetflow')
    assert [record[2] for record in iter_flows(path)] == [0, 61_000_000, 122_000_000,
                                                          183_000_007]


def test_headerless_file():
    path = shared('binetflow/headerless-test7.binetflow')
    fmt = sniff_format(path)
    assert (fmt.kind, fmt.has_header, fmt.width, fmt.exact) == ('binetflow', False, 13, False)
    records, stats = read(path)
    assert records[0] == (1, 0, 1_452_250_371_985_777, 680_763, 25_265, 'tcp', '111.11.11.11',
                          '56363', '222.222.22.222', '443', '')
    assert (stats.flows, stats.lines, stats.malformed) == (464, 464, 0)


def test_management_records_are_skipped_and_counted():
    records, stats = read(shared('binetflow/test5-mixed.binetflow'))
    assert 'man' not in {record[5] for record in records}
    assert (stats.lines, stats.flows, stats.management, stats.malformed) == (301, 299, 1, 0)
    assert records[0][6] == '00:00:00:00:00:00'
    assert records[0][10] == 'flow=Background'


def test_zeek_values_and_labels():
    path = shared('zeek/njrat-labeled.conn.log')
    fmt = sniff_format(path)
    assert fmt.kind == 'zeek' and fmt.separator == '\t'
    assert fmt.columns['orig_bytes'] == 17 and fmt.columns['detailed_label'] == 22
    records, stats = read(path)
    assert records[0] == (9, 495, 19_981_745, 136_721, 180, 'udp',
                          'fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8', '56464', 'fd2d:ab8c:225::1',
                          '53', 'Background')
    unset_duration = next(record for record in records if record[0] == 22)
    assert unset_duration == (22, 2348, 15_231_084, 0, 64, 'icmp', '::', '135',
                              'ff02::1:ff62:aec8', '136', 'Background')
    assert line_at(path, 2348).startswith('15.231084\tCT6HA513uJBad0Fsti\t::\t135\t')
    assert Counter(record[10] for record in records) == Counter(
        {'Background': 739, 'Malicious-CC': 244, 'Benign-Google': 9})
    assert (stats.lines, stats.flows, stats.comments, stats.out_of_order) == (1000, 992, 8, 244)


def test_zeek_unlabeled_first_flow():
    first = next(iter_flows(shared('zeek/malicious-003.conn.log')))
    assert first[2:] == (1_596_790_164_509_987, 17_912, 168, 'udp', '10.8.0.61', '35740',
                         '8.8.8.8', '53', '')


def test_summarize_real_file():
    summary = summarize(shared('binetflow/test5-mixed.binetflow'))
    assert (summary['flows'], summary['malformed'], summary['first_malformed']) == (299, 0, [])
    assert summary['protocols'] == Counter({'udp': 211, 'tcp': 81, 'ipv6-icmp': 3, 'arp': 2,
                                            'llc': 1, 'icmp': 1})
    assert summary['labels'] == Counter({
        'flow=Malware-UDP-DNS': 197, 'flow=Malware-TCP': 80, 'flow=Background-UDP-Attempt': 8,
        'flow=Background-UDP-DNS': 5, 'flow=Background': 4, 'flow=Background-ARP': 2,
        'flow=Background-UDP-Attempt-NetBIOS': 1, 'flow=TCP-Established-To-Microsoft-7': 1,
        'flow=Background-ICMP': 1})
    # The capture's clock was unset: its flows are dated 1970/01/01 01:00 to 01:04.
    assert (summary['first_us'], summary['last_us']) == (3_600_000_000, 3_744_166_788)
    assert (summary['kind'], summary['management'], summary['out_of_order']) == (
        'binetflow', 1, 0)


def test_summarize_without_labels():
    summary = summarize(shared('binetflow/test2-malicious.binetflow'))
    assert summary['labels'] == Counter()
    assert (summary['first_us'], summary['flows']) == (1_554_394_980_325_010, 6751)


# ---- single values ---------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('2021/03/28 00:30:00.000000', T0),
    ('2021/03/28 00:30:00', T0),
    ('2021/03/28 00:30:00.5', T0 + 500_000),
    ('2021/03/28 00:30:00.1234567', T0 + 123_456),
    ('2021/03/28 00:30:00.9999999999', T0 + 999_999),
    ('  2021/03/28 00:30:00.000001 \t', T0 + 1),
    ('2021/03/28 02:30:00.000000', T0 + 7_200_000_000),   # a DST gap in Europe, not in UTC
    ('2000/02/29 12:00:00.000000', 951_825_600_000_000),
    ('1900/01/01 00:00:00.000001', -2_208_988_799_999_999),
    ('2999/12/31 23:59:59.999999', 32_503_679_999_999_999),
    ('1596790164.509987', 1_596_790_164_509_987),
    ('0.0000009', 0),
    ('61.0000009', 61_000_000),
    (' 15.5 ', 15_500_000),
    ('7', 7_000_000),
    ('-1.5', -1_500_000),
])
def test_parse_time_us(text, expected):
    assert parse_time_us(text) == expected


@pytest.mark.parametrize('text', ['', 'StartTime', '2021/13/01 00:00:00', '2100/02/29 00:00:00',
                                  '2021/03/28 24:00:00', '2021/03/28 00:30', '1e9', '.',
                                  '2021-03-28 00:30:00', '2021/03/28 00:30:00.12a'])
def test_parse_time_us_rejects(text):
    with pytest.raises(ValueError):
        parse_time_us(text)


@pytest.mark.parametrize('text, expected', [
    ('0.027947', 27_947), ('10', 10_000_000), ('0.1', 100_000), ('-', 0), ('', 0),
    (' 0.2 ', 200_000), ('1.0000009', 1_000_000), ('-0.5', -500_000), ('.5', 500_000)])
def test_parse_duration_us(text, expected):
    assert parse_duration_us(text) == expected


@pytest.mark.parametrize('text, expected', [('98', 98), (' 98 ', 98), ('-', 0), ('', 0),
                                            ('-5', -5)])
def test_parse_int(text, expected):
    assert parse_int(text) == expected


# ---- formats ---------------------------------------------------------------

def test_columns_by_name_in_any_order(tmp_path):
    header = 'Label\tTotBytes\tDport\tDstAddr\tDir\tSport\tSrcAddr\tProto\tDur\tState\tStartTime'
    line = 'flow=y\t 500 \t443\t2.2.2.2\t  ->\t999\t10.0.0.9\ttcp\t0.5\tCON\t1616891400.25'
    path = write(tmp_path, f'{header}\n{line}\n')
    fmt = sniff_format(path)
    assert (fmt.separator, fmt.columns['start'], fmt.columns['label']) == ('\t', 10, 0)
    assert list(iter_flows(path)) == [(2, len(header) + 1, T0 + 250_000, 500_000, 500, 'tcp',
                                       '10.0.0.9', '999', '2.2.2.2', '443', 'flow=y')]


def test_missing_required_columns_are_named(tmp_path):
    path = write(tmp_path, 'StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,Label\n')
    with pytest.raises(UserError, match='lacks column\\(s\\) Dur, TotBytes;'):
        sniff_format(path)


def test_zeek_missing_fields_are_named(tmp_path):
    text = ZEEK_HEADER.replace('\torig_ip_bytes', '').replace('\tresp_ip_bytes', '')
    with pytest.raises(UserError, match='lacks field\\(s\\) orig_ip_bytes, resp_ip_bytes;'):
        sniff_format(write(tmp_path, text, 'conn.log'))


def test_empty_file(tmp_path):
    path = write(tmp_path, b'')
    with pytest.raises(UserError, match='is empty'):
        sniff_format(path)
    with pytest.raises(UserError, match='is empty'):
        list(iter_flows(path, fmt=flowfile.binetflow_format(HEADER.split(','), ',')))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match='cannot read'):
        summarize(tmp_path / 'nothing.binetflow')


@pytest.mark.parametrize('first', ['hello world', '2021/03/28 00:30:00,1,tcp',
                                   '{"ts": 1.5, "uid": "C1"}', '#path\tconn'])
def test_not_a_flow_file(tmp_path, first):
    with pytest.raises(UserError):
        sniff_format(write(tmp_path, first + '\n'))


# ---- skipped lines ---------------------------------------------------------

def test_malformed_lines_are_counted_with_their_numbers(tmp_path):
    lines = [HEADER, flow(),                                   # 1, 2
             'too,few,fields',                                 # 3 malformed
             flow(start='2021/03/28 00:30:01.000000'),         # 4
             flow(start='yesterday'),                          # 5 malformed
             flow(dur='abc'),                                  # 6 malformed
             '',                                               # 7 blank
             flow(size='12x'),                                 # 8 malformed
             flow(start='2021/03/28 00:30:02.000000')]         # 9
    records, stats = read(write(tmp_path, '\n'.join(lines) + '\n'))
    assert [record[0] for record in records] == [2, 4, 9]
    assert (stats.malformed, stats.first_malformed, stats.blank) == (4, [3, 5, 6, 8], 1)
    assert (stats.lines, stats.flows) == (9, 3)


def test_only_the_first_five_malformed_line_numbers_are_kept(tmp_path):
    lines = [HEADER] + [flow(start='bad') if number % 2 else flow() for number in range(20)]
    summary = summarize(write(tmp_path, '\n'.join(lines)))
    assert (summary['malformed'], summary['first_malformed']) == (10, [3, 5, 7, 9, 11])
    assert summary['flows'] == 10


def test_non_utf8_bytes(tmp_path):
    text = (HEADER + '\n' + flow(label='flow=caf\xe9') + '\n').encode('latin-1') + \
        flow(src='10.0.0.\xff\xfe').encode('latin-1') + b'\n' + flow().encode() + b'\n'
    path = write(tmp_path, text)
    records, stats = read(path)
    assert [record[10] for record in records] == ['flow=caf\ufffd', 'flow=x', 'flow=x']
    assert records[1][6] == '10.0.0.\ufffd\ufffd'
    sizes = [len(line) + 1 for line in text.split(b'\n')]
    assert [record[1] for record in records] == [sizes[0], sum(sizes[:2]), sum(sizes[:3])]
    assert line_at(path, records[2][1]) == flow()
    assert stats.malformed == 0


def test_negative_and_missing_durations_and_sizes(tmp_path):
    lines = [HEADER, flow(dur='-', size='-'), flow(dur='', size=''), flow(dur='-1.5', size='-10'),
             flow(dur=' 2.25 ', size=' 7 ')]
    records, stats = read(write(tmp_path, '\n'.join(lines)))
    assert [(record[3], record[4]) for record in records] == [(0, 0), (0, 0), (0, 0),
                                                             (2_250_000, 7)]
    assert (stats.negative, stats.malformed, stats.flows) == (2, 0, 4)


def test_duplicate_header_mid_file(tmp_path):
    lines = [HEADER, flow(), HEADER, flow(start='2021/03/28 00:30:05.000000')]
    records, stats = read(write(tmp_path, '\n'.join(lines) + '\n'))
    assert [(record[0], record[2]) for record in records] == [(2, T0), (4, T0 + 5_000_000)]
    assert (stats.headers_skipped, stats.malformed) == (1, 0)


def test_header_with_other_columns_mid_file_switches_format(tmp_path):
    other = 'StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\tDport\tState\tTotBytes'
    line = '2021/03/28 00:30:09.5\t3\tudp\t10.0.0.7\t5\t  <->\t8.8.8.8\t53\tCON\t77'
    records, stats = read(write(tmp_path, f'{HEADER}\n{flow()}\n{other}\n{line}\n'))
    assert records[1][2:] == (T0 + 9_500_000, 3_000_000, 77, 'udp', '10.0.0.7', '5', '8.8.8.8',
                              '53', '')
    assert stats.headers_skipped == 1


def test_crlf_line_ends(tmp_path):
    lines = [HEADER, flow(), flow(label='')]
    records, stats = read(write(tmp_path, '\r\n'.join(lines) + '\r\n'))
    assert [record[10] for record in records] == ['flow=x', '']
    assert [record[1] for record in records] == [len(HEADER) + 2, len(HEADER) + len(flow()) + 4]
    assert stats.malformed == 0


def test_byte_order_mark_before_the_header(tmp_path):
    """Some Windows tools start a UTF-8 file with a byte order mark."""
    lines = [HEADER, flow(), flow(start='2021/03/28 00:30:05.000000')]
    records, stats = read(write(tmp_path, b'\xef\xbb\xbf' + '\n'.join(lines).encode()))
    assert [(record[0], record[1], record[2]) for record in records] == [
        (2, 3 + len(HEADER) + 1, T0), (3, 3 + len(HEADER) + len(flow()) + 2, T0 + 5_000_000)]
    assert (stats.lines, stats.malformed, stats.headers_skipped) == (3, 0, 0)


def test_byte_order_mark_before_a_zeek_header(tmp_path):
    text = ('#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\t'
            'id.resp_p\tproto\tduration\torig_ip_bytes\tresp_ip_bytes\n'
            '1.5\tC1\t10.0.0.1\t5\t8.8.8.8\t53\tudp\t0.25\t60\t90\n')
    path = write(tmp_path, b'\xef\xbb\xbf' + text.encode(), 'conn.log')
    assert sniff_format(path).kind == 'zeek'
    records, stats = read(path)
    assert [record[2:] for record in records] == [
        (1_500_000, 250_000, 150, 'udp', '10.0.0.1', '5', '8.8.8.8', '53', '')]
    assert (stats.flows, stats.malformed) == (1, 0)


def test_out_of_order_flows(tmp_path):
    starts = ['00:30:05', '00:30:01', '00:30:01', '00:30:09', '00:30:00']
    lines = [HEADER] + [flow(start=f'2021/03/28 {start}.000000') for start in starts]
    _, stats = read(write(tmp_path, '\n'.join(lines)))
    assert stats.out_of_order == 2


def test_headerless_lines_may_have_more_fields(tmp_path):
    base = '2021/03/28 00:30:00.000000,1.0,tcp,10.0.0.1,1,   ->,1.1.1.1,80,CON,0,0,2,300'
    lines = [base + ',', base, base + ',x,y', base[:-4]]
    records, stats = read(write(tmp_path, '\n'.join(lines)))
    assert [record[0] for record in records] == [1, 2, 3]
    assert {record[4] for record in records} == {300}
    assert (stats.malformed, stats.first_malformed) == (1, [4])


def test_long_line_without_newline_is_malformed_and_not_held(tmp_path):
    size = 16 * flowfile.MAX_LINE
    path = write(tmp_path, (HEADER + '\n' + flow() + '\n').encode() + b'x,' * (size // 2))
    tracemalloc.start()
    try:
        records, stats = read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(records) == 1
    assert (stats.malformed, stats.first_malformed, stats.lines) == (1, [3], 3)
    assert peak < 3 * (flowfile.MAX_LINE + flowfile.READ_SIZE) < size


def test_long_line_mid_file_keeps_numbers_and_offsets(tmp_path):
    long_line = 'y' * (3 * flowfile.MAX_LINE)
    lines = [HEADER, flow(), long_line, flow(src='10.0.0.2'), '', flow(src='10.0.0.3')]
    path = write(tmp_path, '\n'.join(lines) + '\n')
    records, stats = read(path)
    assert [record[0] for record in records] == [2, 4, 6]
    assert [line_at(path, record[1]) for record in records] == [lines[1], lines[3], lines[5]]
    assert (stats.malformed, stats.first_malformed, stats.blank) == (1, [3], 1)


@pytest.mark.parametrize('tail, blank, flows', [('\n', 0, 0), ('\n\n', 1, 0),
                                               ('\n' + flow(), 0, 1), ('', 0, 0)])
def test_what_follows_a_long_line_at_the_end(tmp_path, tail, blank, flows):
    path = write(tmp_path, HEADER + '\n' + 'z' * (2 * flowfile.MAX_LINE) + tail)
    records, stats = read(path)
    assert (len(records), stats.blank, stats.malformed, stats.first_malformed) == (
        flows, blank, 1, [2])
    assert stats.lines == 2 + blank + flows


def test_blocks_join_up_across_a_large_file(tmp_path):
    # Over two read blocks, with times that take the fast path, and one block made
    # irregular (a space) so that both paths must agree.
    times = [T0 + number * 1_000_003 for number in range(25_000)]
    texts = [date_text(us) for us in times]
    texts[20_000] = ' ' + texts[20_000]
    durations = [f'{number % 7}.{number % 1_000_000:06d}' for number in range(25_000)]
    durations[10_000] = '3.5'
    lines = [HEADER] + [flow(start=text, dur=duration, size=str(number))
                        for number, (text, duration) in enumerate(zip(texts, durations))]
    path = write(tmp_path, '\n'.join(lines) + '\n')
    blocks = list(iter_blocks(path))
    assert len(blocks) >= 3
    records, stats = read(path)
    assert [record[2] for record in records] == times
    assert [record[0] for record in records] == list(range(2, 25_002))
    assert [record[4] for record in records] == list(range(25_000))
    assert [record[3] for record in records] == [parse_duration_us(line.split(',')[1])
                                                 for line in lines[1:]]
    for record in records[::997]:
        assert line_at(path, record[1]) == lines[record[0] - 1]
    assert (stats.flows, stats.out_of_order, stats.malformed) == (25_000, 0, 0)


def date_text(microseconds):
    seconds, micro = divmod(microseconds, 1_000_000)
    return time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(seconds)) + f'.{micro:06d}'


# ---- Zeek ------------------------------------------------------------------

def zeek_line(ts='1616891400.000000', proto='tcp', duration='0.500000', orig='40', resp='60',
              label='Malicious', detailed='CC'):
    return '\t'.join((ts, 'C1', '10.0.0.1', '5000', '2.2.2.2', '443', proto, duration, orig,
                      resp, label, detailed))


def test_zeek_concatenated_logs(tmp_path):
    text = (ZEEK_HEADER + zeek_line() + '\n' + zeek_line(duration='-', orig='-', detailed='-')
            + '\n#close\t2021-01-01\n' + ZEEK_HEADER
            + zeek_line(ts='1616891401.5', label='Benign', detailed='(empty)') + '\n')
    records, stats = read(write(tmp_path, text, 'conn.log'))
    assert [record[2:5] + record[10:] for record in records] == [
        (T0, 500_000, 100, 'Malicious-CC'), (T0, 0, 60, 'Malicious'),
        (T0 + 1_500_000, 500_000, 100, 'Benign')]
    assert [record[0] for record in records] == [8, 9, 18]
    assert (stats.headers_skipped, stats.comments, stats.lines) == (1, 7 + 7, 18)


def test_zeek_iot23_spaced_last_columns(tmp_path):
    header = ZEEK_HEADER.replace('\tlabel\tdetailedlabel', '   label   detailedlabel')
    line = zeek_line(ts='1616891400.25').replace('\tMalicious\tCC', '   Malicious   CC')
    records, _ = read(write(tmp_path, header + line + '\n', 'conn.log'))
    assert records[0][2:] == (T0 + 250_000, 500_000, 100, 'tcp', '10.0.0.1', '5000', '2.2.2.2',
                              '443', 'Malicious-CC')


def test_summarize_fixture(tmp_path):
    lines = [HEADER, flow(start='2021/03/28 00:30:09.000000', proto='udp'), flow(label=''),
             'junk', flow(proto=' udp ', label='flow=y')]
    summary = summarize(write(tmp_path, '\n'.join(lines)))
    assert summary == {
        'kind': 'binetflow', 'lines': 5, 'flows': 3, 'first_us': T0, 'last_us': T0 + 9_000_000,
        'protocols': Counter({'udp': 2, 'tcp': 1}), 'labels': Counter({'flow=x': 1, 'flow=y': 1}),
        'malformed': 1, 'first_malformed': [4], 'management': 0, 'headers_skipped': 0,
        'comments': 0, 'blank': 0, 'negative': 0, 'out_of_order': 1}
