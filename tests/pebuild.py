"""Small PE files built byte by byte for the tests: headers, four sections,
imports by name and by ordinal, an export table and a version resource.

Layout (file alignment 0x200, section alignment 0x1000):
  .text   RVA 0x1000, file 0x400, 0x200 bytes: 0..255 twice (entropy 8)
  .rdata  RVA 0x2000, file 0x600, 0x400 bytes: imports, then exports at 0x200
  .rsrc   RVA 0x3000, file 0xA00, 0x400 bytes: the version resource
  .data   RVA 0x4000, nothing in the file (virtual size 0x100)
"""
import struct

STAMP = 1_600_000_000   # 2020-09-13 12:26:40 UTC
ENTRY_POINT = 0x1010
TEXT, RDATA, RSRC, DATA = 0x1000, 0x2000, 0x3000, 0x4000
HEADERS, FILE_SIZE = 0x400, 0xE00
# format -> (optional header magic, machine, image base, thunk, ordinal flag)
FORMATS = {'PE32': (0x10B, 0x14C, 0x10000000, '<I', 1 << 31),
           'PE32+': (0x20B, 0x8664, 0x180000000, '<Q', 1 << 63)}
# (name, RVA, file offset, raw size, virtual size, characteristics)
SECTIONS = ((b'.text', TEXT, 0x400, 0x200, 0x200, 0x60000020),     # code, r-x
            (b'.rdata', RDATA, 0x600, 0x400, 0x310, 0x40000040),   # data, r--
            (b'.rsrc', RSRC, 0xA00, 0x400, 0x300, 0x40000040),
            (b'.data', DATA, 0, 0, 0x100, 0xC0000040))             # rw-
# The imports: (DLL, [name (hint, text) or ordinal]). WS2_32 has only an
# address table, as old Borland linkers left it.
IMPORTS = ((b'KERNEL32.dll', [(0x11A, b'ExitProcess'), (0x245, b'GetProcAddress')]),
           (b'WS2_32.dll', [23, 115]),
           (b'MyLib.dll', [7]))
# In .rdata: descriptors, lookup tables, hint/name entries, DLL names.
TABLES, HINT_NAMES, DLL_NAMES = 0x060, 0x100, 0x180
# The exports, at .rdata 0x200: functions by index (ordinal = 1 + index);
# 'Alloc' is forwarded to NTDLL, ordinal 2 has no name.
EXPORTS, EXPORT_SIZE = 0x200, 0x110
FORWARDER = b'NTDLL.RtlAllocateHeap'
VERSION_STRINGS = (('CompanyName', 'Example Corp'), ('FileDescription', 'Sample tool'),
                   ('FileVersion', '1.2.3.4'), ('OriginalFilename', 'sample.dll'),
                   ('ProductName', 'Sample'))


def build_pe(kind='PE32', dll=True, raw_pointer=0x600, import_rva=RDATA, subsystem=3):
    """A PE of FILE_SIZE bytes (see the module's layout)."""
    magic, machine, image_base, thunk, ordinal_flag = FORMATS[kind]
    directories = 96 if kind == 'PE32' else 112
    optional_size = directories + 16 * 8
    image = bytearray(FILE_SIZE)
    image[:2] = b'MZ'
    struct.pack_into('<I', image, 0x3C, 0x80)
    image[0x80:0x84] = b'PE\0\0'
    characteristics = 0x2102 if dll else 0x0102
    struct.pack_into('<HHIIIHH', image, 0x84, machine, len(SECTIONS), STAMP, 0, 0,
                     optional_size, characteristics)
    optional = 0x98
    struct.pack_into('<HBBIIII', image, optional, magic, 14, 0, 0x200, 0x800, 0, ENTRY_POINT)
    struct.pack_into('<I' if kind == 'PE32' else '<Q', image,
                     optional + (28 if kind == 'PE32' else 24), image_base)
    struct.pack_into('<II', image, optional + 32, 0x1000, 0x200)   # section, file alignment
    struct.pack_into('<HH', image, optional + 40, 6, 0)            # OS version
    struct.pack_into('<HH', image, optional + 48, 6, 0)            # subsystem version
    struct.pack_into('<II', image, optional + 56, 0x5000, HEADERS)  # image, headers size
    struct.pack_into('<H', image, optional + 68, subsystem)
    struct.pack_into('<I', image, optional + directories - 4, 16)
    for index, (rva, size) in ((0, (RDATA + EXPORTS, EXPORT_SIZE)), (1, (import_rva, 80)),
                               (2, (RSRC, 0x300))):
        struct.pack_into('<II', image, optional + directories + 8 * index, rva, size)
    table = optional + optional_size
    for number, (name, rva, offset, raw, virtual, flags) in enumerate(SECTIONS):
        struct.pack_into('<8sIIIIIIHHI', image, table + 40 * number, name, virtual, rva, raw,
                         raw_pointer if name == b'.rdata' else offset, 0, 0, 0, 0, flags)
    image[0x400:0x600] = bytes(range(256)) * 2
    image[0x600:0xA00] = rdata(thunk, ordinal_flag)
    image[0xA00:0xE00] = rsrc()
    return bytes(image)


def rdata(thunk, ordinal_flag):
    section = bytearray(0x400)
    size = struct.calcsize(thunk)
    hint_names, names, tables = HINT_NAMES, DLL_NAMES, TABLES
    for number, (dll, functions) in enumerate(IMPORTS):
        struct.pack_into(f'{len(dll) + 1}s', section, names, dll)
        lookup = RDATA + tables if dll != b'WS2_32.dll' else 0
        struct.pack_into('<IIIII', section, 20 * number, lookup, 0, 0, RDATA + names,
                         RDATA + tables)
        names += 16
        for function in functions:
            if isinstance(function, int):
                struct.pack_into(thunk, section, tables, ordinal_flag | function)
            else:
                hint, name = function
                struct.pack_into(f'<H{len(name) + 1}s', section, hint_names, hint, name)
                struct.pack_into(thunk, section, tables, RDATA + hint_names)
                hint_names += 0x20
            tables += size
        tables += size + 8     # the terminating zero entry, and a gap
    section[EXPORTS:EXPORTS + 0x110] = exports()
    return bytes(section)


def exports():
    """The export directory, laid out from .rdata EXPORTS."""
    def rva(offset):
        return RDATA + EXPORTS + offset
    block = bytearray(0x110)
    struct.pack_into('<IIHHIIIIIII', block, 0, 0, STAMP, 0, 0, rva(0xF0), 1, 3, 2,
                     rva(0x40), rva(0x50), rva(0x60))
    struct.pack_into('<III', block, 0x40, TEXT + 0x10, TEXT + 0x20, rva(0x80))
    struct.pack_into('<II', block, 0x50, rva(0xB0), rva(0xC0))   # names, sorted
    struct.pack_into('<HH', block, 0x60, 2, 0)                   # their function indexes
    struct.pack_into(f'{len(FORWARDER) + 1}s', block, 0x80, FORWARDER)
    struct.pack_into('6s', block, 0xB0, b'Alloc')
    struct.pack_into('6s', block, 0xC0, b'Start')
    struct.pack_into('11s', block, 0xF0, b'sample.dll')
    return bytes(block)


def rsrc():
    """A resource tree RT_VERSION (16) / 1 / 0x409 holding VS_VERSIONINFO at 0x60."""
    section = bytearray(0x400)
    for offset, entry_id, target in ((0x00, 16, 0x80000018), (0x18, 1, 0x80000030),
                                     (0x30, 0x409, 0x48)):
        struct.pack_into('<IIHHHHII', section, offset, 0, 0, 0, 0, 0, 1, entry_id, target)
    info = version_info()
    struct.pack_into('<IIII', section, 0x48, RSRC + 0x60, len(info), 0, 0)
    section[0x60:0x60 + len(info)] = info
    return bytes(section)


def version_info():
    fixed = struct.pack('<13I', 0xFEEF04BD, 0x10000, 0x10002, 0x30004, 0x10002, 0x30004,
                        0x3F, 0, 0x40004, 1, 0, 0, 0)
    strings = [block(key, 1, (value + '\0').encode('utf-16-le'), len(value) + 1)
               for key, value in VERSION_STRINGS]
    table = block('040904B0', 1, b'', 0, strings)
    return block('VS_VERSION_INFO', 0, fixed, len(fixed), [block('StringFileInfo', 1, b'', 0,
                                                                 [table])])


def block(key, kind, value, value_length, children=()):
    """One version-resource structure: wLength, wValueLength, wType, szKey,
    padding, Value, padding, Children (each on a 32-bit boundary)."""
    body = bytearray(6) + (key + '\0').encode('utf-16-le')
    body += bytes(-len(body) % 4) + value
    for child in children:
        body += bytes(-len(body) % 4) + child
    struct.pack_into('<HHH', body, 0, len(body), value_length, kind)
    return bytes(body)
