"""Reading flows from an unbounded stream (stdin, a pipe from ra): the same flows
as from a file, handed on as the lines arrive, in bounded memory."""
import io
import os
import random
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from stf.core.errors import UserError
from stf.core.flows import flowfile
from stf.core.flows.flowfile import ReadStats, iter_stream_blocks
from tests.flowreading import iter_flows, iter_stream_flows
from tests.test_flowfile import HEADER, T0, ZEEK_HEADER, flow, zeek_line

TAB_HEADER = HEADER.replace(',', '\t')
HEADERLESS = '2021/03/28 00:30:0{},1.0,tcp,10.0.0.1,1,   ->,1.1.1.{},80,CON,0,0,2,300'
WAIT = 10       # seconds before a test that waits for a flow gives up


def lines_text(lines):
    return ''.join(line + '\n' for line in lines)


# Each fixture: its text and the line numbers of the flows it has.
FIXTURES = {
    'comma header': (lines_text([HEADER, flow(), flow(src='10.0.0.2', label='')]), [2, 3]),
    'tab header': (lines_text([TAB_HEADER, flow().replace(',', '\t'),
                               flow(dport='443').replace(',', '\t')]), [2, 3]),
    'headerless': (lines_text([HEADERLESS.format(0, 1) + ',', HEADERLESS.format(1, 2),
                               HEADERLESS.format(2, 3) + ',x,y']), [1, 2, 3]),
    'zeek': (ZEEK_HEADER + lines_text([zeek_line(), zeek_line(duration='-', orig='-'),
                                       '#close\t2021-01-01']), [8, 9]),
    'spaces around fields': (lines_text([' StartTime , Dur ' + HEADER[13:],
                                         flow(proto=' udp ', src=' 10.0.0.3', size=' 7 '),
                                         flow(dur=' 2.25 ', label=' flow=y ')]), [2, 3]),
    'man records': (lines_text([HEADER, flow(proto='man'), flow(), flow(proto='man')]), [3]),
    'malformed lines': (lines_text([HEADER, flow(), 'too,few,fields', flow(start='yesterday'),
                                    '', flow(size='12x'), flow(dur='abc'),
                                    flow(start='2021/03/28 00:30:02.000000')]), [2, 8]),
    'header mid-stream': (lines_text([HEADER, flow(), HEADER, flow(label='flow=y'),
                                      TAB_HEADER.replace('\tLabel', ''),
                                      flow().replace(',', '\t').rsplit('\t', 1)[0]]),
                          [2, 4, 6]),
    'no final newline': (lines_text([HEADER, flow()]) + flow(src='10.0.0.9'), [2, 3]),
    'crlf': (lines_text([HEADER + '\r', flow() + '\r', flow(label='') + '\r']), [2, 3]),
}


def read_file(tmp_path, data):
    path = tmp_path / 'flows'
    path.write_bytes(data)
    stats = ReadStats()
    return list(iter_flows(path, stats=stats)), stats


def read_stream(stream, **options):
    stats = ReadStats()
    return list(iter_stream_flows(stream, stats=stats, **options)), stats


class Writer(threading.Thread):
    """Writes chunks into the write end of a pipe, then closes it."""

    def __init__(self, descriptor, chunks):
        super().__init__(daemon=True)
        self.descriptor, self.chunks = descriptor, chunks

    def run(self):
        try:
            for chunk in self.chunks:
                os.write(self.descriptor, chunk)
        finally:
            os.close(self.descriptor)


def in_pieces(data, seed, largest):
    """data cut at random places (lines split across chunks)."""
    rng = random.Random(seed)
    start = 0
    while start < len(data):
        size = rng.randint(1, largest)
        yield data[start:start + size]
        start += size


def piped(chunks):
    """The read end of a pipe that a thread fills with chunks."""
    read_end, write_end = os.pipe()
    Writer(write_end, chunks).start()
    return os.fdopen(read_end, 'rb')


# ---- the same flows as from a file -----------------------------------------

@pytest.mark.parametrize('name', FIXTURES)
@pytest.mark.parametrize('max_lines', [1, 2, 5000])
def test_stream_gives_what_the_file_gives(tmp_path, name, max_lines):
    text, numbers = FIXTURES[name]
    data = text.encode()
    expected, expected_stats = read_file(tmp_path, data)
    assert [record[0] for record in expected] == numbers
    with piped(in_pieces(data, seed=len(data) + max_lines, largest=40)) as stream:
        records, stats = read_stream(stream, max_lines=max_lines)
    assert records == expected
    assert stats == expected_stats


def test_fixture_stats_are_as_written(tmp_path):
    # The comparisons above are only as good as what the file reader counts.
    _, malformed = read_file(tmp_path, FIXTURES['malformed lines'][0].encode())
    assert (malformed.malformed, malformed.first_malformed, malformed.blank) == (4, [3, 4, 6, 7], 1)
    _, man = read_file(tmp_path, FIXTURES['man records'][0].encode())
    assert (man.management, man.flows) == (2, 1)
    _, repeated = read_file(tmp_path, FIXTURES['header mid-stream'][0].encode())
    assert (repeated.headers_skipped, repeated.lines) == (2, 6)
    zeek, stats = read_file(tmp_path, FIXTURES['zeek'][0].encode())
    assert [record[2:5] + record[10:] for record in zeek] == [
        (T0, 500_000, 100, 'Malicious-CC'), (T0, 0, 60, 'Malicious-CC')]
    assert stats.comments == 8


@pytest.mark.parametrize('name', FIXTURES)
def test_any_kind_of_stream(tmp_path, name):
    text = FIXTURES[name][0]
    expected = read_file(tmp_path, text.encode())
    assert read_stream(io.BytesIO(text.encode())) == expected
    assert read_stream(io.StringIO(text)) == expected
    with piped([text.encode()]) as stream:
        assert read_stream(io.TextIOWrapper(stream)) == expected
    read_end, write_end = os.pipe()
    Writer(write_end, [text.encode()]).start()
    try:
        assert read_stream(read_end) == expected
    finally:
        os.close(read_end)


def test_every_shared_file_piped_in_random_pieces(shared):
    paths = sorted((shared / 'binetflow').iterdir()) + sorted((shared / 'zeek').iterdir())
    assert len(paths) == 12
    for number, path in enumerate(paths):
        stats = ReadStats()
        expected = list(iter_flows(path, stats=stats))
        data = path.read_bytes()
        with piped(in_pieces(data, seed=number, largest=8192)) as stream:
            assert read_stream(stream, max_lines=500 + number) == (expected, stats), path.name
        assert stats.flows == len(expected) > 0


def test_line_numbers_and_offsets_count_from_the_start_of_the_stream():
    lines = [HEADER, flow(), 'junk', flow(src='10.0.0.2')]
    with piped([lines_text(lines).encode()]) as stream:
        records, stats = read_stream(stream)
    offset = len(HEADER) + 1 + len(flow()) + 1 + len('junk') + 1
    assert [record[:2] for record in records] == [(2, len(HEADER) + 1), (4, offset)]
    assert (stats.lines, stats.malformed, stats.first_malformed) == (4, 1, [3])


# ---- formats and errors ----------------------------------------------------

def test_format_is_sniffed_from_a_slow_start():
    # The header arrives byte by byte, so the sniffing reads across many chunks.
    data = (ZEEK_HEADER + zeek_line() + '\n').encode()
    with piped(in_pieces(data, seed=1, largest=1)) as stream:
        records, _ = read_stream(stream)
    assert [record[0] for record in records] == [8]


def test_given_format_is_used():
    fmt = flowfile.binetflow_format(HEADER.split(','), ',')
    records, stats = read_stream(io.BytesIO(lines_text([flow(), flow()]).encode()), fmt=fmt)
    assert [record[0] for record in records] == [1, 2]
    assert stats.flows == 2


def test_empty_stream_gives_nothing():
    assert read_stream(io.BytesIO(b'')) == ([], ReadStats())
    with piped([]) as stream:
        assert read_stream(stream) == ([], ReadStats())


@pytest.mark.parametrize('first, message', [
    ('hello world', 'the input stream: line 1 is neither a binetflow header'),
    ('{"ts": 1.5}', 'the input stream is a JSON log'),
    ('#path\tconn', 'the input stream starts with "#" but has no #fields line'),
    ('StartTime,Proto', 'the input stream: the header lacks column'),
])
def test_not_a_flow_stream(first, message):
    with piped([(first + '\n').encode()]) as stream, pytest.raises(UserError, match=message):
        read_stream(stream)


def test_named_stream_in_messages():
    class Named(io.BytesIO):
        name = '<stdin>'
    with pytest.raises(UserError, match='^<stdin>: line 1 is neither'):
        read_stream(Named(b'hello\n'))


# ---- promptness --------------------------------------------------------------

class Waiting(threading.Thread):
    """Writes the first chunks (pause seconds apart), waits until told (or WAIT
    seconds) with the pipe open, then writes the rest and closes it."""

    def __init__(self, descriptor, first, rest, pause):
        super().__init__(daemon=True)
        self.descriptor, self.first, self.rest, self.pause = descriptor, first, rest, pause
        self.told = threading.Event()
        self.gave_up = False

    def run(self):
        try:
            for number, chunk in enumerate(self.first):
                time.sleep(self.pause if number else 0)
                os.write(self.descriptor, chunk)
            self.gave_up = not self.told.wait(WAIT)
            for chunk in self.rest:
                os.write(self.descriptor, chunk)
        finally:
            os.close(self.descriptor)


def waiting_stream(first, rest, pause=0.0):
    read_end, write_end = os.pipe()
    writer = Waiting(write_end, first, rest, pause)
    writer.start()
    return os.fdopen(read_end, 'rb'), writer


@pytest.mark.parametrize('head', [HEADER + '\n', ZEEK_HEADER, ''])
def test_flows_come_out_while_the_writer_waits(head):
    if head == ZEEK_HEADER:
        lines = [zeek_line(ts=f'1616891400.{number}') for number in range(5)]
    elif head:
        lines = [flow(start=f'2021/03/28 00:30:0{number}.5') for number in range(5)]
    else:
        lines = [HEADERLESS.format(number, number) for number in range(5)]
    first = [(head + lines_text(lines[:3]) + lines[3][:20]).encode()]
    stream, writer = waiting_stream(first, [(lines[3][20:] + '\n' + lines[4] + '\n').encode()])
    with stream:
        blocks = iter_stream_blocks(stream)
        block = next(blocks)
        writer.told.set()
        rest = [number for later in blocks for number in later.line_no]
    writer.join()
    assert not writer.gave_up
    skipped = head.count('\n')
    assert block.line_no == [skipped + 1, skipped + 2, skipped + 3]
    assert rest == [skipped + 4, skipped + 5]


def test_max_wait_gathers_lines_into_one_block():
    stream, writer = waiting_stream([(HEADER + '\n' + flow() + '\n').encode(),
                                     (flow(src='10.0.0.2') + '\n').encode()], [], pause=0.2)
    with stream:
        # The second flow comes later, but within max_wait, which then does not
        # run out: the block is due at max_lines (the header and two flows).
        blocks = iter_stream_blocks(stream, max_lines=3, max_wait=3 * WAIT)
        block = next(blocks)
        writer.told.set()
        assert list(blocks) == []
    writer.join()
    assert not writer.gave_up
    assert block.src == ['10.0.0.1', '10.0.0.2']


def test_max_wait_runs_out():
    stream, writer = waiting_stream([(HEADER + '\n' + flow() + '\n').encode()], [])
    with stream:
        blocks = iter_stream_blocks(stream, max_wait=0.2)
        block = next(blocks)
        writer.told.set()
        assert list(blocks) == []
    writer.join()
    assert not writer.gave_up
    assert block.line_no == [2]


CHILD = f'''
import time
print({HEADER!r}, flush=True)
for second in range(3):
    print({flow()!r}.replace('00:30:00.', '00:30:0%d.' % second), flush=True)
    time.sleep(0.1)
time.sleep({WAIT})
'''


def test_flows_from_a_running_process():
    with subprocess.Popen([sys.executable, '-c', CHILD], stdout=subprocess.PIPE) as child:
        try:
            flows = iter_stream_flows(child.stdout)
            seen = []
            for record in flows:
                assert child.poll() is None
                seen.append(record[:3])
                if len(seen) == 3:
                    break
        finally:
            child.kill()
    assert seen == [(2, len(HEADER) + 1, T0), (3, len(HEADER) + len(flow()) + 2, T0 + 10 ** 6),
                    (4, len(HEADER) + 2 * len(flow()) + 3, T0 + 2 * 10 ** 6)]


# ---- bounded memory ----------------------------------------------------------

def generated(lines):
    """A header and `lines` flows, written in chunks of about 64 KB."""
    yield (HEADER + '\n').encode()
    batch = []
    for number in range(lines):
        batch.append(flow(src=f'10.{number >> 16}.{number >> 8 & 255}.{number & 255}'))
        if len(batch) == 500:
            yield lines_text(batch).encode()
            batch = []
    yield lines_text(batch).encode()


def test_a_long_stream_comes_in_blocks_of_at_most_max_lines():
    sizes, count, numbers = [], 0, []
    with piped(generated(200_000)) as stream:
        for block in iter_stream_blocks(stream, max_lines=3000):
            sizes.append(len(block.line_no))
            count += len(block.line_no)
            numbers.append((block.line_no[0], block.line_no[-1]))
    assert max(sizes) <= 3000 and len(sizes) >= 67
    assert count == 200_000
    assert numbers[0][0] == 2 and numbers[-1][1] == 200_001
    assert all(after[0] == before[1] + 1 for before, after in zip(numbers, numbers[1:]))


def test_memory_stays_bounded():
    tracemalloc.start()
    try:
        with piped(generated(150_000)) as stream:
            count = sum(len(block.line_no)
                        for block in iter_stream_blocks(stream, max_lines=1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = sum(map(len, generated(150_000)))
    assert count == 150_000
    # A read, a block of 1000 lines (100 KB) and its parsed columns (about 2 MB
    # when measured), not the stream's 15 MB.
    assert peak < 8 * flowfile.READ_SIZE < whole


def test_blocks_hold_about_read_size_bytes(tmp_path):
    # A regular file as stdin: always more to read at once, so only the byte
    # bound can end a block.
    path = tmp_path / 'flows'
    path.write_bytes(b''.join(generated(80_000)))
    with open(path, 'rb') as stream:
        blocks = list(iter_stream_blocks(stream, max_lines=10 ** 9))
    assert len(blocks) >= 3
    spans = [block.offset[-1] - block.offset[0] for block in blocks]
    assert max(spans) < 2 * flowfile.READ_SIZE + flowfile.MAX_LINE


def test_a_2_mb_line_is_skipped_and_counted():
    head = (HEADER + '\n' + flow() + '\n').encode()
    tail = (flow(src='10.0.0.2') + '\n' + flow(src='10.0.0.3') + '\n').encode()
    long_line = b'y,' * (1 << 20) + b'\n'
    with piped([head] + list(in_pieces(long_line, seed=3, largest=70_000)) + [tail]) as stream:
        records, stats = read_stream(stream)
    assert [record[:2] for record in records] == [
        (2, len(head) - len(flow()) - 1), (4, len(head) + len(long_line)),
        (5, len(head) + len(long_line) + len(flow()) + 1)]
    assert [record[6] for record in records] == ['10.0.0.1', '10.0.0.2', '10.0.0.3']
    assert (stats.malformed, stats.first_malformed, stats.lines) == (1, [3], 5)


def test_a_long_line_is_not_held(tmp_path):
    def chunks():
        yield (HEADER + '\n' + flow() + '\n').encode()
        piece = b'x,' * (1 << 15)
        for _ in range(256):                    # 16 MB without a newline
            yield piece
        yield b'\n' + (flow(src='10.0.0.2') + '\n').encode() + b'z' * 100
    data = b''.join(chunks())
    expected = read_file(tmp_path, data)
    tracemalloc.start()
    try:
        with piped(chunks()) as stream:
            result = read_stream(stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result == expected
    assert [record[0] for record in result[0]] == [2, 4]
    assert (result[1].malformed, result[1].first_malformed, result[1].lines) == (2, [3, 5], 5)
    assert peak < 3 * (flowfile.MAX_LINE + flowfile.READ_SIZE) < len(data)


# ---- cutting blocks ------------------------------------------------------------

def test_blocks_are_cut_at_max_lines():
    text = lines_text([HEADER] + [flow() for _ in range(25)])
    sizes = [len(block.line_no) for block in iter_stream_blocks(io.BytesIO(text.encode()),
                                                                max_lines=7)]
    # 26 lines in blocks of 7: the first block's header is not a flow
    assert sizes == [6, 7, 7, 5]


@pytest.mark.parametrize('seed', range(20))
def test_after_lines(seed):
    rng = random.Random(seed)
    data = b''.join(b'a' * rng.choice([0, 1, 5, 300, 5000]) + b'\n'
                    for _ in range(rng.randint(2, 400)))
    starts = [index + 1 for index, byte in enumerate(data) if byte == ord('\n')]
    for lines in {1, len(starts) // 2 or 1, len(starts) - 1} - {0}:
        assert flowfile._after_lines(bytearray(data), lines) == starts[lines - 1]
