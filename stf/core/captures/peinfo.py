"""What an analyst wants to know about a Windows executable (PE), read with pefile.

pefile is the reader the field's tools share: its imphash (get_imphash, with
its names for the ordinals of ws2_32, wsock32 and oleaut32) is the one that
sandboxes and threat reports quote, so stf takes it from pefile rather than
redoing it. pefile raises many kinds of exception on damaged files; every one
becomes one UserError line here. Its time and memory stay bounded: the file
is mapped, not read; only the headers, the import, export and resource
directories are parsed (pefile caps their entries); section entropy is
counted over at most ENTROPY_BUDGET times the file's size.
"""
import mmap
import re

import numpy
import pefile

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
FORMATS = {pefile.OPTIONAL_HEADER_MAGIC_PE: 'PE32', pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS: 'PE32+'}
DIRECTORIES = [pefile.DIRECTORY_ENTRY[f'IMAGE_DIRECTORY_ENTRY_{name}']
               for name in ('IMPORT', 'EXPORT', 'RESOURCE')]
IMAGE_FILE_DLL = 0x2000
# section flag letter -> its IMAGE_SCN_MEM_* bit
SECTION_FLAGS = (('r', 0x40000000), ('w', 0x80000000), ('x', 0x20000000))
# Sections may overlap (a hostile header can make 2,048 of them cover the whole
# file): entropy is counted over at most this many times the file's size,
# the sections past it show none.
ENTROPY_BUDGET = 2
ENTROPY_CHUNK = 1 << 20
LONGEST_REASON = 300
MOST_WARNINGS = 20     # of what pefile found damaged, the first ones kept
UNPRINTABLE = re.compile(r'[\x00-\x1f\x7f-\x9f]')


def pe_details(path):
    """The details of a PE as plain data (kept with the file's scan):
    machine, compile_time (epoch seconds), subsystem, format ('PE32' or
    'PE32+'), kind ('EXE' or 'DLL'), entry_point, image_base, imphash,
    sections [(name, virtual size, raw size, entropy or None, flags 'rwx')],
    not_in_file (the indexes of the sections whose bytes lie wholly past the
    end of a truncated file: their entropy is None),
    imports [(dll, function, ordinal or None, hint or None)], exports
    [(name or None, ordinal, rva, forwarder or None)], version [(key, value)],
    warnings (what pefile found damaged and passed over: a truncated file
    gives what it still holds). A file pefile cannot read raises one
    UserError line."""
    filetypes.check_readable(path)
    try:
        with open(path, 'rb') as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return read(data)
    except Exception as error:      # pefile's own and those of its bugs alike
        raise unreadable(error) from None


def read(data):
    # No pe.close(): the map is ours to close, and close() would only run a
    # full garbage collection (tens of milliseconds in a large process).
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(directories=list(DIRECTORIES))
    return details_of(pe, data)


def unreadable(error):
    # PEFormatError keeps its message in .value (its str() is the repr)
    reason = ' '.join(str(getattr(error, 'value', error)).split()) or type(error).__name__
    return UserError(printable(reason)[:LONGEST_REASON])


def details_of(pe, data):
    header, optional = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    sections, outside = sections_of(pe, data)
    return {
        'machine': MACHINES.get(header.Machine, f'unknown (0x{header.Machine:x})'),
        'compile_time': header.TimeDateStamp,
        'subsystem': SUBSYSTEMS.get(optional.Subsystem, f'unknown ({optional.Subsystem})'),
        'format': FORMATS.get(optional.Magic, f'unknown (0x{optional.Magic:x})'),
        'kind': 'DLL' if header.Characteristics & IMAGE_FILE_DLL else 'EXE',
        'entry_point': optional.AddressOfEntryPoint,
        'image_base': optional.ImageBase,
        'imphash': pe.get_imphash(),
        'sections': sections,
        'not_in_file': outside,
        'imports': imports_of(pe),
        'exports': exports_of(pe),
        'version': version_of(pe),
        'warnings': [printable(' '.join(str(text).split()))[:LONGEST_REASON]
                     for text in dict.fromkeys(pe.get_warnings())][:MOST_WARNINGS],
    }


def sections_of(pe, data):
    """([(name, virtual size, raw size, entropy or None, flags)], [the indexes of
    the sections not in the file])."""
    sections, outside, budget = [], [], ENTROPY_BUDGET * len(data)
    for index, section in enumerate(pe.sections):
        # where pefile's get_data reads the section, without copying it
        start = min(section.get_PointerToRawData_adj(), len(data))
        end = min(start + section.SizeOfRawData,
                  section.PointerToRawData + section.SizeOfRawData, len(data))
        budget -= max(end - start, 0)
        flags = ''.join(letter if section.Characteristics & bit else '-'
                        for letter, bit in SECTION_FLAGS)
        # bytes that all lie past the end of a truncated file: no entropy, rather
        # than that of no bytes
        missing = section.SizeOfRawData > 0 and start >= len(data)
        outside += [index] if missing else []
        sections.append((text(section.Name.rstrip(b'\0')), section.Misc_VirtualSize,
                         section.SizeOfRawData,
                         entropy(data, start, end) if budget >= 0 and not missing else None,
                         flags))
    return sections, outside


def entropy(data, start, end):
    """Shannon entropy of data[start:end] in bits per byte (pefile's
    get_entropy), counted by numpy a chunk at a time: bincount widens each
    byte to 8."""
    if end <= start:
        return 0.0
    counts = numpy.zeros(256, dtype=numpy.int64)
    for chunk in range(start, end, ENTROPY_CHUNK):
        counts += numpy.bincount(numpy.frombuffer(data, dtype=numpy.uint8, offset=chunk,
                                                  count=min(ENTROPY_CHUNK, end - chunk)),
                                 minlength=256)
    shares = counts[counts > 0] / (end - start)
    return float(-(shares * numpy.log2(shares)).sum()) + 0.0   # + 0.0: never -0.0


def imports_of(pe):
    """One row per imported function; by ordinal: '#N', with the name pefile
    knows for it (ws2_32, wsock32, oleaut32) as '#N name'."""
    rows = []
    for entry in getattr(pe, 'DIRECTORY_ENTRY_IMPORT', ()):
        dll = text(entry.dll)
        for symbol in entry.imports:
            if symbol.import_by_ordinal:
                known = f' {text(symbol.name)}' if symbol.name else ''
                rows.append((dll, f'#{symbol.ordinal}{known}', symbol.ordinal, None))
            else:
                rows.append((dll, text(symbol.name), None, symbol.hint))
    return rows


def exports_of(pe):
    """In the order of their ordinals."""
    directory = getattr(pe, 'DIRECTORY_ENTRY_EXPORT', None)
    rows = [(text(symbol.name) if symbol.name else None, symbol.ordinal, symbol.address,
             text(symbol.forwarder) if symbol.forwarder else None)
            for symbol in getattr(directory, 'symbols', ())]
    return sorted(rows, key=lambda row: row[1])


def version_of(pe):
    """The version resource's strings (CompanyName, FileVersion, ...) in the
    file's order; a key given again (another language) keeps its first value."""
    pairs = {}
    for file_info in getattr(pe, 'FileInfo', ()):
        for entry in file_info:
            for table in getattr(entry, 'StringTable', ()):
                for key, value in table.entries.items():
                    pairs.setdefault(text(key), text(value))
    return list(pairs.items())


def text(raw):
    """Bytes from the file as printable text: a hostile name must not move the
    terminal's cursor."""
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'backslashreplace')
    return printable(str(raw))


def printable(value):
    return UNPRINTABLE.sub(lambda found: f'\\x{ord(found.group()):02x}', value)
