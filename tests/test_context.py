"""A connection's context: TLS hellos and their fingerprints (JA3, JA3S, JA4), HTTP
heads, hexdump's '*' lines, and the names DNS answers gave an address (connections -F
and -P). The hellos are written here byte by byte; their JA3 and JA4 are worked out
here from the published definitions, not by stf's code."""
import base64
import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess

import dpkt
import pytest

from tests.conftest import ok
from tests.test_payload import ether, ip4, tcp, write_pcap

from stf.commands import context
from stf.core.captures import argus, dnsnames, tls
from stf.core.captures.payload import hexdump, http_lines, payload_lines, tls_lines

# ---- a ClientHello written by hand ------------------------------------------
# The example of FoxIO's JA4 specification (technical_details/JA4.md): 15 ciphers,
# 16 extensions, 8 signature algorithms, ALPN h2; GREASE values added in front of the
# ciphers, extensions, groups and versions, which every fingerprint leaves out.
GREASE = 0x3a3a
CIPHERS = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
           0xc014, 0x009c, 0x009d, 0x002f, 0x0035]
EXTENSION_ORDER = [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
                   0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015]
SIGNATURE_ALGORITHMS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
GROUPS = [0x001d, 0x0017, 0x0018]


def u16(*values):
    return b''.join(struct.pack('>H', value) for value in values)


def vector8(data):
    return bytes([len(data)]) + data


def vector16(data):
    return u16(len(data)) + data


def extension(kind, data=b''):
    return u16(kind) + vector16(data)


def record(handshake_type, body, record_version=0x0301):
    message = bytes([handshake_type]) + len(body).to_bytes(3, 'big') + body
    return b'\x16' + u16(record_version) + vector16(message)


def client_hello(key_share=b'', sni=b'example.com', alpn=(b'h2', b'http/1.1')):
    data = {0x0000: vector16(b'\x00' + vector16(sni)),
            0x0010: vector16(b''.join(vector8(name) for name in alpn)),
            0x0033: vector16(u16(0x001d) + vector16(key_share)),
            0x000d: vector16(u16(*SIGNATURE_ALGORITHMS)),
            0x002b: vector8(u16(GREASE, 0x0304, 0x0303)),
            0x000a: vector16(u16(GREASE, *GROUPS)),
            0x000b: vector8(b'\x00')}
    extensions = extension(GREASE) + b''.join(extension(kind, data.get(kind, b''))
                                              for kind in EXTENSION_ORDER)
    body = (u16(0x0303) + bytes(range(32)) + vector8(bytes(32)) + vector16(u16(GREASE, *CIPHERS))
            + vector8(b'\x00') + vector16(extensions))
    return record(1, body)


HELLO = client_hello()
# JA3: version,ciphers,extensions,groups,point formats; decimal, GREASE left out.
JA3_TEXT = ('771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,'
            '27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0')
# JA4_r: the sorted ciphers; the sorted extensions without SNI and ALPN, then the
# signature algorithms in their order.
JA4_CIPHERS = '002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9'
JA4_EXTENSIONS = ('0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_'
                  '0403,0804,0401,0503,0805,0501,0806,0601')


def sha12(text):
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def test_the_ja3_and_ja4_of_a_client_hello():
    hello = tls.parse_hello(HELLO)
    assert (hello.kind, hello.truncated, hello.malformed) == ('ClientHello', False, False)
    assert tls.ja3_text(hello) == JA3_TEXT
    assert tls.ja3(hello) == hashlib.md5(JA3_TEXT.encode()).hexdigest()
    # The hashes of the specification's example, worked out again here.
    assert (sha12(JA4_CIPHERS), sha12(JA4_EXTENSIONS)) == ('8daaf6152771', 'e5627efa2ab1')
    assert tls.ja4(hello) == 't13d1516h2_8daaf6152771_e5627efa2ab1'


def test_a_client_hello_summarised():
    assert tls_lines(HELLO) == [
        'TLS ClientHello: TLS 1.3, SNI example.com, ALPN h2,http/1.1',
        'cipher suites (16): 3a3a 1301 1302 1303 c02b c02f c02c c030 cca9 cca8 c013 c014 009c '
        '009d 002f 0035',
        f'JA3 {hashlib.md5(JA3_TEXT.encode()).hexdigest()} {JA3_TEXT}',
        'JA4 t13d1516h2_8daaf6152771_e5627efa2ab1']
    assert payload_lines(HELLO, 'tcp', 8443)[:4] == tls_lines(HELLO)   # by content, any port
    assert payload_lines(HELLO, 'tcp', 8443)[4] == hexdump(HELLO)[0]


def test_ja4_of_other_hellos():
    # No SNI, ALPN http/1.1 (its first and last characters), no supported_versions.
    bare = tls.parse_hello(client_hello(sni=b'', alpn=(b'http/1.1',)))
    assert tls.ja4(bare).startswith('t13d1516h1_')
    assert tls.ja4_alpn([b'\xab']) == 'ab'
    assert tls.ja4_alpn([b'\x30\xab\xcd\x31']) == '01'
    assert tls.ja4_alpn([b'0\xab']) == '3b'
    assert tls.ja4_alpn([b'x']) == 'xx'
    assert tls.ja4_alpn([b'']) == tls.ja4_alpn([]) == '00'
    # TLS 1.0 with two ciphers and no extensions at all.
    old = tls.parse_hello(record(1, u16(0x0301) + bytes(32) + vector8(b'')
                                 + vector16(u16(0x002f, 0x0035)) + vector8(b'\x00')))
    assert tls.ja4(old) == f"t10i020000_{sha12('002f,0035')}_000000000000"
    assert tls.ja3_text(old) == '769,47-53,,,'


def test_a_server_hello():
    body = (u16(0x0303) + bytes(32) + vector8(bytes(32)) + u16(0x1301) + b'\x00'
            + vector16(extension(0x002b, u16(0x0304)) + extension(0x0033, bytes(36))
                       + extension(0x0010, vector16(vector8(b'h2')))))
    hello = tls.parse_hello(record(2, body, record_version=0x0303))
    assert (hello.kind, hello.cipher, hello.best_version, hello.alpn) == (
        'ServerHello', 0x1301, 0x0304, [b'h2'])
    assert tls.ja3_text(hello) == '771,4865,43-51-16'
    assert tls_lines(record(2, body)) == [
        'TLS ServerHello: TLS 1.3, cipher suite 1301, ALPN h2',
        f"JA3S {hashlib.md5(b'771,4865,43-51-16').hexdigest()} 771,4865,43-51-16"]
    assert tls.ja4(hello) is None
    retry = body.replace(bytes(32), tls.RETRY_RANDOM, 1)
    assert tls_lines(record(2, retry))[0].startswith('TLS HelloRetryRequest: TLS 1.3')


def test_a_hello_cut_short_by_argus():
    """A browser's hello with a post-quantum key share is longer than the 480 bytes
    argus keeps: what is there is shown, the fingerprints are not made."""
    long_hello = client_hello(key_share=bytes(1216))
    cut = long_hello[:480]
    hello = tls.parse_hello(cut)
    assert (hello.truncated, hello.size, hello.held) == (True, len(long_hello) - 9, 471)
    assert hello.sni == b'example.com'
    assert hello.alpn is hello.supported_versions is None   # after the key share: cut off
    assert tls_lines(cut) == [
        f'TLS ClientHello (truncated: 471 of {len(long_hello) - 9:,} bytes): TLS 1.2 '
        '(supported_versions cut off), SNI example.com, ALPN cut off',
        tls_lines(HELLO)[1], 'JA3, JA4: none for a hello cut short or malformed']
    assert tls.ja3(hello) is tls.ja4(hello) is None
    # Cut inside the ciphers: those read whole are kept.
    assert tls_lines(HELLO[:86]) == [
        'TLS ClientHello (truncated: 77 of 246 bytes): TLS 1.2 (supported_versions cut off), '
        'SNI cut off, ALPN cut off', 'cipher suites (4, cut short): 3a3a 1301 1302 1303',
        'JA3, JA4: none for a hello cut short or malformed']


def test_a_hello_in_two_records():
    message = HELLO[5:]
    split = b'\x16\x03\x01' + vector16(message[:100]) + b'\x16\x03\x01' + vector16(message[100:])
    assert tls.ja4(tls.parse_hello(split)) == 't13d1516h2_8daaf6152771_e5627efa2ab1'


def test_what_is_no_hello_and_malformed_bytes_never_raise():
    assert tls.parse_hello(b'') is None
    assert tls.parse_hello(b'GET / HTTP/1.1\r\n\r\n') is None
    assert tls.parse_hello(b'\x17\x03\x03\x00\x20' + bytes(32)) is None    # application data
    assert tls.parse_hello(b'\x16\x03\x03\x00\x04\x0b\x00\x00\x00') is None  # a Certificate
    lying = bytearray(HELLO)
    lying[76:78] = b'\xff\xff'          # the cipher list claims more than the hello holds
    hello = tls.parse_hello(bytes(lying))
    assert (hello.truncated, hello.malformed, tls.ja4(hello)) == (False, True, None)
    assert tls_lines(bytes(lying))[0] == (
        'TLS ClientHello (malformed): TLS 1.2, SNI unreadable, ALPN unreadable')
    # A whole hello whose server_name holds no host name.
    empty_name = HELLO.replace(b'\x00\x0e\x00\x00\x0bexample', b'\x00\x0e\x07\x00\x0bexample')
    assert tls_lines(empty_name)[0] == (
        'TLS ClientHello: TLS 1.3, SNI unreadable, ALPN h2,http/1.1')
    chance = random.Random(480)
    for _ in range(3000):
        mangled = bytearray(HELLO)
        for _ in range(chance.randint(1, 6)):
            mangled[chance.randrange(len(mangled))] = chance.randrange(256)
        assert all(line.isprintable() for line in tls_lines(bytes(mangled[:chance.randrange(300)])))


def test_names_and_alpn_are_shown_safely():
    lines = tls_lines(client_hello(sni=b'ev\x1b[2Jil\xc3\xa9', alpn=(b'h\x07',)))
    assert lines[0] == 'TLS ClientHello: TLS 1.3, SNI ev\\x1b[2Jil\\xc3\\xa9, ALPN h\\x07'


# ---- HTTP -------------------------------------------------------------------

def test_http_request_and_response_lines():
    assert http_lines(b'GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: x\r\nhOST:  example.com \r\n'
                      b'\r\n') == ['HTTP request: GET /index.html?q=1 HTTP/1.1, Host: example.com']
    assert http_lines(b'POST /gate.php HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc') == [
        'HTTP request: POST /gate.php HTTP/1.0, no Host header']
    assert http_lines(b'GET / HTTP/1.1\r\nUser-Agent: a-very-long-agent') == [
        'HTTP request: GET / HTTP/1.1, Host cut off']
    assert http_lines(b'HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\n') == [
        'HTTP response: HTTP/1.1 404 Not Found']
    assert http_lines(b'HTTP/1.0 200\r\n\r\n') == ['HTTP response: HTTP/1.0 200']
    assert http_lines(b'GET /\x1b[2J HTTP/1.1\r\nHost: a\x07b\r\n\r\n') == [
        'HTTP request: GET /\\x1b[2J HTTP/1.1, Host: a\\x07b']
    assert http_lines(b'SSH-2.0-OpenSSH_9.2\r\n') == http_lines(b'get / http/1.1\r\n') == []
    assert payload_lines(b'HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n', 'tcp', 80) == [
        'HTTP response: HTTP/1.1 302 Found', 'HTTP/1.1 302 Found', 'Location: /', '']


# ---- hexdump ----------------------------------------------------------------

def test_hexdump_collapses_repeated_lines():
    data = b'A' * 16 + bytes(64) + b'tail'
    zeros = '00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00'
    assert hexdump(data) == [
        '00000000  41 41 41 41 41 41 41 41  41 41 41 41 41 41 41 41  |AAAAAAAAAAAAAAAA|',
        f'00000010  {zeros}  |................|',
        '*',
        '00000050  74 61 69 6c                                       |tail|']
    # Ending in a run: the length says how far it goes, as hexdump -C prints it.
    assert hexdump(bytes(48)) == [f'00000000  {zeros}  |................|', '*', '00000030']
    assert hexdump(bytes(40)) == [f'00000000  {zeros}  |................|', '*',
                                  '00000020  00 00 00 00 00 00 00 00' + ' ' * 27 + '|........|']
    assert hexdump(b'ab' * 8, width=2) == ['00000000  61 62  |ab|', '*', '00000010']


@pytest.mark.skipif(not shutil.which('hexdump'), reason='hexdump is not installed')
@pytest.mark.parametrize('data', [
    b'A' * 16 + bytes(64) + b'tail', bytes(48), bytes(40), bytes(16) + b'x' + bytes(15) * 3,
    b'ab' * 100 + b'cd' * 100, bytes(range(256)) * 2 + bytes(480)])
def test_hexdump_collapses_as_hexdump_c(data):
    printed = subprocess.run(['hexdump', '-C'], input=data, capture_output=True,
                             check=True).stdout.decode().splitlines()
    # stf leaves out hexdump's last line, the length, unless the dump ends in '*'.
    assert hexdump(data) == (printed if printed[-2] == '*' else printed[:-1])


# ---- DNS names of an address ------------------------------------------------

def answer(*records, name='www.example.com', rcode=0, ident=0x1234, kind=dpkt.dns.DNS_A):
    message = dpkt.dns.DNS(id=ident, op=dpkt.dns.DNS_RD | dpkt.dns.DNS_RA,
                           qd=[dpkt.dns.DNS.Q(name=name, type=kind, cls=dpkt.dns.DNS_IN)],
                           an=list(records))
    message.qr, message.rcode = dpkt.dns.DNS_R, rcode
    return bytes(message)


def a(name, address):
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=60,
                           rdata=socket.inet_aton(address))


def aaaa(name, address):
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_AAAA, cls=dpkt.dns.DNS_IN, ttl=60,
                           rdata=socket.inet_pton(socket.AF_INET6, address))


def cname(name, target):
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_CNAME, cls=dpkt.dns.DNS_IN, ttl=60,
                           cname=target)


CDN = answer(cname('www.example.com', 'edge.cdn.net'), cname('edge.cdn.net', 'e7.cdn.net'),
             a('e7.cdn.net', '1.2.3.4'))


def seen(names, address):
    return [(found.name.decode(), found.kind, found.first_us, found.answers)
            for found in names.names(address)]


def test_names_of_an_address_with_cname_chains():
    names = dnsnames.DnsNames()
    names.add(2_000_000, CDN)
    names.add(1_000_000, answer(a('WwW.ExAmPlE.cOm', '1.2.3.4'), name='WwW.ExAmPlE.cOm'))
    # Earliest first; names answered at the same time in the order of their letters.
    assert seen(names, '1.2.3.4') == [('www.example.com', 'A', 1_000_000, 1),
                                      ('e7.cdn.net', 'A', 2_000_000, 1),
                                      ('edge.cdn.net', 'CNAME', 2_000_000, 1),
                                      ('www.example.com', 'CNAME', 2_000_000, 1)]
    assert seen(names, '9.9.9.9') == seen(names, 'not an address') == []
    assert (names.responses, names.payloads) == (2, 2)


def test_answers_run_together_over_tcp_cut_short_and_refused():
    v6 = answer(aaaa('www.example.com', '2001:db8::7'), kind=dpkt.dns.DNS_AAAA, ident=0x1235)
    names = dnsnames.DnsNames()
    names.add(5, answer(a('www.example.com', '1.2.3.4')) + v6)     # one socket, A then AAAA
    names.add(6, vector16(CDN) + vector16(v6), udp=False)
    names.add(7, answer(a('cut.example', '5.6.7.8'), a('cut.example', '5.6.7.9'))[:-3])
    names.add(8, answer(a('no.example', '9.9.9.9'), rcode=dpkt.dns.DNS_RCODE_NXDOMAIN))
    names.add(9, bytes(dpkt.dns.DNS(id=1, qd=[dpkt.dns.DNS.Q(name='q.example')])))
    assert seen(names, '2001:db8:0:0::7') == [('www.example.com', 'AAAA', 5, 2)]
    assert seen(names, '1.2.3.4')[0] == ('www.example.com', 'A', 5, 1)
    assert seen(names, '5.6.7.8') == [('cut.example', 'A', 7, 1)]
    assert seen(names, '5.6.7.9') == seen(names, '9.9.9.9') == []
    assert names.responses == 5


def test_malformed_dns_never_raises():
    chance, names = random.Random(53), dnsnames.DnsNames()
    loop = answer()[:12] + b'\xc0\x0c\x00\x01\x00\x01'       # a name that points to itself
    names.add(0, loop[:4] + b'\x00\x01\x00\x00\x00\x00\x00\x00' + loop[12:])
    for _ in range(3000):
        mangled = bytearray(CDN)
        for _ in range(chance.randint(1, 6)):
            mangled[chance.randrange(len(mangled))] = chance.randrange(256)
        names.add(1, bytes(mangled), udp=chance.random() < 0.5)


# ---- through the console ----------------------------------------------------

HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
          'TotBytes,SrcBytes,SrcPkts,srcUdata,dstUdata\n')


def udata(prefix, data):
    text = base64.b64encode(data).decode()
    return f'{prefix}[{len(text)}]={text}' if data else ''


def flow(second, dst, dport, proto='udp', src_data=b'', dst_data=b''):
    return (f'2020/09/13 12:26:{second:02d}.000000,0.1,{proto},10.0.0.1,4000{second % 10},'
            f'   ->,{dst},{dport},CON,0,0,2,90,60,1,{udata("s", src_data)},'
            f'{udata("d", dst_data)}\n')


def lab_flows(path, other='4.3.2.1'):
    """Two DNS answers for 1.2.3.4 (one over TCP), a web connection to it, and an answer
    for another address."""
    lines = [flow(1, '10.0.0.53', 53, dst_data=CDN),
             flow(2, '10.0.0.53', 53, 'tcp', dst_data=vector16(answer(a('www.example.com',
                                                                         '1.2.3.4')))),
             flow(3, '1.2.3.4', 80, 'tcp', b'GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n'),
             flow(4, '10.0.0.53', 53, dst_data=answer(a('other.example', other)))]
    path.write_text(HEADER + ''.join(lines))
    return path


@pytest.fixture
def lab(app, tmp_path):
    """Dataset 'lab' with group of connections 0 of lab_flows."""
    path = lab_flows(tmp_path / 'lab.binetflow')
    ok(app, f'datasets -c {path} --name lab')
    ok(app, 'connections -g')
    return path


WEB_LINE = ('DNS names of 1.2.3.4: e7.cdn.net (A, first answered 2020-09-13 12:26:01.000000 '
            'UTC), edge.cdn.net (CNAME, first answered 2020-09-13 12:26:01.000000 UTC), '
            'www.example.com (CNAME, first answered 2020-09-13 12:26:01.000000 UTC), '
            'www.example.com (A, first answered 2020-09-13 12:26:02.000000 UTC)')


def test_flows_and_payloads_name_the_destination(app, lab):
    table, line = ok(app, 'connections -F 10.0.0.1-1.2.3.4-80-tcp')
    assert line.text == WEB_LINE
    (text,) = ok(app, 'connections -P 10.0.0.1-1.2.3.4-80-tcp')
    assert text.text.splitlines()[1:5] == [
        WEB_LINE, 'flow 0  2020-09-13 12:26:03.000000 UTC', '  -> 41 bytes',
        '      HTTP request: GET / HTTP/1.1, Host: www.example.com']
    assert ok(app, 'connections -F 10.0.0.1-10.0.0.53-53-udp')[1].text == (
        'DNS names of 10.0.0.53: none in the 3 DNS answers in the flow file lab.binetflow')


def test_dns_names_for_other_listings(app, lab):
    group = app.root['connections'].get(0)
    assert [(found.name, found.kind) for found in context.dns_names(app, group, '4.3.2.1')] == [
        (b'other.example', 'A')]
    offsets, starts, is_udp = context.dns_flows(group)
    assert (starts.tolist(), is_udp.tolist()) == (
        [1599999961000000, 1599999962000000, 1599999964000000], [True, False, True])
    first = context.dns_index(app, group)
    assert context.dns_index(app, group) is first          # read once, kept
    written = lab.stat().st_mtime_ns
    lab_flows(lab, other='4.3.2.2')     # the same lines but one answer: read again
    os.utime(lab, ns=(written + 10**9, written + 10**9))
    assert context.dns_names(app, group, '4.3.2.1') == []
    assert context.dns_names(app, group, '4.3.2.2')[0].name == b'other.example'


def test_the_dns_flows_read_are_bounded(app, lab, monkeypatch):
    monkeypatch.setattr(context, 'MAX_DNS_FLOWS', 2)
    group = app.root['connections'].get(0)
    assert context.dns_line(app, group, '4.3.2.1') == (
        'DNS names of 4.3.2.1: none in the 2 DNS answers in the flow file lab.binetflow '
        '(of its first 2 of 3 DNS flows)')


def test_payloads_that_do_not_decode_say_so(app, tmp_path):
    path = tmp_path / 'ascii.binetflow'
    path.write_text(HEADER + flow(1, '1.2.3.4', 80, 'tcp').replace(',,\n', ',s[5]=GET .,\n')
                    + flow(2, '10.0.0.53', 53).replace(',,\n', ',,d[4]=4o..\n'))
    ok(app, f'datasets -c {path} --name ascii')
    ok(app, 'connections -g')
    (_, line) = ok(app, 'connections -F 10.0.0.1-1.2.3.4-80-tcp')
    assert line.text.startswith(f'DNS names of 1.2.3.4: unknown, {path}, line at byte ')
    assert "cannot read the user data 'd[4]=4o..'" in line.text


def test_no_line_without_payload_columns_or_an_address(app, models):
    assert len(ok(app, 'connections -F 10.0.0.1-10.0.0.2-80-tcp')) == 1
    group = app.root['connections'].get(0)
    assert context.dns_names(app, group, '10.0.0.2') is None
    assert context.dns_line(app, group, 'not-an-address') is None


def test_dns_names_from_the_capture(app, shared, tmp_path):
    """A flow file without payloads: connections -P --pcap reads the capture's answers."""
    flows = tmp_path / 'ntp.binetflow'
    flows.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotPkts,'
                     'TotBytes\n2018/03/09 20:49:52.304777,545.7,udp,192.168.2.16,123,   <->,'
                     '81.2.248.189,123,CON,20,2970\n')
    ok(app, f'datasets -c {shared / "pcap" / "test7-malicious.pcap"} --name test7')
    ok(app, f'datasets -a {flows}')
    ok(app, 'connections -g')
    assert len(ok(app, 'connections -F 192.168.2.16-81.2.248.189-123-udp')) == 1
    (text,) = ok(app, 'connections -P 192.168.2.16-81.2.248.189-123-udp --pcap --limit 1')
    assert text.text.splitlines()[1] == (
        'DNS names of 81.2.248.189: 0.debian.pool.ntp.org (A, first answered 2018-03-09 '
        '20:49:49.283316 UTC, 5 answers)')


def test_dns_names_in_test7_through_argus(app, shared, tmp_path):
    if not (argus.find_tool('argus') and argus.find_tool('ra')):
        pytest.skip('argus and ra are not installed (make setup installs them)')
    ok(app, f'datasets -c {shared / "pcap" / "test7-malicious.pcap"} --name test7')
    ok(app, f'datasets -g --out {tmp_path}')
    ok(app, 'connections -g')
    _, line = ok(app, 'connections -F 192.168.2.16-81.2.248.189-123-udp')
    # The time is the start of the DNS flow that answered (its query).
    assert line.text == ('DNS names of 81.2.248.189: 0.debian.pool.ntp.org (A, first answered '
                         '2018-03-09 20:49:48.908052 UTC, 5 answers)')
    group = app.root['connections'].get(0)
    index = context.dns_index(app, group)
    assert (index.names.responses, len(index.names), index.read, index.total) == (26, 33, 31, 31)
    assert [found.name for found in context.dns_names(app, group, '2001:718:801:230::8c')] == [
        b'2.debian.pool.ntp.org']


def test_a_tls_hello_from_a_capture(app, tmp_path):
    frames = [(1600000000, ether(ip4('10.0.0.1', '10.0.0.2', tcp(40443, 443, HELLO))))]
    capture = write_pcap(tmp_path / 'tls.pcap', frames)
    flows = tmp_path / 'tls.binetflow'
    flows.write_text(HEADER.replace(',srcUdata,dstUdata', '') +
                     '2020/09/13 12:26:40.000000,0.1,tcp,10.0.0.1,40443,   ->,10.0.0.2,443,'
                     'CON,0,0,2,90,60,1\n')
    ok(app, f'datasets -c {capture}')
    ok(app, f'datasets -a {flows}')
    ok(app, 'connections -g')
    (text,) = ok(app, 'connections -P 10.0.0.1-10.0.0.2-443-tcp --pcap')
    assert text.text.splitlines()[1:6] == [
        'DNS names of 10.0.0.2: none, no DNS answers in tls.pcap',
        f'2020-09-13 12:26:40.000000 UTC  -> {len(HELLO)} bytes',
        *('      ' + line for line in tls_lines(HELLO)[:3])]


def test_a_model_shows_the_names_of_its_destination(app, lab):
    ok(app, 'models -g')
    (model, *_) = ok(app, 'models -S 0-1 -i 10.0.0.1-1.2.3.4-80-tcp')
    assert dict(model.pairs)['dns names'] == WEB_LINE.split(': ', 1)[1]
    (model, *_) = ok(app, 'models -S 0-1 -i 10.0.0.1-10.0.0.53-53-udp')
    assert dict(model.pairs)['dns names'] == (
        'none in the 3 DNS answers in the flow file lab.binetflow')
