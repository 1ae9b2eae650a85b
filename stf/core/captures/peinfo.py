"""The facts an analyst wants first about a Windows executable (PE), read with
struct alone: the malware of a capture needs no pefile dependency, and a
damaged sample must give a one-line error, not a parser's traceback.
"""
import mmap
import struct
from datetime import datetime, timezone

from stf.core.captures import filetypes
from stf.core.errors import UserError

MACHINES = {
    0x0: 'unknown',
    0x14C: 'i386',
    0x166: 'MIPS R4000',
    0x1C0: 'ARM',
    0x1C2: 'ARM Thumb',
    0x1C4: 'ARMv7 Thumb-2 (ARMNT)',
    0x1F0: 'PowerPC',
    0x200: 'IA64 (Itanium)',
    0xEBC: 'EFI byte code',
    0x5064: 'RISC-V 64',
    0x8664: 'AMD64',
    0xAA64: 'ARM64',
}
SUBSYSTEMS = {
    0: 'unknown',
    1: 'native',
    2: 'Windows GUI',
    3: 'Windows console',
    5: 'OS/2 console',
    7: 'POSIX console',
    9: 'Windows CE GUI',
    10: 'EFI application',
    11: 'EFI boot service driver',
    12: 'EFI runtime driver',
    13: 'EFI ROM',
    14: 'Xbox',
    16: 'Windows boot application',
}
# optional header magic -> (format, offset of the data directories, thunk size)
OPTIONAL_HEADERS = {0x10B: ('PE32', 96, 4), 0x20B: ('PE32+', 112, 8)}
# in the optional header, the same in PE32 and PE32+
FILE_ALIGNMENT_OFFSET, SUBSYSTEM_OFFSET = 36, 68
IMPORT_DIRECTORY = 1
USHORT, UINT = struct.Struct('<H'), struct.Struct('<I')
DIRECTORY = struct.Struct('<II')
THUNKS = {4: UINT, 8: struct.Struct('<Q')}
COFF = struct.Struct('<HHIIIHH')
SECTION = struct.Struct('<8sIIII')
IMPORT_DESCRIPTOR = struct.Struct('<IIIII')
# Real programs stay far below these; a damaged or hostile table without its
# terminating zero entry must not keep us counting through the whole file.
# MAX_FUNCTIONS bounds all the DLLs' tables together: thousands of descriptors
# pointing at one long table would otherwise be counted thousands of times.
MAX_DLLS = 4096
MAX_FUNCTIONS = 65536


class PEReader:
    """Bounds-checked reads from a PE image; each failure is one UserError line.

    Attributes: path, data (the mapped file), sections [(name, virtual
    address, virtual size, raw size, raw offset)], file_alignment.
    """

    def __init__(self, path, data):
        self.path, self.data = path, data
        self.sections = []
        self.file_alignment = 0

    def unpack(self, layout, offset, what):
        if offset < 0 or offset + layout.size > len(self.data):
            raise self.error(f'the {what} at byte {offset:,} is past the end of the file')
        return layout.unpack_from(self.data, offset)

    def error(self, problem):
        return UserError(f'{self.path} is a damaged or truncated PE: {problem}; '
                         'check the file (a full copy of the sample?)')

    def file_offset(self, rva, what):
        """Where the loader would have mapped rva from, via the section table."""
        for _name, address, virtual_size, raw_size, raw_offset in self.sections:
            if address <= rva < address + max(virtual_size, raw_size):
                return self.loader_raw_offset(raw_offset) + rva - address
        if self.sections and rva < min(section[1] for section in self.sections):
            return rva   # inside the headers, mapped as they are in the file
        raise self.error(f'the {what} (RVA 0x{rva:x}) is in no section')

    def c_string(self, offset, what):
        end = self.data.find(b'\0', offset, offset + 512)
        if offset >= len(self.data) or end < 0:
            raise self.error(f'the {what} at byte {offset:,} has no end')
        return self.data[offset:end].decode('latin-1')

    def loader_raw_offset(self, raw_offset):
        # With a FileAlignment of 512 or more Windows rounds PointerToRawData
        # down to 512 whatever the header says; malware uses it to mislead
        # parsers that take the field at its word.
        return raw_offset & ~0x1FF if self.file_alignment >= 0x200 else raw_offset


def pe_summary(path):
    """machine, compile_time (UTC datetime), subsystem, format ('PE32' or
    'PE32+'), sections [(name, virtual size, raw size)], imports [(dll,
    functions)], imports_dlls and imports_functions (counts)."""
    filetypes.check_readable(path)
    with open(path, 'rb') as handle, \
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return summarize(PEReader(path, data))


def summarize(reader):
    coff_offset = pe_header_offset(reader)
    machine, count, stamp, _, _, optional_size, _ = reader.unpack(COFF, coff_offset,
                                                                  'COFF header')
    optional = coff_offset + COFF.size
    kind, directories, thunk_size = optional_header(reader, optional)
    reader.file_alignment, = reader.unpack(UINT, optional + FILE_ALIGNMENT_OFFSET,
                                           'file alignment field')
    subsystem, = reader.unpack(USHORT, optional + SUBSYSTEM_OFFSET, 'subsystem field')
    reader.sections = read_sections(reader, optional + optional_size, count)
    imports = read_imports(reader, directories, optional + optional_size, thunk_size)
    return {
        'machine': MACHINES.get(machine, f'unknown (0x{machine:x})'),
        'compile_time': datetime.fromtimestamp(stamp, timezone.utc),
        'subsystem': SUBSYSTEMS.get(subsystem, f'unknown ({subsystem})'),
        'format': kind,
        'sections': [(name, virtual, raw) for name, _, virtual, raw, _ in reader.sections],
        'imports': imports,
        'imports_dlls': len(imports),
        'imports_functions': sum(functions for _, functions in imports),
    }


def pe_header_offset(reader):
    if reader.data[:2] != b'MZ':
        raise reader.error("it does not start with 'MZ'")
    offset, = reader.unpack(UINT, 0x3C, 'DOS header')
    if reader.data[offset:offset + 4] != b'PE\0\0':
        raise reader.error(f"there is no 'PE' signature at byte {offset:,}")
    return offset + 4


def optional_header(reader, offset):
    magic, = reader.unpack(USHORT, offset, 'optional header')
    if magic not in OPTIONAL_HEADERS:
        raise reader.error(f'the optional header magic 0x{magic:x} is neither PE32 nor PE32+')
    kind, directories, thunk_size = OPTIONAL_HEADERS[magic]
    return kind, offset + directories, thunk_size


def read_sections(reader, offset, count):
    sections = []
    for number in range(count):
        raw_name, virtual_size, address, raw_size, raw_offset = reader.unpack(
            SECTION, offset + number * 40, f'section header {number + 1}')
        name = raw_name.rstrip(b'\0').decode('latin-1')
        sections.append((name, address, virtual_size, raw_size, raw_offset))
    return sections


def read_imports(reader, directories, optional_end, thunk_size):
    """[(dll name, imported functions)] from the import directory; ordinals count."""
    # NumberOfRvaAndSizes precedes the directories; both it and the optional
    # header's size limit which directories exist.
    available, = reader.unpack(UINT, directories - 4, 'directory count')
    entry = directories + 8 * IMPORT_DIRECTORY
    if available <= IMPORT_DIRECTORY or entry + 8 > optional_end:
        return []
    rva, size = reader.unpack(DIRECTORY, entry, 'import directory entry')
    if rva == 0 or size == 0:
        return []
    offset = reader.file_offset(rva, 'import directory')
    imports, functions = [], 0
    for number in range(MAX_DLLS):
        lookup, _, _, name_rva, address_table = reader.unpack(
            IMPORT_DESCRIPTOR, offset + number * IMPORT_DESCRIPTOR.size,
            f'import descriptor {number + 1}')
        if not (lookup or name_rva or address_table):
            return imports
        name = reader.c_string(reader.file_offset(name_rva, 'DLL name'), 'DLL name')
        # Old Borland linkers leave the lookup table empty; the address table
        # holds the same entries on disk.
        count = count_thunks(reader, lookup or address_table, thunk_size,
                             MAX_FUNCTIONS - functions)
        functions += count
        imports.append((name, count))
    raise reader.error(f'the import table has no end after {MAX_DLLS:,} DLLs')


def count_thunks(reader, rva, thunk_size, most=MAX_FUNCTIONS):
    """The entries of one lookup table, which may hold at most `most`."""
    layout = THUNKS[thunk_size]
    offset = reader.file_offset(rva, 'import lookup table')
    for number in range(most + 1):
        if reader.unpack(layout, offset + number * thunk_size, 'import lookup entry')[0] == 0:
            return number
    raise reader.error(f'the import lookup tables hold more than {MAX_FUNCTIONS:,} entries '
                       'in all (tables without an end, or many DLLs sharing one)')
