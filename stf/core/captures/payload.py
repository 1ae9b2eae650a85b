"""Payloads of a connection: argus' user-data columns, packet payloads from the pcap,
and views that make them readable (hex dump, text, DNS summary).

argus keeps the first ARGUS_CAPTURE_DATA_LEN (480) payload bytes of each direction of
a flow, and ra prints them as srcUdata/dstUdata. A direction's bytes are the payloads
of its first packets run together (a DNS query sent twice shows twice), not one
packet. With RA_USERDATA_ENCODE=Encode64 (stf's confs/ra.conf) a field reads
`s[N]=<base64>` (dstUdata `d[N]=...`), padded with '=', where N is the length of the
base64 text, not of the payload: s[640]=... holds 480 bytes, s[32]=... 23. A
direction without payload is an empty field.

ra 3.0.8 prints the other RA_USERDATA_ENCODE values so:
- Encode32 prints upper-case hex, not base32: `s[48]=346F0100...`, N being the count
  of hex digits rounded up to a multiple of 4 (46 digits give s[48]); read too.
- Ascii and Obfuscate print `s[23]=4o....local` with every unprintable byte as '.'
  (lossy, and a ',' in the payload splits the field); rejected.
- Hex prints a multi-line dump that breaks the lines of the file; rejected.
One ra run prints a whole file in one encoding, so flow_payloads decides it once:
from the fields it reads, else from the file's first lines, else base64 (see
udata_encoding: a short field of upper-case hex digits, s[4]=AAAA, can be either).

pcap_payloads reads the packets themselves, for payloads past the first 480 bytes or
a binetflow without the columns. It streams the capture record by record (constant
memory) and stops at the limit. dpkt reads only the first interface of a pcapng
file: the packets of other interfaces are decoded with its link type.

Nothing shown to the user holds a control character or a non-ASCII one: a payload
is hostile data, and a raw ESC byte would drive the analyst's terminal.
"""
import base64
import binascii
import contextlib
import ipaddress
import re
import struct
from functools import partial
from itertools import chain, islice
from typing import NamedTuple

import dpkt

from stf.core.flows import flowfile
from stf.core.captures import pcapformat, tls
from stf.core.errors import UserError
from stf.core.formats import counted

# ---- argus' user-data fields ------------------------------------------------

# N: ASCII digits, few enough for int() (it refuses more than 4,300).
UDATA = re.compile(r'([sd])\[(\d{1,9})\]=(.*)', re.DOTALL | re.ASCII)
# ra's hex is upper case, so a lower-case letter, '+', '/' or '=' means base64.
BASE64_ONLY = re.compile(r'[a-z+/=]')
HEX_DIGITS = re.compile(r'(?:[0-9A-F]{2})*')
# Lines read from the start of a file to find its encoding when the flows asked
# for have only fields that could be either (see udata_encoding).
SNIFF_LINES = 2000
REMAKE = ("make the binetflow again from the pcap with 'datasets -g' (stf's ra.conf "
          "prints payloads with RA_USERDATA_ENCODE=Encode64)")
NO_PAYLOAD = ("{path} has no payload columns (srcUdata/dstUdata); show the packets' "
              "payloads with 'connections -P CONN_ID --pcap', or make a binetflow with "
              "payloads from the pcap with 'datasets -g'")


class Encoding(NamedTuple):
    """How ra prints user data in one RA_USERDATA_ENCODE setting.

    setting: the ra.conf value. digits: the text's alphabet. whole: (N, length of
    the text) -> the field is complete. decode: text -> bytes.
    """
    setting: str
    digits: re.Pattern
    whole: object
    decode: object


ENCODINGS = {
    'base64': Encoding('Encode64', re.compile(r'[A-Za-z0-9+/]*={0,2}'),
                       lambda n, size: n == size and size % 4 == 0,
                       partial(base64.b64decode, validate=True)),
    # N: the digit count rounded up to a multiple of 4 (46 digits: s[48]).
    'hex': Encoding('Encode32', HEX_DIGITS, lambda n, size: n == -(-size // 4) * 4,
                    bytes.fromhex),
}


def decode_udata(text, encoding=None):
    """The payload bytes in one srcUdata/dstUdata field as ra prints it; b'' if empty.

    encoding: 'base64' or 'hex' (see ENCODINGS); None reads it from this field alone,
    base64 when the field could be either.
    """
    text = text.strip()
    if not text:
        return b''
    match = UDATA.fullmatch(text)
    if not match:
        raise UserError(f'{_clip(text)} is not argus user data (s[N]=<base64>); {REMAKE}')
    size, body = int(match[2]), match[3]
    rule = ENCODINGS[encoding or _evidence(body) or 'base64']
    if not rule.digits.fullmatch(body):
        raise UserError(f"cannot read the user data {_clip(text)}: it is not in ra's "
                        f'{rule.setting} encoding (Ascii and Obfuscate lose bytes); {REMAKE}')
    if not rule.whole(size, len(body)):
        raise UserError(f'the user data {_clip(text)} is cut short ({len(body)} of {size} '
                        f'characters); {REMAKE}')
    try:
        return rule.decode(body)
    except (binascii.Error, ValueError):
        raise UserError(f'cannot decode the user data {_clip(text)}; {REMAKE}') from None


def udata_encoding(texts):
    """'base64' or 'hex': the encoding of the first field among texts that can only
    be one of them; None when every field could be either (empty, or short and made
    of upper-case hex digits only, like s[4]=AAAA)."""
    for text in texts:
        match = UDATA.fullmatch(text.strip())
        if match and (found := _evidence(match[3])):
            return found
    return None


def _evidence(body):
    if BASE64_ONLY.search(body):
        return 'base64'
    # base64 text is a multiple of 4 long; the hex of an odd number of bytes is not.
    if HEX_DIGITS.fullmatch(body) and len(body) % 4:
        return 'hex'
    return None


def flow_payloads(path, fmt, offsets):
    """[(src_bytes, dst_bytes)], one pair per flow line starting at these byte offsets.

    fmt: the file's FlowFormat (flowfile.sniff_format). A file without srcUdata and
    dstUdata columns is a UserError that says how to get payloads another way.
    """
    columns = _udata_columns(path, fmt)
    with _line_reader(path) as line_at:
        pairs = [_udata_fields(path, fmt, columns, line_at, offset) for offset in offsets]
    if not pairs:
        return []
    encoding = (udata_encoding(chain.from_iterable(pairs))
                or _file_encoding(path, fmt, columns) or 'base64')
    return [tuple(_decode_at(path, offset, text, encoding) for text in pair)
            for offset, pair in zip(offsets, pairs)]


def _udata_columns(path, fmt):
    try:
        return fmt.columns['src_udata'], fmt.columns['dst_udata']
    except KeyError:
        raise UserError(NO_PAYLOAD.format(path=path)) from None


@contextlib.contextmanager
def _line_reader(path):
    """A function offset -> the line of the file that starts there (flowfile.line_at's
    text), reading one open file: a group's DNS flows are thousands of lines."""
    try:
        with open(path, 'rb') as stream:
            yield partial(flowfile.stream_line_at, stream)
    except OSError as error:
        raise UserError(f'cannot read {path}: {error.strerror}; check the path') from None


def _udata_fields(path, fmt, columns, line_at, offset):
    fields = _fields(line_at(offset), fmt, columns)
    if fields is None:
        raise UserError(f'{path}: the line at byte {offset} is not a flow with payload '
                        'columns; was the file changed after it was loaded? load it again')
    return fields


def _fields(line, fmt, columns):
    """The user-data fields of a line, or None when it has not the file's width."""
    fields = line.split(fmt.separator)
    if len(fields) != fmt.width and (fmt.exact or len(fields) <= max(columns)):
        return None
    return tuple(fields[column] for column in columns)


def _file_encoding(path, fmt, columns):
    with open(path, 'rb') as stream:
        lines = (stream.readline(flowfile.MAX_LINE) for _ in range(SNIFF_LINES))
        pairs = (_fields(line.decode('ascii', 'replace').rstrip('\r\n'), fmt, columns)
                 for line in lines)
        return udata_encoding(chain.from_iterable(pair for pair in pairs if pair))


def _decode_at(path, offset, text, encoding):
    try:
        return decode_udata(text, encoding)
    except UserError as error:
        raise UserError(f'{path}, line at byte {offset}: {error}') from None


def _clip(text, size=40):
    return ascii(text if len(text) <= size else text[:size] + '...')


# ---- readable views ---------------------------------------------------------

# The bytes text protocols are made of (HTTP, SMTP, FTP, IRC, banners).
TEXT_BYTES = bytes(range(0x20, 0x7f)) + b'\t\n\r'
# Share of text bytes from which as_text reads a payload as text by default.
TEXT_RATIO = 0.9
# A payload is shown as text when its head (its first line, at most TEXT_HEAD
# bytes) is all text bytes and at least TEXT_SHARE of it is: an SSH banner, an
# HTTP head with a gzip body, a mail with an attachment read better as escaped
# text; an SSH binary packet (KEXINIT's name lists are mostly ASCII), TLS or DNS
# start with binary bytes and are dumped in hex, whatever the port.
TEXT_HEAD = 64
TEXT_SHARE = 0.5
TAB_SIZE = 8
# How each byte is shown in text: printable ASCII as itself, LF and TAB kept (TAB
# is expanded later), every other byte as \xNN.
ESCAPES = {code: f'\\x{code:02x}' for code in range(256)
           if not (0x20 <= code < 0x7f or code in (0x09, 0x0a))}
ONE_LINE = ESCAPES | {0x09: '\\x09', 0x0a: '\\x0a'}
DUMP_ASCII = bytes(code if 0x20 <= code < 0x7f else ord('.') for code in range(256))
DUMP_GROUP = 8


def hexdump(data, width=16):
    """Lines as `hexdump -C` prints them: offset, hex bytes, |printable ASCII|; a run of
    lines equal to the one before is a single '*' (argus pads with zeros). hexdump's last
    line, the length, is left out (the payload's size is shown beside it) unless the dump
    ends in a '*', where it says how far the run goes."""
    lines, previous, repeating = [], None, False
    for offset in range(0, len(data), width):
        chunk = data[offset:offset + width]
        if chunk == previous:
            lines += ['*'] * (not repeating)
            repeating = True
            continue
        previous, repeating = chunk, False
        lines.append(_dump_line(chunk, offset, width))
    return lines + [f'{len(data):08x}'] * repeating


def _dump_line(chunk, offset, width):
    groups = '  '.join(chunk[start:start + DUMP_GROUP].hex(' ')
                       for start in range(0, len(chunk), DUMP_GROUP))
    hex_width = 3 * width - 1 + (width - 1) // DUMP_GROUP
    return f'{offset:08x}  {groups:<{hex_width}}  |{chunk.translate(DUMP_ASCII).decode()}|'


def as_text(data, min_ratio=TEXT_RATIO):
    """The payload as readable text when at least min_ratio of its bytes are text
    bytes, else None. CR before LF is dropped, TABs are expanded, every other
    control or non-ASCII byte is shown as \\xNN: the result holds only printable
    ASCII and newlines."""
    if not data or 1 - len(data.translate(None, TEXT_BYTES)) / len(data) < min_ratio:
        return None
    text = data.decode('latin-1').replace('\r\n', '\n').translate(ESCAPES)
    return text.expandtabs(TAB_SIZE)


def _one_line(text):
    """A decoded name or text of the packet, safe on one line of the screen."""
    return safe_text(text.encode('utf-8', 'surrogateescape'))


def safe_text(raw):
    """Bytes of the packet (a name, a header) as text safe on one line of the screen:
    printable ASCII as itself, every other byte as \\xNN."""
    return raw.decode('latin-1').translate(ONE_LINE)


# ---- DNS --------------------------------------------------------------------

DNS_TYPES = {1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX',
             16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 41: 'OPT', 43: 'DS',
             46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY'}
DNS_RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP',
              5: 'REFUSED'}


def _address(record):
    return str(ipaddress.ip_address(record.rdata))


def _preference(record):
    # dpkt keeps the MX preference as the tuple struct.unpack gave.
    preference = record.preference
    return preference[0] if isinstance(preference, tuple) else preference


# Record type -> its data as text, from the attributes dpkt sets for that type.
DNS_VALUES = {
    1: _address, 28: _address,
    2: lambda record: record.nsname, 5: lambda record: record.cname,
    12: lambda record: record.ptrname, 6: lambda record: record.mname,
    15: lambda record: f'{_preference(record)} {record.mxname}',
    16: lambda record: ' '.join(record.text), 13: lambda record: ' '.join(record.text),
    33: lambda record: f'{record.priority} {record.weight} {record.port} {record.srvname}',
}
# What dpkt raises on bytes that are not (whole) DNS; names are strict UTF-8.
PARSE_ERRORS = (dpkt.UnpackError, struct.error, ValueError, IndexError)


def dns_summary(data, udp=True):
    """One line on the DNS message at the start of data: query or response, id, rcode,
    questions and answers; None when it does not read as DNS. udp=False: DNS over
    TCP (a 2-byte length first). A message cut short (argus keeps 480 bytes) still
    shows its questions."""
    message = data if udp else data[2:2 + int.from_bytes(data[:2], 'big')]
    try:
        dns, offset = _dns_questions(message)
    except PARSE_ERRORS:
        return None
    try:
        answers = _dns_answers(dns, message, offset)
    except PARSE_ERRORS:
        answers = None
    if not (dns.qd or answers):     # nothing read: not worth a line, likely not DNS
        return None
    return _one_line(_dns_line(dns, answers))


def _dns_questions(message):
    """dpkt's DNS with the header and questions of message, and where they end.

    The message is read piece by piece, not by dpkt.dns.DNS(message): that one
    fails on the whole message for a record type it does not know (HTTPS, DS...)
    or a message cut short, and the questions are worth showing then."""
    dns = dpkt.dns.DNS()
    dpkt.Packet.unpack(dns, message)
    offset, count, dns.qd = dns.__hdr_len__, dns.qd, []
    for _ in range(count):
        question, offset = dns.unpack_q(message, offset)
        dns.qd.append(question)
    return dns, offset


def _dns_answers(dns, message, offset):
    answers = []
    for _ in range(dns.an):
        record = dns.RR()
        record.name, offset = dpkt.dns.unpack_name(message, offset)
        record.type, record.cls, record.ttl, size = struct.unpack(
            '>HHIH', message[offset:offset + 10])
        record.rdata = message[offset + 10:offset + 10 + size]
        if len(record.rdata) < size:
            raise dpkt.NeedData('record cut short')
        if record.type in DNS_VALUES:
            record.unpack_rdata(message, offset + 10)
        answers.append(_dns_answer(record))
        offset += 10 + size
    return ', '.join(answers)


def _dns_line(dns, answers):
    questions = ', '.join(f'{question.name or "."} {_dns_type(question.type)}'
                          for question in dns.qd) or 'no question'
    if dns.qr == dpkt.dns.DNS_Q:
        return f'DNS query 0x{dns.id:04x}: {questions}'
    rcode = DNS_RCODES.get(dns.rcode, f'RCODE{dns.rcode}')
    tail = ('answers: cut short or unreadable' if answers is None
            else f'answers: {answers}' if answers else 'no answers')
    return f'DNS response 0x{dns.id:04x} {rcode}: {questions}; {tail}'


def _dns_answer(record):
    value = DNS_VALUES.get(record.type, lambda record: f'{len(record.rdata)} bytes')
    return f'{record.name or "."} {_dns_type(record.type)} {value(record)}'


def _dns_type(number):
    return DNS_TYPES.get(number, f'TYPE{number}')


# ---- TLS hellos and HTTP heads, recognised by their content -----------------

def tls_lines(data):
    """Lines on the TLS ClientHello or ServerHello at the start of data (see tls.py), on
    any port; [] when data starts with neither."""
    hello = tls.parse_hello(data)
    if hello is None:
        return []
    return (_client_hello_lines if hello.kind == 'ClientHello' else _server_hello_lines)(hello)


def _client_hello_lines(hello):
    lines = [f'{_hello_head(hello)}: {_tls_version(hello)}, '
             f"{_seen(hello, tls.SERVER_NAME, 'SNI', hello.sni and [hello.sni])}, "
             f"{_seen(hello, tls.ALPN, 'ALPN', hello.alpn)}"]
    if hello.ciphers is not None:
        cut = ', cut short' if hello.compressions is None else ''
        lines.append(f'cipher suites ({len(hello.ciphers)}{cut}): '
                     + ' '.join(f'{cipher:04x}' for cipher in hello.ciphers))
    if not tls.whole(hello):
        return lines + ['JA3, JA4: none for a hello cut short or malformed']
    return lines + [f'JA3 {tls.ja3(hello)} {tls.ja3_text(hello)}', f'JA4 {tls.ja4(hello)}']


def _server_hello_lines(hello):
    cipher = '-' if hello.cipher is None else f'{hello.cipher:04x}'
    lines = [f'{_hello_head(hello)}: {_tls_version(hello)}, cipher suite {cipher}, '
             f"{_seen(hello, tls.ALPN, 'ALPN', hello.alpn)}"]
    if tls.whole(hello):
        lines.append(f'JA3S {tls.ja3(hello)} {tls.ja3_text(hello)}')
    return lines


def _hello_head(hello):
    kind = 'HelloRetryRequest' if hello.retry else hello.kind
    if hello.truncated:
        return f'TLS {kind} (truncated: {hello.held:,} of {counted(hello.size, "byte")})'
    return f'TLS {kind}' + (' (malformed)' if hello.malformed else '')


def _tls_version(hello):
    version = hello.best_version
    text = 'version unknown' if version is None else tls.VERSIONS.get(version, f'0x{version:04x}')
    if hello.truncated and tls.SUPPORTED_VERSIONS not in _read_whole(hello):
        text += ' (supported_versions cut off)'
    return text


def _seen(hello, extension, name, values):
    """'NAME a,b' for values read, 'no NAME' when the whole hello has none, 'NAME cut off'
    when the hello ends before they could be read, 'NAME unreadable' when malformed."""
    if values:
        return f"{name} {','.join(safe_text(value) for value in values)}"
    if extension not in _read_whole(hello) and tls.whole(hello):
        return f'no {name}'
    if extension not in _read_whole(hello) and hello.truncated:
        return f'{name} cut off'
    return f'{name} unreadable'


def _read_whole(hello):
    return {kind for kind, _, whole in hello.extensions or () if whole}


# HTTP/1.x: a request line (a method in capitals, a target, the version) or a status line.
HTTP_REQUEST = re.compile(rb'([A-Z][A-Z0-9_-]{0,31}) (\S+) (HTTP/\d(?:\.\d)?)')
HTTP_STATUS = re.compile(rb'(HTTP/\d(?:\.\d)?) (\d{3})(?: ([^\r\n]*))?')
HTTP_HOST = re.compile(rb'host:[ \t]*(.*?)[ \t]*', re.IGNORECASE)


def http_lines(data):
    """One line on the HTTP request (request line and Host header) or response (status
    line) at the start of data; [] when data starts with neither."""
    first, _, rest = data.partition(b'\n')
    first = first.removesuffix(b'\r')
    if request := HTTP_REQUEST.fullmatch(first):
        return [f"HTTP request: {safe_text(b' '.join(request.groups()))}, {_http_host(rest)}"]
    if status := HTTP_STATUS.fullmatch(first):
        return [f"HTTP response: {safe_text(b' '.join(part for part in status.groups() if part))}"]
    return []


def _http_host(head):
    """'Host: NAME', 'no Host header' (the head ends without one) or 'Host cut off'
    (the payload ends before the head does)."""
    for line in head.split(b'\n')[:-1]:      # the last piece is no whole line
        line = line.removesuffix(b'\r')
        if not line:
            return 'no Host header'
        if host := HTTP_HOST.fullmatch(line):
            return f'Host: {safe_text(host[1])}'
    return 'Host cut off'


# ---- which view for which service -------------------------------------------

# (protocol, server port) -> a function payload -> one summary line or None.
DECODERS = {
    ('udp', 53): dns_summary,
    ('tcp', 53): partial(dns_summary, udp=False),
    ('udp', 5353): dns_summary,   # mDNS
    ('udp', 5355): dns_summary,   # LLMNR
}


def service_summary(data, proto, port):
    """The decoder of the connection's service (proto, server port) applied to data:
    one line, or None when the service has no decoder or data does not parse."""
    decoder = DECODERS.get(_service(proto, port))
    return decoder(data) if decoder and data else None


# Views that recognise a payload by its content, whatever the port, tried in order.
CONTENT_SUMMARIES = (tls_lines, http_lines)


def summary_lines(data, proto, port):
    """The lines that sum up a payload: its service's summary (DNS) when it has one,
    else those of the first content view that recognises it (TLS hello, HTTP head)."""
    summary = service_summary(data, proto, port)
    if summary is not None:
        return [summary]
    for view in CONTENT_SUMMARIES:
        if lines := view(data):
            return lines
    return []


def payload_lines(data, proto, port, width=16):
    """How to show one direction's payload: its summary lines, then the payload as
    text when it reads as text, else its hex dump."""
    text = as_text(data, TEXT_SHARE) if starts_as_text(data) else None
    body = text.splitlines() if text is not None else hexdump(data, width)
    return summary_lines(data, proto, port) + body


def starts_as_text(data):
    """True when the first line of data (at most TEXT_HEAD bytes) is text."""
    head = data[:TEXT_HEAD]
    end = head.find(b'\n')
    return bool(head) and not head[:end + 1 if end >= 0 else len(head)].translate(
        None, TEXT_BYTES)


def _service(proto, port):
    try:
        return str(proto).strip().lower(), int(str(port).strip())
    except ValueError:      # ICMP 'ports' such as 0x0008, ARP's empty one
        return None


# ---- payloads from the pcap -------------------------------------------------

READ_BUFFER = 1 << 20
# No pcap record or pcapng block is near this size; a larger length field is
# corruption, and dpkt would read that much (or, if negative, the whole rest).
MAX_RECORD = 1 << 24
PROTOCOLS = {'tcp': dpkt.tcp.TCP, 'udp': dpkt.udp.UDP}


def _raw_ip(frame):
    return (dpkt.ip.IP if frame[0] >> 4 == 4 else dpkt.ip6.IP6)(frame)


def _inner(layer):
    return lambda frame: layer(frame).data


# pcap link type (pcapformat.LINKTYPES names them) -> frame -> the IP or
# IPv6 packet it carries.
LINK_DECODERS = {
    1: _inner(dpkt.ethernet.Ethernet),
    113: _inner(dpkt.sll.SLL),
    276: _inner(dpkt.sll2.SLL2),
    101: _raw_ip, 12: _raw_ip, 14: _raw_ip,
    228: dpkt.ip.IP, 229: dpkt.ip6.IP6,
    0: _inner(dpkt.loopback.Loopback),
    108: _inner(dpkt.loopback.Loopback),
}


class Conversation:
    """The packets of one connection: src -> dst:dport over proto, and the replies.

    src, dst: the packed addresses. dport: the server port. layer: dpkt's class of
    the transport protocol (TCP or UDP).
    """

    def __init__(self, src, dst, dport, proto):
        self.src, self.dst = _packed(src), _packed(dst)
        self.dport = _port_number(dport)
        self.layer = PROTOCOLS.get(str(proto).strip().lower())
        if self.layer is None:
            raise UserError(f"payloads from a pcap are shown for tcp and udp connections, "
                            f"not {proto!r}; show the flows' srcUdata/dstUdata instead")

    def could_hold(self, frame):
        # One C-level substring search per frame rejects nearly every other packet
        # before dpkt parses anything: the speed on a big capture.
        return self.src in frame and self.dst in frame

    def payload(self, packet):
        """(direction, payload) when the IP/IPv6 packet belongs here and carries data."""
        segment = getattr(packet, 'data', None)
        if not isinstance(segment, self.layer) or not segment.data:
            return None
        ends = packet.src, packet.dst
        if ends == (self.src, self.dst) and segment.dport == self.dport:
            return '->', bytes(segment.data)
        if ends == (self.dst, self.src) and segment.sport == self.dport:
            return '<-', bytes(segment.data)
        return None


def pcap_payloads(pcap_path, src, dst, dport, proto, limit=10):
    """[(timestamp_us, '->' or '<-', payload)] of the first `limit` packets with payload
    of src -> dst:dport (and replies) over tcp or udp, in capture order.

    Streams a pcap or pcapng capture (Ethernet, Linux cooked, raw IP or loopback);
    packets that do not parse are skipped, and a capture cut short ends the scan.
    Payloads are as captured: cut at the capture's snap length, TCP retransmissions
    included, nothing reassembled.
    """
    conversation = Conversation(src, dst, dport, proto)
    with _capture(pcap_path) as (records, to_ip):
        return list(islice(_payloads(conversation, records, to_ip), max(limit, 0)))


def server_payloads(pcap_path, port):
    """(timestamp_us, 'tcp' or 'udp', payload) of every packet with payload sent from
    port (a service's answers, e.g. 53 for DNS), in capture order. Streamed like
    pcap_payloads, to the end of the capture."""
    marker = _port_number(port).to_bytes(2, 'big')
    with _capture(pcap_path) as (records, to_ip):
        for timestamp, frame in records:
            # The port's two bytes, searched in C, reject most frames before dpkt.
            found = marker in frame and _sent_from(to_ip, frame, int(port))
            if found:
                yield round(timestamp * 1_000_000), *found


class Packet(NamedTuple):
    """A TCP or UDP packet of a capture: moment_us, proto ('tcp' or 'udp'), src and
    dst (packed addresses), sport, dport, data (its payload, maybe empty)."""
    moment_us: int
    proto: str
    src: bytes
    dst: bytes
    sport: int
    dport: int
    data: bytes


def transport_packets(pcap_path, port=None):
    """Every TCP and UDP packet of a capture as a Packet, in capture order; with port,
    only those sent from or to it. Streamed like pcap_payloads."""
    marker = None if port is None else _port_number(port).to_bytes(2, 'big')
    with _capture(pcap_path) as (records, to_ip):
        for timestamp, frame in records:
            # The port's two bytes, searched in C, reject most frames before dpkt.
            found = (marker is None or marker in frame) and _transport(to_ip, frame)
            if found and (port is None or int(port) in found[3:5]):     # sport, dport
                yield Packet(round(timestamp * 1_000_000), *found)


def _transport(to_ip, frame):
    try:
        packet = to_ip(frame)
    except PARSE_ERRORS:
        return None
    segment = getattr(packet, 'data', None)
    for name, layer in PROTOCOLS.items():
        if isinstance(segment, layer):
            return (name, bytes(packet.src), bytes(packet.dst), segment.sport, segment.dport,
                    bytes(segment.data))
    return None


def _sent_from(to_ip, frame, port):
    try:
        segment = to_ip(frame).data
    except PARSE_ERRORS:
        return None
    for name, layer in PROTOCOLS.items():
        if isinstance(segment, layer) and segment.sport == port and segment.data:
            return name, bytes(segment.data)
    return None


def _payloads(conversation, records, to_ip):
    for timestamp, frame in records:
        found = conversation.could_hold(frame) and _parsed(conversation, to_ip, frame)
        if found:
            yield round(timestamp * 1_000_000), *found


def _parsed(conversation, to_ip, frame):
    try:
        return conversation.payload(to_ip(frame))
    except PARSE_ERRORS:
        return None


@contextlib.contextmanager
def _capture(path):
    """(the capture's (timestamp, frame) records, its frame -> IP packet function)."""
    try:
        stream = open(path, 'rb', buffering=READ_BUFFER)
    except OSError as error:
        raise UserError(f'cannot read {path}: {error.strerror}; check the path') from None
    with stream:
        reader = _reader(path, stream)
        yield _records(reader), _link(path, reader.datalink())


def _reader(path, stream):
    pcapng = stream.peek(4)[:4] == pcapformat.PCAPNG_SECTION_MAGIC
    kind = dpkt.pcapng.Reader if pcapng else dpkt.pcap.Reader
    try:
        return kind(_BoundedReads(stream))
    except (ValueError, dpkt.UnpackError, struct.error):
        raise UserError(f'{path} is not a pcap or pcapng capture; choose the capture '
                        'the flows were made from') from None


def _link(path, number):
    if number not in LINK_DECODERS:
        known = ', '.join(dict.fromkeys(pcapformat.LINKTYPES[known] for known in LINK_DECODERS))
        name = pcapformat.LINKTYPES.get(number, 'unknown')
        raise UserError(f'{path} has link type {number} ({name}); stf reads packets of '
                        f"{known} captures; show the flows' srcUdata/dstUdata instead "
                        "('connections -P CONN_ID' without --pcap)")
    return LINK_DECODERS[number]


def _records(reader):
    """The reader's records; a record cut short by the end of the file ends them."""
    try:
        yield from reader
    except (dpkt.UnpackError, struct.error, ValueError):
        return


class _BoundedReads:
    """A file whose reads ask for at most MAX_RECORD bytes (see there)."""

    def __init__(self, stream):
        self.name = stream.name
        self._read = stream.read

    def read(self, size):
        if 0 <= size <= MAX_RECORD:      # nearly always: one comparison per read
            return self._read(size)
        return self._read(MAX_RECORD if size > 0 else 0)


def _packed(address):
    try:
        return ipaddress.ip_address(str(address).strip()).packed
    except ValueError:
        raise UserError(f'{address!r} is not an IP address; give the addresses as in '
                        'the connection id (src-dst-dport-proto)') from None


def _port_number(port):
    try:
        number = int(str(port).strip())
    except ValueError:
        number = -1
    if not 0 <= number <= 0xffff:
        raise UserError(f'{port!r} is not a port number; give the destination port as in '
                        'the connection id (src-dst-dport-proto)')
    return number
