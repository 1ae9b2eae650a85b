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

from stf.core.detect import features, logistic, markov, ngrams
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
        counts = [markov.subtract_counts(total[c], part_counts[f][c]) for c in range(2)]
        tables = cls.tables_of(counts, fit_ngrams(data.take(np.flatnonzero(fold != f)),
                                                  settings), settings)
        members = data.take(np.flatnonzero(fold == f))
        for states, ids, truth, weight, whole in _with_prefixes(members, settings):
            rows_x.append(features.chain_matrix(tables, states, ids))
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
                                          for m in data.malicious], data.states,
                            features.context_classes(data.tuple_ids, len(data.states)))
    return cls(name, settings, total, fit_ngrams(data, settings), model, thresholds,
               trained_on, neighbours)


def fit_ngrams(data, settings):
    """(vocabulary, weights) of the n-gram model of labeled chains."""
    classes = features.context_classes(data.tuple_ids, len(data.states))
    matrix = ngrams.design(encode(data.states), settings.order, classes)
    weights, _ = ngrams.fit(matrix, len(data.states), data.malicious.astype(float),
                            np.ones(len(data.states)), settings.ngram_l2)
    return matrix[0], weights


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


def grouped_folds(malicious, groups, folds, seed):
    """The fold number of each row, every group whole in one fold: the groups
    of each class (a group's class: that of most of its rows) are dealt,
    largest first and in a random order among equals, each to the fold with
    fewest rows of that class so far."""
    rng = np.random.default_rng(seed)
    names, group = np.unique(np.asarray(groups), return_inverse=True)
    size = np.bincount(group, minlength=len(names))
    leaning = np.bincount(group, weights=malicious.astype(float), minlength=len(names)) * 2
    fold_of = np.zeros(len(names), dtype=np.int64)
    for value in (True, False):
        members = rng.permutation(np.flatnonzero((leaning >= size) == value))
        members = members[np.argsort(-size[members], kind='stable')]
        filled = np.zeros(folds)
        for member in members:
            fold_of[member] = int(np.argmin(filled))
            filled[fold_of[member]] += size[member]
    return fold_of[group]


def cross_validate(rows, train, folds=5, seeds=(0,), prefixes=(None,), groups=None):
    """Stratified k-fold cross-validation, once per seed: each fold is judged
    by a detector trained on the other folds only (`train(rows, seed)`
    returns an object with probabilities(states, tuple_ids) and thresholds).
    groups (None, or one name per row with a verdict): rows of the same name
    are always in the same fold, so that near-duplicates cannot be judged by
    a detector that learned their twins. Returns, per seed, (malicious,
    {prefix: (scores, default thresholds, low-FPR thresholds)}), one value
    per row with a verdict; prefix None judges whole chains, N their first N
    characters."""
    kept = [row for row in rows if verdict_of(row.label or '') in CLASSES]
    data = labeled(kept)
    results = []
    for seed in seeds:
        fold = (stratified_folds(data.malicious, folds, 1000 + seed) if groups is None
                else grouped_folds(data.malicious, groups, folds, 1000 + seed))
        judged = {prefix: (np.zeros(len(kept)), np.zeros(len(kept)), np.zeros(len(kept)))
                  for prefix in prefixes}
        for f in range(folds):
            test = np.flatnonzero(fold == f)
            detector = train([kept[i] for i in np.flatnonzero(fold != f)], seed)
            for prefix, (scores, default, low) in judged.items():
                states = [kept[i].state[:prefix] if prefix else kept[i].state for i in test]
                scores[test] = detector.probabilities(states, [kept[i].tuple_id for i in test])
                default[test] = detector.thresholds['default']
                low[test] = detector.thresholds['low_fpr']
        results.append((data.malicious, judged))
    return results


def cv_metrics(results, prefix=None):
    """Mean over seeds of the metrics at the default and low-FPR thresholds:
    {'default': confusion dict, 'low_fpr': confusion dict}."""
    from stf.core.detect import metrics
    tables = {'default': [], 'low_fpr': []}
    for malicious, judged in results:
        scores, default, low = judged[prefix]
        for name, cut in (('default', default), ('low_fpr', low)):
            tables[name].append(metrics.confusion(*metrics.counts(scores - cut, malicious, 0.0)))
    return {name: {key: _mean([table[key] for table in found]) for key in found[0]}
            for name, found in tables.items()}


def _mean(values):
    return None if any(value is None for value in values) else float(np.mean(values))


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
