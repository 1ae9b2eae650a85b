"""The behavioral detector: speed, memory, and cross-validated error rates.

    python bench/bench_detector.py [--chains N] [--detector DIR]
    python bench/bench_detector.py --cv [--seeds 3] [--letters TRAIN.tsv]
                                   [--group none|state|near]

Speed: judges N generated chains (default 200,000) twice with the detector
(default: the one shipped with stf): once with lengths drawn from the
lengths of ../shared/data/letters/train.tsv (or a log-normal like it when the
file is absent), once of exactly 100 characters; prints chains per second
(best of 3 runs, one core) and the peak memory numpy allocated while judging
(tracemalloc) and the process's peak resident size.

--cv: stratified 5-fold cross-validation of stf's detector and of three
baselines on a letters TSV, repeated with several seeds (thresholds are
chosen on the training folds only, never on the fold judged): accuracy, TPR
and FPR at the default threshold, TPR and FPR at the low-FPR threshold, and
accuracy when only the first 20 characters of each chain are judged.
--group keeps chains together in one fold: `state` identical states, `near`
near-duplicates (chains linked by a cosine of 0.9 or more between their
character-trigram profiles, transitively), so that a chain is never judged by
a detector that learned its twin.
"""
import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stf.core.detect import Detector, markov, ngrams, training  # noqa: E402
from stf.core.detect.alphabet import BASE, START, encode  # noqa: E402
from stf.core.detect.logistic import sigmoid  # noqa: E402

TRAIN = ROOT.parent / 'shared' / 'data' / 'letters' / 'train.tsv'
LETTERS = 'abcdefghiABCDEFGHIrstuvwxyzRSTUVWXYZ'
SYMBOLS = '.,+*'
PORTS = ('53-udp', '80-tcp', '443-tcp', '25-tcp', '6667-tcp', '123-udp', '5222-tcp')
NEAR_DUPLICATE = 0.9  # cosine of trigram profiles at which two chains are one group
BUCKETS = 2039  # trigrams are hashed into this many counters (a prime)


def generated(count, lengths, seed=0):
    """count chains: two first letters, then letter and symbol in turn (a '0'
    now and then), cut to the given lengths; and tuple ids."""
    rng = np.random.default_rng(seed)
    body_size = int(lengths.max()) + 2
    pool = 4096
    bodies = []
    for _ in range(pool):
        letters = rng.choice(list(LETTERS), body_size // 2 + 1)
        symbols = rng.choice(list(SYMBOLS + '0'), body_size // 2 + 1, p=[.4, .3, .15, .1, .05])
        bodies.append(''.join(a + b for a, b in zip(letters, symbols)))
    heads = rng.choice(list('123456789'), (pool, 2))
    picks = rng.integers(0, pool, count)
    states = [''.join(heads[p]) + bodies[p][:max(0, n - 2)] for p, n in zip(picks, lengths)]
    states = [state[:n] for state, n in zip(states, lengths)]
    ids = [f'10.0.{i % 250}.{i % 199}-1.2.3.{i % 97}-{PORTS[i % len(PORTS)]}'
           for i in range(count)]
    return states, ids


def train_lengths(count, seed=0):
    rng = np.random.default_rng(seed)
    if TRAIN.is_file():
        known = np.array([len(row.state) for row in training.read_letters(TRAIN)])
        return rng.choice(known, count)
    return np.maximum(1, rng.lognormal(3.0, 1.4, count).astype(int))


def speed(detector, states, ids, runs=3):
    """(chains per second, best of runs; peak bytes numpy allocated)."""
    best = 0.0
    for _ in range(runs):
        began = time.perf_counter()
        detector.probabilities(states, ids)
        best = max(best, len(states) / (time.perf_counter() - began))
    tracemalloc.start()
    detector.probabilities(states, ids)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak


def bench_speed(args):
    detector = Detector.load(args.detector) if args.detector else Detector.default()
    for what, lengths in (('train.tsv-shaped', train_lengths(args.chains)),
                          ('100-character', np.full(args.chains, 100))):
        states, ids = generated(args.chains, lengths)
        rate, peak = speed(detector, states, ids)
        print(f'{what} chains ({np.mean(lengths):.0f} characters on average): '
              f'{rate:,.0f} chains/s; peak memory while judging {peak / 2 ** 20:.0f} MB')
    print(f'peak resident size of the process: '
          f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB')


# -- baselines, judged the same way -------------------------------------------

class AlwaysMalicious:
    thresholds = {'default': 0.5, 'low_fpr': 0.5}

    def __init__(self, rows):
        pass

    def probabilities(self, states, tuple_ids):
        return np.ones(len(states))


class Scored:
    """A baseline with a score; its thresholds come from 5-fold
    cross-validation on its own training rows, like the detector's."""

    def __init__(self, rows):
        data = training.labeled(rows)
        self.fit(data)
        fold = training.stratified_folds(data.malicious, 5, 7)
        held_out = np.zeros(len(data.states))
        for f in range(5):
            inner = type(self).__new__(type(self))
            inner.fit(data.take(np.flatnonzero(fold != f)))
            test = data.take(np.flatnonzero(fold == f))
            held_out[fold == f] = inner.probabilities(test.states, test.tuple_ids)
        self.thresholds = {
            'default': training.default_threshold(held_out, data.malicious),
            'low_fpr': training.low_fpr_threshold(held_out, data.malicious, 0.02)}


class MarkovSum(Scored):
    """Two class-conditional order-3 Markov chains: summed log-ratios."""

    def fit(self, data):
        counts = training.class_counts(data.states, data.malicious, 3)
        self.tables = markov.build(counts, 3, 1.0)

    def probabilities(self, states, tuple_ids):
        encoded = encode(states)
        rows, chars = markov.char_rows(self.tables, encoded)
        ratios = self.tables.table[rows * 52 + chars]
        sums = np.add.reduceat(np.append(ratios, 0), encoded.starts - encoded.pad)
        return sigmoid(sums)


class NgramLinear(Scored):
    """Character 1- to 4-gram frequencies, L2 logistic regression."""

    def fit(self, data):
        matrix = ngrams.design(encode(data.states), 3)
        self.vocabulary = matrix[0]
        self.weights, self.bias = ngrams.fit(matrix, len(data.states),
                                             data.malicious.astype(float),
                                             np.ones(len(data.states)), 0.01)

    def probabilities(self, states, tuple_ids):
        _, rows, columns, values = ngrams.design(encode(states), 3, None, self.vocabulary)
        return sigmoid(np.bincount(rows, weights=values * self.weights[columns],
                                   minlength=len(states)) + self.bias)


def profiles(states):
    """One row per chain: its trigram counts (start included), unit length."""
    encoded = encode(states, pad=2)
    codes = encoded.codes.astype(np.int64)
    keys = (codes[:-2] * BASE + codes[1:-1]) * BASE + codes[2:]
    owner = np.repeat(np.arange(len(encoded.lengths)), encoded.lengths + 2)[2:]
    real = codes[2:] != START
    counts = np.bincount(owner[real] * BUCKETS + keys[real] % BUCKETS,
                         minlength=len(encoded.lengths) * BUCKETS)
    matrix = counts.reshape(len(encoded.lengths), BUCKETS).astype(np.float32)
    norms = np.sqrt((matrix * matrix).sum(axis=1, keepdims=True))
    return matrix / np.maximum(norms, 1e-12)


def groups_of(rows, how):
    """One group name per row with a verdict (None: no grouping)."""
    states = training.labeled(rows).states
    if how == 'none':
        return None
    if how == 'state':
        return states
    found = profiles(states)
    parent = np.arange(len(states))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(found @ found.T >= NEAR_DUPLICATE)):
        parent[root(i)] = root(j)
    return [root(i) for i in range(len(states))]


def bench_cv(args):
    rows = training.read_letters(args.letters)
    groups = groups_of(rows, args.group)
    seeds = tuple(range(args.seeds))
    makers = {'stf detector': lambda part, seed: Detector.train(part, seed=seed),
              'always malicious': lambda part, seed: AlwaysMalicious(part),
              'Markov order 3, summed log-ratios': lambda part, seed: MarkovSum(part),
              'char 1-4-gram linear model': lambda part, seed: NgramLinear(part)}
    print(f'{len(rows)} chains of {args.letters}; stratified 5-fold cross-validation, '
          f'seeds {", ".join(map(str, seeds))} (means)')
    if groups is not None:
        print(f'folds grouped by {args.group} ({len(set(groups))} groups)')
    print('model\taccuracy\ttpr\tfpr\tlow-FPR tpr\tlow-FPR fpr\tfirst 20: accuracy\tseconds')
    for name, make in makers.items():
        began = time.perf_counter()
        results = training.cross_validate(rows, make, 5, seeds, (None, 20), groups)
        whole, first = training.cv_metrics(results), training.cv_metrics(results, 20)
        cells = [whole['default']['accuracy'], whole['default']['tpr'],
                 whole['default']['fpr'], whole['low_fpr']['tpr'], whole['low_fpr']['fpr'],
                 first['default']['accuracy']]
        print('\t'.join([name] + [f'{value:.4f}' for value in cells]
                        + [f'{time.perf_counter() - began:.0f}']), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--chains', type=int, default=200_000)
    parser.add_argument('--detector', help='a detector folder (default: the shipped one)')
    parser.add_argument('--cv', action='store_true', help='cross-validated error rates')
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--letters', default=str(TRAIN))
    parser.add_argument('--group', choices=('none', 'state', 'near'), default='none',
                        help='keep identical (state) or near-duplicate (near) chains '
                             'in one fold')
    args = parser.parse_args()
    bench_cv(args) if args.cv else bench_speed(args)


if __name__ == '__main__':
    main()
