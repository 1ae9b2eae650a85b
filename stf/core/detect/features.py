"""What a chain looks like besides its transitions: its length, the share of
each kind of letter and symbol, and its connection's protocol and port.

Every feature is a sum over the characters divided by the length (or a
function of the length), so the features of every prefix of a chain come from
running sums.
"""
import re

import numpy as np

from stf.core.detect.alphabet import BASE, LETTERS, code_of

# Rows of the letter table (SPEC.md): how periodic a flow is.
PERIODICITY = ('first', 'strongly_periodic', 'weakly_periodic', 'weakly_not_periodic',
               'not_periodic')
SIZES = ('small', 'medium_size', 'large')
DURATIONS = ('short', 'medium_duration', 'long')
SYMBOL_NAMES = {'.': 'gap_5s', ',': 'gap_60s', '+': 'gap_300s', '*': 'gap_1h',
                '0': 'silent_hour'}
GROUPS = (PERIODICITY + SIZES + DURATIONS + tuple(SYMBOL_NAMES.values()) + ('other_char',))

# A port's service, for the context of a chain (the port alone is too sparse).
PORT_CLASSES = {'53': 'dns', '5353': 'dns', '5355': 'dns', '80': 'web', '8080': 'web',
                '443': 'https', '993': 'https', '995': 'https', '25': 'mail', '465': 'mail',
                '587': 'mail', '123': 'ntp', '6667': 'irc'}
PORT_FEATURES = ('port_dns', 'port_web', 'port_https', 'port_mail', 'port_ntp', 'port_irc',
                 'port_other_below_1024', 'port_1024_up')
PROTO_FEATURES = ('proto_tcp', 'proto_udp')
CHAR_FEATURES = ('markov', 'log_length') + tuple('share_' + group for group in GROUPS)
CONTEXT_FEATURES = PROTO_FEATURES + PORT_FEATURES
NAMES = CHAR_FEATURES + CONTEXT_FEATURES


def _group_matrix():
    """BASE x len(GROUPS): which groups each code belongs to."""
    matrix = np.zeros((BASE, len(GROUPS)), dtype=np.float64)
    for index, letter in enumerate(LETTERS):
        code = code_of(letter)
        row, column = divmod(index, 9)
        matrix[code, row] = 1
        matrix[code, len(PERIODICITY) + column // 3] = 1
        matrix[code, len(PERIODICITY) + len(SIZES) + column % 3] = 1
    for offset, symbol in enumerate(SYMBOL_NAMES):
        matrix[code_of(symbol), len(PERIODICITY) + len(SIZES) + len(DURATIONS) + offset] = 1
    matrix[BASE - 1, -1] = 1
    return matrix


GROUP_MATRIX = _group_matrix()
_SUFFIX = re.compile(r'#\d+\Z')  # the '#2' a letters TSV gives a repeated tuple id


def context_of(tuple_id):
    """(protocol, port) of a tuple id 'src-dst-dport-proto' ('', '' if not one)."""
    name = _SUFFIX.sub('', tuple_id or '').lower()
    if name.endswith('-ipv6-icmp'):
        head, proto = name[:-len('-ipv6-icmp')], 'ipv6-icmp'
    else:
        head, _, proto = name.rpartition('-')
    if head.count('-') < 2:
        return '', ''
    return proto, head.rpartition('-')[2]


def context_vector(tuple_id):
    """The protocol and port features of one tuple id."""
    proto, port = context_of(tuple_id)
    vector = np.zeros(len(CONTEXT_FEATURES))
    if proto in ('tcp', 'udp'):
        vector[PROTO_FEATURES.index('proto_' + proto)] = 1
    name = port_class(port)
    if name:
        vector[len(PROTO_FEATURES) + PORT_FEATURES.index(name)] = 1
    return vector


def port_class(port):
    """The PORT_FEATURES name of a port, or None (no port, or not a number)."""
    if port in PORT_CLASSES:
        return 'port_' + PORT_CLASSES[port]
    if port.isdigit():
        return 'port_other_below_1024' if int(port) < 1024 else 'port_1024_up'
    return None


def context_matrix(tuple_ids, count):
    """The context features of many tuple ids, each distinct ending of an id
    (its port and protocol) computed once."""
    cache, vectors = {}, []

    def number(tuple_id):
        tail = tuple_id[-24:] if tuple_id else ''
        key = tail if tail.count('-') >= 4 else tuple_id
        found = cache.get(key)
        if found is None:
            found = cache[key] = len(vectors)
            vectors.append(context_vector(tuple_id))
        return found

    tuple_ids = list(tuple_ids) if tuple_ids is not None else [''] * count
    index = np.fromiter(map(number, tuple_ids), dtype=np.int64, count=count)
    if not vectors:
        return np.zeros((count, len(CONTEXT_FEATURES)))
    return np.array(vectors)[index]


def char_matrix(encoded, ratios):
    """The character features (CHAR_FEATURES) of every chain of encoded;
    ratios: the Markov log-ratios aligned with encoded.codes[pad:]."""
    count = len(encoded.lengths)
    offsets = encoded.starts - encoded.pad
    padded = np.append(ratios, np.float32(0))
    sums = np.add.reduceat(padded, offsets).astype(float) if count else np.zeros(0)
    owner = np.repeat(np.arange(count, dtype=np.int32), encoded.lengths + encoded.pad)
    owner *= BASE
    owner += encoded.codes
    per_code = np.bincount(owner, minlength=count * BASE).reshape(count, BASE)
    return _assemble(sums, per_code @ GROUP_MATRIX, encoded.lengths)


def _assemble(markov_sums, group_counts, lengths):
    lengths = np.asarray(lengths, dtype=float)
    divisor = np.maximum(lengths, 1.0)[:, None]
    return np.hstack([markov_sums[:, None] / divisor, np.log1p(lengths)[:, None],
                      group_counts / divisor])


def prefix_char_matrix(encoded, ratios, chain):
    """The character features after each character of chain number `chain`
    (one row per prefix length 1..n)."""
    start, length = int(encoded.starts[chain]), int(encoded.lengths[chain])
    codes = encoded.codes[start:start + length]
    values = ratios[start - encoded.pad:start - encoded.pad + length].astype(float)
    return _assemble(np.cumsum(values), np.cumsum(GROUP_MATRIX[codes], axis=0),
                     np.arange(1, length + 1))
