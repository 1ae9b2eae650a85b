"""Reading flow files: argus binetflow (ra text output) and Zeek conn.log.

The reader is built for files of tens of millions of flows. It reads the file in
blocks of about 1 MB and parses every block column by column with C-level calls
(str.split, map, itemgetter, int), never one Python call per field; a block that is
irregular anywhere (spaces around fields, '-' values, bad lines) falls back to a
slower path for that column only. `iter_blocks` gives the columns of each block (for
building per-connection arrays). `iter_stream_blocks` does the same for an unbounded stream
(stdin, a pipe from `ra -S`), handing on flows as their lines arrive.

Logical column names, shared by both kinds (`FlowFormat.columns` maps them to the
field index in a line):

  logical       binetflow    Zeek conn.log
  start         StartTime    ts
  dur           Dur          duration
  proto         Proto        proto
  src           SrcAddr      id.orig_h
  sport         Sport        id.orig_p
  dst           DstAddr      id.resp_h
  dport         Dport        id.resp_p
  bytes         TotBytes     -   (orig_bytes + resp_bytes)
  orig_bytes    -            orig_ip_bytes
  resp_bytes    -            resp_ip_bytes
  label         Label        label
  detailed_label -           detailedlabel
  (and dir, state, stos, dtos, packets, src_bytes, src_packets, src_udata,
   dst_udata, uid, service, orig_packets, resp_packets when present)

Values, as every caller sees them:
- times and durations are integer microseconds (exact decimal parsing, digits past
  the sixth decimal dropped, never floats); dates are read as UTC;
- '-' or an empty duration or byte count is 0; a negative one is clamped to 0 and
  counted in `ReadStats.negative` (argus prints negative durations when a capture's
  clock steps back; a negative size is a broken line, but dropping it would change
  the connection's flow count);
- strings are trimmed of surrounding whitespace and otherwise kept as written (ICMP
  ports such as '0x0008', empty ARP ports), so the connection id is
  f'{src}-{dst}-{dport}-{proto}';
- the label is the Label field as written ('' when absent); for Zeek it is `label`,
  or `label-detailedlabel` when detailedlabel is set (e.g. 'Malicious-CC',
  'Background'), so the decision stays readable before the first '-'.

Lines that are skipped: argus management records (Proto 'man'), lines starting with
'#' (Zeek's meta lines), blank lines, header lines after the first (concatenated
files; a header with other columns switches to them), and malformed lines (wrong
number of fields, unreadable time, duration or size, or longer than MAX_LINE bytes —
such a line is skipped without being held in memory).
"""
import calendar
import io
import os
import re
import select
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import accumulate, compress, count, repeat
from operator import add, itemgetter, lt, methodcaller
from typing import NamedTuple

from stf.core.errors import UserError

READ_SIZE = 1 << 20
# A flow line is a few hundred bytes (srcUdata/dstUdata add about 1.3 KB); a longer
# one is garbage, and a file that is one huge line must not be loaded whole.
MAX_LINE = 1 << 20
FIRST_MALFORMED = 5
# Distinct seconds cached while reading; a week-long capture has 604,800 of them.
TIME_CACHE_SIZE = 1 << 16

BINETFLOW_COLUMNS = {
    'StartTime': 'start', 'Dur': 'dur', 'Proto': 'proto', 'SrcAddr': 'src',
    'Sport': 'sport', 'Dir': 'dir', 'DstAddr': 'dst', 'Dport': 'dport', 'State': 'state',
    'sTos': 'stos', 'dTos': 'dtos', 'TotPkts': 'packets', 'TotBytes': 'bytes',
    'SrcBytes': 'src_bytes', 'SrcPkts': 'src_packets', 'Label': 'label',
    'srcUdata': 'src_udata', 'dstUdata': 'dst_udata'}
BINETFLOW_REQUIRED = ('StartTime', 'Dur', 'Proto', 'SrcAddr', 'Sport', 'Dir', 'DstAddr',
                      'Dport', 'State', 'TotBytes')
# The columns a header-less binetflow has first, in this order (the Stratosphere
# tools' order, not ra's default).
HEADERLESS = ('StartTime', 'Dur', 'Proto', 'SrcAddr', 'Sport', 'Dir', 'DstAddr', 'Dport',
              'State', 'sTos', 'dTos', 'TotPkts', 'TotBytes')
ZEEK_COLUMNS = {
    'ts': 'start', 'duration': 'dur', 'proto': 'proto', 'id.orig_h': 'src',
    'id.orig_p': 'sport', 'id.resp_h': 'dst', 'id.resp_p': 'dport',
    'orig_ip_bytes': 'orig_bytes', 'resp_ip_bytes': 'resp_bytes', 'conn_state': 'state',
    'uid': 'uid', 'service': 'service', 'orig_pkts': 'orig_packets',
    'resp_pkts': 'resp_packets', 'label': 'label', 'detailedlabel': 'detailed_label'}
ZEEK_REQUIRED = ('ts', 'duration', 'proto', 'id.orig_h', 'id.orig_p', 'id.resp_h',
                 'id.resp_p', 'orig_ip_bytes', 'resp_ip_bytes')
ZEEK_UNSET = ('-', '(empty)', '')
# IoT-23's labeled conn.logs separate their last three columns with three spaces.
ZEEK_SPACED = '   '

DATE = re.compile(r'(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d*))?\Z', re.ASCII)
DAY = re.compile(r'(\d{4})/(\d\d)/(\d\d)\Z', re.ASCII)
DECIMAL = re.compile(r'([+-]?)(\d*)(?:\.(\d*))?\Z', re.ASCII)

_PREFIX = itemgetter(slice(0, 19))
_FRACTION = itemgetter(slice(20, None))
_AT_19 = itemgetter(19)
_AT_MINUS_7 = itemgetter(-7)
# The ASCII characters str.strip() removes ('\n' cannot be inside a line).
ASCII_SPACES = ' \t\r\x0b\x0c\x1c\x1d\x1e\x1f'
# The logical columns a FlowBlock is made of.
USED = ('start', 'dur', 'proto', 'src', 'sport', 'dst', 'dport', 'bytes', 'orig_bytes',
        'resp_bytes', 'label', 'detailed_label')


@dataclass
class FlowFormat:
    """How one flow file's lines are laid out.

    kind: 'binetflow' or 'zeek'. separator: the field separator. has_header: the
    first line (binetflow) or the '#' block (Zeek) names the columns. columns:
    logical name -> field index (see the module docstring). width: the number of
    fields of a flow line; exact: False when a line may have more (header-less
    binetflow). extra_separator: also splits fields (IoT-23 Zeek quirk), '' if none.
    """
    kind: str
    separator: str
    has_header: bool
    columns: dict
    width: int
    exact: bool = True
    extra_separator: str = ''


@dataclass
class ReadStats:
    """What a read skipped or noticed, filled in while the blocks are read.

    lines: lines read. flows: valid flows given. malformed: lines skipped as
    unreadable; first_malformed: the first FIRST_MALFORMED of their line numbers.
    management: argus 'man' records. headers_skipped: header lines after the first
    (repeated headers of concatenated files, later Zeek '#fields' lines).
    comments: other lines starting with '#'. blank: empty lines. negative: negative
    durations or sizes clamped to 0. out_of_order: flows that start earlier than
    the flow before them in the file.
    """
    lines: int = 0
    flows: int = 0
    malformed: int = 0
    first_malformed: list = field(default_factory=list)
    management: int = 0
    headers_skipped: int = 0
    comments: int = 0
    blank: int = 0
    negative: int = 0
    out_of_order: int = 0

    def add_malformed(self, numbers):
        # Blocks come in file order but one block finds its bad lines in several
        # passes, so keep the smallest numbers rather than the first reported.
        if numbers:
            self.malformed += len(numbers)
            self.first_malformed = sorted(self.first_malformed + numbers)[:FIRST_MALFORMED]


class FlowBlock(NamedTuple):
    """The flows of one block of a file as parallel lists (one item per flow)."""
    line_no: list
    offset: list
    start: list
    dur: list
    bytes: list
    proto: list
    src: list
    sport: list
    dst: list
    dport: list
    label: list


# ---- single values ---------------------------------------------------------

def parse_time_us(text):
    """'YYYY/MM/DD HH:MM:SS[.ffffff]' (UTC) or decimal epoch seconds -> int µs.

    Surrounding whitespace is ignored and digits past the sixth decimal dropped.
    Raises ValueError for anything else.
    """
    text = text.strip()
    match = DATE.match(text)
    if match is None:
        return _decimal_us(text, 'time')
    return _date_us(text[:19]) + _fraction_us(match.group(7) or '')


def parse_duration_us(text):
    """Decimal seconds -> int µs; '-' or empty is 0. May be negative."""
    text = text.strip()
    return 0 if text in ('', '-') else _decimal_us(text, 'duration')


def parse_int(text):
    """A byte or packet count; '-' or empty is 0. May be negative."""
    text = text.strip()
    return 0 if text in ('', '-') else int(text)


def _decimal_us(text, what):
    match = DECIMAL.match(text)
    if match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f'not a {what}: {text!r}')
    sign, whole, fraction = match.groups()
    value = int(whole or '0') * 1_000_000 + _fraction_us(fraction or '')
    return -value if sign == '-' else value


def _fraction_us(digits):
    return int((digits + '000000')[:6])


def _date_us(prefix):
    """'YYYY/MM/DD HH:MM:SS' -> µs since the epoch, checked field by field.

    A capture has a new second every few flows but few days: the day is
    cached, the time of day is plain arithmetic.
    """
    clock = prefix[11:13] + prefix[14:16] + prefix[17:19]
    if (len(prefix) != 19 or prefix[10] != ' ' or prefix[13] != ':' or prefix[16] != ':'
            or not clock.isdigit() or not clock.isascii()):
        raise ValueError(f'not a date: {prefix!r}')
    hour, minute, second = int(clock[:2]), int(clock[2:4]), int(clock[4:])
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f'not a date: {prefix!r}')
    return _day_us(prefix[:10]) + (hour * 3600 + minute * 60 + second) * 1_000_000


@lru_cache(maxsize=4096)
def _day_us(text):
    """'YYYY/MM/DD' -> µs since the epoch of its midnight (UTC)."""
    match = DAY.match(text)
    if match is None:
        raise ValueError(f'not a date: {text!r}')
    year, month, day = map(int, match.groups())
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError(f'not a date: {text!r}')
    return calendar.timegm((year, month, day, 0, 0, 0)) * 1_000_000


# ---- the format ------------------------------------------------------------

def sniff_format(path):
    """Read the start of a flow file and say how its lines are laid out."""
    with _open(path) as stream:
        head = _head(iter(partial(stream.readline, MAX_LINE), b''), path)
    return _format_of(head, path)


def _head(lines, name):
    """The lines that decide the format, as text: the first line, or the '#' lines
    a Zeek log starts with, through '#fields'. lines: raw lines of at most MAX_LINE
    bytes (a longer line comes in pieces, as readline(MAX_LINE) gives it), taken
    only as far as needed, since a stream cannot give them back. None if there are
    none."""
    first = next(lines, b'')
    if not first:
        return None
    if not first.endswith(b'\n') and len(first) == MAX_LINE:
        raise UserError(f'{name}: the first line is longer than {MAX_LINE} bytes; '
                        'this is not a binetflow or a Zeek conn.log')
    first = first.removeprefix(BOM)
    if not first.startswith(b'#'):
        return [_text(first)]
    head = [first]
    while (not head[-1].startswith(b'#fields') and len(head) < 100
           and (line := next(lines, b'')).startswith(b'#')):
        head.append(line)
    return [_text(line) for line in head]


def _text(raw):
    return raw.decode('utf-8', 'replace').rstrip('\r\n')


def _format_of(head, name):
    """The format of a file or stream whose first lines are head (see _head)."""
    first = head[0]
    if first.startswith('#'):
        return _zeek_format(name, head)
    if first.lstrip().startswith('{'):
        raise UserError(f'{name} is a JSON log; stf reads Zeek conn.log in its TSV form '
                        '(zeek-cut or LogAscii::use_json=F)')
    separator = '\t' if '\t' in first else ','
    names = [column.strip() for column in first.split(separator)]
    # SPEC: a header starts with StartTime; a line naming it anywhere is a header
    # too, since no flow has a field that reads 'StartTime'.
    if 'StartTime' in names:
        return binetflow_format(names, separator, name)
    return _headerless_format(names, separator, name)


def binetflow_format(names, separator, path='the file'):
    """The format of a binetflow whose header names these columns."""
    missing = [name for name in BINETFLOW_REQUIRED if name not in names]
    if missing:
        raise UserError(f'{path}: the header lacks column(s) {", ".join(missing)}; a '
                        f'binetflow needs {",".join(BINETFLOW_REQUIRED)} (export it '
                        'again with ra as in the stf docs)')
    columns = {BINETFLOW_COLUMNS[name]: index for index, name in enumerate(names)
               if name in BINETFLOW_COLUMNS}
    return FlowFormat('binetflow', separator, True, columns, len(names))


def _open(path):
    """The file, opened for reading bytes; a missing or empty file is the user's."""
    try:
        stream = open(path, 'rb')
    except OSError as error:
        raise UserError(f'cannot read {path}: {error.strerror}; check the path') from None
    if not stream.peek(1):
        stream.close()
        raise UserError(f'{path} is empty; choose a binetflow or Zeek conn.log with flows')
    return stream


def _headerless_format(fields, separator, path):
    try:
        parse_time_us(fields[0])
        enough = len(fields) >= len(HEADERLESS)
    except ValueError:
        enough = False
    if not enough:
        raise UserError(f'{path}: line 1 is neither a binetflow header (StartTime,...) '
                        f'nor a flow with the columns {",".join(HEADERLESS)}; '
                        'is it a flow file?')
    columns = {BINETFLOW_COLUMNS[name]: index for index, name in enumerate(HEADERLESS)}
    return FlowFormat('binetflow', separator, False, columns, len(HEADERLESS), exact=False)


def _zeek_format(path, header, separator='\t'):
    for line in header:
        if line.startswith('#separator'):
            separator = zeek_separator(line)
        elif line.startswith('#fields'):
            return zeek_format(line, separator, path)
    raise UserError(f'{path} starts with "#" but has no #fields line; '
                    'stf reads Zeek conn.log files in their TSV form')


def zeek_separator(line):
    """The separator a '#separator \\x09' line declares."""
    value = line[len('#separator'):].strip() or r'\x09'
    return re.sub(r'\\x([0-9a-fA-F]{2})', lambda hexa: chr(int(hexa.group(1), 16)), value)


def zeek_format(line, separator='\t', path='the file'):
    """The format of a Zeek log from its '#fields' line."""
    extra = ZEEK_SPACED if ZEEK_SPACED in line and separator != ' ' else ''
    names = _split(line, separator, extra)[1:]
    missing = [name for name in ZEEK_REQUIRED if name not in names]
    if missing:
        raise UserError(f'{path}: the Zeek log lacks field(s) {", ".join(missing)}; '
                        f'stf needs a conn.log with {", ".join(ZEEK_REQUIRED)}')
    columns = {ZEEK_COLUMNS[name]: index for index, name in enumerate(names)
               if name in ZEEK_COLUMNS}
    return FlowFormat('zeek', separator, True, columns, len(names), True, extra)


def _split(line, separator, extra=''):
    if extra:
        line = line.replace(extra, separator)
    return [name.strip() for name in line.split(separator)]


# ---- reading ---------------------------------------------------------------

def iter_blocks(path, fmt=None, stats=None, begin=0, end=None, first_line=1,
                max_line=MAX_LINE):
    """Yield a FlowBlock (parallel column lists) for every ~1 MB of the file.

    begin, end: a byte range to read (begin at the start of a line, end after a
    newline or at the end of the file), whose first line is number first_line;
    parts of one file can so be read by several processes. Lines longer than
    max_line bytes are skipped and counted as malformed.
    """
    fmt = fmt or sniff_format(path)
    reader = _BlockReader(fmt, stats if stats is not None else ReadStats(), max_line)
    reader.line_no = first_line
    reader.leading = begin == 0
    with _open(path) as stream:
        stream.seek(begin)
        for offset, data in _raw_blocks(stream, begin=begin, stop=end,
                                        limit=max_line):
            yield from reader.read(offset, data)


def line_starts(path, size, parts):
    """Byte offsets (after a newline) that cut the file into about `parts` equal
    parts, with the line number each part starts with: [(begin, first_line)].
    Fewer parts when a cut would fall inside an overlong line."""
    cuts = [(0, 1)]
    with open(path, 'rb') as stream:
        lines, counted = 1, 0
        for part in range(1, parts):
            stream.seek(size * part // parts)
            tail = stream.read(MAX_LINE)
            newline = tail.find(b'\n')
            if newline < 0:
                break
            cut = size * part // parts + newline + 1
            if cut >= size or cut <= cuts[-1][0]:
                break
            lines += _count_newlines(stream, counted, cut)
            counted = cut
            cuts.append((cut, lines))
    return cuts


def _count_newlines(stream, begin, end):
    stream.seek(begin)
    total, left = 0, end - begin
    while left > 0:
        chunk = stream.read(min(READ_SIZE * 16, left))
        if not chunk:
            break
        total += chunk.count(b'\n')
        left -= len(chunk)
    return total


def _raw_blocks(stream, size=READ_SIZE, limit=MAX_LINE, begin=0, stop=None):
    """Yield (offset, bytes of whole lines without the last newline); (offset, None)
    stands for one line longer than limit, which is skipped, not kept. Reads from
    the stream's position (begin) up to stop (None: the end of the file)."""
    offset, carry = begin, b''
    left = float('inf') if stop is None else stop - begin
    while left > 0 and (chunk := stream.read(int(min(size, left)))):
        left -= len(chunk)
        data = carry + chunk if carry else chunk
        chunk = carry = None            # hold one copy only
        end = data.rfind(b'\n')
        if end >= 0:
            yield offset, data[:end]
            offset, carry = offset + end + 1, data[end + 1:]
        elif len(data) <= limit:
            carry = data
        else:
            yield offset, None
            offset += len(data)
            data = None
            skipped, carry = _skip_line(stream.read, size)
            offset += skipped
            left -= skipped + len(carry)
            if left < 0:  # _skip_line read past the end of the range
                carry, left = carry[:len(carry) + int(left)], 0
    if carry:
        # Only what follows a skipped line can still hold newlines here.
        yield offset, carry[:-1] if carry.endswith(b'\n') else carry


def _skip_line(read, size):
    """Read past the next newline with read(size): (bytes read through it, bytes
    after it)."""
    skipped = 0
    while chunk := read(size):
        end = chunk.find(b'\n')
        if end >= 0:
            return skipped + end + 1, chunk[end + 1:]
        skipped += len(chunk)
    return skipped, b''


def line_at(path, offset, limit=MAX_LINE):
    """The text of the line that starts at byte offset (to show a flow as written)."""
    with open(path, 'rb') as stream:
        return stream_line_at(stream, offset, limit)


def stream_line_at(stream, offset, limit=MAX_LINE):
    """line_at in a file already open (binary): for many lines of one file."""
    stream.seek(offset)
    return stream.readline(limit).decode('utf-8', 'replace').rstrip('\r\n')


class _BlockReader:
    """Parses blocks of lines into FlowBlocks, keeping what spans blocks: the
    format (a header mid-file can change it), the line count, the time cache and
    the last start time (for out_of_order)."""

    def __init__(self, fmt, stats, max_line=MAX_LINE):
        self.fmt = fmt
        self.stats = stats
        self.max_line = max_line
        self.line_no = 1
        self.times = {}
        self.last_start = None
        self.zeek_separator = fmt.separator
        self.fields_seen = 0
        # Only '#' lines read so far from the start of the file: a '#fields' line
        # is the file's own header only there; after a flow it changes the
        # columns mid-file like a later header (a reader of a part of a file
        # sees that only through headers_skipped).
        self.leading = True

    def read(self, offset, data):
        """The FlowBlocks of one raw block (several if a header splits it)."""
        if data is None:
            self.stats.lines += 1
            self.stats.add_malformed([self.line_no])
            self.line_no += 1
            return []
        text, lines, offsets = _decode(offset, data)
        numbers = range(self.line_no, self.line_no + len(lines))
        self.line_no += len(lines)
        self.stats.lines += len(lines)
        if self.max_line < READ_SIZE:
            # reading in chunks of READ_SIZE only catches lines longer than that
            lines, numbers, offsets = self._short_lines(lines, numbers, offsets,
                                                        offset + len(data))
        return [block for block in self._segments(text, lines, numbers, offsets) if block]

    def _short_lines(self, lines, numbers, offsets, end):
        """The lines of at most max_line bytes; the others count as malformed."""
        ends = offsets[1:] + [end + 1]
        long = [index for index, (begin, after) in enumerate(zip(offsets, ends))
                if after - begin - 1 > self.max_line]
        if not long:
            return lines, numbers, offsets
        self.stats.add_malformed([numbers[index] for index in long])
        kept = sorted(set(range(len(lines))) - set(long))
        return ([lines[index] for index in kept], [numbers[index] for index in kept],
                [offsets[index] for index in kept])

    def _segments(self, text, lines, numbers, offsets):
        begin = 0
        for index in self._control_lines(text, lines):
            if index > begin or lines[index][:1] != '#':
                self.leading = False
            yield self._parse(lines[begin:index], numbers[begin:index], offsets[begin:index])
            self._control(lines[index], numbers[index])
            begin = index + 1
        if begin < len(lines):
            self.leading = False
        yield self._parse(lines[begin:], numbers[begin:], offsets[begin:])

    def _control_lines(self, text, lines):
        """Indexes of lines that are comments or headers; a substring test keeps
        the scan off ordinary blocks."""
        if '#' not in text and 'StartTime' not in text:
            return []
        return [index for index, line in enumerate(lines)
                if line[:1] == '#' or ('StartTime' in line and _is_header(line))]

    def _control(self, line, number):
        try:
            if line[:1] != '#':
                self._new_format(binetflow_format(*_header_names(line)), number > 1)
            elif line.startswith('#fields'):
                self._new_format(zeek_format(line, self.zeek_separator),
                                 self.fields_seen or not self.leading)
                self.fields_seen += 1
            else:
                self._comment(line)
        except UserError:
            # A header mid-file without the needed columns: its flows cannot be
            # read by name, so the line counts as malformed and the old one stays.
            self.stats.add_malformed([number])

    def _comment(self, line):
        self.stats.comments += 1
        if line.startswith('#separator'):
            self.zeek_separator = zeek_separator(line)

    def _new_format(self, fmt, later):
        if later:
            self.stats.headers_skipped += 1
        elif fmt.kind == 'zeek':
            self.stats.comments += 1
        self.fmt = fmt

    def _parse(self, lines, numbers, offsets):
        if not lines:
            return None
        fmt = self.fmt
        if fmt.extra_separator:
            lines = [line.replace(fmt.extra_separator, fmt.separator) for line in lines]
        raw = self._raw_columns(lines)
        if raw is None:
            lines, numbers, offsets = self._whole_lines(lines, numbers, offsets)
            if not lines:
                return None
            raw = self._raw_columns(lines if fmt.exact else
                                    _cut(lines, fmt.separator, fmt.width))
        raw['proto'] = _trimmed(raw['proto'])
        if 'man' in raw['proto']:
            keep = [name != 'man' for name in raw['proto']]
            self.stats.management += keep.count(False)
            numbers, offsets, raw = _keep(keep, numbers, offsets, raw)
        return self._values(numbers, offsets, raw) if numbers else None

    def _whole_lines(self, lines, numbers, offsets):
        """Drop lines with the wrong number of fields (blank lines, malformed)."""
        fmt = self.fmt
        fields = map((1).__add__, map(methodcaller('count', fmt.separator), lines))
        keep = [count == fmt.width or (not fmt.exact and count > fmt.width)
                for count in fields]
        bad = [(number, line) for number, line, ok in zip(numbers, lines, keep) if not ok]
        self.stats.blank += sum(1 for number, line in bad if not line.strip())
        self.stats.add_malformed([number for number, line in bad if line.strip()])
        return _keep(keep, lines, numbers, offsets)

    def _raw_columns(self, lines):
        """The needed columns, untrimmed, or None unless every line has the same
        number of fields (a header-less binetflow: as many as its first line).

        One split of the whole block and a slice per column, with no list per
        line: the lines are joined with '<sep>\n<sep>', so the '\n' fields must
        fall exactly every width + 1 fields."""
        fmt = self.fmt
        width = fmt.width if fmt.exact else max(lines[0].count(fmt.separator) + 1,
                                                 fmt.width)
        table = (fmt.separator + '\n' + fmt.separator).join(lines).split(fmt.separator)
        stride = width + 1
        if len(table) != len(lines) * stride - 1 or \
                table[width::stride].count('\n') != len(lines) - 1:
            return None
        return {name: table[index::stride] for name, index in fmt.columns.items()
                if name in USED}

    def _values(self, numbers, offsets, raw):
        values = [self._times(raw['start']), self._durations(raw['dur']), self._sizes(raw)]
        if any(None in value for value in values):
            keep = [None not in flow for flow in zip(*values)]
            self.stats.add_malformed(list(compress(numbers, (not ok for ok in keep))))
            numbers, offsets, values, raw = _keep(keep, numbers, offsets, values, raw)
        return self._block(numbers, offsets, raw, *values) if numbers else None

    def _block(self, numbers, offsets, raw, starts, durs, sizes):
        self._note_order(starts)
        self.stats.flows += len(starts)
        return FlowBlock(
            list(numbers), offsets, starts, self._clamped(durs), self._clamped(sizes),
            raw['proto'], _trimmed(raw['src']), _trimmed(raw['sport']),
            _trimmed(raw['dst']), _trimmed(raw['dport']), self._labels(raw, len(starts)))

    def _times(self, texts):
        """Start times in µs, None where unreadable. Fast path: every text is
        'YYYY/MM/DD HH:MM:SS.ffffff' (argus) or has exactly six decimals (Zeek)."""
        fractions = _date_fractions(texts)
        if fractions is not None:
            prefixes = list(map(_PREFIX, texts))
            if self._cache_dates(prefixes):
                return list(map(add, map(self.times.__getitem__, prefixes),
                                map(int, fractions)))
        return _six_decimals(texts) or [_or_none(parse_time_us, text) for text in texts]

    def _cache_dates(self, prefixes):
        """Put the new dates in the cache; False if one is not a date."""
        new = set(prefixes).difference(self.times)
        if len(self.times) + len(new) > TIME_CACHE_SIZE:
            self.times.clear()
            new = set(prefixes)
        try:
            self.times.update((prefix, _date_us(prefix)) for prefix in new)
        except ValueError:
            return False
        return True

    def _durations(self, texts):
        fast = _six_decimals(texts)
        if fast is None and ('-' in texts or '' in texts):
            fast = _six_decimals(['0.000000' if text in ('-', '') else text
                                  for text in texts])
        return fast or [_or_none(parse_duration_us, text) for text in texts]

    def _sizes(self, raw):
        if 'bytes' in raw:
            return _counts(raw['bytes'])
        sizes = [_counts(raw['orig_bytes']), _counts(raw['resp_bytes'])]
        if None in sizes[0] or None in sizes[1]:
            return [None if None in pair else sum(pair) for pair in zip(*sizes)]
        return list(map(add, *sizes))

    def _clamped(self, values):
        if min(values) >= 0:
            return values
        self.stats.negative += sum(value < 0 for value in values)
        return [max(value, 0) for value in values]

    def _note_order(self, starts):
        before = self.last_start
        if before is not None and starts[0] < before:
            self.stats.out_of_order += 1
        self.stats.out_of_order += sum(map(lt, starts[1:], starts))
        self.last_start = starts[-1]

    def _labels(self, raw, size):
        if 'label' not in raw:
            return [''] * size
        labels = _trimmed(raw['label'])
        if self.fmt.kind != 'zeek':
            return labels
        details = _trimmed(raw['detailed_label']) if 'detailed_label' in raw else \
            repeat('-')
        return list(map(_zeek_label, labels, details))


# The UTF-8 byte order mark some Windows tools write at the start of a file.
BOM = b'\xef\xbb\xbf'


def _decode(offset, data):
    """Text, lines and line start offsets of a block of whole lines."""
    if offset == 0 and data.startswith(BOM):
        offset, data = len(BOM), data[len(BOM):]
    if data.isascii():
        text = data.decode('ascii')
        lines = sized = text.split('\n')
    else:
        # Invalid bytes become U+FFFD; '\n' is never part of a UTF-8 sequence, so
        # the text splits into the same lines as the bytes.
        text = data.decode('utf-8', 'replace')
        lines, sized = text.split('\n'), data.split(b'\n')
    # offset of line i = offset + (lengths of lines before it) + i newlines
    offsets = list(map(add, accumulate(map(len, sized), initial=offset), count()))
    return text, lines, offsets[:-1]


def _is_header(line):
    return 'StartTime' in _header_names(line)[0]


def _header_names(line):
    separator = '\t' if '\t' in line else ','
    return [name.strip() for name in line.split(separator)], separator


def _keep(mask, *columns):
    """Each list (or each list of a list or dict of lists) where mask is true."""
    return [_kept(mask, values) for values in columns]


def _kept(mask, values):
    if isinstance(values, dict):
        return {name: list(compress(items, mask)) for name, items in values.items()}
    if values and isinstance(values[0], list):
        return [list(compress(items, mask)) for items in values]
    return list(compress(values, mask))


def _cut(lines, separator, width):
    """Lines cut to their first width fields (header-less files may have more)."""
    return [separator.join(line.split(separator, width)[:width]) for line in lines]


def _trimmed(values):
    """Values without surrounding whitespace; one search per column instead of a
    strip per value, since fields rarely have spaces."""
    joined = ''.join(values)
    if joined.isascii() and not any(space in joined for space in ASCII_SPACES):
        return values
    return list(map(str.strip, values))


def _date_fractions(texts):
    """The six fraction digits of each text if all are 'YYYY/MM/DD HH:MM:SS.ffffff'."""
    if set(map(len, texts)) != {26} or set(map(_AT_19, texts)) != {'.'}:
        return None
    fractions = list(map(_FRACTION, texts))
    digits = ''.join(fractions)
    return fractions if digits.isascii() and digits.isdigit() else None


def _six_decimals(texts):
    """Decimal seconds -> µs if every text has one '.' and six decimals.

    Dropping the '.' of the joined column and splitting it again is cheaper than
    a replace per value; int() then rejects anything but digits and a sign once
    surrounding spaces are stripped and '_' and non-ASCII digits, which int()
    takes and parse_time_us does not, are ruled out: a value must not depend on
    the other lines of its block."""
    try:
        joined = '\n'.join(texts)
        if any(space in joined for space in ASCII_SPACES):
            # Spaces after the value would move its '.' off the seventh place
            # from the end: '2.457  ' is not 2457 µs.
            texts = list(map(str.strip, texts))
            joined = '\n'.join(texts)
        if (set(map(_AT_MINUS_7, texts)) != {'.'} or joined.count('.') != len(texts)
                or '_' in joined or not joined.isascii()):
            return None
        return list(map(int, joined.replace('.', '').split('\n')))
    except (IndexError, ValueError):
        return None


def _counts(texts):
    try:
        return list(map(int, texts))
    except ValueError:
        return [_or_none(parse_int, text) for text in texts]


def _or_none(parse, text):
    try:
        return parse(text)
    except ValueError:
        return None


def _zeek_label(label, detailed):
    label = '' if label in ZEEK_UNSET else label
    return label if detailed in ZEEK_UNSET else f'{label}-{detailed}'


# ---- streams ---------------------------------------------------------------

# The most complete lines a stream block holds (it also holds at most about
# READ_SIZE bytes of them).
STREAM_LINES = 10_000


def iter_stream_blocks(stream, fmt=None, stats=None, max_lines=STREAM_LINES, max_wait=0.0,
                       max_line=MAX_LINE):
    """Yield the FlowBlocks of an unbounded stream (stdin, a pipe from `ra -S`, a
    socket) as its lines arrive, holding about a block and a partial line at most.

    stream: a blocking binary file object (sys.stdin.buffer, a pipe), a text one
    (read through its binary buffer) or a file descriptor. The format is sniffed
    from the first lines by sniff_format's rules unless fmt is given, and the
    lines are read as iter_blocks reads a file: same values and ReadStats, line
    numbers from 1, byte offsets from the start of the stream. A block is handed
    on when it has max_lines complete lines or about READ_SIZE bytes of them, or
    when the input pauses: nothing more could be read within max_wait seconds of
    its first line (0: nothing more at once), so a slow producer's flows come out
    one by one. A partial line waits for its newline or the end of the input. An
    empty stream gives nothing. Lines longer than max_line bytes are skipped and
    counted as malformed, never held whole.
    """
    source, held = _Source(stream), bytearray()
    if fmt is None:
        head = _head(source.lines(held), source.name)
        if head is None:
            return
        fmt = _format_of(head, source.name)
    reader = _BlockReader(fmt, stats if stats is not None else ReadStats(), max_line)
    for offset, data in _Arriving(source, held).blocks(max_lines, max_wait,
                                                       limit=max_line):
        yield from reader.read(offset, data)


class _Source:
    """A stream read as its data arrives: read() gives what there is, waiting
    only when there is nothing; more() says whether data came in time."""

    def __init__(self, stream):
        name = getattr(stream, 'name', None)
        self.name = name if isinstance(name, str) else 'the input stream'
        self._read, descriptor = _stream_reader(stream)
        self._poll = None
        if descriptor is not None and hasattr(select, 'poll'):   # not on Windows
            self._poll = select.poll()
            self._poll.register(descriptor, select.POLLIN)
        self.ended = False

    def read(self, size):
        """Up to size bytes; b'' at the end (then always, so that a terminal is
        not asked twice)."""
        if self.ended:
            return b''
        chunk = self._read(size)
        self.ended = not chunk
        return chunk

    def more(self, timeout):
        """Whether data (or the end) can be read within timeout seconds. Without
        a descriptor to ask (data in memory), each read is taken as all there is
        for now."""
        return self._poll is not None and bool(self._poll.poll(max(timeout, 0.0) * 1000))

    def lines(self, held):
        """The stream's lines as readline(MAX_LINE) gives them, read into held,
        which keeps them for the block reader (a stream cannot be read twice)."""
        start = 0
        while start < len(held) or self._fill(held):
            end = held.find(b'\n', start, start + MAX_LINE)
            if end < 0 and len(held) - start < MAX_LINE and self._fill(held):
                continue
            end = end + 1 if end >= 0 else min(len(held), start + MAX_LINE)
            yield bytes(held[start:end])
            start = end

    def _fill(self, held):
        chunk = self.read(READ_SIZE)
        held.extend(chunk)
        return bool(chunk)


def _stream_reader(stream):
    """(read(size) giving the bytes available, file descriptor or None)."""
    if isinstance(stream, int):
        return partial(os.read, stream), stream
    stream = getattr(stream, 'buffer', stream)
    if isinstance(stream, io.TextIOBase):       # text with no bytes below (StringIO)
        return (lambda size: stream.read(size).encode()), None
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        descriptor = None                       # in memory (BytesIO)
    # read1: what the buffer has, or one system call's worth; read would wait
    # until size bytes came.
    return getattr(stream, 'read1', stream.read), descriptor


class _Arriving:
    """What a stream gave and was not handed on yet: `whole` bytes of complete
    lines (`lines` of them), then the start of a partial line; offset: where held
    starts in the stream."""

    def __init__(self, source, held):
        self.source, self.held = source, held
        self.offset = self.whole = self.lines = 0
        self._count(0)

    def blocks(self, max_lines, max_wait, size=READ_SIZE, limit=MAX_LINE):
        """Yield what _raw_blocks yields for a file, each block as soon as it is
        due (see iter_stream_blocks)."""
        deadline = time.monotonic() + max_wait
        while True:
            if len(self.held) - self.whole > limit:
                yield from self._long_line(max_lines, size)
            elif self.lines and (self.lines >= max_lines or self.whole >= size or
                                 not self.source.more(deadline - time.monotonic())):
                yield self._take(max_lines)
            else:
                waiting = self.lines
                if not self._add(self.source.read(size)):
                    break
                if not waiting:
                    deadline = time.monotonic() + max_wait
        while self.lines:
            yield self._take(max_lines)
        if self.held:
            yield self.offset, bytes(self.held)

    def _take(self, max_lines):
        """(offset, the first max_lines complete lines without the last newline)."""
        end = self.whole if self.lines <= max_lines else _after_lines(self.held, max_lines)
        block = self.offset, bytes(self.held[:end - 1])
        del self.held[:end]
        self.offset += end
        self.whole -= end
        self.lines = max(self.lines - max_lines, 0)
        return block

    def _long_line(self, max_lines, size):
        """Hand on the complete lines, then skip the partial line, which is too
        long to hold."""
        while self.lines:
            yield self._take(max_lines)
        yield self.offset, None
        skipped, rest = _skip_line(self.source.read, size)
        self.offset += len(self.held) + skipped
        self.held = bytearray()
        self._add(rest)

    def _add(self, chunk):
        start = len(self.held)
        self.held += chunk
        self._count(start)
        return bool(chunk)

    def _count(self, start):
        newlines = self.held.count(b'\n', start)
        if newlines:
            self.lines += newlines
            self.whole = self.held.rfind(b'\n', start) + 1


def _after_lines(data, lines):
    """The index just past the lines-th newline of data (which has more): the
    range is halved with C-level counts rather than a find per line."""
    begin, end = 0, len(data)
    while end - begin > 4096:
        middle = (begin + end) // 2
        found = data.count(b'\n', begin, middle)
        if found >= lines:
            end = middle
        else:
            begin, lines = middle, lines - found
    position = begin - 1
    for _ in range(lines):
        position = data.index(b'\n', position + 1)
    return position + 1


# ---- summary ---------------------------------------------------------------

def summarize(path, progress=None):
    """Counts for the file-details view, in one streaming pass.

    Keys: kind, flows, first_us, last_us (earliest and latest start, None without
    flows), protocols and labels (Counters; labels counts non-empty labels only),
    and every ReadStats field (malformed, first_malformed, out_of_order, ...).
    progress: called as progress(bytes read so far, file size) after every block.
    """
    fmt = sniff_format(path)
    stats = ReadStats()
    protocols, labels = Counter(), Counter()
    first = last = None
    size = os.path.getsize(path) if progress else None
    for block in iter_blocks(path, fmt, stats):
        if progress and block.offset:
            progress(min(block.offset[-1], size), size)
        protocols.update(block.proto)
        labels.update(filter(None, block.label))
        low, high = min(block.start), max(block.start)
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
    if progress:
        progress(size, size)
    summary = dict(vars(stats), kind=fmt.kind, first_us=first, last_us=last)
    summary.update(protocols=protocols, labels=labels)
    return summary
