"""pe_details on PEs built byte by byte (tests/pebuild.py), on damaged ones and
on real launchers; `datasets -F` on a PE."""
import hashlib
import importlib.util
import json
import math
import struct
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from stf.core.errors import UserError
from stf.core.captures.filetypes import detect_type
from stf.core.captures.peinfo import pe_details
from tests import pebuild
from stf.commands import fileinfo
from tests.conftest import error, ok
from tests.pebuild import STAMP, build_pe

# The imphash string as Mandiant documents it: DLL names lower case without
# .dll/.ocx/.sys, functions lower case, ordinals of ws2_32 by their names,
# other ordinals as 'ordN', joined by commas in the order of the table.
IMPHASH = hashlib.md5(b'kernel32.exitprocess,kernel32.getprocaddress,'
                      b'ws2_32.socket,ws2_32.wsastartup,mylib.ord7').hexdigest()
IMPORTS = [('KERNEL32.dll', 'ExitProcess', None, 0x11A),
           ('KERNEL32.dll', 'GetProcAddress', None, 0x245),
           ('WS2_32.dll', '#23 socket', 23, None),
           ('WS2_32.dll', '#115 WSAStartup', 115, None),
           ('MyLib.dll', '#7', 7, None)]
EXPORTS = [('Start', 1, 0x1010, None), (None, 2, 0x1020, None),
           ('Alloc', 3, 0x2280, 'NTDLL.RtlAllocateHeap')]


def write(tmp_path, content, name='sample.exe'):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def shannon(data):
    """Bits per byte, counted here independently of the reader."""
    return -sum(count / len(data) * math.log2(count / len(data))
                for count in Counter(data).values()) if data else 0.0


@pytest.mark.parametrize('kind, machine, image_base, dll', [
    ('PE32', 'i386', 0x10000000, True), ('PE32+', 'AMD64', 0x180000000, False)])
def test_details_of_a_built_pe(tmp_path, kind, machine, image_base, dll):
    content = build_pe(kind, dll=dll)
    path = write(tmp_path, content)
    assert detect_type(path) == 'pe'
    info = pe_details(path)
    entropies = [section[3] for section in info['sections']]
    assert entropies == pytest.approx([8.0, shannon(content[0x600:0xA00]),
                                       shannon(content[0xA00:0xE00]), 0.0], abs=1e-12)
    assert info == {
        'machine': machine, 'compile_time': STAMP, 'subsystem': 'Windows console',
        'format': kind, 'kind': 'DLL' if dll else 'EXE', 'entry_point': 0x1010,
        'image_base': image_base, 'imphash': IMPHASH,
        'sections': [('.text', 0x200, 0x200, entropies[0], 'r-x'),
                     ('.rdata', 0x310, 0x400, entropies[1], 'r--'),
                     ('.rsrc', 0x300, 0x400, entropies[2], 'r--'),
                     ('.data', 0x100, 0, entropies[3], 'rw-')], 'not_in_file': [],
        'imports': IMPORTS, 'exports': EXPORTS,
        'version': list(pebuild.VERSION_STRINGS), 'warnings': []}


def test_imphash_is_pefiles(tmp_path):
    import pefile
    path = write(tmp_path, build_pe())
    assert pefile.PE(str(path)).get_imphash() == pe_details(path)['imphash'] == IMPHASH


def test_raw_pointer_is_rounded_down_like_the_windows_loader(tmp_path):
    # 0x601 is read from 0x600 by Windows; taken literally it would miss the table.
    assert pe_details(write(tmp_path, build_pe(raw_pointer=0x601)))['imports'] == IMPORTS


def test_no_import_directory(tmp_path):
    info = pe_details(write(tmp_path, build_pe(import_rva=0)))
    assert (info['imports'], info['imphash'], info['warnings']) == ([], '', [])


def test_unknown_subsystem_and_machine_are_shown_by_number(tmp_path):
    image = bytearray(build_pe(subsystem=99))
    struct.pack_into('<H', image, 0x84, 0x1234)
    info = pe_details(write(tmp_path, bytes(image)))
    assert (info['machine'], info['subsystem']) == ('unknown (0x1234)', 'unknown (99)')


def test_a_hostile_name_reaches_no_terminal_as_control_characters(tmp_path):
    image = bytearray(build_pe())
    image[0x178:0x17E] = b'.t\x1b[2J'          # the first section's name
    image[0x600 + 0x102:0x600 + 0x10D] = b'Exit\x1b[2Jxyz'
    info = pe_details(write(tmp_path, bytes(image)))
    assert info['sections'][0][0] == '.t\\x1b[2J'
    # pefile passes over a function name that is no valid one
    assert [row[1] for row in info['imports'][:2]] == ['GetProcAddress', '#23 socket']


def damaged(image, offset, content):
    image = bytearray(image)
    image[offset:offset + len(content)] = content
    return bytes(image)


# Files pefile cannot read at all: one line, its reason.
UNREADABLE = {
    'no PE signature': (damaged(build_pe(), 0x80, b'XX'), 'Invalid NT Headers signature.'),
    'no MZ': (damaged(build_pe(), 0, b'ZM'), 'Probably a ZM Executable (not a PE file).'),
    'PE offset past the end': (damaged(build_pe(), 0x3C, struct.pack('<I', 5000)),
                               'Invalid e_lfanew value, probably not a PE file'),
}


@pytest.mark.parametrize('name', sorted(UNREADABLE))
def test_unreadable_pe_is_one_line_user_error(tmp_path, name):
    content, reason = UNREADABLE[name]
    with pytest.raises(UserError) as caught:
        pe_details(write(tmp_path, content))
    assert str(caught.value) == reason


# Files pefile reads in part: what it could read, and what it passed over.
DAMAGED = {
    'cut in .rsrc': (build_pe()[:0xA80], 5, 0, [
        'Error parsing section 2. SizeOfRawData is larger than file.',
        'Invalid VS_VERSION_INFO block: VS_VERSION_IN']),
    'import table outside every section': (build_pe(import_rva=0x9000), 0, 5, [
        'Error parsing the import directory at RVA: 0x9000']),
    'bad optional magic': (damaged(build_pe(), 0x98, b'\x07\x01'), 5, 5, [
        'Invalid type 0x0107 in Optional Header.']),
}


@pytest.mark.parametrize('name', sorted(DAMAGED))
def test_damaged_pe_gives_what_it_holds_and_warnings(tmp_path, name):
    content, imports, version, warnings = DAMAGED[name]
    info = pe_details(write(tmp_path, content))
    assert (len(info['imports']), len(info['version']), info['warnings']) == (
        imports, version, warnings)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match='gone.exe: no such file'):
        pe_details(tmp_path / 'gone.exe')


def launchers():
    """The Windows launchers pip vendors (distlib): real PEs on every machine
    that has pip, in three architectures."""
    spec = importlib.util.find_spec('pip')
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / '_vendor' / 'distlib'
    return folder if (folder / 't32.exe').is_file() else None


@pytest.mark.parametrize('name, machine, kind, subsystem', [
    ('t32.exe', 'i386', 'PE32', 'Windows console'),
    ('t64.exe', 'AMD64', 'PE32+', 'Windows console'),
    ('t64-arm.exe', 'ARM64', 'PE32+', 'Windows console'),
    ('w64.exe', 'AMD64', 'PE32+', 'Windows GUI'),
])
def test_real_launchers(name, machine, kind, subsystem):
    import pefile
    folder = launchers()
    if folder is None or not (folder / name).is_file():
        pytest.skip("pip's distlib launchers are not installed")
    info = pe_details(folder / name)
    assert (info['machine'], info['format'], info['subsystem'], info['kind']) == (
        machine, kind, subsystem, 'EXE')
    assert info['imphash'] == pefile.PE(str(folder / name)).get_imphash() != ''
    assert 'KERNEL32.dll' in {dll for dll, *_ in info['imports']}
    assert len(info['imports']) > 10 and info['warnings'] == []
    text = next(section for section in info['sections'] if section[0] == '.text')
    assert text[4] == 'r-x' and 5 < text[3] < 7     # machine code


def large_pe(megabytes):
    """build_pe with a .text of `megabytes` MB more (0..255 over and over)."""
    content = bytearray(build_pe())
    size = 0x200 + (megabytes << 20)
    struct.pack_into('<II', content, 0x178 + 8, size, pebuild.TEXT)      # virtual size, RVA
    struct.pack_into('<I', content, 0x178 + 16, size)                    # raw size
    for number in range(1, 4):      # the sections after it move along in the file
        at = 0x178 + 40 * number + 20
        raw_offset, = struct.unpack_from('<I', content, at)
        struct.pack_into('<I', content, at, raw_offset + (megabytes << 20) if raw_offset else 0)
    content[0x400:0x600] = bytes(range(256)) * (size // 256)
    return bytes(content)


def test_a_large_pe_is_read_within_seconds(tmp_path):
    path = write(tmp_path, large_pe(48))
    tracemalloc.start()
    began = time.perf_counter()
    try:
        info = pe_details(path)
        seconds, peak = time.perf_counter() - began, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the file is mapped and counted a megabyte at a time, never copied
    assert seconds < 3 and peak < 16 << 20
    assert info['sections'][0] == ('.text', 0x200 + (48 << 20), 0x200 + (48 << 20), 8.0, 'r-x')
    assert (info['imports'], info['version']) == (IMPORTS, list(pebuild.VERSION_STRINGS))


# -- datasets -F -----------------------------------------------------------------

def pe_dataset(app, tmp_path, content):
    path = write(tmp_path, content)
    ok(app, f'datasets -c {path} --name pe')
    return path


def test_datasets_F_shows_imports_by_name(app, tmp_path):
    content = build_pe()
    pe_dataset(app, tmp_path, content)
    fields, header, sections, imports, exports, version = ok(app, 'datasets -F 0')
    assert dict(fields.pairs)['sha256'] == hashlib.sha256(content).hexdigest()
    assert header.pairs == [
        ('machine', 'i386'), ('compile time', '2020-09-13 12:26:40 UTC'),
        ('subsystem', 'Windows console'), ('format', 'PE32'), ('kind', 'DLL'),
        ('entry point', '0x1010'), ('image base', '0x10000000'), ('imphash', IMPHASH),
        ('imported DLLs', '3'), ('imported functions', '5'), ('exported functions', '3')]
    assert sections.rows == [('.text', '512', '512', '8.00', 'r-x'),
                             ('.rdata', '784', '1,024', '1.39', 'r--'),
                             ('.rsrc', '768', '1,024', '1.78', 'r--'),
                             ('.data', '256', '0', '0.00', 'rw-')]
    assert (imports.headers, imports.rows, imports.footer) == (['dll', 'function', 'hint'], [
        ('KERNEL32.dll', 'ExitProcess', 282), ('KERNEL32.dll', 'GetProcAddress', 581),
        ('WS2_32.dll', '#23 socket', '-'), ('WS2_32.dll', '#115 WSAStartup', '-'),
        ('MyLib.dll', '#7', '-')], '')
    assert exports.rows == [('Start', 1, '0x1010', '-'), ('-', 2, '0x1020', '-'),
                            ('Alloc', 3, '0x2280', 'NTDLL.RtlAllocateHeap')]
    assert version.pairs == list(pebuild.VERSION_STRINGS)


def test_details_are_kept_with_the_scan(app, tmp_path):
    pe_dataset(app, tmp_path, build_pe())
    ok(app, 'datasets -F 0')
    item = app.current().files[0]
    assert item.scan['pe']['imphash'] == IMPHASH
    # a scan kept before PEs were read (no 'pe') is made again
    app.database.run(lambda: item.scan.pop('pe'))
    assert dict(ok(app, 'datasets -F 0')[1].pairs)['imphash'] == IMPHASH
    # and one kept before the sections not in a truncated file were told apart
    app.database.run(lambda: item.scan['pe'].pop('not_in_file'))
    ok(app, 'datasets -F 0')
    assert item.scan['pe']['not_in_file'] == []


def many_imports_pe():
    """build_pe with 25 functions by ordinal from MyLib.dll (PE32: 4-byte thunks)."""
    content = bytearray(build_pe())
    # MyLib's lookup table: after those of KERNEL32 and WS2_32, 20 bytes each
    table = 0x600 + pebuild.TABLES + 2 * 20
    content[table:table + 26 * 4] = b''.join(
        struct.pack('<I', (1 << 31) | ordinal) for ordinal in range(1, 26)) + bytes(4)
    return bytes(content)


def test_the_screen_lists_20_functions_of_a_dll_and_json_all(app, tmp_path):
    pe_dataset(app, tmp_path, many_imports_pe())
    imports = ok(app, 'datasets -F 0')[3]
    mylib = [row for row in imports.rows if row[0] == 'MyLib.dll']
    assert mylib[:2] == [('MyLib.dll', '#1', '-'), ('MyLib.dll', '#2', '-')]
    assert mylib[19:] == [('MyLib.dll', '#20', '-'), ('MyLib.dll', 'and 5 more', '')]
    assert imports.footer == 'the listing is cut: --json lists every row'
    (text,) = ok(app, 'datasets -F 0 --json')
    listed = json.loads(text.text)
    assert [row['function'] for row in listed['imports'] if row['dll'] == 'MyLib.dll'] == [
        f'#{ordinal}' for ordinal in range(1, 26)]
    assert listed['pe_executable']['imphash'] == pe_details(tmp_path / 'sample.exe')['imphash']
    assert listed['version_information'] == dict(pebuild.VERSION_STRINGS)   # as named there
    assert listed['sections'][0] == {'section': '.text', 'virtual_size': 512, 'raw_size': 512,
                                     'entropy': 8.0, 'flags': 'r-x'}


def test_a_damaged_pe_shows_its_hashes_and_one_line(app, tmp_path):
    content = build_pe()[:0x98]     # cut after the COFF header: a PE to the file's type
    pe_dataset(app, tmp_path, content)
    fields, line = ok(app, 'datasets -F 0')
    assert dict(fields.pairs)['md5'] == hashlib.md5(content).hexdigest()
    assert (line.level, line.text) == (
        'warning', 'PE details: unreadable: No Optional Header found, invalid PE32 or PE32+ file.')
    assert ok(app, 'datasets -F 0')[1].text == line.text     # kept with the scan too


def test_a_truncated_pe_shows_what_it_holds_and_one_line(app, tmp_path):
    pe_dataset(app, tmp_path, build_pe()[:0x700])
    fields, line, header, sections, *rest = ok(app, 'datasets -F 0')
    assert line.text == ('PE details: damaged: Error parsing section 1. SizeOfRawData is '
                         'larger than file. (and 5 more: --json lists them)')
    assert dict(header.pairs)['imported functions'] == '0'
    assert rest == []
    # .rsrc (0xA00..0xE00) lies wholly past the end: no entropy, not that of no bytes;
    # .rdata is counted over the part the file holds, .data has no bytes at all.
    assert [(row[0], row[3]) for row in sections.rows] == [
        ('.text', '8.00'), ('.rdata', f'{shannon(build_pe()[0x600:0x700]):.2f}'),
        ('.rsrc', '-'), ('.data', '0.00')]
    assert sections.footer == "entropy '-': .rsrc is not in the file (it is cut short)"
    assert pe_details(tmp_path / 'sample.exe')['not_in_file'] == [2]


def test_a_compile_time_of_zero_is_not_set(app, tmp_path):
    pe_dataset(app, tmp_path, damaged(build_pe(), 0x88, bytes(4)))   # TimeDateStamp
    header = ok(app, 'datasets -F 0')[1]
    assert dict(header.pairs)['compile time'] == '0 (not set)'
    (text,) = ok(app, 'datasets -F 0 --json')
    assert json.loads(text.text)['pe_executable']['compile_time'] == '0 (not set)'


def test_bin_is_refused_on_a_file_that_is_not_a_capture(app, tmp_path):
    pe_dataset(app, tmp_path, build_pe())
    assert error(app, 'datasets -F 0 --bin 5') == (
        '--bin sets the time bins of a capture (pcap or pcapng); file 0 is pe; leave out --bin')


def test_exports_are_sorted_before_the_screen_cuts_them(app, tmp_path, monkeypatch):
    monkeypatch.setattr(fileinfo, 'SHOWN_EXPORTS', 2)
    pe_dataset(app, tmp_path, build_pe())
    exports = ok(app, 'datasets -F 0 --sort -ordinal')[4]
    assert (exports.rows, exports.footer) == (
        [('Alloc', 3, '0x2280', 'NTDLL.RtlAllocateHeap'), ('-', 2, '0x1020', '-')],
        '2 of 3 exports; --json lists every one')
    (text,) = ok(app, 'datasets -F 0 --json')
    assert [row['ordinal'] for row in json.loads(text.text)['exports']] == [1, 2, 3]
