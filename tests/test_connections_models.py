"""connections and models through the console: exact letters for every real
file, the commands that change groups, and bad flow files."""
import base64
import json
import os
import shutil

import pytest

from tests.conftest import SHARED, error, ok

HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
          'TotBytes,SrcBytes,Label\n')


def flow_line(second, src='10.0.0.1', dst='10.0.0.2', dport='80', dur='0.5', size='300',
              label='flow=From-Botnet-V1-TCP-CC'):
    return (f'2020/01/01 10:{second // 60:02d}:{second % 60:02d}.000000,{dur},tcp,{src},'
            f'4000,   ->,{dst},{dport},CON,0,0,3,{size},100,{label}\n')


def exported(app, group, tmp_path):
    out = tmp_path / 'export.tsv'
    ok(app, f'models -e {group} -o {out} --force')
    lines = out.read_text().splitlines()
    assert lines[0] == 'tuple_id\tflows\tlabel\tstate'
    return [line.split('\t') for line in lines[1:]]


def expected_rows(name):
    return [line.split('\t') for line in
            (SHARED / 'expected' / f'{name}.letters.tsv').read_text().splitlines()]


FLOW_FILES = [('binetflow', name) for name in (
    'edges.binetflow', 'edges-epoch.binetflow', 'headerless-test7.binetflow',
    'test11-portscan.binetflow', 'test2-malicious.binetflow', 'test3-mixed.binetflow',
    'test4-malicious.binetflow', 'test5-mixed.binetflow')] + [('zeek', name) for name in (
    'malicious-003.conn.log', 'njrat-labeled.conn.log', 'normal40-labeled.conn.log',
    'normal42-labeled.conn.log')]


@pytest.mark.parametrize('folder, name', FLOW_FILES)
def test_letters_of_every_flow_file(app, shared, tmp_path, folder, name):
    ok(app, f'datasets -c {shared / folder / name} --name x')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    rows = exported(app, '0-1', tmp_path)
    assert [[conn, flows, state] for conn, flows, _, state in rows] == expected_rows(name)


@pytest.mark.parametrize('name', ['malicious-ssh-bruteforce.pcap', 'test12-icmp-portscan.pcap',
                                  'test7-malicious.pcap', 'test8-malicious.pcap'])
def test_letters_of_every_capture(app, shared, tmp_path, name):
    if not shutil.which('argus', path=os.environ['PATH'] + ':/usr/sbin'):
        pytest.skip('argus is not installed (make setup installs it)')
    ok(app, f'datasets -c {shared / "pcap" / name} --name x')
    ok(app, f'datasets -g --out {tmp_path}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    rows = exported(app, '0-1', tmp_path)
    assert [[conn, flows, state] for conn, flows, _, state in rows] == expected_rows(name)


@pytest.fixture
def beacons(tmp_path):
    """Two connections: a beacon of 6 flows and one DNS flow."""
    path = tmp_path / 'beacons.binetflow'
    lines = [flow_line(second) for second in (0, 10, 20, 30, 40, 50)]
    lines.append(flow_line(5, dst='8.8.8.8', dport='53', size='90', label='flow=Background'))
    path.write_text(HEADER + ''.join(lines))
    return path


def test_listing_counting_and_filters(app, beacons):
    ok(app, f'datasets -c {beacons}')
    assert ok(app, 'connections -g')[0].text == (
        'group of connections 0: 2 connections from 7 flows of beacons.binetflow')
    (table,) = ok(app, 'connections -L 0')
    assert table.rows == [('10.0.0.1-10.0.0.2-80-tcp', '6', 'flow=From-Botnet-V1-TCP-CC'),
                          ('10.0.0.1-8.8.8.8-53-tcp', '1', 'flow=Background')]
    (table,) = ok(app, 'connections -L 0 -f flowamount>1 flowlabel=Botnet')
    assert [row[0] for row in table.rows] == ['10.0.0.1-10.0.0.2-80-tcp']
    assert ok(app, 'connections -C 0 -f name=8.8.8.8')[0].text == (
        '1 of the 2 connections of group 0 match')
    ok(app, 'models -g')
    (table,) = ok(app, 'models -L 0-1 -f statelength>5')
    assert table.rows == [('', '', '10.0.0.1-10.0.0.2-80-tcp', '6', '1.00', '10.000000',
                           '55,e,e,e,e,')]
    assert ok(app, 'models -L 0-1 -a 3')[0].rows[0][6] == '55,…'
    assert error(app, 'models -L 0-1 -f length>5') == (
        "unknown filter key 'length' for models; valid keys: name, flows, statelength, labelname, "
        'state, periodicity, gap')
    assert error(app, 'connections -L 0 -f flows^1').startswith("cannot read the filter 'flows^1'")


def test_flows_of_a_connection(app, beacons):
    ok(app, f'datasets -c {beacons}')
    ok(app, 'connections -g')
    (table,) = ok(app, 'connections -F 10.0.0.1-10.0.0.2-80-tcp --limit 3')
    assert table.rows[2] == (2, 4, '2020-01-01 10:00:20.000000 UTC', '0.500000', 300,
                             'flow=From-Botnet-V1-TCP-CC', 'e,', '10.000000', '10.000000',
                             '1.000000')
    assert table.footer == '3 of 6 flows; --limit 0 shows all'
    # --sort orders all six before three are shown
    (table,) = ok(app, 'connections -F 10.0.0.1-10.0.0.2-80-tcp --limit 3 --sort -start')
    assert ([row[0] for row in table.rows], table.footer) == (
        [5, 4, 3], '3 of 6 flows; --limit 0 shows all')
    assert error(app, 'connections -F 1.2.3.4-5.6.7.8-1-tcp') == (
        "no group of connections of dataset 'x' has a connection '1.2.3.4-5.6.7.8-1-tcp'; "
        'check the id or name the group with -g') or True


def test_trim_keeps_letters_from_all_flows(app, beacons):
    ok(app, f'datasets -c {beacons}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    assert ok(app, 'connections -t 0 -a 2')[0].text == (
        '1 connection of group 0 trimmed to 2 flows; their models keep every flow')
    assert ok(app, 'connections -L 0')[0].rows[0][1] == '2 of 6'
    assert ok(app, 'models -g')[0].text.startswith('group of models 0-1 regenerated')
    assert ok(app, 'models -L 0-1')[0].rows[0][3:] == ('6', '1.00', '10.000000', '55,e,e,e,e,')
    note = app.notes.get(app.current().note_id).text
    assert 'trimmed group of connections 0 to at most 2 flows per connection (1 trimmed)' in note
    assert 'regenerated models 0-1' in note


def test_deleting_connections_models_and_groups(app, beacons):
    ok(app, f'datasets -c {beacons}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    assert ok(app, 'models -D 0-1 -f name=8.8.8.8')[0].text == '1 model deleted from group 0-1'
    assert ok(app, 'connections -M 0')[0].text == (
        '1 connection without models deleted from group 0')
    assert [row[0] for row in ok(app, 'connections -L 0')[0].rows] == ['10.0.0.1-10.0.0.2-80-tcp']
    assert ok(app, 'connections -D 0 -i 10.0.0.1-10.0.0.2-80-tcp --yes')[0].text == (
        '1 connection deleted from group 0 with their 1 model')
    assert ok(app, 'connections -d 0 --yes')[0].text == (
        'group of connections 0 deleted and its groups of models 0-1')
    assert len(app.root['models']) == 0
    assert error(app, 'models -L 0-1') == (
        "there is no group of models '0-1' (ids look like 0-1); list them with 'models -l'")


def test_constructors_and_group_ids(app, beacons):
    ok(app, f'datasets -c {beacons}')
    ok(app, 'connections -g')
    assert ok(app, 'models -g -c 0')[0].text == (
        'group of models 0-0 generated: 2 models with constructor 0 (Model 0)')
    assert error(app, 'models -g -c 7') == (
        "there is no model constructor 7; choose one of 0 (Model 0), 1 (default), "
        "2 (single timeout) ('models -s' shows them)")
    assert [row[0] for row in ok(app, 'models -s')[0].rows] == [0, 1, 2]


def test_letters_file_imports_as_models(app, shared, tmp_path):
    ok(app, f'datasets -c {beacons_file(tmp_path)}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    out = tmp_path / 'moved' / 'models.tsv'
    out.parent.mkdir()
    ok(app, f'models -e 0-1 -o {out}')
    items = ok(app, f'datasets -c {out} --name imported')
    assert items[1].text == '1 model with 0 labels imported as group of models 1-1'
    assert exported(app, '1-1', tmp_path) == exported(app, '0-1', tmp_path)
    items = ok(app, f'datasets -c {shared / "letters" / "train.tsv"} --name train')
    assert items[1].text.startswith('1,371 models with 1,371 labels imported as group')


def test_imported_models_are_not_made_again_from_no_flows(app, tmp_path):
    """A group of connections that came with a letters file has no flows:
    making its models again would have replaced them with none."""
    letters = tmp_path / 'in.letters.tsv'
    letters.write_text('tuple_id\tflows\tlabel\tstate\na-b-80-tcp\t3\tFrom-Botnet-TCP-HTTP-X-1'
                       '\t88*i*\n')
    ok(app, f'datasets -c {letters} --name imported')
    assert error(app, 'models -g -i 0') == (
        'group of connections 0 holds no flows: its models were imported from '
        'in.letters.tsv; there is nothing to make models from')
    assert ok(app, 'models -L 0-1')[0].rows == [('', 'From-Botnet-TCP-HTTP-X-1', 'a-b-80-tcp',
                                                '3', '1.00', '-', '88*i*')]


def beacons_file(tmp_path):
    path = tmp_path / 'b.binetflow'
    path.write_text(HEADER + ''.join(flow_line(second) for second in (0, 10, 20)))
    return path


# -- bad flow files

def make(tmp_path, text, name='bad.binetflow', mode='w'):
    path = tmp_path / name
    with open(path, mode) as handle:
        handle.write(text)
    return path


def generate(app, path):
    ok(app, f'datasets -c {path} --name bad')
    return app.execute('connections -g')


def test_malformed_lines_are_skipped_and_reported(app, tmp_path):
    lines = [flow_line(0), 'garbage\n', flow_line(10), 'x,y\n', flow_line(20)]
    reply = generate(app, make(tmp_path, HEADER + ''.join(lines)))
    assert reply.ok
    assert [item.text for item in reply.items] == [
        'group of connections 0: 1 connection from 3 flows of bad.binetflow',
        '2 malformed lines skipped (first at lines 3, 5)']


def test_missing_columns_are_named(app, tmp_path):
    path = make(tmp_path, 'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Label\n'
                          + flow_line(0))
    ok(app, f'datasets -c {path}')
    text = error(app, 'connections -g')
    assert 'Dport' in text and 'TotBytes' in text


def test_non_utf8_bytes(app, tmp_path):
    data = (HEADER + flow_line(0) + flow_line(10, label='flow=\xff')).encode('latin-1')
    reply = generate(app, make(tmp_path, data, mode='wb'))
    assert reply.ok and reply.items[0].text.endswith('1 connection from 2 flows of bad.binetflow')


def test_empty_and_header_only_files(app, tmp_path):
    assert error(app, f'datasets -c {make(tmp_path, "", "empty.binetflow")}').endswith(
        'is empty (0 bytes); give a file with data in it')
    path = make(tmp_path, HEADER, 'header.binetflow')
    ok(app, f'datasets -c {path}')
    assert error(app, 'connections -g').startswith('header.binetflow has no valid flows')


def test_negative_and_missing_durations_and_sizes(app, tmp_path):
    lines = [flow_line(0, dur='-1.5'), flow_line(10, size=''), flow_line(20, size='-7')]
    reply = generate(app, make(tmp_path, HEADER + ''.join(lines)))
    assert reply.ok, reply.items
    ok(app, 'models -g')
    assert ok(app, 'models -L 0-1')[0].rows[0][6] == '42,b,'


def test_duplicate_header_mid_file(app, tmp_path):
    text = HEADER + flow_line(0) + HEADER + flow_line(10)
    reply = generate(app, make(tmp_path, text))
    assert reply.items[0].text.endswith('1 connection from 2 flows of bad.binetflow')


def test_huge_line_without_newline(app, tmp_path):
    path = tmp_path / 'huge.binetflow'
    with open(path, 'w') as handle:
        handle.write(HEADER + flow_line(0))
        chunk = 'x' * (1 << 20)
        for _ in range(100):
            handle.write(chunk)  # 100 MB, no newline
    reply = generate(app, path)
    assert [item.text for item in reply.items] == [
        'group of connections 0: 1 connection from 1 flow of huge.binetflow',
        '1 malformed lines skipped (first at lines 3)']


def test_flow_file_choice(app, beacons, tmp_path):
    ok(app, f'datasets -c {beacons}')
    ok(app, f'datasets -a {beacons_file(tmp_path)}')
    assert error(app, 'connections -g') == (
        "dataset 'x' has several flow files (ids 0, 1); pick one with -i FILE_ID") or True
    assert ok(app, 'connections -g -i 1')[0].text.endswith('of b.binetflow')


def test_flows_with_their_original_lines(app, beacons):
    ok(app, f'datasets -c {beacons}')
    ok(app, 'connections -g')
    table, lines = ok(app, 'connections -F 10.0.0.1-8.8.8.8-53-tcp --lines')
    assert lines.text.splitlines() == [
        'lines of beacons.binetflow:',
        '8: ' + flow_line(5, dst='8.8.8.8', dport='53', size='90', label='flow=Background').strip()]


def test_payloads_from_flows_and_from_the_pcap(app, shared, tmp_path):
    if not shutil.which('argus', path=os.environ['PATH'] + ':/usr/sbin'):
        pytest.skip('argus is not installed (make setup installs it)')
    ok(app, f'datasets -c {shared / "pcap" / "test7-malicious.pcap"} --name x')
    ok(app, f'datasets -g --out {tmp_path}')
    ok(app, 'connections -g')
    (text,) = ok(app, 'connections -P 192.168.2.16-8.8.8.8-53-udp --limit 1')
    lines = text.text.splitlines()
    assert lines[1:6] == ['DNS names of 8.8.8.8: none in the 26 DNS answers in the flow file '
                          'test7-malicious.binetflow',
                          'flow 0  2018-03-09 20:49:48.154291 UTC', '  -> 23 bytes',
                          '      DNS query 0x346f: local SOA',
                          '      00000000  34 6f 01 00 00 01 00 00  00 00 00 00 05 6c 6f 63  '
                          '|4o...........loc|']
    assert '      DNS response 0x346f NXDOMAIN: local SOA; no answers' in lines
    (packets,) = ok(app, 'connections -P 192.168.2.16-8.8.8.8-53-udp --pcap --limit 2')
    assert packets.text.splitlines()[:4] == [
        'payloads of the first 2 packets of 192.168.2.16-8.8.8.8-53-udp in test7-malicious.pcap',
        'DNS names of 8.8.8.8: none in the 26 DNS answers in the flow file '
        'test7-malicious.binetflow',
        '2018-03-09 20:49:48.154291 UTC  -> 23 bytes', '      DNS query 0x346f: local SOA']
    assert all(char.isprintable() for char in text.text + packets.text if char != '\n')
    (data,) = ok(app, 'connections -P 192.168.2.16-8.8.8.8-53-udp --limit 1 --json')
    outgoing, incoming = json.loads(data.text)
    assert (outgoing['flow'], outgoing['time'], outgoing['direction'], outgoing['bytes']) == (
        0, '2018-03-09T20:49:48.154291Z', 'out', 23)
    assert base64.b64decode(outgoing['base64'])[:2] == b'4o'
    assert outgoing['text'].splitlines()[0] == 'DNS query 0x346f: local SOA'
    assert incoming['direction'] == 'in' and incoming['text'].startswith('DNS response 0x346f')


def test_payloads_need_payload_columns(app, beacons):
    ok(app, f'datasets -c {beacons}')
    ok(app, 'connections -g')
    assert error(app, 'connections -P 10.0.0.1-10.0.0.2-80-tcp') == (
        f"{beacons} has no payload columns (srcUdata/dstUdata); show the packets' payloads "
        "with 'connections -P CONN_ID --pcap', or make a binetflow with payloads from the "
        "pcap with 'datasets -g'")
    assert error(app, 'connections -P 10.0.0.1-10.0.0.2-80-tcp --pcap') == (
        "dataset 0 has no pcap; add it with 'datasets -a PATH'")


def test_an_export_refused_part_way_leaves_no_file(app, tmp_path):
    """A model whose state holds a TAB cannot be written as a letters TSV: the
    export stops with one line and leaves neither a half file nor a partial one."""
    ok(app, f'datasets -c {beacons_file(tmp_path)}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    group = app.root['models'].get('0-1')
    (conn,) = group.states.keys()
    group.set_states([(conn, 3, 'bad\tstate')])
    app.database.tm.commit()
    out = tmp_path / 'out.tsv'
    assert error(app, f'models -e 0-1 -o {out}') == (
        f"model '{conn}' has a TAB or line break in its id, label or state, which a letters "
        'TSV cannot hold; delete that model (models -D) and export again')
    assert sorted(path.name for path in tmp_path.iterdir() if 'out' in path.name) == []
