"""Connection ids: `SrcAddr-DstAddr-Dport-Proto`, the fields as the flow file
writes them (an empty port for ARP, '0x0008' for ICMP). Addresses hold no
'-'; one protocol name does (ipv6-icmp)."""
import itertools
from typing import NamedTuple

import numpy as np

from stf.core.errors import UserError

# Protocol names that hold a '-' themselves.
DASHED_PROTOCOLS = ('ipv6-icmp',)


class ConnectionId(NamedTuple):
    src: str
    dst: str
    dport: str
    proto: str

    def __str__(self):
        return make(*self)


def make(src, dst, dport, proto):
    return f'{src}-{dst}-{dport}-{proto}'


def make_all(srcs, dsts, dports, protos):
    """The ids of many flows at once ('-'.join: one C call a flow)."""
    return map('-'.join, zip(srcs, dsts, dports, protos))


def distinct(ids):
    """(the distinct ids in order of first appearance, the index in it of
    each id: an int64 array)."""
    first = {}
    ids = ids if isinstance(ids, list) else list(ids)
    inverse = np.fromiter(map(first.setdefault, ids, itertools.count()), np.int64, len(ids))
    return list(first), _dense(inverse)


def _dense(inverse):
    """first.setdefault numbered each new id by its position: renumber 0, 1, 2..."""
    firsts = np.unique(inverse)
    return np.searchsorted(firsts, inverse)


def parse(text):
    """The four fields of a connection id; a UserError when it has not."""
    for proto in DASHED_PROTOCOLS:
        if text.lower().endswith('-' + proto):
            head = text[:-len(proto) - 1]
            proto = text[-len(proto):]
            break
    else:
        head, _, proto = text.rpartition('-')
    parts = head.split('-')
    if len(parts) != 3 or not parts[0] or not parts[1] or not proto:
        raise UserError(f"'{text}' is not a connection id (SrcAddr-DstAddr-Dport-Proto, e.g. "
                        '192.168.0.253-166.78.144.80-80-tcp)')
    return ConnectionId(parts[0], parts[1], parts[2], proto)
