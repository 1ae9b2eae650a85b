"""The details `datasets -F` shows for a file, by type.

The scan (hashes and, for captures, packet statistics; for an argus file
its flows as ra prints them; for a PE what pefile reads of it) is one pass
over the file; its result is kept with the file and reused while the file on
disk is unchanged, so `datasets -F` shown again reads nothing.
"""
import itertools
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from stf.core.captures import argus, filescan, peinfo
from stf.core.flows import flowfile, labelnames
from stf.core import formats
from stf.commands.results import Exact, Fields, Plot, Table, warning
from stf.core.errors import UserError
from stf.plots.figure import Figure, Panel, Series


def file_details(item, scan, bin_seconds, progress=None, dataset=None, whole=False):
    """The result items for a file and its scan (reads letters files for
    their details: before the transaction). progress: the App's progress
    factory (reading a large flow file takes seconds); dataset: the file's,
    named in a capture's picture; whole: every row of the long listings
    (--json, --csv, --tsv), not only the first ones."""
    pairs = [('name', item.name), ('id', item.id), ('type', item.kind),
             ('path', item.path), ('size', formats.size(scan['size'])),
             ('file time', formats.when(item.mtime)), ('added', formats.when(item.added)),
             ('md5', scan['md5']), ('sha1', scan['sha1']), ('sha256', scan['sha256'])]
    items = [Fields(pairs, title=f'file {item.id}')]
    items += DETAILS.get(item.kind, no_details)(item, scan, bin_seconds, progress, whole)
    if item.kind in CAPTURES:      # its packets per bin: a table, or a picture with --png
        items[-1] = Plot(packet_figure(item, scan, bin_seconds, dataset), shown=[items[-1]],
                         chart=True)
    return items


def packet_figure(item, scan, bin_seconds, dataset=None):
    """A capture's packets per time bin as bars over time."""
    where = f" of dataset {dataset.id} '{dataset.name}'" if dataset else ''
    bins = scan['bins']
    title = (f"{formats.counted(scan['packets'], 'packet')} from "
             f"{formats.from_us(scan['first_us'])} to {formats.from_us(scan['last_us'])}")
    last = scan['last_us'] / 1_000_000 if bins else None
    if bins:      # the bins start at the first packet: the last one ends at the last packet
        title += (f'; the last bin is partial, {(scan["last_us"] - bins[-1][0]) / 1_000_000:g} '
                  f's of {bin_seconds} s to the last packet')
    panel = Panel('bars', title, 'time', f'packets per {bin_seconds} s',
                  (Series('', tuple(start / 1_000_000 for start, _ in bins),
                          tuple(count for _, count in bins)),),
                  x_time=True, bin_width=bin_seconds, x_end=last)
    return Figure(f'packets per {bin_seconds} s of {item.name} (file {item.id}{where})',
                  (panel,))


def new_scan(item, bin_seconds, progress, ra_conf=None):
    """A scan of the file, or None when the one kept with it still holds.

    ra_conf: the ra configuration that prints an argus file's flows."""
    scan = item.cached_scan()
    if (scan is not None and scan.get('bin_seconds') in (None, bin_seconds)
            and (item.kind not in FLOWS or 'error' not in scan.get('flows', {'error': ''}))
            and (item.kind != 'pe' or pe_scan_current(scan))):
        return None
    # capinfos reads the capture on the other core while we scan it.
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(filescan.capinfos_summary, item.path) if item.kind in CAPTURES \
            else None
        result = filescan.scan_file(item.path, item.kind, bin_seconds=bin_seconds,
                                    progress=progress(f'scanning {item.name}', unit='bytes'))
        result['capinfos'] = summary.result() if summary else None
    result['bin_seconds'] = bin_seconds if item.kind in CAPTURES else None
    if item.kind == 'biargus':
        result['flows'] = argus_flows(item.path, ra_conf, progress(f'ra: {item.name}'))
    elif item.kind in FLOWS:
        result['flows'] = kept_summary(flowfile.summarize(
            item.path, progress(f'reading {item.name}', unit='bytes')))
    elif item.kind == 'pe':
        result['pe'] = pe_scan(item.path)
    return result


def pe_scan_current(scan):
    """False for a scan kept before PEs were read, or before the sections not
    in a truncated file were told apart."""
    found = scan.get('pe')
    return found is not None and ('error' in found or 'not_in_file' in found)


def pe_scan(path):
    """What pe_details shows of a PE, or {'error': why} when pefile cannot
    read it (the hashes still show)."""
    try:
        return peinfo.pe_details(path)
    except UserError as error:
        return {'error': str(error)}


def argus_flows(path, ra_conf, progress=None):
    """What flow_details shows of the flows ra prints from an argus file,
    or {'error': why} when ra cannot print them."""
    if progress:
        progress(0, None)
    with tempfile.TemporaryDirectory(prefix='stf-ra-') as folder:
        printed = Path(folder) / 'flows.binetflow'
        try:
            argus.generate_binetflow(path, printed, ra_conf)
        except UserError as error:
            return {'error': str(error)}
        return kept_summary(flowfile.summarize(printed))


def kept_summary(summary):
    """What flow_details shows of a flow file's summary, kept with its scan."""
    return {key: summary[key] for key in ('flows', 'first_us', 'last_us', 'malformed',
                                          'first_malformed', 'out_of_order')} | {
        'protocols': dict(summary['protocols']), 'labels': dict(summary['labels'])}


def same_content(item, earlier, scan):
    """True when the file changed only in time: the earlier scan was of the
    file as it was added (its size and time) and has the new scan's hash."""
    if not earlier or not scan or 'stat' not in earlier:
        return False
    size, mtime_ns = earlier['stat']
    when = datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc).replace(microsecond=0)
    return ((size, when) == (item.size, item.mtime)
            and earlier.get('sha256') == scan['sha256'] and scan['size'] == size)


def capture_details(item, scan, bin_seconds, progress=None, whole=False):
    pairs = [('packets', f"{scan['packets']:,}"),
             ('first packet', formats.from_us(scan['first_us'])),
             ('last packet', formats.from_us(scan['last_us'])),
             ('duration', formats.duration_us(scan['duration_us'] or 0)),
             ('link type', f"{scan['linktype']} {scan['linktype_name']}")]
    if scan.get('truncated'):
        pairs.append(('warning', scan['truncated']))
    items = [Fields(pairs, title='capture')]
    summary = scan.get('capinfos')
    if summary:
        items.append(Fields(summary, title='capinfos'))
    rows = [(formats.from_us(start), count) for start, count in scan['bins']]
    items.append(Table(['bin start', 'packets'], rows,
                       title=f'packets per {bin_seconds} s'))
    return items


def flow_details(item, scan, bin_seconds, progress=None, whole=False):
    """The flows of a flow file, or of an argus file as ra prints them (kept
    in the scan)."""
    summary = scan.get('flows') or {'error': 'the flows were not read'}
    if 'error' in summary:
        return [Fields([('flows', f"cannot be shown: {summary['error']}")], title='flows')]
    return flow_summary_items({**summary, 'protocols': Counter(summary['protocols']),
                               'labels': Counter(summary['labels'])})


def flow_summary_items(summary):
    pairs = [('flows', f"{summary['flows']:,}"),
             ('first flow', formats.from_us(summary['first_us'])),
             ('last flow', formats.from_us(summary['last_us'])),
             ('malformed lines', malformed_text(summary)),
             ('flows out of time order', f"{summary['out_of_order']:,}")]
    items = [Fields(pairs, title='flows')]
    items.append(Table(['protocol', 'flows'], thousands(summary['protocols']),
                       title='flows per protocol'))
    if summary['labels']:
        items.append(Table(['label', 'flows'], thousands(summary['labels']),
                           title='labels present'))
    return items


def thousands(counter):
    return [(key, f'{count:,}') for key, count in counter.most_common()]


def malformed_text(summary):
    count = summary['malformed']
    if not count:
        return '0'
    lines = ', '.join(str(number) for number in summary['first_malformed'])
    return f"{count:,} (first at line{'s' if count > 1 else ''} {lines})"


def pe_details(item, scan, bin_seconds, progress=None, whole=False):
    """The PE's headers, sections, imports, exports and version strings, as
    read when the file was scanned."""
    info = scan.get('pe') or {'error': 'the file was not read as a PE'}
    if 'error' in info:
        return [warning(f"PE details: unreadable: {info['error']}")]
    items = warnings_of(info['warnings'], whole)
    items += [Fields(pe_pairs(info), title='PE executable'), sections_table(info)]
    if info['imports']:
        rows, cut = import_rows(info['imports'], whole)
        items.append(Table(['dll', 'function', 'hint'], rows, title='imports',
                           footer=EVERY_ROW if cut else ''))
    if info['exports']:
        rows = [(Exact(name) if name else '-', ordinal, f'0x{rva:x}',
                 Exact(forwarder) if forwarder else '-')
                for name, ordinal, rva, forwarder in info['exports']]
        items.append(Table(['name', 'ordinal', 'rva', 'forwarder'], rows, title='exports',
                           limit=None if whole else SHOWN_EXPORTS,
                           cut_footer='{shown:,} of {total:,} exports; --json lists every one'))
    if info['version']:
        # the resource's own names ('CompanyName') are the field names in --json
        items.append(Fields([(Exact(key), Exact(value)) for key, value in info['version']],
                            title='version information'))
    return items


def sections_table(info):
    """The sections; a section not in a truncated file has entropy '-', said below."""
    outside = [info['sections'][index][0] for index in info.get('not_in_file', ())]
    footer = (f"entropy '-': {', '.join(outside)} "
              f"{'is' if len(outside) == 1 else 'are'} not in the file (it is cut short)"
              if outside else '')
    return Table(['section', 'virtual size', 'raw size', 'entropy', 'flags'],
                 [(Exact(name), f'{virtual:,}', f'{raw:,}', two_decimals(entropy), flags)
                  for name, virtual, raw, entropy, flags in info['sections']],
                 title='sections', footer=footer)


def warnings_of(found, whole):
    """What pefile found damaged: one line on the screen, every one listed
    for programs."""
    if not found:
        return []
    if whole:
        return [Table(['warning'], [(Exact(text),) for text in found], title='PE warnings')]
    more = f' (and {len(found) - 1:,} more: --json lists them)' if len(found) > 1 else ''
    return [warning(f'PE details: damaged: {found[0]}{more}')]


def pe_pairs(info):
    stamp = info['compile_time']
    return [('machine', info['machine']),
            # a linker that writes no time (reproducible builds) leaves 0, not 1970
            ('compile time', formats.when_us(stamp * 1_000_000) if stamp else '0 (not set)'),
            ('subsystem', info['subsystem']), ('format', info['format']),
            ('kind', info['kind']), ('entry point', f"0x{info['entry_point']:x}"),
            ('image base', f"0x{info['image_base']:x}"),
            ('imphash', Exact(info['imphash']) if info['imphash'] else '-'),
            ('imported DLLs', f"{len({row[0] for row in info['imports']}):,}"),
            ('imported functions', f"{len(info['imports']):,}"),
            ('exported functions', f"{len(info['exports']):,}")]


def import_rows(imports, whole):
    """(rows dll, function, hint; True when some were left out): on the
    screen at most SHOWN_FUNCTIONS of each DLL, then 'and N more'."""
    rows, cut = [], False
    for dll, group in itertools.groupby(imports, key=lambda row: row[0]):
        functions = [(Exact(dll), Exact(function), '-' if hint is None else hint)
                     for _, function, _ordinal, hint in group]
        shown, more = shown_part(functions, SHOWN_FUNCTIONS, whole)
        rows += shown + ([(Exact(dll), more, '')] if more else [])
        cut = cut or bool(more)
    return rows, cut


def shown_part(rows, most, whole):
    """(the rows a screen shows, 'and N more' when some are left out, else '')."""
    if whole or len(rows) <= most:
        return rows, ''
    return rows[:most], f'and {len(rows) - most:,} more'


def two_decimals(number):
    return '-' if number is None else f'{number:.2f}'


# The screen lists this many functions of each DLL and exports (after --sort); --json all.
SHOWN_FUNCTIONS = 20
SHOWN_EXPORTS = 50
EVERY_ROW = 'the listing is cut: --json lists every row'


def letters_details(item, scan, bin_seconds, progress=None, whole=False):
    """A letters TSV: how many models, and their labels."""
    labels = Counter()
    with open(item.path, encoding='utf-8', errors='replace') as handle:
        next(handle, None)  # the header line
        for line in handle:
            fields = line.rstrip('\n').split('\t')
            if len(fields) == 4:
                labels[fields[2] or NO_LABEL] += 1
    decisions = Counter()
    for label, count in labels.items():
        decisions[labelnames.verdict_of(label) if label != NO_LABEL else UNLABELED] += count
    pairs = [('models', f'{sum(labels.values()):,}'), ('labels', f'{len(labels):,}')]
    pairs += [(f'{kind} models', f'{decisions[kind]:,}') for kind in DECISIONS if decisions[kind]]
    return [Fields(pairs, title='behavioral models'),
            Table(['label', 'models'], thousands(labels), title='models per label')]


NO_LABEL = '(no label)'
UNLABELED = 'unlabeled'
DECISIONS = (*labelnames.VERDICTS, UNLABELED)


def no_details(item, scan, bin_seconds, progress=None, whole=False):
    return []


CAPTURES = ('pcap', 'pcapng')
FLOWS = ('binetflow', 'zeek', 'biargus')   # files whose scan keeps a summary of their flows
DETAILS = {'pcap': capture_details, 'pcapng': capture_details,
           'binetflow': flow_details, 'zeek': flow_details, 'biargus': flow_details,
           'pe': pe_details,
           'letters': letters_details}
