"""The IPS's alert lines, IDMEF objects, alert output and whitelist."""
import io
import json
import uuid

import pytest

import stf
from stf.core.errors import UserError
from stf.ips.alerts import Alert, AlertOutput, TupleFinding, alert_line, confidence, idmef
from stf.ips.whitelist import Whitelist

START = 1_707_405_300_000_000  # 2024-02-08 15:15:00 UTC
END = START + 300_000_000
DNS = TupleFinding('147.32.84.165-46.17.40.43-53-udp', 'a' * 60, 'From-Botnet-UDP-DNS', 0.98, 0.9)
WEB = TupleFinding('147.32.84.165-8.8.4.4-443-tcp', '44.R.R.', 'From-Botnet-TCP-CC12-HTTPS',
                   0.9, 0.5)
PING = TupleFinding('147.32.84.165-8.8.4.4-0x0008-icmp', 'z', 'From-Botnet-ICMP', 0.8, 0.1)
SIX = TupleFinding('2001:db8::1-2001:db8::2-80-tcp', 'bb', 'From-Botnet-IPV6', 0.7, 0.3)


def alert(tuples, malicious=True, score=2.41, ip='147.32.84.165'):
    return Alert(START, END, ip, malicious, score, list(tuples))


def test_alert_line_names_three_tuples_and_counts_the_rest():
    assert alert_line(alert([DNS, WEB, PING, SIX])) == (
        '2024-02-08 15:20:00 UTC  147.32.84.165  malicious  score 2.41  4 tuples: '
        '147.32.84.165-46.17.40.43-53-udp From-Botnet-UDP-DNS (0.98), '
        '147.32.84.165-8.8.4.4-443-tcp From-Botnet-TCP-CC12-HTTPS (0.90), '
        '147.32.84.165-8.8.4.4-0x0008-icmp From-Botnet-ICMP (0.80) +1 more')


def test_alert_line_of_a_normal_ip_and_of_one_tuple():
    assert alert_line(alert([], malicious=False, score=0)) == \
        '2024-02-08 15:20:00 UTC  147.32.84.165  normal  score 0.00  0 tuples'
    assert alert_line(alert([DNS], score=0.8)) == (
        '2024-02-08 15:20:00 UTC  147.32.84.165  malicious  score 0.80  1 tuple: '
        '147.32.84.165-46.17.40.43-53-udp From-Botnet-UDP-DNS (0.98)')


def test_alert_line_escapes_control_characters():
    evil = TupleFinding('1.2.3.4-5.6.7.8-80-tcp', 'a', 'Bot\x1b[2J\nnext', 0.5, 0.5)
    assert alert_line(alert([evil], ip='1.2.3.4')) == (
        '2024-02-08 15:20:00 UTC  1.2.3.4  malicious  score 2.41  1 tuple: '
        '1.2.3.4-5.6.7.8-80-tcp Bot\\x1b[2J\\x0anext (0.50)')


def test_idmef_fields():
    fixed = uuid.UUID(int=7)
    message = idmef(alert([DNS, WEB, PING, SIX]), 'shipped', alert_id=fixed,
                    now_us=END + 1_500, analyzer_ip='10.9.8.7')
    assert message == {
        'Version': '2.D.V04',
        'ID': '00000000-0000-0000-0000-000000000007',
        'CreateTime': '2024-02-08T15:20:00.001500Z',
        'StartTime': '2024-02-08T15:15:00Z',
        'Category': ['Intrusion.Botnet'],
        'Description': '147.32.84.165 behaved like known malware from 2024-02-08 15:15:00 UTC '
                       'to 2024-02-08 15:20:00 UTC: evidence 2.41 from 4 tuples; closest: '
                       'From-Botnet-UDP-DNS',
        'Confidence': 0.46,  # 0.951 x (0.882 + 0.45 + 0.08 + 0.21) / 3.38
        'Analyzer': {'Name': 'stf-ips', 'Model': f'stf {stf.__version__} detector shipped',
                     'Category': ['NIDS'], 'Data': ['Flow'], 'Method': ['Statistical'],
                     'IP': '10.9.8.7'},
        'Source': [{'IP': '147.32.84.165'}],
        'Target': [{'IP': '46.17.40.43', 'Port': [53]}, {'IP': '8.8.4.4', 'Port': [443]},
                   {'IP': '2001:db8::2', 'Port': [80]}],
        'Attachment': [{'Name': 'tuples', 'ContentType': 'application/json', 'Content': {
            'tuples': [
                {'tuple': DNS.tuple, 'letters': 'a' * 50, 'label': 'From-Botnet-UDP-DNS',
                 'score': 0.98},
                {'tuple': WEB.tuple, 'letters': '44.R.R.', 'label': WEB.label, 'score': 0.9},
                {'tuple': PING.tuple, 'letters': 'z', 'label': 'From-Botnet-ICMP', 'score': 0.8},
                {'tuple': SIX.tuple, 'letters': 'bb', 'label': 'From-Botnet-IPV6',
                 'score': 0.7}]}}],
    }


def test_idmef_defaults_id_time_and_host():
    message = idmef(alert([DNS]), 'mine')
    assert uuid.UUID(message['ID']).version == 4
    assert message['CreateTime'].endswith('Z') and message['CreateTime'][:2] == '20'
    assert message['Analyzer']['IP'].count('.') == 3


def test_confidence_grows_with_evidence_and_chain_confidence():
    # strength 1 - exp(-2.41 / 0.8) = 0.951; support (0.98*0.9 + 0.9*0.5) / 1.88 = 0.7085
    assert confidence(alert([DNS, WEB])) == 0.67
    assert confidence(alert([DNS], score=0.8)) == 0.57
    assert confidence(alert([], score=5)) == 0.0


def test_output_prints_and_logs_malicious_alerts_and_writes_one_json_line_each(tmp_path):
    out = io.StringIO()
    log, jsonl = tmp_path / 'ips.log', tmp_path / 'alerts.jsonl'
    output = AlertOutput(out, log, jsonl, detector_name='shipped')
    output.report(alert([DNS]))
    # written at the window's end, before close: `tail -f` sees it
    output.window_stats(0, 300_000_000, {})
    assert len(jsonl.read_text().splitlines()) == 1
    output.report(alert([], malicious=False, score=0.1, ip='10.0.0.1'))
    output.report(alert([WEB], score=1.5, ip='10.0.0.2'))
    output.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        '2024-02-08 15:20:00 UTC  147.32.84.165  malicious  score 2.41  1 tuple: '
        '147.32.84.165-46.17.40.43-53-udp From-Botnet-UDP-DNS (0.98)',
        '2024-02-08 15:20:00 UTC  10.0.0.2  malicious  score 1.50  1 tuple: '
        '147.32.84.165-8.8.4.4-443-tcp From-Botnet-TCP-CC12-HTTPS (0.90)']
    assert log.read_text().splitlines() == lines
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [record['Source'] for record in records] == [[{'IP': '147.32.84.165'}],
                                                        [{'IP': '10.0.0.2'}]]
    assert records[1]['Analyzer']['Model'] == f'stf {stf.__version__} detector shipped'


def test_print_all_prints_every_ip_but_writes_only_malicious_json(tmp_path):
    out = io.StringIO()
    jsonl = tmp_path / 'alerts.jsonl'
    output = AlertOutput(out, alerts_path=jsonl, print_all=True)
    output.report(alert([], malicious=False, score=0.1, ip='10.0.0.1'))
    output.report(alert([DNS]))
    output.close()
    assert [line.split('  ')[1:3] for line in out.getvalue().splitlines()] == [
        ['10.0.0.1', 'normal'], ['147.32.84.165', 'malicious']]
    assert len(jsonl.read_text().splitlines()) == 1


COUNTS = {'flows': 1200, 'tuples': 80, 'judged': 40, 'whitelisted': 3, 'late': 2,
          'skipped': 1, 'evicted': 5, 'behind_seconds': 12.25}


@pytest.mark.parametrize('verbose, expected', [
    (0, []),
    (1, ['2024-02-08 15:20:00 UTC  window from 15:15:00  flows 1200  tuples 80  judged 40  '
         'whitelisted 3  evicted 5']),
    (2, ['2024-02-08 15:20:00 UTC  window from 15:15:00  flows 1200  tuples 80  judged 40  '
         'whitelisted 3  evicted 5  late 2  skipped 1  behind 12.2 s']),
    (3, ['2024-02-08 15:20:00 UTC  window from 15:15:00  flows 1200  tuples 80  judged 40  '
         'whitelisted 3  evicted 5  late 2  skipped 1  behind 12.2 s',
         '  malicious  0.98  1.2.3.4-5.6.7.8-53-udp  ' + 'a' * 50]),
])
def test_verbose_lines(verbose, expected):
    out = io.StringIO()
    output = AlertOutput(out, verbose=verbose)
    output.window_stats(START, END, COUNTS)
    output.tuple_line('1.2.3.4-5.6.7.8-53-udp', 'a' * 60, 0.98, True)
    output.flush()
    assert out.getvalue().splitlines() == expected


def test_note_is_one_line_on_console_and_log(tmp_path):
    out = io.StringIO()
    log = tmp_path / 'ips.log'
    output = AlertOutput(out, log_path=log)
    output.note('config reloaded\nfrom x')
    output.close()
    assert out.getvalue() == 'config reloaded\\x0afrom x\n'
    assert log.read_text() == out.getvalue()


def test_unwritable_files_are_one_line_errors(tmp_path):
    with pytest.raises(UserError) as caught:
        AlertOutput(io.StringIO(), alerts_path=tmp_path / 'missing' / 'a.jsonl')
    assert str(caught.value) == (f'cannot open the alerts file {tmp_path}/missing/a.jsonl: '
                                 'No such file or directory; give a file in a folder you can '
                                 'write to')
    with pytest.raises(UserError) as caught:
        AlertOutput(io.StringIO(), log_path=tmp_path)
    assert str(caught.value) == (f'cannot open the log file {tmp_path}: Is a directory; give a '
                                 'file in a folder you can write to')


# -- whitelist ----------------------------------------------------------------
def whitelist(tmp_path, text):
    path = tmp_path / 'whitelist'
    path.write_text(text)
    return Whitelist.load(path)


def test_whitelist_sources_destinations_ports(tmp_path):
    allowed = whitelist(tmp_path, '# trusted\n\n147.32.84.165\n10.0.0.0/8  # lab\n'
                                  '2001:db8::/32\nsrc:fe80::1\ndst:8.8.8.8\n'
                                  'dst:2a00:1450::/32\nport:123\n')
    flows = [('147.32.84.165', '1.1.1.1', '80'), ('147.32.84.166', '1.1.1.1', '80'),
             ('10.200.3.4', '1.1.1.1', '80'), ('11.0.0.1', '1.1.1.1', '80'),
             ('2001:DB8:0::7', '1.1.1.1', '80'), ('2001:db9::7', '1.1.1.1', '80'),
             ('fe80::1', 'x', '80'), ('1.1.1.1', '8.8.8.8', '53'),
             ('8.8.8.8', '1.1.1.1', '53'), ('1.1.1.1', '2a00:1450:4001::1', '443'),
             ('1.1.1.1', '2a01::1', '443'), ('1.1.1.1', '2.2.2.2', '123'),
             ('1.1.1.1', '2.2.2.2', 123), ('1.1.1.1', '2.2.2.2', '1230'),
             ('00:11:22:33:44:55', 'ff:ff:ff:ff:ff:ff', '')]
    assert [allowed.skips(*flow) for flow in flows] == [
        True, False, True, False, True, False, True, True, False, True, False, True, True,
        False, False]


def test_whitelist_ipv4_mapped_addresses_match_ipv4_entries(tmp_path):
    allowed = whitelist(tmp_path, '::ffff:192.168.1.0/120\n1.2.3.4\n')
    assert [allowed.skips(src, 'x', '1') for src in
            ('192.168.1.9', '::ffff:1.2.3.4', '192.168.2.9')] == [True, True, False]


def test_empty_whitelist_skips_nothing(tmp_path):
    assert Whitelist.empty().skips('1.2.3.4', '5.6.7.8', '80') is False
    assert whitelist(tmp_path, '# nothing yet\n\n').skips('1.2.3.4', '5.6.7.8', '80') is False


@pytest.mark.parametrize('line', ['foo', 'port:http', 'port:70000', 'dst:1.2.3', '10.0.0.0/33',
                                  'dst:'])
def test_whitelist_bad_line_names_file_and_line(tmp_path, line):
    path = tmp_path / 'whitelist'
    path.write_text(f'1.2.3.4\n# fine\n{line}  # why\n')
    with pytest.raises(UserError) as caught:
        Whitelist.load(path)
    assert str(caught.value) == (f"{path}, line 3: '{line}' is not an IP address, a network "
                                 'like 10.0.0.0/8, dst:ADDRESS[/BITS] or port:N; correct or '
                                 'remove the line')


def test_whitelist_bad_line_with_control_characters_is_escaped(tmp_path):
    path = tmp_path / 'whitelist'
    path.write_text('1.2.3.4\x1b[31m\n')
    with pytest.raises(UserError) as caught:
        Whitelist.load(path)
    assert str(caught.value).startswith(f"{path}, line 1: '1.2.3.4\\x1b[31m' is not")


def test_whitelist_missing_file(tmp_path):
    with pytest.raises(UserError) as caught:
        Whitelist.load(tmp_path / 'none')
    assert str(caught.value) == f'cannot read the whitelist {tmp_path}/none: No such file or ' \
                                'directory'
