"""A connection's context: what the rest of its capture says about its addresses. For
now the names that the DNS answers of the same group gave an address (dns_names,
dns_line), shown by connections -F and -P; any listing of connections or models can
call the same functions.

The answers come from the flow file's dstUdata of the group's DNS connections (port 53,
udp or tcp): only those flows' lines are read, found by the byte offsets the group keeps,
so a group of 500,000 connections and a flow file of gigabytes costs the reading of its
DNS flows (at most MAX_DNS_FLOWS of them), once. The index is kept in memory for the
few groups used last (not in the database: it is made again from the file in seconds,
and a file changed since is read again). A flow file without payload columns has no
answers to give; `connections -P --pcap` then reads those of the dataset's capture.
"""
import os
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stf.core import formats
from stf.core.captures import dnsnames, payload
from stf.core.errors import UserError
from stf.core.flows import flowfile
from stf.core.formats import counted

DNS_CONNECTIONS = ('-53-udp', '-53-tcp')    # the endings of DNS connection ids
DNS_PORT = 53
MAX_DNS_FLOWS = 200_000
BATCH = 10_000          # flow lines decoded at a time: bounded memory
SHOWN_NAMES = 10
CACHED_GROUPS = 4
# (source identity) -> DnsIndex, the last used last; a small cache of this process.
_indexes = OrderedDict()


class DnsIndex(NamedTuple):
    """The DNS answers of a group: names (a dnsnames.DnsNames), where (where they were
    read, for the line), read (DNS flows or packets read), total (DNS flows of the
    group; more than read when MAX_DNS_FLOWS cut them), error (why the payloads could
    not be read, or None)."""
    names: dnsnames.DnsNames
    where: str
    read: int
    total: int
    error: str = None


def dns_names(app, group, ip, capture=False):
    """[dnsnames.NameSeen] that the group's DNS answers gave ip, earliest first; None
    when they are not known (no payload columns and, with capture, no capture)."""
    index = dns_index(app, group, capture)
    return None if index is None else index.names.names(ip)


def dns_line(app, group, ip, capture=False):
    """'DNS names of IP: NAME (A, first answered TIME), ...' or None when the group's
    flows hold no DNS answers to look in (see dns_index)."""
    index = dns_index(app, group, capture) if dnsnames.packed(ip) else None
    if index is None:
        return None
    if index.error:
        return f'DNS names of {ip}: unknown, {index.error}'
    seen = index.names.names(ip)
    if not index.names.responses:
        return f'DNS names of {ip}: none, no DNS answers {index.where}{_cut(index)}'
    if not seen:
        return (f'DNS names of {ip}: none in the {index.names.responses:,} DNS answers '
                f'{index.where}{_cut(index)}')
    shown = ', '.join(_name_text(name) for name in seen[:SHOWN_NAMES])
    more = f', and {len(seen) - SHOWN_NAMES:,} more' if len(seen) > SHOWN_NAMES else ''
    return f'DNS names of {ip}: {shown}{more}{_cut(index)}'


def _name_text(seen):
    answers = f', {counted(seen.answers, "answer")}' if seen.answers > 1 else ''
    return (f'{payload.safe_text(seen.name)} ({seen.kind}, first answered '
            f'{formats.from_us(seen.first_us)}{answers})')


def _cut(index):
    if index.read >= index.total:
        return ''
    return f' (of its first {index.read:,} of {index.total:,} DNS flows)'


def dns_index(app, group, capture=False):
    """The DnsIndex of a group: from its flow file's payloads, else (capture=True) from
    its dataset's capture; None when neither holds payloads. Cached (see above)."""
    path = Path(group.file_path)
    if not path.is_file():
        return None
    fmt = flowfile.sniff_format(path)
    if {'src_udata', 'dst_udata'} <= set(fmt.columns):
        key = ('flows', str(path), *_stamp(path), group.id, group.dataset_id,
               str(group.created), group.flow_count, group.connection_count)
        return _cached(key, lambda: _flow_file_index(app, group, fmt))
    pcap = _capture(app, group) if capture else None
    if pcap is None:
        return None
    return _cached(('pcap', str(pcap.path), *_stamp(pcap.path)),
                   lambda: _capture_index(app, pcap))


def _stamp(path):
    found = os.stat(path)
    return found.st_size, found.st_mtime_ns


def _cached(key, make):
    if key in _indexes:
        _indexes.move_to_end(key)
        return _indexes[key]
    index = _indexes[key] = make()
    while len(_indexes) > CACHED_GROUPS:
        _indexes.popitem(last=False)
    return index


def _flow_file_index(app, group, fmt):
    offsets, starts, udp = dns_flows(group)
    total, chosen = len(offsets), min(len(offsets), MAX_DNS_FLOWS)
    names, update = dnsnames.DnsNames(), app.progress('reading the DNS answers')
    where = f'in the flow file {Path(group.file_path).name}'
    try:
        for first in range(0, chosen, BATCH):
            last = min(first + BATCH, chosen)
            pairs = payload.flow_payloads(group.file_path, fmt, offsets[first:last].tolist())
            for start, is_udp, (_, answer) in zip(starts[first:last].tolist(),
                                                  udp[first:last].tolist(), pairs):
                if answer:
                    names.add(start, answer, is_udp)
            if update:
                update(last, chosen)
    except UserError as error:
        return DnsIndex(names, where, 0, total, error=str(error))
    return DnsIndex(names, where, chosen, total)


def dns_flows(group):
    """(byte offsets, starts in us, udp?) arrays of every flow of the group's DNS
    connections, in file order. The connection ids are read from the group's index, and
    only the chunks that hold DNS connections are loaded."""
    parts = []
    for conn in group.index.keys():
        if conn.endswith(DNS_CONNECTIONS):
            chunk, position = group.locate(conn)
            flows = chunk.flows(position)
            parts.append((flows['offset'], flows['start'],
                          np.full(len(flows['offset']), conn.endswith('-udp'))))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    offsets, starts, udp = (np.concatenate(column) for column in zip(*parts))
    order = np.argsort(offsets, kind='stable')
    return offsets[order], starts[order], udp[order]


def _capture(app, group):
    dataset = app.datasets.get(group.dataset_id)
    captures = dataset.files_of_kind('pcap', 'pcapng') if dataset else []
    return next((item for item in captures if item.exists()), None)


def _capture_index(app, pcap):
    names, update = dnsnames.DnsNames(), app.progress(f'DNS answers in {pcap.name}')
    if update:
        update(0, None)
    for moment, proto, data in payload.server_payloads(pcap.path, DNS_PORT):
        names.add(moment, data, proto == 'udp')
    return DnsIndex(names, f'in {pcap.name}', names.payloads, names.payloads)
