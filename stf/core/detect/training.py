"""Training a Detector, and cross-validation.

The logistic regression must learn how far to trust the Markov log-ratios of
chains the Markov chains have not seen, so they are cross-fitted: the chains
are split into folds (stratified by class), and each fold's log-ratios come
from Markov chains counted on the other folds (counts of all minus counts of
the fold). The thresholds come from one more level of the same folds: the
probabilities of each fold come from a regression fitted on the others.
"""
from dataclasses import dataclass

import numpy as np

from stf.core.detect import features, logistic, markov
from stf.core.detect.alphabet import encode
from stf.core.detect.neighbours import Neighbours
from stf.core.detect.parts import TrainingRow
from stf.core.errors import UserError
from stf.core.flows.labelnames import verdict_of

CLASSES = ('malicious', 'normal')


@dataclass
class Labeled:
    """The rows of a training set that have a verdict."""
    states: list
    tuple_ids: list
    labels: list
    malicious: np.ndarray  # bool per row
    skipped: int

    def take(self, index):
        return Labeled([self.states[i] for i in index], [self.tuple_ids[i] for i in index],
                       [self.labels[i] for i in index], self.malicious[index], 0)


def labeled(rows):
    states, tuple_ids, labels, malicious, skipped = [], [], [], [], 0
    for row in rows:
        verdict = verdict_of(row.label or '')
        if verdict not in CLASSES:
            skipped += 1
            continue
        states.append(row.state)
        tuple_ids.append(row.tuple_id)
        labels.append(row.label)
        malicious.append(verdict == 'malicious')
    return Labeled(states, tuple_ids, labels, np.array(malicious, dtype=bool), skipped)


def stratified_folds(malicious, folds, seed):
    """The fold number of each row: each class dealt round-robin in a random order."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(malicious), dtype=np.int64)
    for value in (True, False):
        members = rng.permutation(np.flatnonzero(malicious == value))
        fold[members] = np.arange(len(members)) % folds
    return fold


def class_counts(states, malicious, order):
    """[(keys, counts) of malicious, of normal] (order+1)-gram counts."""
    return [markov.ngram_counts(encode([s for s, m in zip(states, malicious) if m == value]),
                                order) for value in (True, False)]


def train(cls, rows, name, seed, settings):
    data = labeled(rows)
    sizes = (int(data.malicious.sum()), int((~data.malicious).sum()))
    if min(sizes) < 2:
        raise UserError(f'training needs at least 2 chains labeled malicious and 2 labeled '
                        f'normal; found {sizes[0]} malicious and {sizes[1]} normal '
                        f'({data.skipped} other rows skipped); label more models')
    folds = min(settings.folds, min(sizes))
    fold = stratified_folds(data.malicious, folds, seed)
    order = settings.order
    part_counts = [class_counts(data.take(np.flatnonzero(fold == f)).states,
                                data.malicious[fold == f], order) for f in range(folds)]
    total = [markov.merge_counts([part[c] for part in part_counts]) for c in range(2)]
    rows_x, rows_y, rows_w, rows_fold, full = [], [], [], [], []
    for f in range(folds):
        tables = markov.build([markov.subtract_counts(total[c], part_counts[f][c])
                               for c in range(2)], order, settings.alpha)
        members = data.take(np.flatnonzero(fold == f))
        for states, ids, truth, weight, whole in _with_prefixes(members, settings):
            rows_x.append(_features(tables, states, ids))
            rows_y.append(truth)
            rows_w.append(np.full(len(states), weight))
            rows_fold.append(np.full(len(states), f))
            full.append(np.full(len(states), whole))
    x, y, w = np.vstack(rows_x), np.concatenate(rows_y), np.concatenate(rows_w)
    which, is_full = np.concatenate(rows_fold), np.concatenate(full)
    model = logistic.fit(x, y, w, settings.l2)
    held_out = np.zeros(len(y))
    for f in range(folds):
        inside = which != f
        held_out[~inside] = logistic.fit(x[inside], y[inside], w[inside],
                                         settings.l2).probabilities(x[~inside])
    scores, truth = held_out[is_full], y[is_full].astype(bool)
    thresholds = {'default': default_threshold(scores, truth),
                  'low_fpr': low_fpr_threshold(scores, truth,
                                               settings.low_fpr * settings.low_fpr_margin)}
    trained_on = {'malicious': sizes[0], 'normal': sizes[1], 'skipped': data.skipped}
    neighbours = Neighbours(data.labels, [CLASSES[0] if m else CLASSES[1]
                                          for m in data.malicious], data.states)
    return cls(name, settings, total, model, thresholds, trained_on, neighbours)


def _with_prefixes(members, settings):
    """(states, tuple ids, targets, weight, whole): the chains whole, then
    their prefixes of each length in settings.prefix_lengths (of the chains
    longer than it)."""
    yield members.states, members.tuple_ids, members.malicious.astype(float), 1.0, True
    for length in settings.prefix_lengths:
        index = [i for i, state in enumerate(members.states) if len(state) > length]
        if index:
            yield ([members.states[i][:length] for i in index],
                   [members.tuple_ids[i] for i in index],
                   members.malicious[index].astype(float), settings.prefix_weight, False)


def _features(tables, states, tuple_ids):
    encoded = encode(states)
    ratios = markov.char_ratios(tables, encoded)
    return np.hstack([features.char_matrix(encoded, ratios),
                      features.context_matrix(tuple_ids, len(states))])


def default_threshold(scores, malicious):
    """The threshold of best accuracy on a grid of 0.01 (ties: nearest 0.5)."""
    grid = np.round(np.arange(1, 100) / 100, 2)
    accuracy = np.array([np.mean((scores >= t) == malicious) for t in grid])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])


def low_fpr_threshold(scores, malicious, fpr):
    """The lowest threshold at which at most a share fpr of the normal
    chains score as high: just above the normal score that would be one
    false positive too many."""
    normal = np.sort(scores[~malicious])[::-1]
    allowed = int(np.floor(fpr * len(normal) + 1e-9))
    if allowed >= len(normal):
        return 0.0
    return float(min(1.0, normal[allowed] + 1e-6))


def cross_validate(rows, folds=5, seeds=(0,), settings=None, prefix=None, train=None):
    """Held-out probabilities of each row, per seed: a list of (scores,
    malicious, thresholds of each fold's detector per row). `train(rows, seed)`
    makes a detector (Detector.train by default); prefix: judge only the
    first characters."""
    rows = list(rows)
    data = labeled(rows)
    kept = [row for row in rows if verdict_of(row.label or '') in CLASSES]
    results = []
    for seed in seeds:
        fold = stratified_folds(data.malicious, folds, 1000 + seed)
        scores = np.zeros(len(kept))
        default = np.zeros(len(kept))
        low = np.zeros(len(kept))
        for f in range(folds):
            test = np.flatnonzero(fold == f)
            detector = train([kept[i] for i in np.flatnonzero(fold != f)], seed)
            states = [kept[i].state[:prefix] if prefix else kept[i].state for i in test]
            scores[test] = detector.probabilities(states, [kept[i].tuple_id for i in test])
            default[test] = detector.thresholds['default']
            low[test] = detector.thresholds['low_fpr']
        results.append((scores, data.malicious, default, low))
    return results


def read_letters(path):
    """TrainingRows of a letters TSV; a UserError when the file is missing or
    not one."""
    from pathlib import Path

    from stf.core.captures import filetypes
    from stf.core.flows import letterstsv
    path = Path(path)
    try:
        with open(path, 'rb') as handle:
            head = handle.read(4096)
    except FileNotFoundError:
        raise UserError(f'{path}: no such file') from None
    except IsADirectoryError:
        raise UserError(f'{path} is a folder, not a letters TSV') from None
    except OSError as error:
        raise UserError(f'{path}: cannot read it ({error.strerror})') from None
    if not filetypes.is_letters(head):
        raise UserError(f'{path} is not a letters TSV (its first line must be '
                        'tuple_id<TAB>flows<TAB>label<TAB>state)')
    rows, labels = letterstsv.read(path)
    return [TrainingRow(conn, labels.get(conn, ''), state) for conn, _, state in rows]
