"""What kind of file the user gave, decided from its first bytes, not its name.

Analysts rename captures freely (`capture.bin`, `conn.log.txt`, a sample with
no extension at all), so the name proves nothing; the first few KB do.
"""
import errno
import os
import re
import stat
import struct

from stf.core.captures import pcapformat
from stf.core.errors import UserError
from stf.core.flows import letterstsv

# Kind -> what people call it; the refusal message lists these, so adding a
# kind here and a detector below is all it takes to accept a new type.
ACCEPTED_TYPES = {
    'pcap': 'pcap capture',
    'pcapng': 'pcapng capture',
    'biargus': 'argus binary flows',
    'binetflow': 'binetflow (argus text flows)',
    'zeek': 'Zeek conn.log',
    'letters': 'letters TSV',
    'pe': 'Windows PE executable',
}

# Enough for any header line we look at; argus lines with 480-byte user data
# fields stay well under it.
HEAD_BYTES = 8192

# An argus stream opens with a management record (type byte 0x80 | version)
# whose argusid field, at offset 8, holds the version's cookie (argus_def.h).
ARGUS_COOKIES = {0xE5712DCB, 0xE57150CB, 0xE5617ACB}   # v3, v5, v2
LETTERS_HEADER = '\t'.join(letterstsv.HEADER)
# A Zeek log is conn.log only if it has the columns a connection needs.
ZEEK_CONN_FIELDS = {'ts', 'id.orig_h', 'id.resp_h', 'id.resp_p', 'proto'}
ARGUS_TIME = re.compile(r'\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?|\d+(\.\d+)?')
HEADERLESS_MIN_FIELDS = 13

# errno -> (what went wrong, what to do); anything else is reported with the
# system's own words.
OPEN_ERRORS = {
    errno.ENOENT: ('no such file', 'check the path'),
    errno.ENOTDIR: ('no such file', 'check the path'),
    errno.EACCES: ('permission denied', "check the file's permissions"),
    errno.EPERM: ('permission denied', "check the file's permissions"),
    errno.ELOOP: ('too many symbolic links', 'give the real path'),
    errno.ENAMETOOLONG: ('the path is too long', 'give a shorter path'),
}


def check_readable(path):
    """Raise UserError unless path is a non-empty regular file we can open."""
    info = stat_or_fail(path)
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f'{path} is a folder; give a file inside it')
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f'{path} is not a regular file (a device, pipe or socket); '
                        'give a saved file')
    if info.st_size == 0:
        raise UserError(f'{path} is empty (0 bytes); give a file with data in it')
    read_head(path, 1)


def detect_type(path):
    """The kind of file at path, one of ACCEPTED_TYPES; UserError otherwise."""
    check_readable(path)
    head = read_head(path, HEAD_BYTES)
    for kind, looks_like in DETECTORS:
        if looks_like(head):
            return kind
    if is_other_zeek_log(head):
        raise UserError(f'{path} is a Zeek log but not a conn.log (it lacks the '
                        f"{', '.join(sorted(ZEEK_CONN_FIELDS))} columns); give the conn.log")
    raise UserError(f'{path} is not a file type stf reads; accepted: '
                    + ', '.join(ACCEPTED_TYPES.values()))


def stat_or_fail(path):
    try:
        return os.stat(path)
    except OSError as error:
        raise open_error(path, error) from None


def read_head(path, size):
    try:
        with open(path, 'rb') as handle:
            return handle.read(size)
    except OSError as error:
        raise open_error(path, error) from None


def open_error(path, error):
    problem, advice = OPEN_ERRORS.get(error.errno, (error.strerror or str(error),
                                                    'check the path'))
    return UserError(f'{path}: {problem}; {advice}')


# -- binary formats

def is_pcap(head):
    return len(head) >= pcapformat.PCAP_HEADER_BYTES and head[:4] in pcapformat.PCAP_MAGICS


def is_pcapng(head):
    return (head[:4] == pcapformat.PCAPNG_SECTION_MAGIC
            and head[8:12] in pcapformat.PCAPNG_BYTE_ORDERS)


def is_biargus(head):
    if len(head) < 12 or not head[0] & 0x80:
        return False
    return struct.unpack_from('>I', head, 8)[0] in ARGUS_COOKIES


def is_pe(head):
    # Linkers put the PE header within the first KB; one further out than
    # HEAD_BYTES would be a DOS program or a deliberately odd file.
    if len(head) < 64 or head[:2] != b'MZ':
        return False
    offset = struct.unpack_from('<I', head, 0x3C)[0]
    return head[offset:offset + 4] == b'PE\0\0'


# -- text formats

def first_lines(head, count=2):
    """The first lines as text; undecodable bytes become U+FFFD, never an error."""
    text = head.decode('utf-8', errors='replace').removeprefix('\ufeff')
    return [line.rstrip('\r') for line in text.split('\n', count)[:count]]


def is_letters(head):
    return first_lines(head, 1)[0] == LETTERS_HEADER


def zeek_fields(head):
    """The #fields column names of a Zeek log, None if it is not one."""
    lines = first_lines(head, 20)
    if not lines[0].startswith('#separator'):
        return None
    for line in lines:
        if line.startswith('#fields'):
            return set(line.split('\t')[1:])
    return set()


def is_zeek_conn(head):
    fields = zeek_fields(head)
    return fields is not None and ZEEK_CONN_FIELDS <= fields


def is_other_zeek_log(head):
    return zeek_fields(head) is not None


def is_binetflow(head):
    line = first_lines(head, 1)[0]
    fields = [field.strip() for field in line.split('\t' if '\t' in line else ',')]
    if fields[0] == 'StartTime':
        return True
    return (len(fields) >= HEADERLESS_MIN_FIELDS
            and ARGUS_TIME.fullmatch(fields[0]) is not None)


# Binary magics first: they are exact, while the text tests only look at lines.
DETECTORS = (
    ('pcap', is_pcap),
    ('pcapng', is_pcapng),
    ('biargus', is_biargus),
    ('pe', is_pe),
    ('letters', is_letters),
    ('zeek', is_zeek_conn),
    ('binetflow', is_binetflow),
)
