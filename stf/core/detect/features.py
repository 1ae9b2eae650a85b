"""What a chain looks like besides its transitions: its length, the share of
each kind of letter and symbol, and its connection's protocol and port.

Every feature is a sum over the characters divided by the length (or a
function of the length), so the features of every prefix of a chain come from
running sums.
"""
import re

import numpy as np

from stf.core.detect import markov
from stf.core.detect.alphabet import BASE, LETTERS, code_of, encode

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
CHAR_FEATURES = (('markov', 'markov_total', 'ngram', 'ngram_by_length', 'log_length')
                 + tuple('share_' + group for group in GROUPS))
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


def port_class(port):
    """The PORT_FEATURES name of a port, or None (no port, or not a number)."""
    if port in PORT_CLASSES:
        return 'port_' + PORT_CLASSES[port]
    if port.isdigit():
        return 'port_other_below_1024' if int(port) < 1024 else 'port_1024_up'
    return None


# A chain's context: its port class (or none) and protocol (tcp, udp, other).
PROTOCOLS = ('tcp', 'udp', 'other')
CONTEXTS = tuple(f"{(port or 'port_none')[len('port_'):]}/{proto}"
                 for port in PORT_FEATURES + (None,) for proto in PROTOCOLS)


def _context_vectors():
    vectors = np.zeros((len(CONTEXTS), len(CONTEXT_FEATURES)))
    for index, name in enumerate(CONTEXTS):
        port, proto = name.split('/')
        if proto != 'other':
            vectors[index, PROTO_FEATURES.index('proto_' + proto)] = 1
        if port != 'none':
            vectors[index, len(PROTO_FEATURES) + PORT_FEATURES.index('port_' + port)] = 1
    return vectors


CONTEXT_VECTORS = _context_vectors()


def context_index(tuple_id):
    """The number in CONTEXTS of a tuple id's port class and protocol."""
    proto, port = context_of(tuple_id)
    name = port_class(port)
    port_number = PORT_FEATURES.index(name) if name else len(PORT_FEATURES)
    proto_number = PROTOCOLS.index(proto) if proto in PROTOCOLS[:2] else 2
    return port_number * len(PROTOCOLS) + proto_number


def context_vector(tuple_id):
    """The protocol and port features of one tuple id."""
    return CONTEXT_VECTORS[context_index(tuple_id)]


def context_classes(tuple_ids, count):
    """The context_index of many tuple ids; ids ending alike ('-80-tcp') are
    parsed once."""
    cache = {}

    def number(tuple_id):
        tuple_id = tuple_id or ''
        key = tuple_id[tuple_id.rfind('-', 0, tuple_id.rfind('-')):]
        if tuple_id.count('-') < 3 or key.startswith('-ipv6-icmp'):
            key = tuple_id  # the port is further left, or the id is not a tuple id
        found = cache.get(key)
        if found is None:
            found = cache[key] = context_index(tuple_id)
        return found

    tuple_ids = list(tuple_ids) if tuple_ids is not None else [''] * count
    return np.fromiter(map(number, tuple_ids), dtype=np.int32, count=count)


BATCH_CHARACTERS = 1 << 17  # characters per numpy pass: the arrays stay in the CPU's cache
BATCH_CHAINS = 1 << 13      # and chains (a pass keeps a row of BASE counts per chain)


def chain_matrix(tables, states, tuple_ids=None, classes=None):
    """The features (NAMES) of chains, one row each (classes: their
    context_classes, when known already)."""
    states = list(states)
    classes = (context_classes(tuple_ids, len(states)) if classes is None
               else np.asarray(classes, np.int32))
    matrix = np.empty((len(states), len(NAMES)))
    for first, last in batches(states):
        matrix[first:last] = batch_matrix(tables, states[first:last], classes[first:last])
    return matrix


def batch_matrix(tables, states, classes):
    """The features of a few chains whose contexts are known."""
    encoded = encode(states)
    values = markov.char_values(tables, encoded, classes)
    return np.hstack([char_matrix(encoded, *values), CONTEXT_VECTORS[classes]])


def batches(states):
    """(first, last) ranges of chains of about BATCH_CHARACTERS characters."""
    ends = np.cumsum(np.fromiter(map(len, states), dtype=np.int64, count=len(states)))
    first = 0
    while first < len(states):
        done = ends[first - 1] if first else 0
        last = int(np.searchsorted(ends, done + BATCH_CHARACTERS, side='right'))
        last = min(max(last, first + 1), first + BATCH_CHAINS)
        yield first, last
        first = last


def char_matrix(encoded, ratios, weights):
    """The character features (CHAR_FEATURES) of every chain of encoded;
    ratios, weights: the Markov log-ratios and n-gram weights aligned with
    encoded.codes[pad:]."""
    count = len(encoded.lengths)
    offsets = encoded.starts - encoded.pad
    sums = _segment_sums(ratios, offsets, count)
    weight_sums = _segment_sums(weights, offsets, count)
    owner = np.repeat(np.arange(count, dtype=np.int32), encoded.lengths + encoded.pad)
    owner *= BASE
    owner += encoded.codes
    per_code = np.bincount(owner, minlength=count * BASE).reshape(count, BASE)
    return _assemble(sums, weight_sums, per_code @ GROUP_MATRIX, encoded.lengths)


def _segment_sums(values, offsets, count):
    if not count:
        return np.zeros(0)
    return np.add.reduceat(np.append(values, np.float32(0)), offsets).astype(float)


def _assemble(markov_sums, weight_sums, group_counts, lengths):
    lengths = np.asarray(lengths, dtype=float)
    divisor = np.maximum(lengths, 1.0)[:, None]
    ngram = weight_sums[:, None] / divisor
    return np.hstack([markov_sums[:, None] / divisor, np.arcsinh(markov_sums)[:, None],
                      ngram, ngram * np.log1p(lengths)[:, None], np.log1p(lengths)[:, None],
                      group_counts / divisor])


def prefix_matrix(tables, state, tuple_id=''):
    """The features after each character of state (one row per prefix length 1..n)."""
    encoded = encode([state])
    classes = context_classes([tuple_id], 1)
    ratios, weights = markov.char_values(tables, encoded, classes)
    length = len(state)
    codes = encoded.codes[encoded.pad:]
    chars = _assemble(np.cumsum(ratios[:length], dtype=float),
                      np.cumsum(weights[:length], dtype=float),
                      np.cumsum(GROUP_MATRIX[codes], axis=0), np.arange(1, length + 1))
    context = np.broadcast_to(CONTEXT_VECTORS[classes[0]], (length, len(CONTEXT_FEATURES)))
    return np.hstack([chars, context])
