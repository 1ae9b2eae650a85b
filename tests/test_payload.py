"""stf.core.captures.payload: argus' user-data fields, payloads from pcaps, readable views.

Small captures are written here with dpkt; the real ones in ../shared/data go
through argus and ra when both are present."""
import base64
import csv
import io
import json
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import dpkt
import pytest

from tests import flowreading
from tests.conftest import ok

from stf.core.captures import argus, payload
from stf.core.flows import flowfile
from stf.core.errors import UserError
from stf.core.captures.payload import (as_text, decode_udata, dns_summary, flow_payloads, hexdump,
                              payload_lines, pcap_payloads, service_summary, udata_encoding)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent.parent.parent / 'shared' / 'data'
ARGUS_CONF = ROOT / 'confs' / 'argus.conf'
RA_CONF = ROOT / 'confs' / 'ra.conf'
T = 1600000000
CLIENT, SERVER, RESOLVER, OTHER = '10.0.0.1', '10.0.0.2', '10.0.0.53', '10.0.0.9'
V6_CLIENT, V6_SERVER = '2001:db8::1', '2001:db8::2'
GET = b'GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n'
REPLY = b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'
# The first DNS query of test7-malicious.pcap as argus and ra print it.
LOCAL_SOA = bytes.fromhex('346f01000001000000000000056c6f63616c0000060001')
HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
          'TotBytes,SrcBytes,SrcPkts,srcUdata,dstUdata')
FLOW = ('2020/09/13 12:26:{:02d}.000000,0.1,tcp,10.0.0.1,4000{},   ->,10.0.0.2,80,CON,'
        '0,0,2,90,60,1,')
NO_COLUMNS = ('has no payload columns (srcUdata/dstUdata)', "'connections -P CONN_ID --pcap'",
              "'datasets -g'")

needs_tools = pytest.mark.skipif(
    not (argus.find_tool('argus') and argus.find_tool('ra')),
    reason='argus and ra are not installed (make setup installs them)')


def shared(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f'shared test data {path} is absent')
    return path


def user_error(function, *args, **kwargs):
    """The message of the UserError the call raises; it must be one line."""
    with pytest.raises(UserError) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert '\n' not in message
    return message


def safe(text, newlines=False):
    """Only printable ASCII (and newlines when allowed)."""
    return all(0x20 <= ord(char) < 0x7f or (newlines and char == '\n') for char in text)


# ---- packets written with dpkt ----------------------------------------------

def ip4(src, dst, segment):
    number = dpkt.ip.IP_PROTO_TCP if isinstance(segment, dpkt.tcp.TCP) else dpkt.ip.IP_PROTO_UDP
    packet = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=number,
                        ttl=64, data=segment)
    packet.len = len(packet)
    return packet


def ip6(src, dst, segment):
    number = dpkt.ip.IP_PROTO_TCP if isinstance(segment, dpkt.tcp.TCP) else dpkt.ip.IP_PROTO_UDP
    return dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src), nxt=number, hlim=64,
                        dst=socket.inet_pton(socket.AF_INET6, dst), plen=len(segment),
                        data=segment)


def tcp(sport, dport, data=b'', flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, seq=1):
    return dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, win=65535, data=data)


def udp(sport, dport, data):
    datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    datagram.ulen = len(datagram)
    return datagram


def ether(packet):
    v6 = isinstance(packet, dpkt.ip6.IP6)
    kind = dpkt.ethernet.ETH_TYPE_IP6 if v6 else dpkt.ethernet.ETH_TYPE_IP
    return bytes(dpkt.ethernet.Ethernet(src=b'\x02\0\0\0\0\x01', dst=b'\x02\0\0\0\0\x02',
                                        type=kind, data=packet))


def sll(packet):
    return bytes(dpkt.sll.SLL(type=0, hrd=1, hlen=6, hdr=b'\x02\0\0\0\0\x01\0\0',
                              ethtype=dpkt.ethernet.ETH_TYPE_IP, data=packet))


def dns_query(name='example.com', kind=dpkt.dns.DNS_A):
    return bytes(dpkt.dns.DNS(id=0x1234, op=dpkt.dns.DNS_RD,
                              qd=[dpkt.dns.DNS.Q(name=name, type=kind, cls=dpkt.dns.DNS_IN)]))


def dns_answer(*records, name='example.com', kind=dpkt.dns.DNS_A, rcode=0):
    message = dpkt.dns.DNS(id=0x1234, op=dpkt.dns.DNS_RD | dpkt.dns.DNS_RA,
                           qd=[dpkt.dns.DNS.Q(name=name, type=kind, cls=dpkt.dns.DNS_IN)],
                           an=list(records))
    message.qr, message.rcode = dpkt.dns.DNS_R, rcode
    return bytes(message)


def record(name, kind, **values):
    return dpkt.dns.DNS.RR(name=name, type=kind, cls=dpkt.dns.DNS_IN, ttl=60, **values)


A_ANSWER = dns_answer(record('example.com', dpkt.dns.DNS_CNAME, cname='www.example.com'),
                      record('www.example.com', dpkt.dns.DNS_A,
                             rdata=socket.inet_aton('93.184.216.34')))


def conversation():
    """(timestamp, IP packet) of an HTTP exchange, a DNS query and answer, and noise."""
    syn, ack = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK
    return [
        (T + 0.00, ip4(CLIENT, SERVER, tcp(40000, 80, flags=syn))),
        (T + 0.01, ip4(SERVER, CLIENT, tcp(80, 40000, flags=syn | ack))),
        (T + 0.02, ip4(CLIENT, SERVER, tcp(40000, 80, flags=ack, seq=2))),
        (T + 0.03, ip4(CLIENT, SERVER, tcp(40000, 80, GET, seq=2))),
        (T + 0.04, ip4(CLIENT, OTHER, tcp(40001, 80, b'GET /elsewhere HTTP/1.1\r\n\r\n'))),
        (T + 0.05, ip4(CLIENT, SERVER, tcp(40002, 8080, b'GET /other-port HTTP/1.1\r\n\r\n'))),
        (T + 0.06, ip4(SERVER, CLIENT, tcp(80, 40000, REPLY))),
        (T + 0.07, ip4(CLIENT, SERVER, tcp(40000, 80, flags=ack, seq=50))),
        (T + 1.00, ip4(CLIENT, RESOLVER, udp(50000, 53, dns_query()))),
        (T + 1.25, ip4(RESOLVER, CLIENT, udp(53, 50000, A_ANSWER))),
    ]


HTTP_HITS = [(1600000000030000, '->', GET), (1600000000060000, '<-', REPLY)]
DNS_HITS = [(1600000001000000, '->', dns_query()), (1600000001250000, '<-', A_ANSWER)]


def write_pcap(path, frames, linktype=dpkt.pcap.DLT_EN10MB, writer=dpkt.pcap.Writer, **options):
    with open(path, 'wb') as stream:
        output = writer(stream, snaplen=65535, linktype=linktype, **options)
        for timestamp, frame in frames:
            output.writepkt(frame, ts=timestamp)
    return path


@pytest.fixture
def ether_pcap(tmp_path):
    frames = [(timestamp, ether(packet)) for timestamp, packet in conversation()]
    return write_pcap(tmp_path / 'conversation.pcap', frames)


def record_ends(path):
    """Byte offsets where each record of a pcap file ends."""
    data, ends, offset = path.read_bytes(), [], 24
    while offset < len(data):
        offset += 16 + struct.unpack('<I', data[offset + 8:offset + 12])[0]
        ends.append(offset)
    return ends


# ---- decode_udata -----------------------------------------------------------

def test_base64_fields_as_ra_prints_them():
    # N is the length of the base64 text, not of the payload.
    assert decode_udata('s[32]=NG8BAAABAAAAAAAABWxvY2FsAAAGAAE=') == LOCAL_SOA
    assert decode_udata('d[24]=R0VUIC8gSFRUUC8xLjANCg0K') == b'GET / HTTP/1.0\r\n\r\n'
    assert decode_udata(' s[8]=cXVlcnk= ') == b'query'
    assert decode_udata('s[4]=AAAA') == b'\0\0\0'


def test_empty_fields_are_no_payload():
    assert decode_udata('') == b''
    assert decode_udata('  ') == b''


def test_encode32_fields_are_hex():
    # ra's Encode32 prints hex; N is the digit count rounded up to a multiple of 4.
    assert decode_udata('s[48]=346F01000001000000000000056C6F63616C0000060001') == LOCAL_SOA
    assert decode_udata('s[8]=0AFF0A') == b'\x0a\xff\x0a'
    # N = length and upper-case hex digits: either; base64 is stf's setting.
    assert decode_udata('s[4]=0AFF') == b'\xd0\x01E'
    assert decode_udata('s[4]=AAAA', 'hex') == b'\xaa\xaa'
    assert decode_udata('s[4]=AAAA', 'base64') == b'\0\0\0'


@pytest.mark.parametrize('text, words', [
    ('s[23]=4o...........local.....', ("'s[23]=4o...........local.....'", 'Encode64', 'Ascii')),
    ('s[640]=U1NILTIuMC1P', ('cut short (12 of 640 characters)', 'datasets -g')),
    ('StartTime', ("'StartTime' is not argus user data", 'RA_USERDATA_ENCODE=Encode64')),
    ('s[6]=AB\x1bCD!', ('\\x1b', 'Encode64')),
])
def test_fields_that_are_not_encode64_or_encode32(text, words):
    message = user_error(decode_udata, text)
    assert all(word in message for word in words), message
    assert safe(message)


def test_the_encoding_is_told_by_the_first_field_that_can_only_be_one():
    assert udata_encoding(['', 's[4]=AAAA', 's[8]=YWJjZA==']) == 'base64'
    hex_query = 's[48]=346F01000001000000000000056C6F63616C0000060001'
    assert udata_encoding(['s[4]=AAAA', hex_query]) == 'hex'
    assert udata_encoding(['s[8]=0AFF0A']) == 'hex'
    assert udata_encoding(['', 's[4]=AAAA', 'nonsense']) is None


# ---- flow_payloads on hand-written files ------------------------------------

def flow_file(path, *udata, separator=','):
    lines = [HEADER] + [FLOW.format(number, number) + f'{src},{dst}'
                        for number, (src, dst) in enumerate(udata)]
    path.write_text(''.join(line.replace(',', separator) + '\n' for line in lines))
    return path


def offsets(path):
    return [flow[1] for flow in flowreading.iter_flows(path)]


def test_flow_payloads_of_every_flow(tmp_path):
    path = flow_file(tmp_path / 'small.binetflow',
                     ('s[24]=R0VUIC8gSFRUUC8xLjANCg0K', 'd[32]=SFRUUC8xLjAgMjAwIE9LDQoNCmhlbGxv'),
                     ('', ''), ('s[4]=AAAA', ''))
    assert flow_payloads(path, flowfile.sniff_format(path), offsets(path)) == [
        (b'GET / HTTP/1.0\r\n\r\n', b'HTTP/1.0 200 OK\r\n\r\nhello'), (b'', b''),
        (b'\0\0\0', b'')]


def test_flow_payloads_of_a_tab_separated_file_with_spaces(tmp_path):
    path = flow_file(tmp_path / 'tabs.binetflow', (' s[8]=cXVlcnk=  ', 'd[12]=YW5zd2VyIQ== '),
                     separator='\t')
    assert flow_payloads(path, flowfile.sniff_format(path), offsets(path)) == [
        (b'query', b'answer!')]


@pytest.mark.parametrize('first, expected', [
    ('s[8]=YWJjZA==', b'\0\0\0'),                                        # Encode64
    ('s[48]=346F01000001000000000000056C6F63616C0000060001', b'\xaa\xaa'),  # Encode32
])
def test_a_field_that_could_be_either_takes_the_encoding_of_the_file(tmp_path, first, expected):
    path = flow_file(tmp_path / 'mixed.binetflow', (first, ''), ('', ''), ('s[4]=AAAA', ''))
    last = offsets(path)[-1:]
    assert flow_payloads(path, flowfile.sniff_format(path), last) == [(expected, b'')]


def test_no_flows_asked_no_payloads(tmp_path):
    path = flow_file(tmp_path / 'small.binetflow', ('', ''))
    assert flow_payloads(path, flowfile.sniff_format(path), []) == []


def test_a_file_without_payload_columns(tmp_path):
    path = tmp_path / 'plain.binetflow'
    path.write_text(HEADER.rsplit(',', 2)[0] + '\n' + FLOW.format(0, 0).rstrip(',') + '\n')
    fmt = flowfile.sniff_format(path)
    message = user_error(flow_payloads, path, fmt, offsets(path))
    assert message.startswith(f'{path} has no payload columns')
    assert all(words in message for words in NO_COLUMNS), message


@pytest.mark.parametrize('name', ['binetflow/test2-malicious.binetflow',
                                  'binetflow/headerless-test7.binetflow',
                                  'zeek/njrat-labeled.conn.log'])
def test_the_shared_files_without_payload_columns(name):
    path = shared(name)
    message = user_error(flow_payloads, path, flowfile.sniff_format(path), [0])
    assert all(words in message for words in NO_COLUMNS), message


def test_an_offset_that_is_no_longer_a_flow_line(tmp_path):
    path = flow_file(tmp_path / 'small.binetflow', ('s[8]=cXVlcnk=', ''))
    inside = offsets(path)[0] + 30      # past the first separator: a field short
    message = user_error(flow_payloads, path, flowfile.sniff_format(path), [inside])
    assert message == (f'{path}: the line at byte {inside} is not a flow with '
                       'payload columns; was the file changed after it was loaded? load it again')


def test_an_undecodable_field_names_the_file_and_line(tmp_path):
    path = flow_file(tmp_path / 'ascii.binetflow', ('s[5]=GET .', ''))
    offset = offsets(path)[0]
    message = user_error(flow_payloads, path, flowfile.sniff_format(path), [offset])
    assert message.startswith(f"{path}, line at byte {offset}: "
                              "cannot read the user data 's[5]=GET .'")


# ---- hexdump and as_text ----------------------------------------------------

def test_hexdump_exact():
    assert hexdump(b'GET / HTTP/1.1\r\n\x00\xff') == [
        '00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|',
        '00000010  00 ff                                             |..|']
    assert hexdump(b'abcdefghij', width=8) == [
        '00000000  61 62 63 64 65 66 67 68  |abcdefgh|',
        '00000008  69 6a                    |ij|']
    assert hexdump(b'') == []


@pytest.mark.skipif(not shutil.which('hexdump'), reason='hexdump is not installed')
def test_hexdump_is_what_hexdump_c_prints():
    data = bytes(range(256)) + b'tail'
    printed = subprocess.run(['hexdump', '-C'], input=data, capture_output=True,
                             check=True).stdout.decode().splitlines()
    # hexdump -C ends with the total length and shows repeated lines as '*'.
    assert hexdump(data) == printed[:-1]


def test_all_byte_values_are_shown_safely():
    every = bytes(range(256))
    assert all(safe(line) for line in hexdump(every))
    assert safe(as_text(every, min_ratio=0), newlines=True)
    for value in range(256):
        assert safe(as_text(bytes([value, 0x0d, value, 0x0a]), min_ratio=0), newlines=True)
        assert safe(payload_lines(bytes([value]) * 3, 'tcp', 80)[0])
    assert as_text(every) is None


def test_as_text_of_text_protocols():
    assert as_text(GET) == 'GET /index.html HTTP/1.1\nHost: example.com\n\n'
    assert as_text(b'USER anonymous\r\nPASS guest\r\n') == 'USER anonymous\nPASS guest\n'
    assert as_text(b'PRIVMSG #chan :hi\tthere\n') == 'PRIVMSG #chan :hi       there\n'


def test_as_text_escapes_controls_and_non_ascii():
    assert (as_text(b'a\x07b\r\nc\rd\te\x80\x1b[31m', min_ratio=0)
            == 'a\\x07b\nc\\x0dd  e\\x80\\x1b[31m')


def test_as_text_says_none_for_binary_and_empty():
    assert as_text(b'') is None
    assert as_text(LOCAL_SOA) is None
    assert as_text(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03') is None


# ---- DNS and the decoders of services ---------------------------------------

def test_dns_query_and_answer():
    assert dns_summary(dns_query()) == 'DNS query 0x1234: example.com A'
    assert dns_summary(A_ANSWER) == ('DNS response 0x1234 NOERROR: example.com A; answers: '
                                     'example.com CNAME www.example.com, '
                                     'www.example.com A 93.184.216.34')


def test_dns_record_types():
    answer = dns_answer(
        record('example.com', dpkt.dns.DNS_AAAA,
               rdata=socket.inet_pton(socket.AF_INET6, '2001:db8::80')),
        record('example.com', dpkt.dns.DNS_MX, preference=10, mxname='mail.example.com'),
        record('example.com', dpkt.dns.DNS_TXT, text=[b'v=spf1 -all']),
        record('example.com', 99, rdata=b'\x01\x02\x03'),
        kind=dpkt.dns.DNS_ANY)
    assert dns_summary(answer) == (
        'DNS response 0x1234 NOERROR: example.com ANY; answers: example.com AAAA 2001:db8::80, '
        'example.com MX 10 mail.example.com, example.com TXT v=spf1 -all, '
        'example.com TYPE99 3 bytes')
    nxdomain = dns_answer(name='nothing.example', rcode=dpkt.dns.DNS_RCODE_NXDOMAIN)
    assert dns_summary(nxdomain) == 'DNS response 0x1234 NXDOMAIN: nothing.example A; no answers'


def test_dns_records_dpkt_does_not_know_and_answers_without_question():
    https = dns_answer(record('example.com', 65, rdata=b'\x00\x01\x00'), kind=65)
    assert dns_summary(https) == ('DNS response 0x1234 NOERROR: example.com HTTPS; answers: '
                                  'example.com HTTPS 3 bytes')
    mdns = dpkt.dns.DNS(id=0, an=[record('printer.local', dpkt.dns.DNS_A,
                                         rdata=socket.inet_aton('192.168.2.7'))])
    mdns.qr = dpkt.dns.DNS_R
    assert dns_summary(bytes(mdns)) == ('DNS response 0x0000 NOERROR: no question; answers: '
                                        'printer.local A 192.168.2.7')


def test_dns_over_tcp_has_a_length_first():
    query = dns_query()
    assert dns_summary(len(query).to_bytes(2, 'big') + query, udp=False) == (
        'DNS query 0x1234: example.com A')


def test_a_dns_message_cut_short_still_shows_its_question():
    assert dns_summary(A_ANSWER[:-3]) == ('DNS response 0x1234 NOERROR: example.com A; '
                                          'answers: cut short or unreadable')


def test_what_is_not_dns():
    assert dns_summary(b'') is None
    assert dns_summary(GET) is None
    assert dns_summary(A_ANSWER[:14]) is None
    assert dns_summary(bytes(12)) is None      # a header that asks and answers nothing


def test_dns_names_are_shown_safely():
    summary = dns_summary(dns_query('ev\x1b[2Jil.\u00e9x.com'))
    assert summary == 'DNS query 0x1234: ev\\x1b[2Jil.\\xc3\\xa9x.com A'


def test_decoders_by_service():
    assert service_summary(dns_query(), 'udp', '53') == 'DNS query 0x1234: example.com A'
    assert service_summary(dns_query(), 'UDP', 5353) == 'DNS query 0x1234: example.com A'
    assert service_summary(dns_query(), 'udp', '9999') is None
    assert service_summary(dns_query(), 'icmp', '0x0008') is None
    assert service_summary(b'', 'udp', 53) is None


def test_payload_lines():
    query = dns_query()
    summary = 'DNS query 0x1234: example.com A'
    assert payload_lines(query, 'udp', '53') == [summary] + hexdump(query)
    assert payload_lines(GET, 'tcp', '80') == [
        'HTTP request: GET /index.html HTTP/1.1, Host: example.com',
        'GET /index.html HTTP/1.1', 'Host: example.com', '']
    # A text head with a binary body reads as text, on any port.
    gzip_reply = (b'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n'
                  b'\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03')
    assert payload_lines(gzip_reply, 'tcp', 80)[:2] == ['HTTP response: HTTP/1.1 200 OK',
                                                         'HTTP/1.1 200 OK']
    assert payload_lines(gzip_reply, 'tcp', 80)[4] == (
        '\\x1f\\x8b\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x03')
    assert payload_lines(gzip_reply, 'tcp', 4444) == payload_lines(gzip_reply, 'tcp', 80)
    assert payload_lines(b'', 'tcp', 80) == []


# ---- pcap_payloads on captures written here ---------------------------------

def test_http_and_dns_from_an_ethernet_pcap(ether_pcap):
    assert pcap_payloads(ether_pcap, CLIENT, SERVER, 80, 'tcp') == HTTP_HITS
    assert pcap_payloads(ether_pcap, CLIENT, RESOLVER, '53', 'udp') == DNS_HITS
    assert pcap_payloads(ether_pcap, CLIENT, SERVER, 80, 'udp') == []
    assert pcap_payloads(ether_pcap, SERVER, CLIENT, 80, 'tcp') == []


def test_the_limit(ether_pcap):
    assert pcap_payloads(ether_pcap, CLIENT, SERVER, 80, 'tcp', limit=1) == HTTP_HITS[:1]
    assert pcap_payloads(ether_pcap, CLIENT, SERVER, 80, 'tcp', limit=0) == []


def test_the_scan_stops_at_the_limit(ether_pcap, monkeypatch):
    read = []
    records = payload._records

    def counted(reader):
        for item in records(reader):
            read.append(item)
            yield item

    monkeypatch.setattr(payload, '_records', counted)
    assert pcap_payloads(ether_pcap, CLIENT, SERVER, 80, 'tcp', limit=1) == HTTP_HITS[:1]
    assert len(read) == 4      # SYN, SYN-ACK, ACK, the request


def test_pcapng(tmp_path):
    frames = [(timestamp, ether(packet)) for timestamp, packet in conversation()]
    path = write_pcap(tmp_path / 'conversation.pcapng', frames, writer=dpkt.pcapng.Writer)
    assert path.read_bytes()[:4] == b'\x0a\x0d\x0d\x0a'
    assert pcap_payloads(path, CLIENT, SERVER, 80, 'tcp') == HTTP_HITS
    # A block cut by the end of the file ends the scan.
    cut = tmp_path / 'cut.pcapng'
    cut.write_bytes(path.read_bytes()[:-20])
    assert pcap_payloads(cut, CLIENT, RESOLVER, 53, 'udp') == DNS_HITS[:1]


def test_linux_cooked_and_nanosecond_pcap(tmp_path):
    frames = [(timestamp, sll(packet)) for timestamp, packet in conversation()]
    path = write_pcap(tmp_path / 'sll.pcap', frames, linktype=dpkt.pcap.DLT_LINUX_SLL,
                      nano=True)
    assert pcap_payloads(path, CLIENT, SERVER, 80, 'tcp') == HTTP_HITS
    assert pcap_payloads(path, CLIENT, RESOLVER, 53, 'udp') == DNS_HITS


def test_ipv6_over_ethernet_and_raw_ip(tmp_path):
    packets = [(T + 2.0, ip6(V6_CLIENT, V6_SERVER, tcp(40000, 443, b'hello6'))),
               (T + 2.5, ip6(V6_SERVER, V6_CLIENT, tcp(443, 40000, b'world6'))),
               (T + 3.0, ip4(CLIENT, SERVER, tcp(40000, 80, GET)))]
    expected = [(1600000002000000, '->', b'hello6'), (1600000002500000, '<-', b'world6')]
    ethernet = write_pcap(tmp_path / 'v6.pcap', [(t, ether(p)) for t, p in packets])
    raw = write_pcap(tmp_path / 'raw.pcap', [(t, bytes(p)) for t, p in packets],
                     linktype=dpkt.pcap.DLT_RAW)
    for path in (ethernet, raw):
        assert pcap_payloads(path, V6_CLIENT, V6_SERVER, 443, 'tcp') == expected
        assert pcap_payloads(path, '2001:db8:0::1', V6_SERVER, 443, 'tcp') == expected
    assert pcap_payloads(raw, CLIENT, SERVER, 80, 'tcp') == [(1600000003000000, '->', GET)]


def test_packets_that_do_not_parse_are_skipped(tmp_path):
    # An Ethernet frame that names both addresses but is cut inside its IP header.
    broken = ether(ip4(CLIENT, SERVER, tcp(40000, 80, GET)))[:30]
    whole = ether(ip4(CLIENT, SERVER, tcp(40000, 80, GET)))
    frames = [(T, broken), (T + 0.5, b''), (T + 1, whole)]
    path = write_pcap(tmp_path / 'broken.pcap', frames)
    assert pcap_payloads(path, CLIENT, SERVER, 80, 'tcp') == [(1600000001000000, '->', GET)]


def test_a_capture_cut_short_ends_the_scan(ether_pcap, tmp_path):
    data, ends = ether_pcap.read_bytes(), record_ends(ether_pcap)
    inside_header = tmp_path / 'header.pcap'
    inside_header.write_bytes(data[:ends[3] + 7])        # after the request
    assert pcap_payloads(inside_header, CLIENT, SERVER, 80, 'tcp') == HTTP_HITS[:1]
    inside_frame = tmp_path / 'frame.pcap'
    inside_frame.write_bytes(data[:ends[9] - 3])        # inside the DNS answer
    assert pcap_payloads(inside_frame, CLIENT, SERVER, 80, 'tcp') == HTTP_HITS
    assert pcap_payloads(inside_frame, CLIENT, RESOLVER, 53, 'udp')[:1] == DNS_HITS[:1]


def test_a_corrupt_record_length_reads_no_gigabytes(ether_pcap, tmp_path):
    data = bytearray(ether_pcap.read_bytes())
    data[24 + 8:24 + 12] = struct.pack('<I', 0xfffffff0)      # first record's caplen
    path = tmp_path / 'corrupt.pcap'
    path.write_bytes(bytes(data))
    assert pcap_payloads(path, CLIENT, SERVER, 80, 'tcp') == []


def test_unsupported_link_type(tmp_path):
    path = write_pcap(tmp_path / 'wifi.pcap', [(T, b'\0' * 40)],
                      linktype=dpkt.pcap.DLT_IEEE802_11)
    message = user_error(pcap_payloads, path, CLIENT, SERVER, 80, 'tcp')
    # The names are those datasets -F shows (one table of link types).
    assert message.startswith(f'{path} has link type 105 (IEEE802_11 (802.11 wireless)); stf '
                              'reads packets of EN10MB (Ethernet), LINUX_SLL (Linux cooked), ')
    assert "'connections -P CONN_ID' without --pcap" in message


@pytest.mark.parametrize('args, words', [
    (('10.0.0.1', '10.0.0.2', 80, 'icmp'), "not 'icmp'"),
    (('10.0.0.1', 'server', 80, 'tcp'), "'server' is not an IP address"),
    (('10.0.0.1', '10.0.0.2', '0x50', 'tcp'), "'0x50' is not a port number"),
    (('10.0.0.1', '10.0.0.2', 70000, 'tcp'), '70000 is not a port number'),
])
def test_bad_connections(ether_pcap, args, words):
    assert words in user_error(pcap_payloads, ether_pcap, *args)


def test_files_that_are_no_captures(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('not a capture at all, just some words\n')
    assert user_error(pcap_payloads, text, CLIENT, SERVER, 80, 'tcp') == (
        f'{text} is not a pcap or pcapng capture; choose the capture the flows were made from')
    empty = tmp_path / 'empty.pcap'
    empty.write_bytes(b'')
    assert 'is not a pcap or pcapng capture' in user_error(
        pcap_payloads, empty, CLIENT, SERVER, 80, 'tcp')
    missing = tmp_path / 'missing.pcap'
    assert user_error(pcap_payloads, missing, CLIENT, SERVER, 80, 'tcp') == (
        f'cannot read {missing}: No such file or directory; check the path')


# ---- argus and ra: the binetflow and the pcap agree -------------------------

@needs_tools
def test_http_through_argus(ether_pcap, tmp_path):
    biargus = argus.generate_biargus(ether_pcap, tmp_path / 'c.biargus', ARGUS_CONF)
    flows_path = argus.generate_binetflow(biargus, tmp_path / 'c.binetflow', RA_CONF)
    fmt = flowfile.sniff_format(flows_path)
    (offset,) = [flow[1] for flow in flowreading.iter_flows(flows_path, fmt)
                 if (flow[6], flow[8], flow[9]) == (CLIENT, SERVER, '80')]
    (pair,) = flow_payloads(flows_path, fmt, [offset])
    assert pair == (GET, REPLY)
    assert as_text(pair[0]).startswith('GET /index.html HTTP/1.1\n')
    assert pcap_payloads(ether_pcap, CLIENT, SERVER, 80, 'tcp') == HTTP_HITS


def ra_conf(folder, encoding):
    path = folder / f'ra-{encoding}.conf'
    path.write_text(RA_CONF.read_text().replace('RA_USERDATA_ENCODE=Encode64',
                                                f'RA_USERDATA_ENCODE={encoding}'))
    return path


@pytest.fixture(scope='module')
def test7(tmp_path_factory):
    """{encoding: test7-malicious.pcap's binetflow printed with it}."""
    if not (argus.find_tool('argus') and argus.find_tool('ra')):
        pytest.skip('argus and ra are not installed (make setup installs them)')
    pcap = shared('pcap/test7-malicious.pcap')
    folder = tmp_path_factory.mktemp('test7')
    biargus = argus.generate_biargus(pcap, folder / 'test7.biargus', ARGUS_CONF)
    return {encoding: argus.generate_binetflow(biargus, folder / f'{encoding}.binetflow',
                                               ra_conf(folder, encoding))
            for encoding in ('Encode64', 'Encode32', 'Ascii')}


def flow_offsets(path):
    return [flow[1] for flow in flowreading.iter_flows(path)]


def flow_at(path, sport, dport):
    """The byte offset of the one flow from sport to dport."""
    (offset,) = [flow[1] for flow in flowreading.iter_flows(path)
                 if (flow[7], flow[9]) == (sport, dport)]
    return offset


def test_test7_ssh_and_dns(test7):
    path = test7['Encode64']
    fmt = flowfile.sniff_format(path)
    ssh, dns = flow_at(path, '51371', '22'), flow_at(path, '33649', '53')
    (src, dst), (query, answer) = flow_payloads(path, fmt, [ssh, dns])
    assert (len(src), len(dst)) == (480, 480)       # ARGUS_CAPTURE_DATA_LEN
    assert src.startswith(b'SSH-2.0-OpenSSH_7.4\r\n\0\0\x05\x94')
    assert dst.startswith(b'SSH-2.0-OpenSSH_6.7p1 Raspbian-5\r\n')
    assert as_text(src).startswith('SSH-2.0-OpenSSH_7.4\n\\x00\\x00\\x05\\x94\\x0b')
    assert query == LOCAL_SOA
    assert dns_summary(query) == 'DNS query 0x346f: local SOA'
    assert dns_summary(answer) == 'DNS response 0x346f NXDOMAIN: local SOA; no answers'


def test_test7_every_field_decodes(test7):
    path = test7['Encode64']
    with open(path, newline='') as stream:
        rows = [row for row in csv.reader(stream) if row[2] != 'man'][1:]
    pairs = flow_payloads(path, flowfile.sniff_format(path), flow_offsets(path))
    assert len(pairs) == len(rows) == 338
    for (src, dst), row in zip(pairs, rows):
        assert (src, dst) == tuple(base64.b64decode(text.partition('=')[2]) for text in row[-2:])
    assert sum(bool(src) for src, _ in pairs) == 199


def test_test7_encode32_gives_the_same_bytes(test7):
    flows64, flows32 = (flow_offsets(test7[name]) for name in ('Encode64', 'Encode32'))
    assert (flow_payloads(test7['Encode32'], flowfile.sniff_format(test7['Encode32']), flows32)
            == flow_payloads(test7['Encode64'], flowfile.sniff_format(test7['Encode64']), flows64))


def test_test7_ascii_is_refused(test7):
    path = test7['Ascii']
    message = user_error(flow_payloads, path, flowfile.sniff_format(path),
                         [flow_at(path, '33649', '53')])
    assert "cannot read the user data 's[23]=4o...........local.....'" in message
    assert 'RA_USERDATA_ENCODE=Encode64' in message


def test_test7_pcap_matches_the_binetflow(test7):
    pcap, path = shared('pcap/test7-malicious.pcap'), test7['Encode64']
    ssh = flow_at(path, '51371', '22')
    dns = flow_at(path, '33649', '53')
    (src, dst), (query, answer) = flow_payloads(path, flowfile.sniff_format(path), [ssh, dns])
    hits = pcap_payloads(pcap, '192.168.2.1', '192.168.2.16', 22, 'tcp', limit=4)
    assert hits[:2] == [(1520628795490027, '->', b'SSH-2.0-OpenSSH_7.4\r\n'),
                        (1520628795591828, '<-', b'SSH-2.0-OpenSSH_6.7p1 Raspbian-5\r\n')]
    # argus keeps the first 480 bytes of each direction, across packets.
    for direction, udata in (('->', src), ('<-', dst)):
        assert b''.join(data for _, way, data in hits if way == direction)[:480] == udata
    assert pcap_payloads(pcap, '192.168.2.16', '8.8.8.8', '53', 'udp', limit=2) == [
        (1520628588154291, '->', query), (1520628588556810, '<-', answer)]


# ---- text or hex by content -------------------------------------------------

SSH_BANNER = b'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'


def kexinit():
    """An SSH binary packet: length, padding length, SSH_MSG_KEXINIT (20), a
    cookie, then name lists that are mostly ASCII."""
    ciphers = (b'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,'
               b'aes128-gcm@openssh.com,aes256-gcm@openssh.com')
    macs = (b'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,'
            b'hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,'
            b'umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1')
    lists = [b'sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.'
             b'org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-'
             b'group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-'
             b'sha512,diffie-hellman-group14-sha256,ext-info-c',
             b'ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,'
             b'rsa-sha2-512-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512',
             ciphers, ciphers, macs, macs, b'none,zlib@openssh.com', b'none,zlib@openssh.com',
             b'', b'']
    body = bytes([20]) + bytes(range(16)) + b''.join(
        struct.pack('>I', len(names)) + names for names in lists) + b'\0' + bytes(4)
    padding = 8 - (len(body) + 5) % 8 + 4
    return struct.pack('>IB', len(body) + padding + 1, padding) + body + bytes(padding)


def ssh_dataset(app, tmp_path, frames):
    """A dataset of a capture of one SSH connection (frames) and its flow file."""
    capture = write_pcap(tmp_path / 'ssh.pcap', frames)
    flows = tmp_path / 'ssh.binetflow'
    flows.write_text(f"{HEADER}\n{FLOW.format(0, 0).replace(',80,', ',22,')},\n")
    ok(app, f'datasets -c {capture}')
    ok(app, f'datasets -a {flows}')
    ok(app, 'connections -g')


def test_an_ssh_banner_is_text_and_its_kexinit_hex(app, tmp_path):
    assert as_text(kexinit()) is not None   # mostly text bytes: a share alone says text
    frames = [(T, ether(ip4(CLIENT, SERVER, tcp(40022, 22, SSH_BANNER)))),
              (T + 0.1, ether(ip4(CLIENT, SERVER, tcp(40022, 22, kexinit(), seq=33))))]
    ssh_dataset(app, tmp_path, frames)
    (text,) = ok(app, f'connections -P {CLIENT}-{SERVER}-22-tcp --pcap')
    lines = text.text.splitlines()
    assert lines[1:4] == ['DNS names of 10.0.0.2: none, no DNS answers in the flow file '
                          'ssh.binetflow', '2020-09-13 12:26:40.000000 UTC  -> 32 bytes',
                          '      SSH-2.0-OpenSSH_9.2p1 Debian-2']
    assert lines[4] == f'2020-09-13 12:26:40.100000 UTC  -> {len(kexinit())} bytes'
    assert lines[5:] == ['      ' + line for line in hexdump(kexinit())]


def test_payloads_as_json_and_csv_carry_the_bytes_in_base64(app, tmp_path):
    frames = [(T, ether(ip4(CLIENT, SERVER, tcp(40022, 22, SSH_BANNER)))),
              (T + 0.1, ether(ip4(CLIENT, SERVER, tcp(40022, 22, b'\xd7m\xf8', seq=33)))),
              (T + 0.2, ether(ip4(CLIENT, SERVER, tcp(40022, 22, b'\xf8\0\0', seq=36))))]
    ssh_dataset(app, tmp_path, frames)
    (text,) = ok(app, f'connections -P {CLIENT}-{SERVER}-22-tcp --pcap --json')
    first, second, third = json.loads(text.text)
    assert first == {'packet': 0, 'time': '2020-09-13T12:26:40.000000Z', 'direction': 'out',
                     'bytes': 32, 'base64': base64.b64encode(SSH_BANNER).decode(),
                     'text': 'SSH-2.0-OpenSSH_9.2p1 Debian-2'}
    assert second['base64'] == '1234'      # text, though it looks like a number
    assert second['text'] == '\n'.join(hexdump(b'\xd7m\xf8'))
    assert third['base64'] == '+AAA'
    (text,) = ok(app, f'connections -P {CLIENT}-{SERVER}-22-tcp --pcap --csv')
    rows = list(csv.reader(io.StringIO(text.text)))
    assert rows[0] == ['packet', 'time', 'direction', 'bytes', 'base64', 'text']
    assert rows[1][:5] == ['0', '2020-09-13T12:26:40.000000Z', 'out', '32',
                           base64.b64encode(SSH_BANNER).decode()]
    assert rows[2][4] == '1234'
    assert rows[3][4] == "'+AAA"         # as every CSV stf writes: no formula for a spreadsheet
