"""The dns command (stf/plugins/shipped/dns.py) and its statistics (dnsstats): one small
DNS conversation written here as a capture and as argus flows with payloads gives exact
tables; the shared test7 capture gives the counts dpkt gives; bad inputs say one line."""
import base64
import json
import math
import socket
import sys
from collections import Counter
from decimal import Decimal

import dpkt
import pytest

from tests.conftest import error, ok
from tests.test_house import ROOT, imports_of, project_modules
from tests.test_payload import ether, ip4, tcp, udp, write_pcap

from stf.core.captures import argus, dnsnames, dnsstats
from stf.plugins.shipped import dns

T = 1_600_000_000                       # 2020-09-13 12:26:40 UTC
CLIENT, OTHER, RESOLVER = '10.0.0.1', '10.0.0.2', '10.0.0.53'
NXDOMAIN = dpkt.dns.DNS_RCODE_NXDOMAIN


@pytest.fixture
def app(app):
    """The App, with the dns command the plugin loader registered (a shipped plugin)."""
    assert app.registry.get('dns') is dns.COMMANDS[0]
    return app


# ---- the conversation -------------------------------------------------------------

def query(ident, name, kind=dpkt.dns.DNS_A):
    return dpkt.dns.DNS(id=ident, op=dpkt.dns.DNS_RD,
                        qd=[dpkt.dns.DNS.Q(name=name, type=kind, cls=dpkt.dns.DNS_IN)])


def response(ident, name, *records, rcode=0):
    message = query(ident, name)
    message.qr, message.rcode, message.an = dpkt.dns.DNS_R, rcode, list(records)
    return message


def a(name, address, ttl):
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=ttl,
                           rdata=socket.inet_aton(address))


def cname(name, target, ttl):
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_CNAME, cls=dpkt.dns.DNS_IN, ttl=ttl,
                           cname=target)


def framed(message):
    """DNS over TCP: the message after its 2-byte length."""
    data = bytes(message)
    return len(data).to_bytes(2, 'big') + data


# (seconds after T, client, client port, proto, query, response or None)
EXCHANGES = [
    ('0.0', CLIENT, 40001, 'udp', query(1, 'www.example.com'), response(
        1, 'www.example.com', cname('www.example.com', 'edge.cdn.net', 300),
        cname('edge.cdn.net', 'e7.cdn.net', 60), a('e7.cdn.net', '1.2.3.4', 20))),
    ('1.0', CLIENT, 40002, 'udp', query(2, 'nxd.example'),
     response(2, 'nxd.example', rcode=NXDOMAIN)),
    ('2.0', OTHER, 40003, 'udp', query(3, 'xkqjzvbw.biz'),
     response(3, 'xkqjzvbw.biz', rcode=NXDOMAIN)),
    ('2.5', OTHER, 40004, 'udp', query(4, 'qpwoeiru.biz'),
     response(4, 'qpwoeiru.biz', rcode=NXDOMAIN)),
    ('3.0', OTHER, 40100, 'tcp', query(5, 'api.example.org'),
     response(5, 'api.example.org', a('api.example.org', '5.6.7.8', 3600))),
    ('7.0', CLIENT, 40005, 'udp', query(6, 'www.example.com'), None),
]
# (seconds after T, source, port, destination, port): connections after the answers
CONNECTIONS = [('4.0', CLIENT, 50000, '1.2.3.4', 443), ('5.0', OTHER, 50001, '5.6.7.8', 80),
               ('6.0', CLIENT, 50002, '9.9.9.9', 80), ('8.0', OTHER, 50003, '1.2.3.4', 443)]
RESPONSE_DELAY = Decimal('0.1')


def dns_frames():
    frames = []
    for second, client, port, proto, asked, answered in EXCHANGES:
        moment = T + Decimal(second)
        if proto == 'udp':
            frames.append((moment, ip4(client, RESOLVER, udp(port, 53, bytes(asked)))))
            if answered:
                frames.append((moment + RESPONSE_DELAY,
                               ip4(RESOLVER, client, udp(53, port, bytes(answered)))))
        else:
            frames.append((moment, ip4(client, RESOLVER, tcp(port, 53, framed(asked)))))
            frames.append((moment + RESPONSE_DELAY,
                           ip4(RESOLVER, client, tcp(53, port, framed(answered)))))
    return frames


def connection_frames():
    frames = []
    for second, source, sport, destination, dport in CONNECTIONS:
        moment = T + Decimal(second)
        frames.append((moment, ip4(source, destination, tcp(sport, dport, flags=dpkt.tcp.TH_SYN))))
        frames.append((moment + RESPONSE_DELAY, ip4(destination, source, tcp(
            dport, sport, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK))))
    return frames


def write_capture(path):
    frames = sorted(dns_frames() + connection_frames(), key=lambda pair: pair[0])
    return write_pcap(path, [(moment, ether(packet)) for moment, packet in frames])


HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
          'TotBytes,SrcBytes,SrcPkts,srcUdata,dstUdata\n')


def udata(side, data):
    text = base64.b64encode(data).decode()
    return f'{side}[{len(text)}]={text}' if data else ''


def flow_line(second, proto, src, sport, dst, dport, asked=b'', answered=b''):
    whole, fraction = second.split('.')
    return (f'2020/09/13 12:26:{40 + int(whole)}.{fraction:0<6},0.1,{proto},{src},{sport},   ->,'
            f'{dst},{dport},CON,0,0,2,90,60,1,{udata("s", asked)},{udata("d", answered)}\n')


def write_flows(path):
    """The conversation as argus writes it: one flow per exchange, the query in its
    srcUdata and the answer in its dstUdata (both at the flow's start)."""
    lines = []
    for second, client, port, proto, asked, answered in EXCHANGES:
        wrap = bytes if proto == 'udp' else framed
        lines.append(flow_line(second, proto, client, port, RESOLVER, 53, wrap(asked),
                               wrap(answered) if answered else b''))
    lines += [flow_line(second, 'tcp', source, sport, destination, dport)
              for second, source, sport, destination, dport in CONNECTIONS]
    path.write_text(HEADER + ''.join(sorted(lines)))
    return path


@pytest.fixture
def capture(app, tmp_path):
    ok(app, f'datasets -c {write_capture(tmp_path / "dns.pcap")} --name dns')
    return app


@pytest.fixture
def flows(app, tmp_path):
    ok(app, f'datasets -c {write_flows(tmp_path / "dns.binetflow")} --name flows')
    ok(app, 'connections -g')
    return app


def when(second):
    """The time shown for T + second."""
    whole, fraction = second.split('.')
    return f'2020-09-13 12:26:{40 + int(whole)}.{fraction:0<6} UTC'


def rows(item):
    return [list(row) for row in item.rows]


# ---- the statistics of the conversation -----------------------------------------

def test_the_summary_of_a_capture(capture):
    (summary,) = ok(capture, 'dns')
    assert summary.pairs == [
        ('read from', 'the capture dns.pcap'), ('DNS messages', 11), ('queries', 6),
        ('responses', 5), ('NOERROR responses', 2), ('NXDOMAIN responses', 3), ('names', 5),
        ('clients', 2), ('NXDOMAIN ratio', '0.6000'), ('answer records', 4),
        ('addresses answered', 2), ('TTL median (s)', '180'),
        ('most asked name', 'www.example.com'), ('its queries', 2)]
    assert ok(capture, 'dns -s') == ok(capture, 'dns 0') == [summary]


def test_queries_per_name_and_clients_by_nxdomain_ratio(capture):
    (names,) = ok(capture, 'dns --names')
    assert names.headers == ['name', 'queries', 'clients', 'responses', 'nxdomain', 'first',
                             'last']
    assert rows(names) == [
        ['www.example.com', 2, 1, 1, 0, when('0.0'), when('7.0')],
        ['api.example.org', 1, 1, 1, 0, when('3.0'), when('3.1')],
        ['nxd.example', 1, 1, 1, 1, when('1.0'), when('1.1')],
        ['qpwoeiru.biz', 1, 1, 1, 1, when('2.5'), when('2.6')],
        ['xkqjzvbw.biz', 1, 1, 1, 1, when('2.0'), when('2.1')]]
    (clients,) = ok(capture, 'dns --clients')
    assert rows(clients) == [[OTHER, 3, 3, 3, 2, '0.6667'], [CLIENT, 3, 2, 2, 1, '0.5000']]
    (top,) = ok(capture, 'dns --names --top 2')
    assert (len(top.rows), top.footer) == (2, '2 of 5 names; --top N shows more')


def test_codes_ttls_and_answers(capture):
    codes, kinds = ok(capture, 'dns --codes')
    assert rows(codes) == [[3, 'NXDOMAIN', 3, '0.6000'], [0, 'NOERROR', 2, '0.4000']]
    assert rows(kinds) == [[1, 'A', 6, '1.0000']]
    summary, spread = ok(capture, 'dns --ttl')
    # TTLs 20, 60, 300, 3600: the median halfway between 60 and 300, wide: decades.
    assert summary.pairs == [('answer records', 4), ('median (s)', '180'), ('MAD (s)', '140'),
                             ('lowest (s)', '20'), ('highest (s)', '3,600')]
    assert rows(spread) == [[10, 100, 2], [100, 1000, 1], [1000, 3601, 1]]
    per_name, per_address = ok(capture, 'dns --answers')
    assert rows(per_name) == [['api.example.org', 1, ['5.6.7.8']],
                              ['e7.cdn.net', 1, ['1.2.3.4']], ['edge.cdn.net', 1, ['1.2.3.4']],
                              ['www.example.com', 1, ['1.2.3.4']]]
    assert rows(per_address) == [
        ['1.2.3.4', 3, ['e7.cdn.net', 'edge.cdn.net', 'www.example.com']],
        ['5.6.7.8', 1, ['api.example.org']]]
    assert str(per_address.rows[0][2]) == 'e7.cdn.net, edge.cdn.net, www.example.com'


def bits(name):
    """Shannon's entropy of the characters, written out here."""
    return -sum(count / len(name) * math.log2(count / len(name))
                for count in Counter(name).values())


def test_entropy_of_a_known_name():
    # google.com: g twice, o three times, l e . c m once in ten characters.
    expected = -(0.2 * math.log2(0.2) + 0.3 * math.log2(0.3) + 5 * 0.1 * math.log2(0.1))
    assert dnsstats.entropy(b'google.com') == pytest.approx(expected, abs=1e-12)
    assert f'{expected:.4f}' == '2.6464'
    assert dnsstats.entropy(b'aaaa') == 0.0 and dnsstats.entropy(b'') == 0.0
    assert dnsstats.entropy(b'abcd') == 2.0


def test_names_by_entropy_and_their_distribution(capture):
    ranked, lengths, entropies = ok(capture, 'dns --entropy')
    names = ['www.example.com', 'nxd.example', 'xkqjzvbw.biz', 'qpwoeiru.biz',
             'api.example.org']
    expected = sorted(([name, len(name), f'{bits(name):.4f}', 2 if name[0] == 'w' else 1]
                       for name in names), key=lambda row: (-bits(row[0]), row[0]))
    assert rows(ranked) == expected
    assert [row[:3] for row in expected] == [
        ['qpwoeiru.biz', 12, '3.4183'], ['api.example.org', 15, '3.3736'],
        ['xkqjzvbw.biz', 12, '3.2516'], ['www.example.com', 15, '3.1899'],
        ['nxd.example', 11, '3.0958']]
    # lengths 11, 12, 12, 15, 15: bins of 1 character
    assert rows(lengths) == [[11, 12, 1], [12, 13, 2], [13, 14, 0], [14, 15, 0], [15, 16, 2]]
    # in hundredths of a bit 310, 319, 325, 337, 342: bins of 0.05 bit
    assert rows(entropies) == [['3.10', '3.15', 1], ['3.15', '3.20', 1], ['3.20', '3.25', 0],
                               ['3.25', '3.30', 1], ['3.30', '3.35', 0], ['3.35', '3.40', 1],
                               ['3.40', '3.45', 1]]


def test_names_before_connections_from_the_capture(capture):
    (table,) = ok(capture, 'dns --before')
    assert table.headers == ['source', 'destination', 'first', 'name', 'seconds before',
                             'answered to', 'other names']
    # The name asked for comes first, then the CNAMEs its answer went through; a source
    # that got no answer for the address sees the answer another client got.
    assert rows(table) == [
        [CLIENT, '1.2.3.4', when('4.0'), 'www.example.com', '3.900000', CLIENT,
         ['e7.cdn.net', 'edge.cdn.net']],
        [OTHER, '5.6.7.8', when('5.0'), 'api.example.org', '1.900000', OTHER, []],
        [OTHER, '1.2.3.4', when('8.0'), 'www.example.com', '7.900000', CLIENT,
         ['e7.cdn.net', 'edge.cdn.net']]]
    assert [str(row[6]) for row in table.rows] == ['e7.cdn.net, edge.cdn.net', '-',
                                                  'e7.cdn.net, edge.cdn.net']
    assert table.footer == '3 of 4 connections had a name answered before them'


# ---- the same from argus' payload columns --------------------------------------------

def test_the_same_statistics_from_the_flows_payloads(flows):
    (summary,) = ok(flows, 'dns')
    assert dict(summary.pairs) | {'read from': ''} == {
        'read from': '', 'DNS messages': 11, 'queries': 6, 'responses': 5,
        'NOERROR responses': 2, 'NXDOMAIN responses': 3, 'names': 5, 'clients': 2,
        'NXDOMAIN ratio': '0.6000', 'answer records': 4, 'addresses answered': 2,
        'TTL median (s)': '180', 'most asked name': 'www.example.com', 'its queries': 2}
    assert summary.pairs[0] == ('read from', 'the flow file dns.binetflow (group 0, 6 DNS flows)')
    (names,) = ok(flows, 'dns --names')
    # A flow has one time: its query's and its answer's.
    assert rows(names)[:2] == [['www.example.com', 2, 1, 1, 0, when('0.0'), when('7.0')],
                               ['api.example.org', 1, 1, 1, 0, when('3.0'), when('3.0')]]
    (clients,) = ok(flows, 'dns --clients')
    assert rows(clients) == [[OTHER, 3, 3, 3, 2, '0.6667'], [CLIENT, 3, 2, 2, 1, '0.5000']]
    per_name, per_address = ok(flows, 'dns --answers')
    assert rows(per_address) == [['1.2.3.4', 3, ['e7.cdn.net', 'edge.cdn.net', 'www.example.com']],
                                 ['5.6.7.8', 1, ['api.example.org']]]
    (table,) = ok(flows, 'dns --before -g 0')
    assert [row[:6] for row in rows(table)] == [
        [CLIENT, '1.2.3.4', when('4.0'), 'www.example.com', '4.000000', CLIENT],
        [OTHER, '5.6.7.8', when('5.0'), 'api.example.org', '2.000000', OTHER],
        [OTHER, '1.2.3.4', when('8.0'), 'www.example.com', '8.000000', CLIENT]]


def test_json_of_the_clients(capture):
    (text,) = ok(capture, 'dns --clients --json')
    assert json.loads(text.text) == [
        {'client': OTHER, 'queries': 3, 'names': 3, 'responses': 3, 'nxdomain': 2,
         'nxdomain_ratio': 0.6667},
        {'client': CLIENT, 'queries': 3, 'names': 2, 'responses': 2, 'nxdomain': 1,
         'nxdomain_ratio': 0.5}]


def test_sort_comes_before_the_top_rows_are_cut(capture):
    """--sort sorts every name, then --top keeps the first: on the screen and in --json."""
    (names,) = ok(capture, 'dns --names --sort name --top 3')
    assert [row[0] for row in names.rows] == ['api.example.org', 'nxd.example', 'qpwoeiru.biz']
    assert names.footer == '3 of 5 names; --top N shows more'
    (text,) = ok(capture, 'dns --names --sort -name --top 2 --json')
    assert [record['name'] for record in json.loads(text.text)] == [
        'xkqjzvbw.biz', 'www.example.com']
    (before,) = ok(capture, 'dns --before --sort -first --top 1')
    assert [row[2] for row in before.rows] == [when('8.0')]
    assert before.footer == '1 of 3 connections; --top N shows more'


def test_the_summary_as_json_gives_numbers(capture):
    (text,) = ok(capture, 'dns --json')
    found = json.loads(text.text)
    assert {key: found[key] for key in (
        'noerror_responses', 'nxdomain_responses', 'ttl_median_s', 'most_asked_name',
        'its_queries', 'nxdomain_ratio')} == {
        'noerror_responses': 2, 'nxdomain_responses': 3, 'ttl_median_s': 180,
        'most_asked_name': 'www.example.com', 'its_queries': 2, 'nxdomain_ratio': 0.6}
    (text,) = ok(capture, 'dns --ttl --json')
    assert json.loads(text.text)['ttls'] == {'answer_records': 4, 'median_s': 180, 'mad_s': 140,
                                            'lowest_s': 20, 'highest_s': 3600}


MANY = ['200.0.0.1', '9.9.9.9', '100.0.0.2', '100.0.0.1', '32.0.0.1']
MANY_V6 = ['fe80::1', '2001:db8::1']


def aaaa(name, address, ttl):
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_AAAA, cls=dpkt.dns.DNS_IN, ttl=ttl,
                           rdata=socket.inet_pton(socket.AF_INET6, address))


@pytest.fixture
def many(app, tmp_path):
    """One name answered with five IPv4 and two IPv6 addresses."""
    answered = response(1, 'many.example', *[a('many.example', address, 60) for address in MANY],
                        *[aaaa('many.example', address, 60) for address in MANY_V6])
    frames = [(T, ip4(CLIENT, RESOLVER, udp(40001, 53, bytes(query(1, 'many.example'))))),
              (T + RESPONSE_DELAY, ip4(RESOLVER, CLIENT, udp(53, 40001, bytes(answered))))]
    path = write_pcap(tmp_path / 'many.pcap', [(moment, ether(packet))
                                               for moment, packet in frames])
    ok(app, f'datasets -c {path} --name many')
    return app


def test_answers_list_ipv4_then_ipv6_and_json_gives_every_one(many):
    ordered = ['9.9.9.9', '32.0.0.1', '100.0.0.1', '100.0.0.2', '200.0.0.1', '2001:db8::1',
               'fe80::1']
    per_name, per_address = ok(many, 'dns --answers')
    assert rows(per_name) == [['many.example', 7, ordered]]
    assert str(per_name.rows[0][2]) == ('9.9.9.9, 32.0.0.1, 100.0.0.1, 100.0.0.2, 200.0.0.1, '
                                        'and 2 more')
    assert [row[0] for row in per_address.rows] == ordered
    (text,) = ok(many, 'dns --answers --json')
    found = json.loads(text.text)
    assert found['addresses_per_name'] == [
        {'name': 'many.example', 'addresses': 7, 'answered': ordered}]
    assert found['names_per_address'][0] == {'address': '9.9.9.9', 'names': 1,
                                             'answered': ['many.example']}
    (text,) = ok(many, 'dns --answers --csv')
    assert text.text.splitlines()[:3] == ['# addresses per name', 'name,addresses,answered',
                                          'many.example,7,' + ' '.join(ordered)]


def test_the_messages_counted_are_bounded(flows, monkeypatch):
    monkeypatch.setattr(dnsstats, 'MAX_MESSAGES', 3)
    summary, flows_cut, messages_cut = ok(flows, 'dns')
    assert dict(summary.pairs)['DNS messages'] == 3
    assert (flows_cut.level, flows_cut.text) == (
        'warning', 'read the first 1 of 6 DNS flows: the work is bounded')
    assert messages_cut.text == ('counted the first 3 DNS messages, the rest were left out: '
                                 'the work is bounded')


# ---- a shared capture -------------------------------------------------------------------

def dpkt_counts(path):
    """(queries, responses per rcode) of the UDP port 53 packets, read by dpkt's DNS."""
    queries, rcodes = 0, Counter()
    with open(path, 'rb') as stream:
        for _, frame in dpkt.pcap.Reader(stream):
            segment = dpkt.ethernet.Ethernet(frame).data.data
            if isinstance(segment, dpkt.udp.UDP) and 53 in (segment.sport, segment.dport):
                message = dpkt.dns.DNS(segment.data)
                if message.qr == dpkt.dns.DNS_R:
                    rcodes[message.rcode] += 1
                else:
                    queries += 1
    return queries, rcodes


def test_the_dns_of_test7(app, shared):
    path = shared / 'pcap' / 'test7-malicious.pcap'
    assert dpkt_counts(path) == (36, Counter({0: 26, 3: 4}))
    ok(app, f'datasets -c {path} --name test7')
    fields = dict(ok(app, 'dns')[0].pairs)
    assert (fields['DNS messages'], fields['queries'], fields['responses'],
            fields['NOERROR responses'], fields['NXDOMAIN responses'], fields['clients']) == (
        66, 36, 30, 26, 4, 1)
    (names,) = ok(app, 'dns --names')
    assert [row[:5] for row in rows(names)] == [
        ['0.debian.pool.ntp.org', 12, 1, 8, 0], ['1.debian.pool.ntp.org', 8, 1, 6, 0],
        ['2.debian.pool.ntp.org', 6, 1, 6, 0], ['3.debian.pool.ntp.org', 6, 1, 6, 0],
        ['1.2.168.192.in-addr.arpa', 2, 1, 2, 2], ['local', 2, 1, 2, 2]]
    (before,) = ok(app, 'dns --before')
    assert [row[1] for row in rows(before)] == ['88.198.12.78', '81.2.248.189', '31.31.74.35',
                                                '212.96.160.147']


def test_the_dns_of_test7_through_argus(app, shared, tmp_path):
    """argus' flows of the same capture hold the same messages in their payloads."""
    if not (argus.find_tool('argus') and argus.find_tool('ra')):
        pytest.skip('argus and ra are not installed (make setup installs them)')
    ok(app, f'datasets -c {shared / "pcap" / "test7-malicious.pcap"} --name test7')
    ok(app, f'datasets -g --out {tmp_path}')
    ok(app, 'connections -g')
    fields = dict(ok(app, 'dns')[0].pairs)
    assert (fields['read from'], fields['DNS messages'], fields['queries'],
            fields['NOERROR responses'], fields['NXDOMAIN responses'],
            fields['answer records']) == (
        'the flow file test7-malicious.binetflow (group 0, 31 DNS flows)', 66, 36, 26, 4, 68)
    assert dict(ok(app, 'dns --pcap')[0].pairs)['answer records'] == 68


# ---- bad input ------------------------------------------------------------------------

def test_no_dataset_selected(app):
    assert error(app, 'dns') == ("no dataset is selected; select one with 'datasets -s ID' "
                                 "(list them with 'datasets -l')")


def test_datasets_and_groups_that_are_not_there(flows):
    assert error(flows, 'dns abc') == ("'abc' is not a dataset id (a number); list them with "
                                       "'datasets -l'")
    assert error(flows, 'dns 7') == "there is no dataset 7; list them with 'datasets -l'"
    assert error(flows, 'dns -g 3') == ("there is no group of connections '3'; list them with "
                                        "'connections -l'")
    assert error(flows, 'dns --top 0') == '--top takes a number of rows of 1 or more, not 0'


def test_a_group_of_another_dataset(flows, tmp_path):
    ok(flows, f'datasets -c {write_capture(tmp_path / "other.pcap")} --name other')
    assert error(flows, 'dns 1 -g 0') == ('group 0 is of dataset 0, not of dataset 1; leave '
                                          'out one of them')
    # -g alone names its dataset, whichever is selected, or none.
    for _ in range(2):
        assert ok(flows, 'dns -g 0')[0].pairs[0] == (
            'read from', 'the flow file dns.binetflow (group 0, 6 DNS flows)')
        ok(flows, 'datasets -u')
    assert error(flows, 'dns --pcap -g 0') == ("dataset 0 'flows' has no capture; add one with "
                                               "'datasets -a PCAP', or leave out --pcap to read "
                                               "the flows' payloads")


def test_a_dataset_without_payloads_or_capture(app, tmp_path):
    path = tmp_path / 'bare.binetflow'
    path.write_text(HEADER.replace(',srcUdata,dstUdata', '') + flow_line(
        '0.0', 'udp', CLIENT, 40001, RESOLVER, 53).replace(',,\n', '\n'))
    ok(app, f'datasets -c {path} --name bare')
    assert error(app, 'dns') == (
        "dataset 0 'bare' has no DNS payloads to read: it has no connections and no capture; "
        "make its connections with 'connections -g' from a flow file with srcUdata/dstUdata, "
        "or add its capture with 'datasets -a PCAP'")
    ok(app, 'connections -g')
    assert error(app, 'dns') == (
        "dataset 0 'bare' has no DNS payloads to read: its flow file bare.binetflow has no "
        "srcUdata/dstUdata columns and it has no capture; add its capture with 'datasets -a "
        "PCAP', or make a binetflow with payloads from a capture with 'datasets -g'")


def test_a_flow_file_without_payloads_reads_the_capture(app, tmp_path):
    path = tmp_path / 'bare.binetflow'
    path.write_text(HEADER.replace(',srcUdata,dstUdata', '') + flow_line(
        '4.0', 'tcp', CLIENT, 50000, '1.2.3.4', 443).replace(',,\n', '\n'))
    ok(app, f'datasets -c {write_capture(tmp_path / "dns.pcap")} --name both')
    ok(app, f'datasets -a {path}')
    ok(app, 'connections -g')
    table, note = ok(app, 'dns --before')
    # The group's one connection, the capture's answers.
    assert rows(table) == [[CLIENT, '1.2.3.4', when('4.0'), 'www.example.com', '3.900000',
                            CLIENT, ['e7.cdn.net', 'edge.cdn.net']]]
    assert note.text == 'the flow file bare.binetflow has no payload columns: read the capture'


def test_a_capture_that_cannot_be_read(capture, tmp_path):
    path = tmp_path / 'dns.pcap'
    path.write_bytes(b'not a capture at all, only words' * 4)
    assert error(capture, 'dns') == (f'{path} is not a pcap or pcapng capture; choose the '
                                     'capture the flows were made from')
    path.unlink()
    assert error(capture, 'dns --pcap') == (
        f"the capture {path} is not there any more; if the dataset's files were moved, run "
        "'datasets -o 0 NEW_FOLDER'")


# ---- the reader and the plugin's house rules ------------------------------------------

def test_whole_messages_read_with_ttls_and_rcodes():
    both = bytes(query(9, 'WwW.ExAmPlE.cOm')) + bytes(EXCHANGES[0][5])
    asked, answered = dnsnames.messages(both)
    assert (asked.ident, asked.response, asked.questions, asked.answers) == (
        9, False, [(b'www.example.com', 1)], [])
    assert (answered.response, answered.rcode) == (True, 0)
    assert [(record.name, record.kind, record.ttl) for record in answered.answers] == [
        (b'www.example.com', 5, 300), (b'edge.cdn.net', 5, 60), (b'e7.cdn.net', 1, 20)]
    cut = dnsnames.read_message(bytes(EXCHANGES[0][5])[:-3])
    assert (cut.size, len(cut.answers), cut.questions) == (None, 2, [(b'www.example.com', 1)])
    (tcp_message,) = dnsnames.messages(framed(EXCHANGES[1][5]), udp=False)
    assert (tcp_message.rcode, tcp_message.questions) == (NXDOMAIN, [(b'nxd.example', 1)])


def test_the_plugin_imports_only_the_api_and_the_core():
    modules = project_modules(ROOT)
    found = {target for target, _ in imports_of(modules['stf.plugins.shipped.dns'],
                                                'stf.plugins.shipped.dns', modules)}
    assert {target for target in found if target.startswith('stf')} == {
        'stf.plugins.api', 'stf.core.formats', 'stf.core.captures.dnsstats',
        'stf.core.captures.payload', 'stf.core.flows.connid', 'stf.core.flows.flowfile',
        'stf.core.flows.stats'}
    assert {target for target in found if not target.startswith('stf')} <= set(
        sys.stdlib_module_names)
    assert dns.VERSION == '1.0' and [command.name for command in dns.COMMANDS] == ['dns']


def test_completion_offers_the_command_its_flags_and_datasets(flows):
    from tests.test_completion import completions
    assert completions(flows, 'dn') == {'dns'}
    assert completions(flows, 'dns --n') == {'--names'}
    assert completions(flows, 'dns -g ') == {'0'}
    assert completions(flows, 'dns ') == {'0'}
