"""Class-conditional Markov chains over the characters of states, with back-off.

For each class (malicious, normal) and each order k = 0..K, the probability of
a character after the k characters before it is

    P_k(c | h) = (n(h, c) + alpha * P_(k-1)(c | h')) / (n(h) + alpha)

where h' is h without its oldest character and P_(-1) is uniform: a context
seen a few times leans on the shorter one, an unseen context is the shorter
one. What a character says is the log-ratio log P_mal(c|h) - log P_norm(c|h)
for its longest context seen in training.

Scoring is two lookups per character: the last K codes index `rows` (which
row of log-ratios holds the longest seen context), and that row and the
character index `table`.
"""
from dataclasses import dataclass

import numpy as np

from stf.core.detect.alphabet import BASE, START, text_of


def ngram_counts(encoded, order):
    """(keys, counts) of the (order+1)-grams ending at every character of the
    chains: key = the codes read as a number in base BASE."""
    codes = encoded.codes.astype(np.int64)
    first = encoded.pad - order
    keys = np.zeros(len(codes) - encoded.pad, dtype=np.int64)
    for back in range(order, -1, -1):
        keys *= BASE
        keys += codes[first + order - back:len(codes) - back]
    keys = keys[codes[encoded.pad:] != START]
    return np.unique(keys, return_counts=True)


def merge_counts(parts):
    """Sum of several (keys, counts)."""
    keys = np.concatenate([part[0] for part in parts])
    counts = np.concatenate([part[1] for part in parts])
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)


def subtract_counts(total, part):
    """total minus part (part's keys all in total), zero counts dropped."""
    keys, counts = total
    counts = counts.copy()
    counts[np.searchsorted(keys, part[0])] -= part[1]
    keep = counts > 0
    return keys[keep], counts[keep]


@dataclass
class Tables:
    """Log-ratio tables built from the counts of two classes.

    rows[h] for h < BASE**order: the row of the longest context of h seen in
    training; table[row * BASE + c]: its log-ratio for character c (0 for
    START, which only pads). A row's context: row_order[row] codes read as
    the number row_context[row]. weights: another table of the same shape
    (the n-gram weights of stf.core.detect.ngrams), or None.
    """
    order: int
    alpha: float
    rows: np.ndarray
    table: np.ndarray
    row_order: np.ndarray
    row_context: np.ndarray
    weights: np.ndarray = None
    context_weights: np.ndarray = None  # [context, previous code, code], flat

    def context_text(self, row):
        k, context = int(self.row_order[row]), int(self.row_context[row])
        codes = [(context // BASE ** back) % BASE for back in range(k - 1, -1, -1)]
        return text_of(codes)


def build(counts_by_class, order, alpha):
    """Tables from [(keys, counts) of malicious, (keys, counts) of normal]
    (keys of (order+1)-grams)."""
    seen, parents, blocks = [], [], []
    previous = [None, None]
    for k in range(order + 1):
        grams = [_suffix_counts(keys, counts, k) for keys, counts in counts_by_class]
        contexts = np.unique(np.concatenate([keys // BASE for keys, _ in grams]))
        parent = (np.searchsorted(seen[-1], contexts % BASE ** (k - 1)) if k
                  else np.zeros(len(contexts), dtype=np.int64))
        probabilities = []
        for cls, (keys, counts) in enumerate(grams):
            matrix = np.zeros((len(contexts), BASE))
            np.add.at(matrix, (np.searchsorted(contexts, keys // BASE), keys % BASE), counts)
            prior = _uniform(len(contexts)) if k == 0 else previous[cls][parent]
            probabilities.append((matrix + alpha * prior)
                                 / (matrix.sum(axis=1, keepdims=True) + alpha))
        previous = probabilities
        with np.errstate(divide='ignore', invalid='ignore'):  # START: never a character
            ratios = np.log(probabilities[0]) - np.log(probabilities[1])
        ratios[:, START] = 0.0
        seen.append(contexts)
        parents.append(parent)
        blocks.append(ratios)
    return Tables(order, alpha, _row_map(seen, order),
                  np.concatenate(blocks).astype(np.float32).ravel(),
                  np.concatenate([np.full(len(h), k) for k, h in enumerate(seen)]),
                  np.concatenate(seen))


def _suffix_counts(keys, counts, k):
    """The (k+1)-gram counts from (order+1)-gram counts: their last k+1 codes."""
    return merge_counts([(keys % BASE ** (k + 1), counts)])


def _uniform(rows):
    prior = np.full((rows, BASE), 1.0 / (BASE - 1))
    prior[:, START] = 0.0
    return prior


def _row_map(seen, order):
    """For every context of `order` codes, the row of its longest suffix seen."""
    every = np.arange(BASE ** order, dtype=np.int64)
    rows = np.zeros(BASE ** order, dtype=np.int32)
    offset = len(seen[0])
    for k in range(1, order + 1):
        dense = np.full(BASE ** k, -1, dtype=np.int64)
        dense[seen[k]] = offset + np.arange(len(seen[k]))
        found = dense[every % BASE ** k]
        rows = np.where(found >= 0, found, rows).astype(np.int32)
        offset += len(seen[k])
    return rows


def char_rows(tables, encoded):
    """For every position after the first `pad - order` of encoded.codes,
    the table row of the context before it, and the character code."""
    codes = encoded.codes
    order, skip = tables.order, encoded.pad
    size = len(codes) - skip
    context = np.zeros(size, dtype=np.int32)
    for back in range(order, 0, -1):
        context *= BASE
        context += codes[skip - back:len(codes) - back]
    return tables.rows[context], codes[skip:]


def char_values(tables, encoded, classes):
    """(log-ratio, n-gram weight) of every position of encoded.codes after the
    first pad (0 at START positions): arrays aligned with codes[pad:].
    classes: the context (features.CONTEXTS) of each chain."""
    rows, chars = char_rows(tables, encoded)
    index = rows * BASE  # int32: a table has far fewer than 2**31 / BASE rows
    index += chars
    weights = tables.weights[index]
    pair = np.repeat(classes.astype(np.int32) * BASE, encoded.lengths + encoded.pad)
    pair = pair[encoded.pad:]
    pair += encoded.codes[encoded.pad - 1:-1]
    pair *= BASE
    pair += chars
    weights += tables.context_weights[pair]
    return tables.table[index], weights
