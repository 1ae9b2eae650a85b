"""One tuple per flow, for tests that look at flows one by one: stf itself
works on the column blocks of flowfile.iter_blocks and iter_stream_blocks."""
from stf.core.flows.flowfile import STREAM_LINES, iter_blocks, iter_stream_blocks


def iter_flows(path, fmt=None, stats=None):
    """(line_no, byte_offset, start_us, dur_us, bytes, proto, src, sport, dst,
    dport, label) of every valid flow, in file order."""
    for block in iter_blocks(path, fmt, stats):
        yield from zip(*block)


def iter_stream_flows(stream, fmt=None, stats=None, max_lines=STREAM_LINES, max_wait=0.0):
    """The same for a stream, as the flows arrive."""
    for block in iter_stream_blocks(stream, fmt, stats, max_lines, max_wait):
        yield from zip(*block)
