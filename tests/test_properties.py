"""Property tests of every file reader, with inputs generated and then damaged.

Each property starts from a valid input made here (binetflow, Zeek conn.log,
letters TSV, pcap, pcapng, payloads, PE), checks that it reads exactly as it
was written, then mutates it (bits flipped, bytes inserted, deleted, duplicated,
spliced, lines cut, huge numbers, odd Unicode, NUL bytes, the file truncated;
for binary formats also their length, count and offset fields) and checks that
the damaged input, at most MAX_INPUT bytes, gives either a result or one
UserError of one line: never another exception, never more than CASE_SECONDS,
never more than CASE_MEMORY bytes allocated at once (tracemalloc). Damaged
inputs keep exact properties too: the stream reader gives what the file reader
gives, a file read in parts gives what one read gives (when no part meets a
header), every flow read is what the single-value parsers make of its line.

Generators take a random.Random: hypothesis hands them its own (st.randoms,
derandomized, so every run tries the same cases) and bench/bench_fuzz.py runs
the same `prop_*` functions with random.Random for 100,000 cases and more. A
failure prints the last input read; STF_SHRINK=1 lets hypothesis shrink it too
(minutes). The inputs that broke a reader once are plain tests at the end.
"""
import base64
import contextlib
import hashlib
import io
import os
import re
import signal
import socket
import struct
import time
import tracemalloc
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dpkt
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings, strategies as st

from stf.core.captures import dnsnames, dnsstats, filescan, filetypes, payload, peinfo, tls
from stf.core.errors import UserError
from stf.core.flows import flowfile, letterstsv
from stf.core.flows.flowfile import ReadStats
from tests import flowreading

# ---- limits of one case ------------------------------------------------------

MAX_INPUT = 64 << 10
CASE_SECONDS = 20
# A 64 KB input must never need more than this at once. The readers' own
# buffers set the floor: filescan reads 4 MB chunks and payload's capture
# reader may ask a file for up to 16 MB (payload.MAX_RECORD) in one read.
CASE_MEMORY = 48 << 20
US = 1_000_000


class CaseLimit(Exception):
    """A case ran too long or allocated too much."""


def _alarm(_signal, _frame):
    raise CaseLimit(f'the case ran for more than {CASE_SECONDS} s')


# What the last bounded block took: seconds, and bytes allocated at its peak.
LAST_CASE = {'seconds': 0.0, 'peak': 0}


@contextlib.contextmanager
def bounded(seconds=CASE_SECONDS, memory=CASE_MEMORY):
    """Run the block with a time limit (SIGALRM) and a bound on the memory it
    allocates (tracemalloc's peak above what was allocated when it started)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1] - base
        if started:
            tracemalloc.stop()
        LAST_CASE.update(seconds=time.perf_counter() - began, peak=peak)
    if peak > memory:
        raise CaseLimit(f'the case allocated {peak:,} bytes at once (bound {memory:,})')


class Inputs:
    """Where a case writes the inputs it reads; `current` is the last one written
    (bench_fuzz saves it when the case fails)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.current = None

    def write(self, data, name='input'):
        path = self.folder / name
        path.write_bytes(data)
        self.current = data
        return path

    def note(self, data):
        """An input handed to a function as bytes or text, not as a file."""
        self.current = data if isinstance(data, bytes) else data.encode('utf-8', 'replace')


def settle(function, *args, **kwargs):
    """function's result, or the UserError it raised; any other exception passes.
    A UserError must be one line that says something."""
    try:
        return function(*args, **kwargs)
    except UserError as error:
        message = str(error)
        assert message.strip() and '\n' not in message and '\r' not in message, repr(message)
        return error


def failed(outcome):
    return isinstance(outcome, UserError)


def printable(text, newlines=False):
    """Only printable ASCII (and newlines when allowed): what reaches a terminal."""
    return all(' ' <= char <= '~' or (newlines and char == '\n') for char in text)


# ---- mutations ---------------------------------------------------------------

ODD_TEXT = ['\ufeff', '\ufffd', '\u202e', '\u0301', '\u00b2', '\u0663', '\uff11', '\u2028',
            '\x85', '\u00a0', '\u3000', '\U0001f600', '\u00df', '\u0130', '\x00', '\r', '\x1c',
            '\x0b', '"', "'", '\\', '_', '+', '-', '.', 'e', 'E', 'nan', 'inf', '#', ',', '\t']
ODD_BYTES = [text.encode() for text in ODD_TEXT] + [
    b'\xed\xa0\x80', b'\xc0\xaf', b'\xff', b'\x80', b'\xf4\x90\x80\x80', b'\xe2\x82']
HUGE_NUMBERS = ['9' * 19, '18446744073709551616', '-9223372036854775809', '1' * 40,
                '9' * 400, '7' * 4301, '9' * 5000, '1e308', '9' * 30 + '.' + '9' * 30,
                '0.' + '0' * 200 + '1', '-' + '9' * 25, '1_000', '\u0661\u0662']
# 16- and 32-bit values that lengths, counts and offsets of binary formats meet.
WORDS = [0, 1, 2, 3, 4, 7, 8, 11, 12, 16, 20, 24, 0x7F, 0x80, 0xFF, 0x100, 0x3FF, 0x400,
         0x7FFF, 0x8000, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000,
         0xFFFFFFF0, 0xFFFFFFFF]


def _span(rng, data, most=64):
    start = rng.randrange(len(data) + 1)
    return start, min(len(data), start + rng.randrange(1, most + 1))


def _lines(data):
    return data.split(b'\n')


def flip_bit(rng, data):
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]


def set_byte(rng, data):
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))]) + \
        data[at + 1:]


def insert_bytes(rng, data):
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.randrange(1, 17)) + data[at:]


def delete_range(rng, data):
    start, end = _span(rng, data)
    return data[:start] + data[end:]


def duplicate_range(rng, data):
    start, end = _span(rng, data, 512)
    return data[:end] + data[start:end] + data[end:]


def truncate(rng, data):
    return data[:rng.randrange(len(data) + 1)]


def splice_random(rng, data):
    start, end = _span(rng, data)
    return data[:start] + rng.randbytes(end - start) + data[end:]


def nul_bytes(rng, data):
    at = rng.randrange(len(data) + 1)
    return data[:at] + b'\0' * rng.randrange(1, 9) + data[at:]


def odd_unicode(rng, data):
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(ODD_BYTES) + data[at:]


def huge_number(rng, data):
    """A run of digits (or any spot) replaced by a huge or odd number."""
    digits = [at for at in range(len(data)) if 0x30 <= data[at] <= 0x39]
    number = rng.choice(HUGE_NUMBERS).encode()
    if not digits:
        at = rng.randrange(len(data) + 1)
        return data[:at] + number + data[at:]
    start = end = rng.choice(digits)
    while start > 0 and 0x30 <= data[start - 1] <= 0x39:
        start -= 1
    while end < len(data) and 0x30 <= data[end] <= 0x39:
        end += 1
    return data[:start] + number + data[end:]


def cut_line(rng, data):
    lines = _lines(data)
    del lines[rng.randrange(len(lines))]
    return b'\n'.join(lines)


def duplicate_line(rng, data):
    lines = _lines(data)
    at = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[at])
    return b'\n'.join(lines)


def swap_lines(rng, data):
    lines = _lines(data)
    first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[first], lines[second] = lines[second], lines[first]
    return b'\n'.join(lines)


def join_lines(rng, data):
    newlines = [at for at in range(len(data)) if data[at] == 0x0A]
    if not newlines:
        return data
    at = rng.choice(newlines)
    return data[:at] + data[at + 1:]


def cut_field(rng, data):
    """One separator (',' or TAB) removed, added or turned into the other."""
    seps = [at for at in range(len(data)) if data[at] in b',\t']
    if not seps:
        return data
    at = rng.choice(seps)
    replacement = rng.choice((b'', b',', b'\t', b',,', b'\t\t'))
    return data[:at] + replacement + data[at + 1:]


def set_word(rng, data):
    """A 16- or 32-bit field (either byte order) set to a value lengths meet."""
    size = rng.choice((2, 4, 4))
    if len(data) < size:
        return data
    at = rng.randrange(0, len(data) - size + 1)
    if rng.random() < 0.7:
        at -= at % size
    value = rng.choice(WORDS) & ((1 << 8 * size) - 1)
    return data[:at] + value.to_bytes(size, rng.choice(('little', 'big'))) + data[at + size:]


MUTATIONS = (flip_bit, set_byte, insert_bytes, delete_range, duplicate_range, truncate,
             splice_random, nul_bytes, odd_unicode, huge_number, cut_line, duplicate_line,
             swap_lines, join_lines, cut_field, set_word)
BINARY_MUTATIONS = (flip_bit, set_byte, insert_bytes, delete_range, duplicate_range,
                    truncate, splice_random, nul_bytes, set_word, set_word, set_word)


def mutate(rng, data, mutations=MUTATIONS):
    """data after one to four mutations, at most MAX_INPUT bytes."""
    for _ in range(rng.randrange(1, 5)):
        data = rng.choice(mutations)(rng, data)[:MAX_INPUT]
    return data


def mutate_fields(rng, data, fields, order='<'):
    """Fields of a binary format (lengths, counts, offsets, given as (offset,
    size)) set to values lengths meet; sometimes the file is then cut just
    after one of them, where a reader may look past the end."""
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        offset, size = rng.choice(fields)
        if offset + size <= len(data):
            value = rng.choice(WORDS) & ((1 << 8 * size) - 1)
            order_now = order if rng.random() < 0.8 else rng.choice('<>')
            data[offset:offset + size] = value.to_bytes(
                size, 'little' if order_now == '<' else 'big')
    if rng.random() < 0.4:
        data = data[:offset + rng.randrange(32)]
    return bytes(data)


def mutate_binary(rng, data, fields, order='<'):
    """Mutations that know the format's fields half of the time."""
    if fields and rng.random() < 0.5:
        data = mutate_fields(rng, data, fields, order)
        return mutate(rng, data, BINARY_MUTATIONS) if rng.random() < 0.3 else data
    return mutate(rng, data, BINARY_MUTATIONS)


# ---- flow files --------------------------------------------------------------

EPOCH = datetime(1970, 1, 1)
LAST_US = 4_102_444_800 * US          # 2100-01-01
PROTOS = ('tcp', 'udp', 'icmp', 'arp', 'igmp', 'ipv6-icmp', 'rtp', 'esp')
DIRS = ('   ->', '  <->', '  <-', '   ?>', '  <?>', 'who')
STATES = ('CON', 'FIN', 'INT', 'S_RA', 'SRPA_SPA', 'ECO', 'RST', 'REQ', 'S0', 'SF')
LABELS = ('flow=From-Botnet-V42-TCP-CC6-Plain-HTTP', 'flow=Background-UDP-Established',
          'flow=From-Normal-V42-Grill', 'flow=To-Background-CVUT-Proxy', '',
          'flow=Bäckground-Üdp ✓', 'Botnet')
ZEEK_LABELS = ('Malicious', 'Benign', 'Background', '-', '(empty)')
ZEEK_DETAILS = ('C&C', 'PartOfAHorizontalPortScan', 'Okiru', '-', '(empty)', 'DDoS')
OPTIONAL = ('sTos', 'dTos', 'TotPkts', 'SrcBytes', 'SrcPkts', 'Label')
ZEEK_FIELDS = ('ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto',
               'service', 'duration', 'orig_bytes', 'resp_bytes', 'conn_state', 'local_orig',
               'local_resp', 'missed_bytes', 'history', 'orig_pkts', 'orig_ip_bytes',
               'resp_pkts', 'resp_ip_bytes', 'tunnel_parents')


def digits(rng, count):
    return ''.join(rng.choice('0123456789') for _ in range(count))


def start_text(rng, epoch_only=False):
    """(a StartTime as argus or an epoch writes it, the µs it reads as)."""
    us = rng.randrange(LAST_US)
    seconds, micro = divmod(us, US)
    places = rng.choice((6, 6, 6, 0, 1, 3, 9))
    fraction = f'{micro:06d}'[:places] + digits(rng, places - 6)
    read_as = seconds * US + int((fraction + '000000')[:6])
    if epoch_only or rng.random() < 0.25:
        whole = str(seconds)
    else:
        whole = (EPOCH + timedelta(seconds=seconds)).strftime('%Y/%m/%d %H:%M:%S')
    return (f'{whole}.{fraction}' if places else whole), read_as


def decimal_text(rng, unset=('-', '')):
    """(a duration in seconds as text, its µs, may be negative)."""
    if rng.random() < 0.1:
        return rng.choice(unset), 0
    whole = rng.randrange(10 ** rng.choice((1, 3, 6, 9)))
    places = rng.choice((0, 1, 3, 6, 6, 6, 9))
    fraction = digits(rng, places)
    value = whole * US + int((fraction + '000000')[:6])
    sign = '-' if rng.random() < 0.05 else ''
    text = f'{sign}{whole}' + (f'.{fraction}' if places else '')
    return text, -value if sign else value


def count_text(rng, unset=('-', '')):
    """(a byte count as text, its value, may be negative)."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(unset), 0
    value = rng.randrange(10 ** rng.choice((1, 3, 6, 12)))
    if roll < 0.08:
        value = -value
    return str(value), value


def address(rng, proto):
    if proto == 'arp':
        return ':'.join(f'{rng.randrange(256):02x}' for _ in range(6))
    if rng.random() < 0.2:
        return socket.inet_ntop(socket.AF_INET6, rng.randbytes(16))
    return '.'.join(str(rng.randrange(256)) for _ in range(4))


def port(rng, proto):
    if proto in ('icmp', 'ipv6-icmp'):
        return f'0x{rng.randrange(65536):04x}'
    if proto == 'arp':
        return ''
    return str(rng.randrange(65536))


def udata_text(rng, side):
    """(an argus user-data field as ra prints it with Encode64, its bytes)."""
    data = rng.randbytes(rng.choice((0, 0, 1, 5, 23, 60)))
    if not data:
        return '', b''
    text = base64.b64encode(data).decode()
    return f'{side}[{len(text)}]={text}', data


class FlowCase:
    """A generated flow file: data, and what reading it must give.

    flows: the iter_flows tuples; kind, separator, has_header: its format;
    blank, management, negative: what ReadStats must count; payloads: the
    (src, dst) bytes of each flow when it has srcUdata/dstUdata, else None.
    """

    def __init__(self, kind, separator, has_header):
        self.kind, self.separator, self.has_header = kind, separator, has_header
        self.parts, self.offset, self.line_no = [], 0, 1
        self.flows, self.payloads = [], []
        self.blank = self.management = self.negative = 0

    def add(self, line, eol):
        raw = (line + eol).encode()
        self.parts.append(raw)
        start, self.offset, self.line_no = self.offset, self.offset + len(raw), self.line_no + 1
        return self.line_no - 1, start

    @property
    def data(self):
        return b''.join(self.parts)


def gen_binetflow(rng, udata=None):
    """A binetflow: comma or TAB, header (columns in any order) or none, CRLF or
    LF, spaces around fields, blank lines, management records, a byte order mark."""
    separator = rng.choice(',\t')
    header = rng.random() < 0.7
    case = FlowCase('binetflow', separator, header)
    if udata is None:
        udata = header and rng.random() < 0.3
    if header:
        names = list(flowfile.BINETFLOW_REQUIRED)
        names += [name for name in OPTIONAL if rng.random() < 0.5]
        names += ['srcUdata', 'dstUdata'] if udata else []
        rest = names[1:]
        if rng.random() < 0.5:
            rng.shuffle(rest)
        names = names[:1] + rest     # SPEC: a header's first field is StartTime
    else:
        names = list(flowfile.HEADERLESS) + ['extra'] * rng.randrange(3)
    padded = rng.random() < 0.2
    eol = rng.choice(('\n', '\n', '\r\n'))

    def pad(text):
        return ' ' * rng.randrange(3) + text + ' ' * rng.randrange(3) if padded else text

    if rng.random() < 0.1:
        case.parts.append(flowfile.BOM)
        case.offset = len(flowfile.BOM)
    if header:
        case.add(separator.join(map(pad, names)), eol)
    count = rng.randrange(0 if header else 1, 40)
    for number in range(count):
        if number and rng.random() < 0.05:
            case.add('', eol)
            case.blank += 1
        proto = 'man' if rng.random() < 0.05 else rng.choice(PROTOS)
        start, start_us = start_text(rng)
        dur, dur_us = decimal_text(rng)
        size, size_value = count_text(rng)
        label = rng.choice(LABELS)
        values = {'StartTime': start, 'Dur': dur, 'Proto': proto,
                  'SrcAddr': address(rng, proto), 'Sport': port(rng, proto),
                  'Dir': rng.choice(DIRS), 'DstAddr': address(rng, proto),
                  'Dport': port(rng, proto), 'State': rng.choice(STATES), 'sTos': '0',
                  'dTos': rng.choice(('0', '')), 'TotPkts': str(rng.randrange(1, 999)),
                  'TotBytes': size, 'SrcBytes': str(rng.randrange(999)),
                  'SrcPkts': str(rng.randrange(99)), 'Label': label,
                  'extra': rng.choice(('', 'x'))}
        src_udata, src_bytes = udata_text(rng, 's')
        dst_udata, dst_bytes = udata_text(rng, 'd')
        values.update(srcUdata=src_udata, dstUdata=dst_udata)
        line_no, offset = case.add(separator.join(pad(values[name]) for name in names),
                                   eol if number < count - 1 or rng.random() < 0.8 else '')
        if proto == 'man':
            case.management += 1
            continue
        case.negative += (dur_us < 0) + (size_value < 0)
        case.flows.append((line_no, offset, start_us, max(dur_us, 0), max(size_value, 0),
                           proto, values['SrcAddr'], values['Sport'], values['DstAddr'],
                           values['Dport'], label if 'Label' in names else ''))
        case.payloads.append((src_bytes, dst_bytes))
    if not udata:
        case.payloads = None
    return case


def zeek_header(separator, fields, spaced):
    sep = separator if not spaced else '\t'
    names = sep.join(fields)
    if spaced:
        names = names.rsplit('\t', 3)[0] + '\t' + flowfile.ZEEK_SPACED.join(fields[-3:])
    hexa = ''.join(f'\\x{ord(char):02x}' for char in separator)
    return [f'#separator {hexa}', f'#set_separator{separator},',
            f'#empty_field{separator}(empty)', f'#unset_field{separator}-',
            f'#path{separator}conn', f'#open{separator}2021-03-28-00-30-00',
            f'#fields{sep}{names}', f'#types{sep}' + sep.join('string' for _ in fields)]


def gen_zeek(rng):
    """A Zeek conn.log: its '#' header, labeled or not (IoT-23's three spaces)."""
    labeled = rng.random() < 0.5
    spaced = labeled and rng.random() < 0.3
    separator = '\t'
    fields = list(ZEEK_FIELDS) + (['label', 'detailedlabel'] if labeled else [])
    case = FlowCase('zeek', separator, True)
    eol = rng.choice(('\n', '\n', '\r\n'))
    for line in zeek_header(separator, fields, spaced):
        case.add(line, eol)
    count = rng.randrange(40)
    for number in range(count):
        proto = rng.choice(('tcp', 'udp', 'icmp'))
        start, start_us = start_text(rng, epoch_only=True)
        dur, dur_us = decimal_text(rng, unset=('-',))
        orig, orig_value = count_text(rng, unset=('-',))
        resp, resp_value = count_text(rng, unset=('-',))
        label, detail = rng.choice(ZEEK_LABELS), rng.choice(ZEEK_DETAILS)
        values = {'ts': start, 'uid': 'C' + digits(rng, 12), 'id.orig_h': address(rng, proto),
                  'id.orig_p': str(rng.randrange(65536)), 'id.resp_h': address(rng, proto),
                  'id.resp_p': str(rng.randrange(65536)), 'proto': proto,
                  'service': rng.choice(('-', 'dns', 'http', 'ssl')), 'duration': dur,
                  'orig_bytes': '0', 'resp_bytes': '-', 'conn_state': rng.choice(STATES),
                  'local_orig': 'F', 'local_resp': 'T', 'missed_bytes': '0',
                  'history': 'ShADad', 'orig_pkts': '2', 'orig_ip_bytes': orig,
                  'resp_pkts': '1', 'resp_ip_bytes': resp,
                  'tunnel_parents': rng.choice(('-', '(empty)')),
                  'label': label, 'detailedlabel': detail}
        texts = [values[name] for name in fields]
        line = separator.join(texts)
        if spaced:
            line = separator.join(texts[:-3]) + separator + flowfile.ZEEK_SPACED.join(texts[-3:])
        line_no, offset = case.add(line, eol)
        size = orig_value + resp_value
        case.negative += (dur_us < 0) + (size < 0)
        case.flows.append((line_no, offset, start_us, max(dur_us, 0), max(size, 0), proto,
                           values['id.orig_h'], values['id.orig_p'], values['id.resp_h'],
                           values['id.resp_p'],
                           flowfile._zeek_label(label, detail) if labeled else ''))
    if rng.random() < 0.5:
        case.add(f'#close{separator}2021-03-28-01-00-00', eol)
    case.payloads = None
    return case


class Trickle:
    """A stream that hands its bytes on in pieces of the sizes given (cycled),
    the way a pipe gives what has arrived."""

    def __init__(self, data, sizes):
        self.data, self.sizes, self.at, self.turn = data, sizes, 0, 0

    def read(self, size):
        piece = min(size, self.sizes[self.turn % len(self.sizes)])
        self.turn += 1
        chunk = self.data[self.at:self.at + piece]
        self.at += len(chunk)
        return chunk


def read_file(path):
    """(flows, stats) of the file read one tuple per flow, or the UserError."""
    stats = ReadStats()
    outcome = settle(lambda: list(flowreading.iter_flows(path, stats=stats)))
    return outcome if failed(outcome) else (outcome, stats)


def read_stream(rng, data):
    stats = ReadStats()
    sizes = [rng.choice((1, 2, 7, 100, 4096, 1 << 20)) for _ in range(rng.randrange(1, 5))]
    lines = rng.choice((1, 2, 3, 10, flowfile.STREAM_LINES))
    blocks = settle(lambda: list(flowfile.iter_stream_blocks(Trickle(data, sizes), stats=stats,
                                                             max_lines=lines)))
    if failed(blocks):
        return blocks
    return [flow for block in blocks for flow in zip(*block)], stats


def read_parts(path, size, fmt, parts):
    """The flows of the file read in parts, as flowtable reads large files, and
    whether a part met a header (then flowtable reads the file in one go)."""
    cuts = flowfile.line_starts(path, size, parts)
    ranges = zip(cuts, cuts[1:] + [(size, None)])
    flows, headers, malformed = [], 0, 0
    for (begin, first_line), (end, _) in ranges:
        stats = ReadStats()
        for block in flowfile.iter_blocks(path, fmt, stats, begin, end, first_line):
            flows.extend(zip(*block))
        headers += stats.headers_skipped
        malformed += stats.malformed
    return flows, headers, malformed


def reread(line, fmt):
    """What the single-value parsers make of one flow line (the reader's fast
    paths must agree with them)."""
    if fmt.extra_separator:
        line = line.replace(fmt.extra_separator, fmt.separator)
    fields = line.split(fmt.separator)
    column = fmt.columns

    def text(name):
        return fields[column[name]].strip()

    start = flowfile.parse_time_us(fields[column['start']])
    dur = max(flowfile.parse_duration_us(fields[column['dur']]), 0)
    if 'bytes' in column:
        size = flowfile.parse_int(fields[column['bytes']])
    else:
        size = (flowfile.parse_int(fields[column['orig_bytes']])
                + flowfile.parse_int(fields[column['resp_bytes']]))
    label = text('label') if 'label' in column else ''
    if fmt.kind == 'zeek' and 'label' in column:
        detail = text('detailed_label') if 'detailed_label' in column else '-'
        label = flowfile._zeek_label(label, detail)
    return (start, dur, max(size, 0), text('proto'), text('src'), text('sport'), text('dst'),
            text('dport'), label)


def check_flows_agree(rng, inputs, data):
    """The properties every input (valid or not) of the flow readers keeps."""
    path = inputs.write(data)
    whole = read_file(path)
    fmt = settle(flowfile.sniff_format, path)
    settle(filetypes.detect_type, path)
    summary = settle(flowfile.summarize, path)
    if data:
        stream = read_stream(rng, data)
        assert failed(stream) == failed(whole), (stream, whole)
        if not failed(whole):
            assert stream == whole
    if failed(whole):
        assert failed(fmt) or failed(summary)
        return whole
    flows, stats = whole
    assert not failed(fmt) and not failed(summary)
    assert stats.flows == len(flows) == summary['flows']
    assert len({flow[0] for flow in flows}) == len(flows)
    blocks = [flow for block in flowfile.iter_blocks(path) for flow in zip(*block)]
    assert blocks == flows
    if stats.headers_skipped == 0:
        for flow in flows[:50]:
            assert flow[2:] == reread(flowfile.line_at(path, flow[1]), fmt), flow
    parted, headers, malformed = read_parts(path, len(data), fmt, rng.choice((2, 3, 4)))
    if not headers:
        assert parted == flows
        assert malformed == stats.malformed
    if fmt.columns.keys() >= {'src_udata', 'dst_udata'} and fmt.kind == 'binetflow':
        offsets = [flow[1] for flow in flows[:20]]
        offsets += [rng.randrange(len(data)) for _ in range(rng.randrange(3))]
        pairs = settle(payload.flow_payloads, path, fmt, offsets)
        if not failed(pairs):
            assert len(pairs) == len(offsets)
            assert all(isinstance(side, bytes) for pair in pairs for side in pair)
    return whole


def check_flow_case(rng, inputs, case):
    """A generated flow file reads exactly as written."""
    outcome = check_flows_agree(rng, inputs, case.data)
    assert not failed(outcome), outcome
    flows, stats = outcome
    assert flows == case.flows
    assert (stats.blank, stats.management, stats.negative, stats.malformed) == \
        (case.blank, case.management, case.negative, 0)
    path = inputs.write(case.data)
    fmt = flowfile.sniff_format(path)
    assert (fmt.kind, fmt.separator, fmt.has_header) == \
        (case.kind, case.separator, case.has_header)
    assert filetypes.detect_type(path) == case.kind
    summary = flowfile.summarize(path)
    starts = [flow[2] for flow in flows]
    assert (summary['first_us'], summary['last_us']) == \
        ((min(starts), max(starts)) if starts else (None, None))
    if case.payloads is not None and flows:
        assert payload.flow_payloads(path, fmt, [flow[1] for flow in flows]) == case.payloads


def prop_binetflow(rng, inputs):
    case = gen_binetflow(rng)
    check_flow_case(rng, inputs, case)
    check_flows_agree(rng, inputs, mutate(rng, case.data))


def prop_zeek(rng, inputs):
    case = gen_zeek(rng)
    check_flow_case(rng, inputs, case)
    check_flows_agree(rng, inputs, mutate(rng, case.data))


# ---- letters TSV ---------------------------------------------------------------

STATE_LETTERS = 'abcdefghiABCDEFGHIrstuvwxyzRSTUVWXYZ1234567890.,+*'
ID_CHARS = 'abcdefxyz0123456789.:-_/ "\'\\#=()[]{}<>;|äé✓\u00a0'


def gen_letters(rng):
    """(conn, flows, label, state) rows as models -e writes them; ids repeat,
    and some look like the name a repeat is given ('ID#2')."""
    rows = []
    for _ in range(rng.randrange(30)):
        if rows and rng.random() < 0.1:
            conn = rng.choice(rows)[0]
        elif rows and rng.random() < 0.05:
            conn = f'{rng.choice(rows)[0]}#{rng.randrange(2, 4)}'
        elif rng.random() < 0.7:
            proto = rng.choice(PROTOS)
            conn = (f'{address(rng, proto)}-{address(rng, proto)}-{port(rng, proto)}-'
                    f'{proto}')
        else:
            conn = ''.join(rng.choice(ID_CHARS) for _ in range(rng.randrange(1, 30)))
        label = rng.choice(('', '', 'From-Botnet-TCP-HTTP-CC12-1', 'To-Normal-UDP-DNS-1',
                            'Background', 'weird label ✓ "quoted"'))
        state = ''.join(rng.choice(STATE_LETTERS) for _ in range(rng.randrange(60)))
        rows.append((conn, rng.randrange(10 ** rng.choice((1, 3, 9))), label, state))
    return rows


def expected_letters(rows):
    """What letterstsv.read gives for rows: every model under a name of its own,
    a repeated id ID#2, ID#3, ... (the first that no row of the file and no
    other repeat has)."""
    in_file = {conn for conn, *_ in rows}
    models, labels = [], {}
    for conn, flows, label, state in rows:
        taken = {model[0] for model in models}
        name, repeat = conn, 1
        while name in taken or (repeat > 1 and name in in_file):
            repeat += 1
            name = f'{conn}#{repeat}'
        models.append((name, flows, state))
        if label:
            labels[name] = label
    return models, labels


def check_letters(inputs, data):
    path = inputs.write(data)
    kind = settle(filetypes.detect_type, path)
    outcome = settle(letterstsv.read, path)
    if not failed(outcome):
        rows, labels = outcome
        assert all(isinstance(flows, int) and flows >= 0 for _, flows, _ in rows)
        assert len({conn for conn, _, _ in rows}) == len(rows)
        assert set(labels) <= {conn for conn, _, _ in rows}
    return kind, outcome


def prop_letters(rng, inputs):
    rows = gen_letters(rng)
    text = io.StringIO(newline='')
    letterstsv.write(text, rows)
    data = text.getvalue().encode()
    kind, outcome = check_letters(inputs, data)
    assert kind == 'letters'
    assert outcome == expected_letters(rows)
    check_letters(inputs, mutate(rng, data))


# ---- file types ---------------------------------------------------------------

def prop_filetypes(rng, inputs):
    """Every generated input is told by its content; a damaged one is one of the
    accepted types or refused in one line."""
    kind, data = rng.choice(GENERATORS)(rng)
    path = inputs.write(data)
    assert filetypes.detect_type(path) == kind
    path = inputs.write(mutate(rng, data))
    found = settle(filetypes.detect_type, path)
    assert failed(found) or found in filetypes.ACCEPTED_TYPES


# ---- captures ------------------------------------------------------------------

CLIENT, SERVER = b'\x0a\x00\x00\x01', b'\x0a\x00\x00\x02'
OTHER = b'\x0a\x00\x00\x03'


def dns_message(rng):
    """A DNS query or response written by dpkt."""
    names = ['.'.join(''.join(rng.choice('abcxyz019-') for _ in range(rng.randrange(1, 12)))
                      for _ in range(rng.randrange(1, 4))) for _ in range(rng.randrange(1, 3))]
    kind = rng.choice((dpkt.dns.DNS_A, dpkt.dns.DNS_AAAA, dpkt.dns.DNS_MX, dpkt.dns.DNS_TXT,
                       dpkt.dns.DNS_CNAME, 65, 255))
    message = dpkt.dns.DNS(id=rng.randrange(65536), op=dpkt.dns.DNS_RD,
                           qd=[dpkt.dns.DNS.Q(name=name, type=kind, cls=dpkt.dns.DNS_IN)
                               for name in names])
    if rng.random() < 0.5:
        message.qr, message.rcode = dpkt.dns.DNS_R, rng.choice((0, 0, 2, 3, 5, 9))
        records = []
        for _ in range(rng.randrange(4)):
            record = dpkt.dns.DNS.RR(name=rng.choice(names), cls=dpkt.dns.DNS_IN,
                                     ttl=rng.randrange(1 << 31))
            pick = rng.randrange(5)
            if pick == 0:
                record.type, record.rdata = dpkt.dns.DNS_A, rng.randbytes(4)
            elif pick == 1:
                record.type, record.rdata = dpkt.dns.DNS_AAAA, rng.randbytes(16)
            elif pick == 2:
                record.type, record.cname = dpkt.dns.DNS_CNAME, rng.choice(names)
            elif pick == 3:
                record.type, record.text = dpkt.dns.DNS_TXT, [b'v=spf1 -all', b'\x1b[2J']
            else:
                record.type, record.rdata = rng.choice((65, 99, 43)), rng.randbytes(5)
            records.append(record)
        message.an = records
    return bytes(message), names, message


def frame(rng, linktype):
    """(an Ethernet or raw IP frame, the (direction, payload) it is for the DNS
    conversation CLIENT -> SERVER:53 over UDP, or None)."""
    roll = rng.randrange(4)
    if roll < 2:
        data = dns_message(rng)[0]
        ends, ports = ((CLIENT, SERVER), (40000, 53)) if roll == 0 else \
            ((SERVER, CLIENT), (53, 40000))
        segment = dpkt.udp.UDP(sport=ports[0], dport=ports[1], data=data)
        segment.ulen = len(segment)
        hit = ('->' if roll == 0 else '<-', data)
    else:
        data = rng.choice((b'GET / HTTP/1.1\r\nHost: x\r\n\r\n', rng.randbytes(40), b''))
        segment = dpkt.tcp.TCP(sport=40001, dport=80, flags=dpkt.tcp.TH_ACK, data=data)
        ends, hit = ((CLIENT, OTHER) if roll == 2 else (CLIENT, SERVER)), None
    number = dpkt.ip.IP_PROTO_UDP if isinstance(segment, dpkt.udp.UDP) else \
        dpkt.ip.IP_PROTO_TCP
    packet = dpkt.ip.IP(src=ends[0], dst=ends[1], p=number, ttl=64, data=segment)
    packet.len = len(packet)
    if linktype == dpkt.pcap.DLT_EN10MB:
        packet = dpkt.ethernet.Ethernet(src=b'\x02' * 6, dst=b'\x04' * 6, data=packet)
    return bytes(packet), hit


class CaptureCase:
    """A generated capture: data, kind, and what scanning it must give.

    times: each packet's time in µs; ends: the byte offset where each packet's
    record ends (and the headers before the first); hits: what pcap_payloads
    gives for the DNS conversation; fields: (offset, size) of the numbers in
    headers (lengths, times, link types), in byte order `order`."""

    def __init__(self, kind, linktype, order='<'):
        self.kind, self.linktype, self.order = kind, linktype, order
        self.times, self.ends, self.hits, self.fields = [], [], [], []
        self.data = b''


def packet_times(rng, divisor):
    """Packet times as (seconds, fraction) with fraction in 1/divisor s:
    mostly in order, sometimes back in time or far away."""
    seconds = rng.choice((0, 1_600_000_000, rng.randrange(1 << 32)))
    times = []
    for _ in range(rng.randrange(30)):
        if rng.random() < 0.1:
            seconds = rng.randrange(1 << 32)
        else:
            seconds = min(seconds + rng.choice((0, 0, 1, 60, 4000)), (1 << 32) - 1)
        times.append((seconds, rng.randrange(divisor)))
    return times


def gen_pcap(rng):
    """A pcap in either byte order, micro- or nanoseconds, Ethernet or raw IP;
    little-endian ones are written by dpkt's Writer, big-endian by dpkt's headers."""
    nano = rng.random() < 0.5
    order = rng.choice('<>')
    linktype = rng.choice((dpkt.pcap.DLT_EN10MB, dpkt.pcap.DLT_RAW))
    case = CaptureCase('pcap', linktype, order)
    divisor = 10 ** 9 if nano else US
    stream = io.BytesIO()
    if order == '<':
        writer = dpkt.pcap.Writer(stream, snaplen=65535, linktype=linktype, nano=nano)
    else:
        stream.write(bytes(dpkt.pcap.FileHdr(
            magic=dpkt.pcap.TCPDUMP_MAGIC_NANO if nano else dpkt.pcap.TCPDUMP_MAGIC,
            snaplen=65535, linktype=linktype)))
    case.ends.append(stream.tell())
    for seconds, fraction in packet_times(rng, divisor):
        data, hit = frame(rng, linktype)
        if order == '<':
            writer.writepkt(data, ts=Decimal(seconds) + Decimal(fraction) / divisor)
        else:
            stream.write(bytes(dpkt.pcap.PktHdr(tv_sec=seconds, tv_usec=fraction,
                                                caplen=len(data), len=len(data))) + data)
        case.times.append(seconds * US + fraction * US // divisor)
        case.fields += [(case.ends[-1] + at, 4) for at in (0, 4, 8, 12)]
        case.ends.append(stream.tell())
        if hit:
            case.hits.append(hit)
    case.data = stream.getvalue()
    case.fields += [(16, 4), (20, 4), (20, 2)]
    return case


def gen_pcapng(rng):
    """A pcapng in either byte order: a section, one or two interfaces (µs or ns,
    maybe a time offset), enhanced packet blocks. Little-endian ones are written
    by dpkt.pcapng.Writer, big-endian ones from dpkt's big-endian blocks."""
    little = rng.random() < 0.5
    linktype = rng.choice((dpkt.pcap.DLT_EN10MB, dpkt.pcap.DLT_RAW))
    case = CaptureCase('pcapng', linktype)
    ng = dpkt.pcapng
    option = ng.PcapngOptionLE if little else ng.PcapngOption
    interfaces = []
    for _ in range(rng.choice((1, 1, 2))):
        resolution = rng.choice((None, 6, 9))
        shift = rng.choice((None, None, rng.randrange(-1000, 1 << 31)))
        options = []
        if resolution is not None:
            options.append(option(code=ng.PCAPNG_OPT_IF_TSRESOL, data=bytes([resolution])))
        if shift is not None:
            options.append(option(code=14, data=struct.pack('<q' if little else '>q', shift)))
        if options:
            options.append(option(code=ng.PCAPNG_OPT_ENDOFOPT))
        block = (ng.InterfaceDescriptionBlockLE if little else ng.InterfaceDescriptionBlock)(
            snaplen=65535, linktype=linktype, opts=options)
        interfaces.append((block, 10 ** ((resolution or 6) - 6), (shift or 0) * US))
    section = ng.SectionHeaderBlockLE() if little else ng.SectionHeaderBlock()
    stream = io.BytesIO()
    if little:
        writer = ng.Writer(stream, shb=section, idb=[block for block, *_ in interfaces])
    else:
        stream.write(bytes(section) + b''.join(bytes(block) for block, *_ in interfaces))
    case.ends.append(stream.tell())
    packet_class = ng.EnhancedPacketBlockLE if little else ng.EnhancedPacketBlock
    for _ in range(rng.randrange(30)):
        interface = rng.randrange(len(interfaces))
        _, ticks_per_us, shift = interfaces[interface]
        ticks = rng.choice((1_600_000_000 * US, rng.randrange(1 << 52))) * ticks_per_us + \
            rng.randrange(ticks_per_us) + 1     # not 0: dpkt's Writer would put the time now
        data, hit = frame(rng, linktype)
        block = packet_class(iface_id=interface, ts_high=ticks >> 32, ts_low=ticks & 0xFFFFFFFF,
                             caplen=len(data), pkt_len=len(data), pkt_data=data)
        if little:
            writer.writepkt(block)
        else:
            stream.write(bytes(block))
        case.times.append(ticks // ticks_per_us + shift)
        case.ends.append(stream.tell())
        if hit:
            case.hits.append(hit)
    case.data = stream.getvalue()
    # every block's type, length, trailing length and first fields
    starts = [0, len(bytes(section))]
    for block, *_ in interfaces:
        starts.append(starts[-1] + len(bytes(block)))
    for start, end in zip(starts[:-1] + case.ends[:-1], starts[1:] + case.ends[1:]):
        case.fields += [(start, 4), (start + 4, 4), (end - 4, 4), (start + 8, 4),
                        (start + 8, 2), (start + 20, 4), (start + 24, 4)]
    case.order = '<' if little else '>'
    return case


def check_capture(inputs, data, kind):
    """The properties every capture (valid or not) keeps; the scan or None."""
    path = inputs.write(data)
    settle(filetypes.detect_type, path)
    if not data:
        return None
    scan = settle(filescan.scan_file, path, kind, bin_seconds=300)
    if not failed(scan):
        assert scan['size'] == len(data)
        assert scan['sha256'] == hashlib.sha256(data).hexdigest()
        assert sum(count for _, count in scan['bins']) <= scan['packets']
        assert scan['truncated'] is None or '\n' not in scan['truncated']
    found = settle(payload.pcap_payloads, path, '10.0.0.1', '10.0.0.2', 53, 'udp', limit=5)
    if not failed(found):
        assert len(found) <= 5
    stats = dnsstats.DnsStats()
    connections = settle(dnsstats.read_capture, path, stats, connections=True)
    assert failed(connections) or stats.messages == stats.queries + stats.responses
    return scan


def check_dns_statistics(case, path):
    """Each DNS packet of the conversation is one message, a query or a response as its
    QR bit says; the other packets make one connection per pair of addresses."""
    stats = dnsstats.DnsStats()
    connections = dnsstats.read_capture(path, stats, connections=True)
    responses = sum(1 for _, data in case.hits if data[2] & 0x80)
    assert (stats.messages, stats.responses) == (len(case.hits), responses)
    assert len(connections) <= 2 and not stats.cut


def check_capture_case(rng, inputs, case):
    scan = check_capture(inputs, case.data, case.kind)
    path = inputs.write(case.data)
    assert filetypes.detect_type(path) == case.kind
    times = case.times
    assert scan['packets'] == len(times)
    assert (scan['first_us'], scan['last_us']) == ((min(times), max(times)) if times else
                                                   (None, None))
    assert scan['md5'] == hashlib.md5(case.data).hexdigest()
    assert scan['linktype'] == case.linktype and scan['truncated'] is None
    assert sum(count for _, count in scan['bins']) == len(times)
    found = payload.pcap_payloads(path, '10.0.0.1', '10.0.0.2', 53, 'udp', limit=1000)
    assert [(way, data) for _, way, data in found] == case.hits
    check_dns_statistics(case, path)
    # Cut anywhere: the packets whose records are whole are counted, and the cut
    # is told unless it falls between two records.
    cut = rng.randrange(case.ends[0], len(case.data) + 1)
    scan = check_capture(inputs, case.data[:cut], case.kind)
    whole = sum(1 for end in case.ends[1:] if end <= cut)
    assert scan['packets'] == whole
    assert (scan['truncated'] is None) == (cut in case.ends), (cut, scan['truncated'])


def prop_pcap(rng, inputs):
    case = gen_pcap(rng)
    check_capture_case(rng, inputs, case)
    check_capture(inputs, mutate_binary(rng, case.data, case.fields, case.order), case.kind)


def prop_pcapng(rng, inputs):
    case = gen_pcapng(rng)
    check_capture_case(rng, inputs, case)
    check_capture(inputs, mutate_binary(rng, case.data, case.fields, case.order), case.kind)


# ---- payloads ------------------------------------------------------------------

TEXTS = (b'GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\n\r\n',
         b'220 mail.example.com ESMTP Postfix\r\nEHLO x\r\n',
         b'NICK bot\r\nJOIN #cc\tkey\r\n', b'SSH-2.0-OpenSSH_8.9\r\n')


def gen_client_hello(rng):
    """A TLS record with a ClientHello of random ciphers and extensions (a server name
    among them), and the hello's size."""
    def vector(data, size=2):
        return len(data).to_bytes(size, 'big') + data
    host = rng.choice((b'example.com', b'c2.evil.test', rng.randbytes(rng.randrange(1, 30))))
    extensions = [(0, vector(b'\x00' + vector(host)))] + [
        (rng.randrange(65536), rng.randbytes(rng.randrange(40))) for _ in range(rng.randrange(20))]
    rng.shuffle(extensions)
    body = (b'\x03\x03' + rng.randbytes(32) + vector(rng.randbytes(rng.choice((0, 32))), 1)
            + vector(rng.randbytes(2 * rng.randrange(1, 60))) + b'\x01\x00'
            + vector(b''.join(kind.to_bytes(2, 'big') + vector(data) for kind, data in extensions)))
    message = b'\x01' + len(body).to_bytes(3, 'big') + body
    return b'\x16\x03\x01' + vector(message), len(body)


JA4 = re.compile(r't(1[0-3]|s[23]|d[123]|00)[di]\d{4}[0-9A-Za-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}')


def check_client_hello(rng):
    """A whole hello has its fingerprints; cut anywhere, it says so and has none."""
    data, size = gen_client_hello(rng)
    hello = tls.parse_hello(data)
    assert (hello.size, hello.truncated, hello.malformed) == (size, False, False)
    assert JA4.fullmatch(tls.ja4(hello)) and len(tls.ja3(hello)) == 32
    cut = tls.parse_hello(data[:rng.randrange(10, len(data))])
    assert cut.truncated and tls.ja3(cut) is tls.ja4(cut) is None
    return data


def gen_payload(rng):
    """(payload bytes, proto, port, the DNS message's question names or None)."""
    roll = rng.randrange(5)
    if roll == 4:
        return check_client_hello(rng), 'tcp', rng.choice((443, 8443, 80)), None
    if roll == 0:
        data, names, _ = dns_message(rng)
        if rng.random() < 0.3:
            return len(data).to_bytes(2, 'big') + data, 'tcp', 53, names
        return data, 'udp', rng.choice((53, 5353, 5355)), names
    if roll == 1:
        return rng.choice(TEXTS), 'tcp', rng.choice((80, 25, 6667, 22)), None
    return rng.randbytes(rng.randrange(1, 600)), rng.choice(('tcp', 'udp', 'icmp')), \
        rng.choice((53, 80, 443, '0x0008', '')), None


def unhexdump(lines):
    """The bytes a hexdump shows, read back from its hex columns; a '*' repeats the line
    before it up to the offset of the line after it (the length, when it ends the dump)."""
    data = b''
    for number, line in enumerate(lines):
        if line == '*':
            line_bytes = data[-16:]
            data += line_bytes * ((int(lines[number + 1][:8], 16) - len(data)) // 16)
        elif len(line) > 8:
            data += bytes.fromhex(line[10:58])
    return data


def hex_field(data, side='s'):
    """ra's Encode32 form: upper-case hex, N the digit count rounded up to 4."""
    text = data.hex().upper()
    return f'{side}[{-(-len(text) // 4) * 4}]={text}'


def check_payload_views(inputs, data, proto, port):
    """Whatever the bytes, the views are safe for a terminal."""
    inputs.note(data)
    lines = payload.payload_lines(data, proto, port)
    assert all(isinstance(line, str) and printable(line) for line in lines)
    for udp in (True, False):
        summary = payload.dns_summary(data, udp=udp)
        assert summary is None or printable(summary)
        dnsnames.DnsNames().add(0, data, udp)
        stats = dnsstats.DnsStats()
        stats.add(0, '10.0.0.1', '10.0.0.2', data, udp)
        assert stats.messages == stats.queries + stats.responses
        assert all(dnsstats.entropy(name) >= 0 for name in stats.names)
    text = payload.as_text(data)
    assert text is None or printable(text, newlines=True)
    dump = payload.hexdump(data)
    assert all(printable(line) for line in dump) and unhexdump(dump) == data


def check_udata(inputs, text):
    inputs.note(text)
    for encoding in (None, 'base64', 'hex'):
        decoded = settle(payload.decode_udata, text, encoding)
        assert failed(decoded) or isinstance(decoded, bytes)
    assert payload.udata_encoding([text]) in (None, 'base64', 'hex')


def prop_payload(rng, inputs):
    data, proto, port, names = gen_payload(rng)
    check_payload_views(inputs, data, proto, port)
    if names is not None:
        summary = payload.dns_summary(data, udp=proto == 'udp')
        assert summary.startswith('DNS ') and all(name in summary for name in names), summary
        (message,) = dnsnames.messages(data, udp=proto == 'udp')
        assert [name for name, _ in message.questions] == [name.encode() for name in names]
    if data in TEXTS:
        assert payload.as_text(data) == data.decode().replace('\r\n', '\n').expandtabs(8)
    # ra's fields decode to the bytes they were made from
    field = f's[{len(base64.b64encode(data))}]={base64.b64encode(data).decode()}'
    assert payload.decode_udata(field) == data
    assert payload.decode_udata(hex_field(data), 'hex') == data
    assert payload.decode_udata('') == b''
    damaged = mutate(rng, data)
    check_payload_views(inputs, damaged, proto, port)
    for text in (field, hex_field(data)):
        check_udata(inputs, mutate(rng, text.encode()).decode('utf-8', 'replace'))


# ---- PE --------------------------------------------------------------------------

# format -> (optional header magic, data directories offset, thunk format, ordinal flag)
PE_FORMATS = {'PE32': (0x10B, 96, '<I', 1 << 31), 'PE32+': (0x20B, 112, '<Q', 1 << 63)}
SECTION_NAMES = (b'.text', b'.rdata', b'.data', b'.rsrc', b'.reloc', b'UPX0', b'CODE')
DLL_NAMES = (b'KERNEL32.dll', b'WS2_32.dll', b'ADVAPI32.dll', b'user32.dll', b'WININET.dll')
FUNCTIONS = (b'ExitProcess', b'GetProcAddress', b'LoadLibraryA', b'connect', b'send',
             b'InternetOpenA', b'RegSetValueExA')
IDATA = b'.idata'


class PECase:
    """A generated PE: data, what pe_details must give of it (pe_view), and
    fields ((offset, size) of its header fields, section table, import
    descriptors)."""

    def __init__(self, data, summary, fields):
        self.data, self.summary, self.fields = data, summary, fields


def import_section(rng, rva, thunk, ordinal_flag):
    """(.idata bytes at rva, [(dll, function name or ordinal)]): descriptors, lookup tables,
    hint/name entries and DLL names; some DLLs only have an address table (old
    Borland linkers), some functions are imported by ordinal."""
    dlls = [(rng.choice(DLL_NAMES), rng.randrange(8)) for _ in range(rng.randrange(1, 4))]
    size = struct.calcsize(thunk)
    section = bytearray(0x800)
    tables = 20 * (len(dlls) + 1)
    strings = tables + sum((functions + 1) * size for _, functions in dlls)
    imported = []
    for number, (dll, functions) in enumerate(dlls):
        struct.pack_into(f'{len(dll) + 1}s', section, strings, dll)
        name_rva, strings = rva + strings, strings + len(dll) + 2
        table_rva = rva + tables
        for function in range(functions):
            if rng.random() < 0.2:
                ordinal = rng.randrange(1, 999)
                struct.pack_into(thunk, section, tables, ordinal_flag | ordinal)
                imported.append((dll.decode(), ordinal))
            else:
                name = rng.choice(FUNCTIONS)
                struct.pack_into(f'<H{len(name) + 1}s', section, strings, 0, name)
                struct.pack_into(thunk, section, tables, rva + strings)
                strings += len(name) + 4
                imported.append((dll.decode(), name.decode()))
            tables += size
        tables += size    # the terminating zero entry
        lookup = table_rva if rng.random() < 0.8 else 0
        struct.pack_into('<IIIII', section, 20 * number, lookup, 0, 0, name_rva, table_rva)
    return bytes(section), imported


def gen_pe(rng):
    """A PE32 or PE32+ of one to four sections, maybe with imports."""
    kind = rng.choice(tuple(PE_FORMATS))
    magic, directories, thunk, ordinal_flag = PE_FORMATS[kind]
    machine = rng.choice(tuple(peinfo.MACHINES))
    subsystem = rng.choice((0, 1, 2, 3, 9, 10, 14, 77))
    stamp = rng.randrange(1 << 32)
    count = rng.randrange(1, 5)
    directory_count = rng.choice((16, 16, 16, 2, 1))
    imports = directory_count >= 2 and rng.random() < 0.7
    optional_size = directories + 8 * directory_count
    coff = rng.choice((0x40, 0x80, 0xE8, 0x100))
    image = bytearray(0x400)
    image[:2] = b'MZ'
    struct.pack_into('<I', image, 0x3C, coff)
    image[coff:coff + 4] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', image, coff + 4, machine, count, stamp, 0, 0,
                     optional_size, 0x102)
    optional = coff + 24
    struct.pack_into('<H', image, optional, magic)
    struct.pack_into('<II', image, optional + 32, 0x1000, 0x200)
    struct.pack_into('<H', image, optional + 68, subsystem)
    struct.pack_into('<I', image, optional + directories - 4, directory_count)
    sections, bodies, expected_imports = [], [], []
    raw_pointer = 0x400
    fields = [(0x3C, 4), (coff + 6, 2), (coff + 20, 2), (optional, 2), (optional + 36, 4),
              (optional + directories - 4, 4), (optional + directories + 8, 4),
              (optional + directories + 12, 4)]
    for number in range(count):
        rva = 0x1000 * (number + 1)
        if imports and number == count - 1:
            body, expected_imports = import_section(rng, rva, thunk, ordinal_flag)
            name = IDATA
            struct.pack_into('<II', image, optional + directories + 8, rva, 20)
        else:
            body = rng.randbytes(0x200 * rng.randrange(3))
            name = rng.choice(SECTION_NAMES)
        virtual = rng.randrange(len(body) or 1, 0x1000)
        table = optional + optional_size + 40 * number
        struct.pack_into('<8sIIII', image, table, name, virtual, rva, len(body),
                         raw_pointer if body else 0)
        fields += [(table + at, 4) for at in (8, 12, 16, 20)]
        if name == IDATA:
            fields += [(raw_pointer + at, 4)
                       for at in range(0, 20 * (len(expected_imports) + 1), 4)]
        sections.append((name.decode(), virtual, len(body)))
        bodies.append(body)
        raw_pointer += len(body)
    data = bytes(image) + b''.join(bodies)
    summary = {
        'machine': peinfo.MACHINES[machine], 'compile_time': stamp,
        'subsystem': peinfo.SUBSYSTEMS.get(subsystem, f'unknown ({subsystem})'),
        'format': kind, 'sections': sections, 'imports': expected_imports,
        'imphash': imphash(expected_imports), 'exports': [], 'version': []}
    return PECase(data, summary, fields)


def imphash(imports):
    """The imphash as Mandiant documents it, of [(dll, name or ordinal)]; the
    ordinals generated here are named only for WS2_32 (pefile's table)."""
    if not imports:
        return ''
    import ordlookup    # pefile's table of ordinal names: data, not the hash
    names = []
    for dll, function in imports:
        if isinstance(function, int):
            function = ordlookup.ordLookup(dll.lower().encode(), function, True)
            function = function.decode()
        names.append(f"{dll.lower().removesuffix('.dll')}.{function.lower()}")
    return hashlib.md5(','.join(names).encode()).hexdigest()


def pe_view(details):
    """What a generated PE fixes of pe_details: the sections' names and sizes,
    imports as (dll, name or ordinal)."""
    if failed(details):
        return details
    return {**{key: details[key] for key in ('machine', 'compile_time', 'subsystem', 'format',
                                             'imphash', 'exports', 'version')},
            'sections': [(name, virtual, raw) for name, virtual, raw, *_ in details['sections']],
            'imports': [(dll, function if ordinal is None else ordinal)
                        for dll, function, ordinal, _hint in details['imports']]}


CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f]')


def check_pe(inputs, data):
    path = inputs.write(data)
    settle(filetypes.detect_type, path)
    if not data:
        return None
    details = settle(peinfo.pe_details, path)
    if not failed(details):
        texts = [details['imphash'], *details['warnings']]
        texts += [cell for row in details['imports'] + details['exports'] + details['sections']
                  + details['version'] for cell in row if isinstance(cell, str)]
        assert not any(CONTROL.search(text) for text in texts), texts
        assert all(entropy is None or 0 <= entropy <= 8
                   for *_, entropy, _flags in details['sections'])
    return details


def prop_pe(rng, inputs):
    case = gen_pe(rng)
    assert pe_view(check_pe(inputs, case.data)) == case.summary
    assert filetypes.detect_type(inputs.write(case.data)) == 'pe'
    check_pe(inputs, mutate_binary(rng, case.data, case.fields))


# ---- every generator, for detect_type --------------------------------------------

def _letters_data(rng):
    text = io.StringIO(newline='')
    letterstsv.write(text, gen_letters(rng))
    return text.getvalue().encode()


GENERATORS = (
    lambda rng: ('binetflow', gen_binetflow(rng).data),
    lambda rng: ('zeek', gen_zeek(rng).data),
    lambda rng: ('letters', _letters_data(rng)),
    lambda rng: ('pcap', gen_pcap(rng).data),
    lambda rng: ('pcapng', gen_pcapng(rng).data),
    lambda rng: ('pe', gen_pe(rng).data),
)

# reader -> its property; bench/bench_fuzz.py runs these.
PROPERTIES = {
    'binetflow': prop_binetflow,
    'zeek conn.log': prop_zeek,
    'letters TSV': prop_letters,
    'file types': prop_filetypes,
    'pcap': prop_pcap,
    'pcapng': prop_pcapng,
    'payloads': prop_payload,
    'PE': prop_pe,
}


def run_case(prop, rng, inputs):
    """One case of a property within the limits of a case."""
    with bounded():
        prop(rng, inputs)


# ---- the tests -------------------------------------------------------------------

# Shrinking a failure of these cases takes hypothesis minutes; the failure's
# input is printed whole anyway. STF_SHRINK=1 lets it shrink.
PHASES = tuple(Phase) if os.environ.get('STF_SHRINK') == '1' else \
    (Phase.explicit, Phase.reuse, Phase.generate)
CASES = {'binetflow': 60, 'zeek conn.log': 40, 'letters TSV': 40, 'file types': 30,
         'pcap': 40, 'pcapng': 40, 'payloads': 50, 'PE': 50}


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """Where the cases write their inputs; tracemalloc runs while they do, so
    that each case only resets its peak."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    yield Inputs(tmp_path_factory.mktemp('properties'))
    if started:
        tracemalloc.stop()


def _property_test(name):
    @settings(max_examples=CASES[name], derandomize=True, database=None,
              deadline=timedelta(seconds=5), print_blob=True, phases=PHASES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(rng=st.randoms(use_true_random=False))
    def test(inputs, rng):
        try:
            run_case(PROPERTIES[name], rng, inputs)
        except BaseException:
            note(f'the last input read: {inputs.current!r}')
            raise
    test.__name__ = f'test_{name.split()[0].lower()}_property'
    test.__doc__ = f'{name}: generated inputs read exactly, damaged ones never break.'
    return test


test_binetflow_property = _property_test('binetflow')
test_zeek_property = _property_test('zeek conn.log')
test_letters_property = _property_test('letters TSV')
test_file_property = _property_test('file types')
test_pcap_property = _property_test('pcap')
test_pcapng_property = _property_test('pcapng')
test_payloads_property = _property_test('payloads')
test_pe_property = _property_test('PE')


def test_the_guard_stops_a_hang_and_a_memory_hog():
    with pytest.raises(CaseLimit, match='ran for more than'):
        with bounded(seconds=0.2):
            while True:
                pass
    with pytest.raises(CaseLimit, match='allocated'):
        with bounded(memory=1 << 20):
            hog = bytearray(4 << 20)
            del hog


# ---- inputs that broke a reader once ------------------------------------------------

def flow_line(dur='1.000000', start='2021/03/28 00:30:00.000000'):
    return f'{start},{dur},tcp,10.0.0.1,1234,   ->,10.0.0.2,80,CON,0,0,2,100,60,flow=x'


def flows_and_stats(path):
    stats = ReadStats()
    return [flow[2:5] for flow in flowreading.iter_flows(path, stats=stats)], stats


def stream_flows(data, max_lines):
    stats = ReadStats()
    blocks = flowfile.iter_stream_blocks(io.BytesIO(data), stats=stats, max_lines=max_lines)
    return [flow[2:5] for block in blocks for flow in zip(*block)], stats


def test_letters_ids_and_labels_with_quotes_come_back_as_written(tmp_path):
    # csv.writer wrote '"' as '""""', which read took as the id.
    rows = [('"', 0, '', ''), ('10.0.0.1-"x"-80-tcp', 3, 'weird "label"', 'a,b+')]
    text = io.StringIO(newline='')
    letterstsv.write(text, rows)
    path = tmp_path / 'models.tsv'
    path.write_text(text.getvalue())
    assert letterstsv.read(path) == expected_letters(rows)


def test_letters_repeated_ids_never_take_the_name_of_another_row(tmp_path):
    # 'a', 'a#2', 'a': the second 'a' became 'a#2' too, and the label of the
    # first 'a#2' was lost.
    path = tmp_path / 'models.tsv'
    path.write_text('tuple_id\tflows\tlabel\tstate\na\t1\tL1\tx\na#2\t2\tL2\ty\n'
                    'a\t3\tL3\tz\na#2\t4\t\tw\n')
    assert letterstsv.read(path) == (
        [('a', 1, 'x'), ('a#2', 2, 'y'), ('a#3', 3, 'z'), ('a#2#2', 4, 'w')],
        {'a': 'L1', 'a#2': 'L2', 'a#3': 'L3'})


@pytest.mark.parametrize('row', [('a\tb', 1, '', 'x'), ('a', 1, 'l\nm', 'x'),
                                 ('a', 1, '', 'x\ry')])
def test_letters_fields_that_a_tsv_cannot_hold_are_refused_on_write(row):
    with pytest.raises(UserError, match='TAB or line break'):
        letterstsv.write(io.StringIO(), [row])


@pytest.mark.parametrize('flows', ['7' * 4301, '\u00b2', '\u0661', '9' * 19])
def test_letters_flow_counts_that_int_refuses_are_one_error(tmp_path, flows):
    # '7' * 4301 raised ValueError (int's digit limit); '²' passes isdigit.
    path = tmp_path / 'models.tsv'
    path.write_text(f'tuple_id\tflows\tlabel\tstate\nconn\t{flows}\t\tabc\n')
    with pytest.raises(UserError, match='line 2 is not'):
        letterstsv.read(path)


@pytest.mark.parametrize('text', ['1_000.184142', '\u0661.000000', '1\u00a0.000000'])
def test_a_decimal_that_only_int_reads_is_malformed_in_any_block(tmp_path, text):
    # A Zeek duration '1_000.184142' read as 1000.184142 s when the other
    # durations of its block had six decimals, and as malformed otherwise, so
    # the stream reader and the file reader disagreed.
    lines = ['StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,'
             'TotBytes,SrcBytes,Label', flow_line(), flow_line(text), flow_line()]
    data = '\n'.join(lines).encode() + b'\n'
    path = tmp_path / 'flows.binetflow'
    path.write_bytes(data)
    flows, stats = flows_and_stats(path)
    assert (len(flows), stats.malformed, stats.first_malformed) == (2, 1, [3])
    for max_lines in (1, 2, 10):
        assert stream_flows(data, max_lines) == (flows, stats)


@pytest.mark.parametrize('eol', ['\n', '\r\n'])
def test_a_duration_with_spaces_after_it_is_read_in_seconds(tmp_path, eol):
    # Dur as the last column, '2.457' and three spaces or two and a CR: its '.'
    # sat seventh from the end, so the fast path read 2457 µs in a block of
    # six-decimal durations.
    names = 'StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotBytes,Dur'
    flow = '2021/03/28 00:30:00.000000,tcp,10.0.0.1,1,->,10.0.0.2,80,CON,100,{}'
    durations = ['1.000000', '2.457' + ' ' * (4 - len(eol)), '3.000000']
    data = ''.join(line + eol for line in [names] + [flow.format(dur) for dur in durations])
    path = tmp_path / 'flows.binetflow'
    path.write_bytes(data.encode())
    flows, stats = flows_and_stats(path)
    assert [dur for _, dur, _ in flows] == [1_000_000, 2_457_000, 3_000_000]
    for max_lines in (1, 3):
        assert stream_flows(data.encode(), max_lines) == (flows, stats)


def test_a_zeek_fields_line_after_flows_is_a_later_header(tmp_path):
    # A flow line came first (a headerless binetflow), the Zeek header after it:
    # its '#fields' changed the columns mid-file but counted as a comment, so a
    # reader of the file in parts took the parts as sound and read the later
    # ones with the columns of line 1.
    first = '2021/03/28 00:30:00,1.0,tcp,10.0.0.1,1,->,10.0.0.2,80,CON,0,0,2,100'
    zeek = '\n'.join(zeek_header('\t', list(ZEEK_FIELDS), False))
    flow = '\t'.join(['1616891400.000000', 'C1', '10.0.0.3', '5', '10.0.0.4', '53', 'udp',
                      '-', '0.5', '0', '-', 'SF', 'F', 'T', '0', 'Dd', '1', '70', '1', '90',
                      '-'])
    path = tmp_path / 'mixed.log'
    path.write_text(f'{first}\n{zeek}\n{flow}\n')
    flows, stats = flows_and_stats(path)
    assert flows == [(1_616_891_400_000_000, 1_000_000, 100),
                     (1_616_891_400_000_000, 500_000, 160)]
    assert stats.headers_skipped == 1
    # The same header at the start of a log is its own: not a later one.
    path.write_text(f'{zeek}\n{flow}\n')
    assert flows_and_stats(path)[1].headers_skipped == 0


def test_argus_user_data_with_a_huge_length_is_one_error():
    # s[<4301 digits>]=... raised ValueError (int's digit limit).
    for text in ('s[' + '7' * 4301 + ']=AAAA', 's[\u0664]=AAAA'):
        with pytest.raises(UserError, match='is not argus user data'):
            payload.decode_udata(text)


def pcapng_block(kind, body):
    length = 12 + len(body)
    return struct.pack('<II', kind, length) + body + struct.pack('<I', length)


@pytest.mark.parametrize('kind, length', [(6, 12), (6, 16), (2, 12), (1, 12), (3, 12)])
def test_a_pcapng_ending_in_a_block_too_short_for_its_kind(tmp_path, kind, length):
    # An enhanced packet block of 16 bytes 18 bytes before the end of the file
    # (found by the pcapng property): struct.error reading its fields.
    section = pcapng_block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))
    interface = pcapng_block(1, struct.pack('<HHI', 1, 0, 65535))
    path = tmp_path / 'short.pcapng'
    path.write_bytes(section + interface + pcapng_block(kind, bytes(length - 12)))
    scan = filescan.scan_file(path, 'pcapng')
    assert scan['packets'] == 0
    assert scan['truncated'].startswith(f'damaged: the block at byte 48 is {length} bytes')


def test_a_pe_whose_import_descriptors_share_one_long_table(tmp_path):
    # 3,225 import descriptors whose lookup table is the descriptor table itself
    # (no zero entry): 45 million entries counted, 9 s for a 64 KB file.
    size, rva, raw = 64 << 10, 0x1000, 0x400
    image = bytearray(size)
    image[:2] = b'MZ'
    struct.pack_into('<I', image, 0x3C, 0x40)
    image[0x40:0x44] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', image, 0x44, 0x14C, 1, 0, 0, 0, 96 + 16 * 8, 0x102)
    struct.pack_into('<H', image, 0x58, 0x10B)
    struct.pack_into('<II', image, 0x58 + 32, 0x1000, 0x200)
    struct.pack_into('<I', image, 0x58 + 92, 16)
    struct.pack_into('<II', image, 0x58 + 96 + 8, rva + 0x10, 20)
    struct.pack_into('<8sIIII', image, 0x58 + 96 + 128, b'.idata', size, rva, size - raw, raw)
    image[raw:raw + 13] = b'KERNEL32.dll\0'
    count = (size - raw - 0x10) // 20
    image[raw + 0x10:raw + 0x10 + 20 * count] = struct.pack(
        '<IIIII', rva + 0x10, 1, 1, rva, rva + 0x10) * count
    path = tmp_path / 'hostile.exe'
    path.write_bytes(image)
    with bounded(seconds=2):
        details = peinfo.pe_details(path)
    assert details['imports'] == []
    # pefile stops after the sixth descriptor that gives nothing
    assert details['warnings'][-1] == ('Too many errors parsing the import directory. Invalid '
                                       'import data at RVA: 0x109c')


def test_a_pe_whose_2048_sections_each_cover_the_whole_file(tmp_path):
    # Entropy counted over every section would read the file 2,048 times: it is
    # counted over twice the file's size, the sections past that have none.
    size, count = 128 << 10, 2048
    image = bytearray(size)
    image[:2] = b'MZ'
    struct.pack_into('<I', image, 0x3C, 0x40)
    image[0x40:0x44] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', image, 0x44, 0x14C, count, 0, 0, 0, 96 + 16 * 8, 0x102)
    struct.pack_into('<H', image, 0x58, 0x10B)
    struct.pack_into('<II', image, 0x58 + 32, 0x1000, 0x200)
    struct.pack_into('<I', image, 0x58 + 92, 16)
    table = 0x58 + 96 + 128
    for number in range(count):
        struct.pack_into('<8sIIII', image, table + 40 * number, b'.x', size,
                         0x1000 * (number + 1), size, 0)
    path = tmp_path / 'overlapping.exe'
    path.write_bytes(image)
    with bounded(seconds=2):
        sections = peinfo.pe_details(path)['sections']
    assert len(sections) == count
    assert [entropy is None for _, _, _, entropy, _ in sections] == [False] * 2 + [True] * 2046
