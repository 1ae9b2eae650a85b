"""scan_file: exact hashes, packet counts, times and bins, whatever the chunking."""
import hashlib
import random
import re
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import dpkt
import pytest

from stf.core.captures import filescan
from stf.core.errors import UserError
from stf.core.captures.filescan import capinfos_summary, scan_file

SHARED = Path(__file__).resolve().parent.parent.parent / 'shared' / 'data'
T0 = 1_600_000_000   # 2020-09-13 12:26:40 UTC
US = 1_000_000
CAPTURE_KEYS = {'size', 'md5', 'sha1', 'sha256', 'packets', 'first_us', 'last_us',
                'duration_us', 'linktype', 'linktype_name', 'bins', 'truncated'}


# -- fixtures written with struct, so every byte and timestamp is known

def frame(number):
    """An Ethernet/IPv4/UDP frame whose length varies with number."""
    udp = dpkt.udp.UDP(sport=40000 + number, dport=53, data=b'q' * (number * 7 % 300))
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=b'\x0a\0\0\x01', dst=b'\x0a\0\0\x02', p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b'\x02' * 6, dst=b'\x04' * 6, data=ip))


def pcap_bytes(records, order='<', nano=False, linktype=1):
    """records: (seconds, fraction, data); fraction in µs, or ns when nano."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + 'IHHiIII', magic, 2, 4, 0, 0, 65535, linktype)]
    for seconds, fraction, data in records:
        out.append(struct.pack(order + 'IIII', seconds, fraction, len(data), len(data)) + data)
    return b''.join(out)


def block(order, kind, body):
    body += b'\0' * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + 'II', kind, length) + body + struct.pack(order + 'I', length)


def shb(order):
    return block(order, 0x0A0D0D0A, struct.pack(order + 'IHHq', 0x1A2B3C4D, 1, 0, -1))


def idb(order, linktype=1, tsresol=None, tsoffset=None):
    options = b''
    if tsresol is not None:
        options += struct.pack(order + 'HHB3x', 9, 1, tsresol)
    if tsoffset is not None:
        options += struct.pack(order + 'HHq', 14, 8, tsoffset)
    if options:
        options += struct.pack(order + 'HH', 0, 0)
    return block(order, 1, struct.pack(order + 'HHI', linktype, 0, 65535) + options)


def epb(order, interface, ticks, data):
    return block(order, 6, struct.pack(order + 'IIIII', interface, ticks >> 32,
                                       ticks & 0xFFFFFFFF, len(data), len(data)) + data)


def spb(order, data):
    return block(order, 3, struct.pack(order + 'I', len(data)) + data)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def digests(path):
    data = path.read_bytes()
    return {name: hashlib.new(name, data).hexdigest() for name in ('md5', 'sha1', 'sha256')}


# Five packets: three in the first 300 s bin, one in the second, none in the
# third, one in the fourth.
OFFSETS_US = [500_000, 10 * US, 299_900_000, 300_500_000, 1000 * US]
BINS = [((T0 * US) + 500_000, 3), ((T0 * US) + 300_500_000, 1),
        ((T0 * US) + 600_500_000, 0), ((T0 * US) + 900_500_000, 1)]


def records_at(offsets_us, nano=False):
    scale = 1000 if nano else 1
    return [(T0 + offset // US, offset % US * scale, frame(number))
            for number, offset in enumerate(offsets_us)]


def check_five(result, path):
    assert set(result) == CAPTURE_KEYS
    assert result['size'] == path.stat().st_size
    assert {name: result[name] for name in ('md5', 'sha1', 'sha256')} == digests(path)
    assert result['packets'] == 5
    assert result['first_us'] == T0 * US + 500_000
    assert result['last_us'] == (T0 + 1000) * US
    assert result['duration_us'] == 999_500_000
    assert result['bins'] == BINS
    assert (result['linktype'], result['linktype_name']) == (1, 'EN10MB (Ethernet)')
    assert result['truncated'] is None


@pytest.mark.parametrize('order', ['<', '>'])
@pytest.mark.parametrize('nano', [False, True])
def test_pcap_in_both_byte_orders_and_resolutions(tmp_path, order, nano):
    path = write(tmp_path, 'five.pcap', pcap_bytes(records_at(OFFSETS_US, nano), order, nano))
    check_five(scan_file(path, 'pcap'), path)


def test_pcap_written_by_dpkt(tmp_path):
    path = tmp_path / 'dpkt.pcap'
    with open(path, 'wb') as handle:
        writer = dpkt.pcap.Writer(handle)
        for number, offset in enumerate(OFFSETS_US):
            writer.writepkt(frame(number), ts=T0 + offset / US)
    check_five(scan_file(path, 'pcap'), path)


def test_nanosecond_pcap_written_by_dpkt_drops_the_nanoseconds(tmp_path):
    path = tmp_path / 'nano.pcap'
    with open(path, 'wb') as handle:
        writer = dpkt.pcap.Writer(handle, nano=True)
        writer.writepkt(frame(0), ts=T0 + 0.5)          # exact in binary floating point
        writer.writepkt(frame(1), ts=T0 + 0.0000015)    # 1500 ns -> 1 µs
    result = scan_file(path, 'pcap')
    assert (result['first_us'], result['last_us']) == (T0 * US + 1, T0 * US + 500_000)


def test_big_endian_nanoseconds_are_cut_not_rounded(tmp_path):
    records = [(T0, 123_456_789, frame(0)), (T0 + 1, 999_999_999, frame(1))]
    path = write(tmp_path, 'be.pcap', pcap_bytes(records, '>', nano=True))
    result = scan_file(path, 'pcap')
    assert (result['first_us'], result['last_us']) == (T0 * US + 123_456, T0 * US + 1_999_999)


def test_link_types(tmp_path):
    names = {101: 'RAW (raw IP)', 113: 'LINUX_SLL (Linux cooked)', 228: 'IPV4 (raw IPv4)',
             0: 'NULL (BSD loopback)', 127: 'IEEE802_11_RADIOTAP (802.11 with radiotap)',
             4242: 'unknown'}
    for linktype, name in names.items():
        path = write(tmp_path, f'{linktype}.pcap', pcap_bytes([], linktype=linktype))
        result = scan_file(path, 'pcap')
        assert (result['linktype'], result['linktype_name']) == (linktype, name)


def test_empty_capture(tmp_path):
    path = write(tmp_path, 'empty.pcap', pcap_bytes([]))
    result = scan_file(path, 'pcap')
    assert (result['packets'], result['first_us'], result['last_us'], result['duration_us'],
            result['bins'], result['truncated']) == (0, None, None, None, [], None)


def test_bin_width(tmp_path):
    path = write(tmp_path, 'five.pcap', pcap_bytes(records_at(OFFSETS_US)))
    start = T0 * US + 500_000
    assert scan_file(path, 'pcap', bin_seconds=600)['bins'] == [(start, 4), (start + 600 * US, 1)]
    assert scan_file(path, 'pcap', bin_seconds=3600)['bins'] == [(start, 5)]


def test_packets_out_of_time_order(tmp_path):
    # first/last are the earliest and latest; bins stay aligned on the first
    # packet in the file, extending before it when an earlier one follows.
    offsets = [400 * US, 100 * US, 450 * US, 50 * US, 1000 * US, 460 * US, 999 * US]
    path = write(tmp_path, 'disorder.pcap', pcap_bytes(records_at(offsets)))
    result = scan_file(path, 'pcap')
    assert (result['first_us'], result['last_us']) == ((T0 + 50) * US, (T0 + 1000) * US)
    assert result['packets'] == 7
    assert result['bins'] == [((T0 - 200) * US, 1), ((T0 + 100) * US, 1),
                              ((T0 + 400) * US, 3), ((T0 + 700) * US, 1),
                              ((T0 + 1000) * US, 1)]


def test_packet_out_of_order_after_in_order_ones_keeps_the_latest(tmp_path):
    offsets = [0, 10 * US, 20 * US, 15 * US, 16 * US]
    path = write(tmp_path, 'late.pcap', pcap_bytes(records_at(offsets)))
    result = scan_file(path, 'pcap')
    assert (result['first_us'], result['last_us']) == (T0 * US, (T0 + 20) * US)
    assert result['bins'] == [(T0 * US, 5)]


def reference(offsets_us, bin_us):
    """The timeline computed the obvious way, to check the fast one against."""
    origin = offsets_us[0]
    counts = {}
    for offset in offsets_us:
        start = origin + (offset - origin) // bin_us * bin_us
        counts[start] = counts.get(start, 0) + 1
    starts = range(min(counts), max(counts) + bin_us, bin_us)
    return min(offsets_us), max(offsets_us), [(T0 * US + start, counts.get(start, 0))
                                              for start in starts]


@pytest.mark.parametrize('chunk', [64, 1 << 20])
def test_jittered_times_match_the_obvious_computation(tmp_path, monkeypatch, chunk):
    chance = random.Random(7)
    offsets = [max(0, number * 3 * US + chance.randrange(-20 * US, 20 * US))
               for number in range(400)]
    path = write(tmp_path, 'jitter.pcap', pcap_bytes(records_at(offsets)))
    monkeypatch.setattr(filescan, 'CHUNK_BYTES', chunk)
    result = scan_file(path, 'pcap', bin_seconds=60)
    first, last, bins = reference(offsets, 60 * US)
    assert (result['first_us'], result['last_us']) == (T0 * US + first, T0 * US + last)
    assert result['bins'] == bins
    assert result['packets'] == 400


def test_far_apart_packets_list_only_non_empty_bins(tmp_path, monkeypatch):
    monkeypatch.setattr(filescan, 'MAX_BINS', 10)
    offsets = [0, 60 * US, -T0 * US + 5 * US]   # a stray 1970 timestamp
    path = write(tmp_path, 'stray.pcap', pcap_bytes(records_at(offsets)))
    result = scan_file(path, 'pcap')
    # the bin of 5 s after the epoch starts 5,333,334 bins of 300 s before T0
    assert result['bins'] == [(-200 * US, 1), (T0 * US, 2)]
    assert result['first_us'] == 5 * US


# -- cut and damaged files

def five_pcap():
    return pcap_bytes(records_at(OFFSETS_US))


@pytest.mark.parametrize('cut_after, complete', [
    (24 + 5, 0),     # inside the first record header
    (24 + 16 + 3, 0),    # inside the first record's data
    (-1, 4),         # the last byte of the last record missing
    (-30, 4),        # well inside the last record
])
def test_truncated_pcap_counts_complete_packets(tmp_path, cut_after, complete):
    path = write(tmp_path, 'cut.pcap', five_pcap()[:cut_after])
    result = scan_file(path, 'pcap')
    assert result['packets'] == complete
    assert result['truncated'] == (f'truncated: the last packet record is cut after '
                                   f'{complete} packets')
    assert result['sha256'] == digests(path)['sha256']
    if complete == 4:
        assert result['last_us'] == T0 * US + 300_500_000
        assert result['bins'] == BINS[:2]


def test_pcap_cut_inside_the_file_header(tmp_path):
    path = write(tmp_path, 'cut.pcap', five_pcap()[:20])
    result = scan_file(path, 'pcap')
    assert result['packets'] == 0
    assert result['truncated'] == 'truncated: the file ends inside the 24-byte pcap file header'


def test_absurd_record_length_stops_counting(tmp_path, monkeypatch):
    data = bytearray(five_pcap())
    second = 24 + 16 + len(frame(0))
    struct.pack_into('<I', data, second + 8, 0xFFFFFFF0)
    path = write(tmp_path, 'bad.pcap', bytes(data))
    monkeypatch.setattr(filescan, 'CHUNK_BYTES', 256)
    result = scan_file(path, 'pcap')
    assert result['packets'] == 1
    assert result['truncated'] == ('damaged: packet record 2 claims 4,294,967,280 bytes; '
                                   'counted the 1 packets before it')
    assert result['md5'] == digests(path)['md5']


def test_pcap_that_changed_into_something_else(tmp_path):
    path = write(tmp_path, 'was.pcap', b'StartTime,Dur\n' * 4)
    with pytest.raises(UserError, match='no longer starts like a pcap; add it'):
        scan_file(path, 'pcap')


# -- pcapng

def pcapng_mixed(order):
    """Two interfaces (Ethernet µs; raw IP in ns with a 10 s offset), a simple
    packet block without time, and a second section in the other byte order."""
    other = '>' if order == '<' else '<'
    return b''.join([
        shb(order), idb(order), idb(order, 101, tsresol=9, tsoffset=10),
        epb(order, 0, (T0 * US) + 500_000, frame(0)),
        epb(order, 1, (T0 - 10) * 10**9 + 123_456_789, frame(1)),
        spb(order, frame(2)),
        shb(other), idb(other, 1, tsresol=0x80 | 20),   # 2^-20 s ticks
        epb(other, 0, (T0 + 400) << 20 | (1 << 19), frame(3)),
    ])


@pytest.mark.parametrize('order', ['<', '>'])
def test_pcapng_interfaces_resolutions_and_sections(tmp_path, order):
    path = write(tmp_path, 'mixed.pcapng', pcapng_mixed(order))
    result = scan_file(path, 'pcapng')
    assert set(result) == CAPTURE_KEYS
    assert result['packets'] == 4
    assert result['first_us'] == T0 * US + 123_456
    assert result['last_us'] == (T0 + 400) * US + 500_000
    assert result['linktype'] == 1
    assert result['linktype_name'] == 'EN10MB (Ethernet) (first of several link types)'
    # bins start at the first packet in the file; the earlier one gets the bin before
    start = T0 * US + 500_000
    assert result['bins'] == [(start - 300 * US, 1), (start, 1), (start + 300 * US, 1)]
    assert result['truncated'] is None
    assert result['sha1'] == digests(path)['sha1']


def test_pcapng_written_by_dpkt(tmp_path):
    path = tmp_path / 'dpkt.pcapng'
    with open(path, 'wb') as handle:
        writer = dpkt.pcapng.Writer(handle)
        for number, offset in enumerate(OFFSETS_US):
            writer.writepkt(frame(number), ts=T0 + offset / US)
    check_five(scan_file(path, 'pcapng'), path)


def test_truncated_pcapng(tmp_path):
    data = shb('<') + idb('<') + b''.join(
        epb('<', 0, T0 * US + number, frame(number)) for number in range(3))
    path = write(tmp_path, 'cut.pcapng', data[:-10])
    result = scan_file(path, 'pcapng')
    assert result['packets'] == 2
    assert result['truncated'] == 'truncated: the last packet record is cut after 2 packets'


def test_pcapng_block_with_bad_length(tmp_path):
    good = shb('<') + idb('<') + epb('<', 0, T0 * US, frame(0))
    path = write(tmp_path, 'bad.pcapng', good + struct.pack('<II', 6, 13) + bytes(40))
    result = scan_file(path, 'pcapng')
    assert result['packets'] == 1
    assert result['truncated'] == (f'damaged: the block at byte {len(good):,} claims 13 bytes; '
                                   'counted the 1 packets before it')


# -- streaming: chunk boundaries, progress, interruption

@pytest.mark.parametrize('chunk', [1, 5, 17, 100, 1000])
@pytest.mark.parametrize('kind', ['pcap', 'pcapng'])
def test_records_across_chunk_boundaries(tmp_path, monkeypatch, chunk, kind):
    content = five_pcap() if kind == 'pcap' else pcapng_mixed('<')
    path = write(tmp_path, f'any.{kind}', content)
    whole = scan_file(path, kind)
    monkeypatch.setattr(filescan, 'CHUNK_BYTES', chunk)
    assert scan_file(path, kind) == whole


def test_other_kinds_get_size_and_hashes_only(tmp_path):
    path = write(tmp_path, 'flows.binetflow', b'StartTime,Dur\n' * 1000)
    result = scan_file(path, 'binetflow')
    assert result == {'size': 14_000, **digests(path)}


def test_progress_is_rate_limited_and_ends_at_the_total(tmp_path, monkeypatch):
    path = write(tmp_path, 'five.pcap', five_pcap())
    monkeypatch.setattr(filescan, 'CHUNK_BYTES', 100)
    monkeypatch.setattr(filescan.time, 'monotonic', lambda: 1000.0)   # time stands still
    calls = []
    scan_file(path, 'pcap', progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert calls == [(100, size), (size, size)]


def stf_threads():
    return [thread.name for thread in threading.enumerate() if thread.name.startswith('stf-')]


def test_ctrl_c_propagates_and_stops_the_hash_threads(tmp_path, monkeypatch):
    path = write(tmp_path, 'five.pcap', five_pcap())
    monkeypatch.setattr(filescan, 'CHUNK_BYTES', 50)

    def interrupt(done, total):
        if done >= 200:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan_file(path, 'pcap', progress=interrupt)
    assert stf_threads() == []


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match='gone.pcap: no such file; check the path'):
        scan_file(tmp_path / 'gone.pcap', 'pcap')


# -- the real captures

@pytest.fixture
def shared_pcaps():
    if not SHARED.is_dir():
        pytest.skip(f'the shared test data folder {SHARED} is absent')
    return SHARED / 'pcap'


def capinfos_count(path):
    program = shutil.which('capinfos')
    if program is None:
        pytest.skip('capinfos is not installed (Debian package wireshark-common)')
    out = subprocess.run([program, '-c', '-M', str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r'Number of packets:\s+(\d+)', out).group(1))


def test_test7_exact(shared_pcaps):
    path = shared_pcaps / 'test7-malicious.pcap'
    result = scan_file(path, 'pcap')
    assert result['packets'] == capinfos_count(path) == 2000
    assert {name: result[name] for name in ('md5', 'sha1', 'sha256')} == digests(path)
    assert result['size'] == 339_844
    # capinfos: first 2018-03-09 20:49:16.520001, last 20:59:58.703667 UTC
    assert result['first_us'] == 1_520_628_556_520_001
    assert result['last_us'] == 1_520_629_198_703_667
    assert result['duration_us'] == 642_183_666
    first = result['first_us']
    assert result['bins'] == [(first, 585), (first + 300 * US, 1161),
                              (first + 600 * US, 254)]
    assert result['truncated'] is None


@pytest.mark.parametrize('name', ['test8-malicious.pcap', 'malicious-ssh-bruteforce.pcap',
                                  'test12-icmp-portscan.pcap'])
def test_real_captures_agree_with_dpkt_and_capinfos(shared_pcaps, name):
    path = shared_pcaps / name
    result = scan_file(path, 'pcap', bin_seconds=60)
    with open(path, 'rb') as handle:
        times = [round(moment * US) for moment, _ in dpkt.pcap.Reader(handle)]
    assert result['packets'] == len(times) == capinfos_count(path)
    assert (result['first_us'], result['last_us']) == (min(times), max(times))
    expected = {}
    for moment in times:
        start = min(times) + (moment - min(times)) // (60 * US) * 60 * US
        expected[start] = expected.get(start, 0) + 1
    assert {start: count for start, count in result['bins'] if count} == expected


def test_capinfos_summary_without_hashes_in_utc(shared_pcaps):
    if shutil.which('capinfos') is None:
        pytest.skip('capinfos is not installed (Debian package wireshark-common)')
    pairs = dict(capinfos_summary(shared_pcaps / 'test7-malicious.pcap'))
    assert pairs['Number of packets'] == '2000'
    assert pairs['First packet time'] == '2018-03-09 20:49:16.520001'
    assert pairs['Strict time order'] == 'True'
    assert not {'SHA256', 'SHA1', 'RIPEMD160'} & set(pairs)


def test_capinfos_summary_reports_its_error_as_a_last_pair(tmp_path):
    if shutil.which('capinfos') is None:
        pytest.skip('capinfos is not installed (Debian package wireshark-common)')
    path = write(tmp_path, '-cut.pcap', five_pcap()[:-1])   # a leading '-' is no option
    pairs = capinfos_summary(path)
    assert ('Number of packets', '4') in pairs
    assert pairs[-1][0] == 'capinfos' and 'cut short' in pairs[-1][1]


def test_capinfos_summary_is_none_without_capinfos(monkeypatch, tmp_path):
    monkeypatch.setattr(filescan.shutil, 'which', lambda name: None)
    assert capinfos_summary(write(tmp_path, 'x.pcap', five_pcap())) is None


def test_parse_capinfos_keeps_colons_in_values_and_skips_indented_lines():
    text = ('File name:           /a/b:c.pcap\nFirst packet time:   2018-03-09 20:49:16\n'
            'Interface #0 info:\n                     Encapsulation = Ethernet\n')
    assert filescan.parse_capinfos(text) == [('File name', '/a/b:c.pcap'),
                                             ('First packet time', '2018-03-09 20:49:16'),
                                             ('Interface #0 info', '')]
