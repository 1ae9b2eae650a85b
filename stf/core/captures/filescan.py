"""One streaming pass over a file: its hashes and, for captures, packet statistics.

Files reach 5 GB and more, so the pass reads large chunks, keeps nothing but a
few chunks in memory, and uses both cores: hashlib releases the GIL on large
updates, so one thread per hash digests a chunk while the main thread walks the
capture's record headers with `struct` (dpkt per packet is ten times slower).
"""
import hashlib
import os
import queue
import shutil
import struct
import subprocess
import threading
import time
from collections import Counter

from stf.core.captures import filetypes
from stf.core.captures.pcapformat import (
    EPB, IDB, LINKTYPES, OPT_TSOFFSET, OPT_TSRESOL, PB, PCAP_MAGICS, PCAPNG_BYTE_ORDERS,
    PCAPNG_SECTION_MAGIC, SHB, SPB, PCAP_LINKTYPE_OFFSET)
from stf.core.captures.pcapformat import PCAP_HEADER_BYTES as HEADER
from stf.core.captures.pcapformat import PCAP_RECORD_HEADER_BYTES as RECORD_HEADER
from stf.core.errors import UserError

# Big enough that a hash thread digests for longer (md5: 7 ms) than the 5 ms it
# may wait for the GIL while the parser runs; small enough that the chunks in
# flight stay a few tens of MB. 2-16 MB all measured within 10% of each other.
CHUNK_BYTES = 4 << 20
QUEUED_CHUNKS = 3
HASHES = ('md5', 'sha1', 'sha256')
PROGRESS_SECONDS = 0.1
# Wireshark refuses records bigger than this too; a bigger length is damage,
# and waiting for its end would hold the rest of the file in memory.
MAX_RECORD = 16 << 20
# Beyond this many bins (a stray 1970 timestamp in a 2020 capture gives
# millions) the empty ones are left out.
MAX_BINS = 100_000
CAPINFOS_FLAGS = ['-t', '-E', '-F', '-l', '-c', '-s', '-d', '-u', '-a', '-e', '-o',
                  '-y', '-i', '-z', '-x', '-k']   # all but -H: we hash ourselves



def scan_file(path, kind, bin_seconds=300, progress=None):
    """Size and md5/sha1/sha256 of the file; for pcap/pcapng also its packets.

    Capture keys: packets, first_us, last_us, duration_us (integer µs, None
    without timed packets), linktype, linktype_name, bins [(bin_start_us,
    packets)] every bin_seconds from the first packet, empty bins included, and
    truncated (None or one line saying where the file is cut or damaged).
    progress(bytes_done, total) is called at most ten times a second.
    """
    filetypes.check_readable(path)
    parser = PARSERS[kind](path, bin_seconds * 1_000_000) if kind in PARSERS else None
    size, digests = stream(path, parser.feed if parser else None, progress)
    result = {'size': size, **digests}
    if parser:
        result.update(parser.finish())
    return result


def stream(path, consume, progress):
    total = os.path.getsize(path)
    hashers = Hashers(HASHES)
    report = Ticker(progress, total)
    done = 0
    try:
        with open(path, 'rb', buffering=0) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                hashers.feed(chunk)
                if consume:
                    consume(chunk)
                done += len(chunk)
                report(done)
        report(done, final=True)
        return done, hashers.digests()
    except OSError as error:
        raise filetypes.open_error(path, error) from None
    finally:
        hashers.close()


class Ticker:
    """Calls progress(done, total) at most once every PROGRESS_SECONDS."""

    def __init__(self, progress, total):
        self.progress, self.total = progress, total
        self.next_call = 0.0
        self.reported = None

    def __call__(self, done, final=False):
        """The final call makes sure the last figure shown is the true end."""
        now = time.monotonic()
        due = now >= self.next_call or (final and done != self.reported)
        if self.progress and due:
            self.next_call, self.reported = now + PROGRESS_SECONDS, done
            self.progress(done, self.total)


# -- hashing threads

END = None


class HashJob:
    """One algorithm digesting the chunks of its queue in its own thread.

    Attributes: name, hash, queue, thread, error (what the thread raised).
    """

    def __init__(self, name):
        self.name = name
        self.hash = hashlib.new(name)
        self.queue = queue.Queue(QUEUED_CHUNKS)
        self.error = None
        self.stopped = False
        self.thread = threading.Thread(target=self.run, name=f'stf-{name}', daemon=True)
        self.thread.start()

    def run(self):
        while (chunk := self.queue.get()) is not END:
            # After an error keep draining, so the reader never blocks on a
            # full queue; the error is raised in the main thread.
            if self.stopped or self.error:
                continue
            try:
                self.hash.update(chunk)
            except BaseException as error:
                self.error = error

    def stop(self):
        """Make the thread end soon without digesting what is queued."""
        self.stopped = True
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.queue.put_nowait(END)


class Hashers:
    """The hash threads of one pass; close() always ends them."""

    def __init__(self, names):
        self.jobs = [HashJob(name) for name in names]

    def feed(self, chunk):
        for job in self.jobs:
            job.queue.put(chunk)

    def digests(self):
        for job in self.jobs:
            job.queue.put(END)
        for job in self.jobs:
            job.thread.join()
            if job.error:
                raise job.error
        return {job.name: job.hash.hexdigest() for job in self.jobs}

    def close(self):
        for job in self.jobs:
            if job.thread.is_alive():
                job.stop()
        for job in self.jobs:
            job.thread.join(timeout=5)


# -- packet timeline

class Timeline:
    """Packets counted into bins of bin_us from the first packet's time.

    The parsers count packets that are in time order and in the current bin
    themselves (`last <= t < bin_end`, one comparison per packet) and call
    add() for the rest: a new bin, a packet out of time order, the first.
    Attributes: bin_us, origin, index (current bin), bins (index -> packets),
    first, last (µs), untimed (packets without a timestamp).
    """

    def __init__(self, bin_us):
        self.bin_us = bin_us
        self.origin = self.first = self.last = None
        self.index = 0
        self.bins = Counter()
        self.untimed = 0

    def add(self, t, pending, last):
        """Count t after `pending` fast-counted packets, the latest at `last`;
        return the new (last, bin end).

        The fast path needs `last` to be the latest time so far, so a packet
        out of order leaves it there and the next ones come back here until
        they pass it.
        """
        self.flush(pending, last)
        if self.origin is None:
            self.origin = self.first = self.last = t
        self.first, self.last = min(self.first, t), max(self.last, t)
        self.index = (t - self.origin) // self.bin_us
        self.bins[self.index] += 1
        return self.last, self.origin + (self.index + 1) * self.bin_us

    def fast_bounds(self):
        """(last, bin end) for the parsers' fast path; (-1, -1) sends the first packet to add()."""
        if self.origin is None:
            return -1, -1
        return self.last, self.origin + (self.index + 1) * self.bin_us

    def flush(self, pending, last=None):
        """Add the packets the fast path counted; last is the latest time it saw."""
        if pending:
            self.bins[self.index] += pending
            self.last = last

    def packets(self):
        return sum(self.bins.values()) + self.untimed

    def bin_list(self):
        if not self.bins:
            return []
        low, high = min(self.bins), max(self.bins)
        if high - low < MAX_BINS:
            indexes = range(low, high + 1)
        else:
            indexes = sorted(index for index, count in self.bins.items() if count)
        return [(self.origin + index * self.bin_us, self.bins.get(index, 0))
                for index in indexes]

    def summary(self):
        duration = None if self.first is None else self.last - self.first
        return {'packets': self.packets(), 'first_us': self.first, 'last_us': self.last,
                'duration_us': duration, 'bins': self.bin_list()}


class CaptureParser:
    """Shared by the pcap and pcapng parsers: carrying a record cut by a chunk
    boundary over to the next chunk, and stopping at damage.

    Attributes: path, timeline, tail (bytes not parsed yet), problem (why
    parsing stopped early), linktype (the first seen), other_linktypes.
    """

    def __init__(self, path, bin_us):
        self.path = path
        self.timeline = Timeline(bin_us)
        self.tail = b''
        self.problem = None
        self.linktype = None
        self.other_linktypes = False

    def feed(self, chunk):
        if self.problem:
            return   # the hashes still need the rest of the file; the counts do not
        buf = self.tail + chunk if self.tail else chunk
        offset = self.parse(buf)
        self.tail = buf[offset:]

    def finish(self):
        summary = self.timeline.summary()
        summary.update(linktype=self.linktype, linktype_name=self.linktype_label(),
                       truncated=self.problem or self.cut_message(summary['packets']))
        return summary

    def cut_message(self, packets):
        if not self.tail:
            return None
        return (f'truncated: the last packet record is cut after {packets:,} '
                f"packet{'' if packets == 1 else 's'}")

    def linktype_label(self):
        if self.linktype is None:
            return 'unknown'
        name = LINKTYPES.get(self.linktype, 'unknown')
        return name + (' (first of several link types)' if self.other_linktypes else '')

    def saw_linktype(self, linktype):
        if self.linktype is None:
            self.linktype = linktype
        elif linktype != self.linktype:
            self.other_linktypes = True

    def damaged(self, what):
        self.problem = (f'damaged: {what}; counted the {self.timeline.packets():,} '
                        'packets before it')


class PcapParser(CaptureParser):
    """pcap: a 24-byte file header, then 16-byte record headers and data."""

    def __init__(self, path, bin_us):
        super().__init__(path, bin_us)
        self.record = None   # set by the file header

    def parse(self, buf):
        if self.record is None:
            if len(buf) < HEADER:
                return 0
            self.file_header(buf)
            return self.records(buf, HEADER)
        return self.records(buf, 0)

    def file_header(self, buf):
        if buf[:4] not in PCAP_MAGICS:
            raise UserError(f'{self.path} no longer starts like a pcap; add it to '
                            'the dataset again')
        order, self.divisor = PCAP_MAGICS[buf[:4]]
        self.record = struct.Struct(order + 'III').unpack_from
        # The top bits of the link-type field carry the FCS length.
        self.saw_linktype(struct.unpack_from(order + 'I', buf, PCAP_LINKTYPE_OFFSET)[0] & 0xFFFF)

    def records(self, buf, offset):
        """Count the complete records from offset on; return where parsing stopped.

        The one loop that runs per packet, so it stays inline with local names:
        the scan's speed is this loop's speed.
        """
        record, divisor, timeline = self.record, self.divisor, self.timeline
        size = len(buf)
        last, bin_end = timeline.fast_bounds()
        pending = 0
        while offset + RECORD_HEADER <= size:
            seconds, fraction, length = record(buf, offset)
            end = offset + RECORD_HEADER + length
            if end > size:
                break
            t = seconds * 1000000 + fraction // divisor
            if last <= t < bin_end:
                pending += 1
                last = t
            else:
                last, bin_end = timeline.add(t, pending, last)
                pending = 0
            offset = end
        timeline.flush(pending, last)
        self.check_stop(buf, offset)
        return offset

    def check_stop(self, buf, offset):
        """Tell a record cut by the chunk boundary from a damaged one."""
        if offset + RECORD_HEADER <= len(buf):
            length = self.record(buf, offset)[2]
            if length > MAX_RECORD:
                self.damaged(f'packet record {self.timeline.packets() + 1:,} claims '
                             f'{length:,} bytes')

    def cut_message(self, packets):
        if self.record is None:
            return 'truncated: the file ends inside the 24-byte pcap file header'
        return super().cut_message(packets)


MICROSECONDS = (1, 1, 0)   # (multiplier, divisor, offset µs): default if_tsresol 10^-6


class PcapngParser(CaptureParser):
    """pcapng: blocks; interfaces (IDB) set each packet's link type and clock.

    Attributes besides CaptureParser's: order ('<' or '>'), clocks (interface
    id -> (multiplier, divisor, offset µs) turning its ticks into µs).
    """

    def __init__(self, path, bin_us):
        super().__init__(path, bin_us)
        self.order = None
        self.clocks = {}
        self.offset_in_file = 0

    def parse(self, buf):
        if self.order is None:
            if len(buf) < 12:
                return 0
            if buf[:4] != PCAPNG_SECTION_MAGIC or not self.set_order(buf, 0):
                raise UserError(f'{self.path} no longer starts like a pcapng; add it '
                                'to the dataset again')
        start = self.offset_in_file
        offset = self.blocks(buf)
        self.offset_in_file = start + offset
        return offset

    def set_order(self, buf, offset):
        """Read a section header's byte order; False if it has none."""
        order = PCAPNG_BYTE_ORDERS.get(bytes(buf[offset + 8:offset + 12]))
        if order is None:
            return False
        self.order = order
        self.head = struct.Struct(order + 'II').unpack_from
        self.epb = struct.Struct(order + 'III').unpack_from
        self.clocks.clear()   # interface ids restart with each section
        return True

    def blocks(self, buf):
        """Walk the complete blocks of buf; return where parsing stopped.

        Packet blocks are counted inline like PcapParser.records; the rare
        other blocks go through OTHER_BLOCKS.
        """
        timeline, clock = self.timeline, self.clocks.get
        head, epb = self.head, self.epb
        size, offset = len(buf), 0
        last, bin_end = timeline.fast_bounds()
        pending = 0
        while offset + 12 <= size:
            kind, length = head(buf, offset)
            if kind == SHB:   # the same number in both byte orders
                if not self.set_order(buf, offset):
                    self.damaged(f'the section header at byte {self.offset_in_file + offset:,} '
                                 'has no byte-order mark')
                    break
                head, epb = self.head, self.epb
                kind, length = head(buf, offset)
            end = offset + length
            if end > size or length < 12 or length & 3:
                break
            if kind == EPB and length >= 32:
                interface, high, low = epb(buf, offset + 8)
                multiplier, divisor, shift = clock(interface, MICROSECONDS)
                t = ((high << 32) | low) * multiplier // divisor + shift
                if last <= t < bin_end:
                    pending += 1
                    last = t
                else:
                    last, bin_end = timeline.add(t, pending, last)
                    pending = 0
            elif kind in SHORTEST:
                timeline.flush(pending, last)
                pending = 0
                if length < SHORTEST[kind]:
                    self.damaged(f'the block at byte {self.offset_in_file + offset:,} is '
                                 f'{length:,} bytes, too short for its kind')
                    break
                getattr(self, OTHER_BLOCKS[kind])(buf, offset, end)
                last, bin_end = timeline.fast_bounds()
            offset = end
        timeline.flush(pending, last)
        if not self.problem:
            self.check_stop(buf, offset)
        return offset

    def interface(self, buf, offset, end):
        linktype = struct.unpack_from(self.order + 'H', buf, offset + 8)[0]
        self.saw_linktype(linktype)
        self.clocks[len(self.clocks)] = self.clock_options(buf, offset + 16, end - 4)

    def clock_options(self, buf, offset, end):
        multiplier, divisor, shift = MICROSECONDS
        for code, value in options(buf, offset, end, self.order):
            if code == OPT_TSRESOL and value:
                multiplier, divisor = ticks_to_us(value[0])
            elif code == OPT_TSOFFSET and len(value) == 8:
                shift = struct.unpack(self.order + 'q', value)[0] * 1_000_000
        return multiplier, divisor, shift

    def old_packet(self, buf, offset, end):
        interface, _drops, high, low = struct.unpack_from(self.order + 'HHII', buf, offset + 8)
        multiplier, divisor, shift = self.clocks.get(interface, MICROSECONDS)
        self.timeline.add(((high << 32) | low) * multiplier // divisor + shift, 0, None)

    def simple_packet(self, buf, offset, end):
        self.timeline.untimed += 1   # a simple packet block has no timestamp

    def check_stop(self, buf, offset):
        """Tell a block cut by the chunk boundary from a damaged one."""
        if offset + 12 > len(buf):
            return
        _kind, length = self.head(buf, offset)
        if length < 12 or length & 3 or length > MAX_RECORD:
            self.damaged(f'the block at byte {self.offset_in_file + offset:,} '
                         f'claims {length:,} bytes')

    def cut_message(self, packets):
        if self.order is None:
            return 'truncated: the file ends inside the pcapng section header'
        return super().cut_message(packets)


def options(buf, offset, end, order):
    """The (code, value bytes) options of a pcapng block body, up to opt_endofopt."""
    found = []
    while offset + 4 <= end:
        code, length = struct.unpack_from(order + 'HH', buf, offset)
        if code == 0:
            break
        found.append((code, bytes(buf[offset + 4:offset + 4 + length])))
        offset += 4 + (length + 3) // 4 * 4
    return found


def ticks_to_us(resolution):
    """if_tsresol -> (multiplier, divisor): the top bit picks base 2 over 10."""
    exponent = resolution & 0x7F
    if resolution & 0x80:
        return 1_000_000, 1 << exponent
    if exponent >= 6:
        return 1, 10 ** (exponent - 6)
    return 10 ** (6 - exponent), 1


# The blocks besides packets that matter, and the method that reads each.
OTHER_BLOCKS = {IDB: 'interface', PB: 'old_packet', SPB: 'simple_packet'}
# The length of each kind of block without options or data: a shorter one is
# damage, whose fields would be read from the next block or past the data.
SHORTEST = {EPB: 32, PB: 32, IDB: 20, SPB: 16}
PARSERS = {'pcap': PcapParser, 'pcapng': PcapngParser}


# -- capinfos

def capinfos_summary(path):
    """capinfos' own `Key: value` lines about a capture, None without capinfos.

    Times are printed in UTC like the rest of stf. A capinfos failure becomes a
    last ('capinfos', message) pair rather than an error: it is extra detail.
    """
    program = shutil.which('capinfos')
    if program is None:
        return None
    environment = {**os.environ, 'TZ': 'UTC', 'LC_ALL': 'C'}
    done = subprocess.run([program, *CAPINFOS_FLAGS, '--', str(path)], env=environment,
                          capture_output=True, text=True, errors='replace')
    pairs = parse_capinfos(done.stdout)
    if done.returncode != 0:
        pairs.append(('capinfos', capinfos_error(done)))
    return pairs


def capinfos_error(done):
    """capinfos' complaint as one line (it spreads it over several)."""
    lines = [line.strip().removeprefix('capinfos: ') for line in done.stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith('(will continue')]
    return ' '.join(lines) or f'capinfos exited with status {done.returncode}'


def parse_capinfos(text):
    pairs = []
    for line in text.splitlines():
        key, colon, value = line.partition(':')
        if colon and key.strip() and not line[0].isspace():
            pairs.append((key.strip(), value.strip()))
    return pairs
