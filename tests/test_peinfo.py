"""pe_summary on PEs built byte by byte here, on damaged ones, and on real launchers."""
import importlib.util
import struct
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stf.core.errors import UserError
from stf.core.captures.filetypes import detect_type
from stf.core.captures.peinfo import pe_summary

STAMP = 1_600_000_000   # 2020-09-13 12:26:40 UTC
SECTION_RVA = 0x1000
# Inside the .idata section (offsets from its start): two descriptors and the
# terminating zero one, two lookup tables, hint/name entries, DLL names.
DESCRIPTORS, KERNEL32_ILT, WS2_ILT = 0x000, 0x040, 0x080
HINT_EXIT, HINT_GETPROC, NAME_KERNEL32, NAME_WS2 = 0x0C0, 0x0D0, 0x100, 0x120
# format -> (optional header magic, machine, data directories offset, thunk, ordinal flag)
FORMATS = {'PE32': (0x10B, 0x14C, 96, '<I', 1 << 31),
           'PE32+': (0x20B, 0x8664, 112, '<Q', 1 << 63)}


def idata(thunk, ordinal_flag):
    section = bytearray(0x200)

    def rva(offset):
        return SECTION_RVA + offset

    # KERNEL32 has a lookup table; WS2_32 only an address table, as old
    # Borland linkers left it.
    struct.pack_into('<IIIII', section, DESCRIPTORS, rva(KERNEL32_ILT), 0, 0,
                     rva(NAME_KERNEL32), rva(KERNEL32_ILT))
    struct.pack_into('<IIIII', section, DESCRIPTORS + 20, 0, 0, 0, rva(NAME_WS2), rva(WS2_ILT))
    size = struct.calcsize(thunk)
    struct.pack_into(thunk, section, KERNEL32_ILT, rva(HINT_EXIT))
    struct.pack_into(thunk, section, KERNEL32_ILT + size, rva(HINT_GETPROC))
    struct.pack_into(thunk, section, WS2_ILT, ordinal_flag | 23)   # import by ordinal
    struct.pack_into('<H12s', section, HINT_EXIT, 0x11A, b'ExitProcess')
    struct.pack_into('<H15s', section, HINT_GETPROC, 0x245, b'GetProcAddress')
    struct.pack_into('13s', section, NAME_KERNEL32, b'KERNEL32.dll')
    struct.pack_into('11s', section, NAME_WS2, b'WS2_32.dll')
    return bytes(section)


def build_pe(kind='PE32', raw_pointer=0x200, import_rva=SECTION_RVA, subsystem=3):
    """A 1 KB PE: headers, then one .idata section at file offset 0x200."""
    magic, machine, directories, thunk, ordinal_flag = FORMATS[kind]
    optional_size = directories + 16 * 8
    image = bytearray(0x400)
    image[:2] = b'MZ'
    struct.pack_into('<I', image, 0x3C, 0x40)
    image[0x40:0x44] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', image, 0x44, machine, 1, STAMP, 0, 0, optional_size, 0x102)
    optional = 0x58
    struct.pack_into('<H', image, optional, magic)
    struct.pack_into('<II', image, optional + 32, 0x1000, 0x200)   # section, file alignment
    struct.pack_into('<H', image, optional + 68, subsystem)
    struct.pack_into('<I', image, optional + directories - 4, 16)
    struct.pack_into('<II', image, optional + directories + 8, import_rva, 60)
    struct.pack_into('<8sIIII', image, optional + optional_size, b'.idata', 0x180,
                     SECTION_RVA, 0x200, raw_pointer)
    image[0x200:0x400] = idata(thunk, ordinal_flag)
    return bytes(image)


def write(tmp_path, content, name='sample.exe'):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize('kind, machine', [('PE32', 'i386'), ('PE32+', 'AMD64')])
def test_summary_of_a_built_pe(tmp_path, kind, machine):
    path = write(tmp_path, build_pe(kind))
    assert detect_type(path) == 'pe'
    assert pe_summary(path) == {
        'machine': machine,
        'compile_time': datetime(2020, 9, 13, 12, 26, 40, tzinfo=timezone.utc),
        'subsystem': 'Windows console',
        'format': kind,
        'sections': [('.idata', 0x180, 0x200)],
        'imports': [('KERNEL32.dll', 2), ('WS2_32.dll', 1)],
        'imports_dlls': 2,
        'imports_functions': 3,
    }


def test_raw_pointer_is_rounded_down_like_the_windows_loader(tmp_path):
    # 0x201 is read from 0x200 by Windows; taken literally it would miss the table.
    assert pe_summary(write(tmp_path, build_pe(raw_pointer=0x201)))['imports_functions'] == 3


def test_no_import_directory(tmp_path):
    info = pe_summary(write(tmp_path, build_pe(import_rva=0)))
    assert (info['imports'], info['imports_dlls'], info['imports_functions']) == ([], 0, 0)


def test_unknown_subsystem_and_machine_are_shown_by_number(tmp_path):
    image = bytearray(build_pe(subsystem=99))
    struct.pack_into('<H', image, 0x44, 0x1234)
    info = pe_summary(write(tmp_path, bytes(image)))
    assert (info['machine'], info['subsystem']) == ('unknown (0x1234)', 'unknown (99)')


def damaged(image, offset, content):
    image = bytearray(image)
    image[offset:offset + len(content)] = content
    return bytes(image)


BROKEN = {
    'cut in the section table': (build_pe()[:0x100],
                                 'the section header 1 at byte 312 is past the end'),
    'cut in the import names': (build_pe()[:0x300],
                                'the DLL name at byte 768 has no end'),
    'no PE signature': (damaged(build_pe(), 0x40, b'XX'), "there is no 'PE' signature at byte 64"),
    'PE offset past the end': (damaged(build_pe(), 0x3C, struct.pack('<I', 5000)),
                               "there is no 'PE' signature at byte 5,000"),
    'bad optional magic': (damaged(build_pe(), 0x58, b'\x07\x01'),
                           'the optional header magic 0x107 is neither PE32 nor PE32+'),
    'import table outside every section': (build_pe(import_rva=0x9000),
                                           'the import directory (RVA 0x9000) is in no section'),
    'import descriptor pointing nowhere': (damaged(build_pe(), 0x200 + 40, b'\xff' * 20),
                                           'the DLL name (RVA 0xffffffff) is in no section'),
}


@pytest.mark.parametrize('name', sorted(BROKEN))
def test_damaged_pe_is_one_line_user_error(tmp_path, name):
    content, problem = BROKEN[name]
    path = write(tmp_path, content)
    with pytest.raises(UserError) as caught:
        pe_summary(path)
    message = str(caught.value)
    assert message.startswith(f'{path} is a damaged or truncated PE: ')
    assert problem in message
    assert '\n' not in message


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match='gone.exe: no such file'):
        pe_summary(tmp_path / 'gone.exe')


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
    folder = launchers()
    if folder is None or not (folder / name).is_file():
        pytest.skip("pip's distlib launchers are not installed")
    info = pe_summary(folder / name)
    assert (info['machine'], info['format'], info['subsystem']) == (machine, kind, subsystem)
    assert info['imports_dlls'] == len(info['imports']) >= 1
    assert info['imports_functions'] == sum(count for _, count in info['imports']) > 10
    assert '.text' in [section for section, _, _ in info['sections']]
