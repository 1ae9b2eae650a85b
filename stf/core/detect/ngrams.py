"""A linear model of n-grams: each (k+1)-gram (k = 0..order characters of
context and a character) has a weight, and a chain's score is the mean weight
of the n-grams ending at its characters. Fitted as a logistic regression with
an L2 penalty (L-BFGS, numpy), so the weights are discriminative where the
Markov log-ratios are generative. Looked up like the Markov chains: the
weights of every suffix of a context are summed into one table
(markov.Tables.weights), one lookup per character.
"""
import numpy as np

from stf.core.detect.alphabet import BASE, START


CONTEXT_ORDER = 1  # n-grams of up to this many characters of context also per chain context


def span_of(order):
    """The ids of shared n-grams are below span_of(order); an n-gram of
    context class c has id (c + 1) * span_of(order) + its shared id."""
    return BASE ** (order + 1) * (order + 1)


def gram_ids(encoded, order, classes=None):
    """(chain, n-gram id) of every n-gram ending at a character: id =
    k * BASE**(order+1) + the k+1 codes as a number; with classes (the
    context of each chain), also the n-grams of up to CONTEXT_ORDER
    characters of context within the chain's context."""
    codes = encoded.codes.astype(np.int64)
    pad = encoded.pad
    keys = np.zeros(len(codes) - pad, dtype=np.int64)
    for back in range(order, -1, -1):
        keys *= BASE
        keys += codes[pad - back:len(codes) - back]
    owner = np.repeat(np.arange(len(encoded.lengths)), encoded.lengths + pad)[pad:]
    real = codes[pad:] != START
    keys, owner = keys[real], owner[real]
    span = BASE ** (order + 1)
    ids = [k * span + keys % BASE ** (k + 1) for k in range(order + 1)]
    owners = [owner] * (order + 1)
    if classes is not None:
        offset = (classes[owner].astype(np.int64) + 1) * span_of(order)
        ids += [offset + part for part in ids[:CONTEXT_ORDER + 1]]
        owners += owners[:CONTEXT_ORDER + 1]
    return np.concatenate(owners), np.concatenate(ids)


def design(encoded, order, classes=None, vocabulary=None):
    """(vocabulary, rows, columns, values): a sparse matrix of n-gram counts
    divided by the chain's length; n-grams outside the vocabulary (when
    given) are left out."""
    owner, ids = gram_ids(encoded, order, classes)
    if vocabulary is None:
        vocabulary = np.unique(ids)
    if not len(vocabulary):
        return vocabulary, *(np.zeros(0, dtype=np.int64),) * 2, np.zeros(0)
    column = np.searchsorted(vocabulary, ids)
    column[column == len(vocabulary)] = 0
    known = vocabulary[column] == ids if len(vocabulary) else np.zeros(len(ids), bool)
    pair = owner[known] * len(vocabulary) + column[known]
    pair, counts = np.unique(pair, return_counts=True)
    rows, columns = np.divmod(pair, len(vocabulary))
    values = counts / np.maximum(encoded.lengths[rows], 1)
    return vocabulary, rows, columns, values


def fit(matrix, count, targets, sample_weights, l2, iterations=300):
    """(weights, bias) of an L2-penalised logistic regression on a sparse
    matrix (vocabulary, rows, columns, values) of `count` rows."""
    vocabulary, rows, columns, values = matrix
    size = len(vocabulary)
    signs = np.where(np.asarray(targets) > 0.5, 1.0, -1.0)

    def loss(theta):
        weights, bias = theta[:-1], theta[-1]
        z = np.bincount(rows, weights=values * weights[columns], minlength=count) + bias
        margin = signs * z
        losses = np.logaddexp(0.0, -margin)
        slope = -signs * sample_weights * np.exp(-np.logaddexp(0.0, margin))
        gradient = np.append(np.bincount(columns, weights=values * slope[rows],
                                         minlength=size) + l2 * weights, slope.sum())
        return float(sample_weights @ losses + 0.5 * l2 * weights @ weights), gradient

    theta = lbfgs(loss, np.zeros(size + 1), iterations)
    return theta[:-1], float(theta[-1])


def lbfgs(function, start, iterations, memory=10, tolerance=1e-7):
    """The minimum of a smooth convex function(x) -> (value, gradient)."""
    x = start
    value, gradient = function(x)
    steps, changes = [], []
    for _ in range(iterations):
        direction = -_two_loop(gradient, steps, changes)
        slope = gradient @ direction
        if slope >= 0:
            direction, slope, steps, changes = -gradient, -(gradient @ gradient), [], []
        length = 1.0
        while True:
            candidate = x + length * direction
            new_value, new_gradient = function(candidate)
            if new_value <= value + 1e-4 * length * slope or length < 1e-12:
                break
            length *= 0.5
        step, change = candidate - x, new_gradient - gradient
        if step @ change > 1e-12:
            steps, changes = (steps + [step])[-memory:], (changes + [change])[-memory:]
        converged = abs(value - new_value) <= tolerance * max(1.0, abs(value))
        x, value, gradient = candidate, new_value, new_gradient
        if converged or np.max(np.abs(gradient)) < tolerance:
            break
    return x


def _two_loop(gradient, steps, changes):
    q = gradient.copy()
    factors = []
    for step, change in zip(reversed(steps), reversed(changes)):
        factor = (step @ q) / (change @ step)
        q -= factor * change
        factors.append(factor)
    if steps:
        q *= (steps[-1] @ changes[-1]) / (changes[-1] @ changes[-1])
    for (step, change), factor in zip(zip(steps, changes), reversed(factors)):
        q += step * (factor - (change @ q) / (change @ step))
    return q


def weight_table(tables, vocabulary, weights, order):
    """For each row of tables and each character, the sum of the weights of
    the n-grams made of a suffix of the row's context and the character
    (0 for n-grams outside the vocabulary), flat like tables.table."""
    result = np.zeros((len(tables.row_order), BASE))
    if not len(vocabulary):
        return result.astype(np.float32).ravel()
    span = BASE ** (order + 1)
    characters = np.arange(BASE)
    for k in range(order + 1):
        chosen = np.flatnonzero(tables.row_order >= k)
        suffix = tables.row_context[chosen] % BASE ** k
        ids = k * span + (suffix[:, None] * BASE + characters[None, :])
        column = np.searchsorted(vocabulary, ids)
        column[column == len(vocabulary)] = 0
        found = vocabulary[column] == ids
        result[chosen] += np.where(found, weights[column], 0.0)
    result[:, START] = 0.0
    return result.astype(np.float32).ravel()


def context_table(vocabulary, weights, order, contexts):
    """[context, previous code, code] -> the summed weights of the context's
    own n-grams (of up to CONTEXT_ORDER = 1 character of context), flat."""
    result = np.zeros((contexts, BASE, BASE))
    span = span_of(order)
    chosen = vocabulary >= span
    ids, values = vocabulary[chosen], weights[chosen]
    context, shared = np.divmod(ids, span)
    context -= 1
    k, key = np.divmod(shared, BASE ** (order + 1))
    single = k == 0
    np.add.at(result, (context[single], slice(None), key[single]), values[single][:, None])
    pairs = k == 1
    np.add.at(result, (context[pairs], key[pairs] // BASE, key[pairs] % BASE), values[pairs])
    result[:, :, START] = 0.0
    return result.astype(np.float32).ravel()
