"""What an analyst reads about a detector: its cross-validated figures and
the transitions that tell the classes apart."""
import math
from collections import Counter

import numpy as np

from stf.core.detect import metrics
from stf.core.detect.alphabet import BASE, SHOWN
from stf.core.detect.training import cross_validate
from stf.core.flows.labelnames import verdict_of

# The figures `detectors -s` shows, per operating point.
SHOWN_FIGURES = ('accuracy', 'tpr', 'fpr', 'precision', 'f1', 'tp', 'fp', 'tn', 'fn')
PREFIX = 20  # characters of the prefix figures (a tuple judged early)
# A transition seen fewer times than this in both classes tells little.
MIN_SEEN = 5
# The thresholds of the sweep kept with the figures (ROC and precision-recall
# curves): 0, 0.01, ..., 1 on the held-out chains' probabilities.
SWEEP_THRESHOLDS = tuple(step / 100 for step in range(101))
SWEEP_FIGURES = ('threshold', 'tpr', 'fpr', 'precision', 'tp', 'fp', 'tn', 'fn')


def cross_validated(rows, folds=5, seed=0, progress=None):
    """{'default': ..., 'low_fpr': ..., 'prefix_20': ..., 'folds': k,
    'sweep': [...]}: the metrics of the held-out chains of a k-fold
    cross-validation, each fold judged by a detector trained on the others,
    at that detector's thresholds, and at each of SWEEP_THRESHOLDS (one row
    of SWEEP_FIGURES a threshold: the curves `detectors -s` draws); fewer
    folds when a class has fewer chains than folds, and {} when it has too
    few for any."""
    rows = list(rows)
    smaller = min(Counter(verdict_of(row.label or '') for row in rows)[verdict]
                  for verdict in ('malicious', 'normal'))
    folds = min(folds, smaller)
    if folds < 2 or smaller - smaller // folds < 2:
        # each fold's detector needs two chains of each class to learn from
        return {}
    if progress:
        progress('cross-validating')
    ((malicious, judged),) = cross_validate(rows, _train, folds=folds, seeds=(seed,),
                                            prefixes=(None, PREFIX))
    scores, default, low = judged[None]
    prefix_scores, prefix_default, _ = judged[PREFIX]
    return {'default': _figures(scores, malicious, default),
            'low_fpr': _figures(scores, malicious, low),
            f'prefix_{PREFIX}': _figures(prefix_scores, malicious, prefix_default),
            'folds': folds, 'sweep': swept(scores, malicious)}


def swept(scores, malicious):
    """The SWEEP_FIGURES at each of SWEEP_THRESHOLDS."""
    return [{key: _rounded(row[key]) for key in SWEEP_FIGURES}
            for row in metrics.sweep(scores, malicious, SWEEP_THRESHOLDS)]


def _train(rows, seed):
    from stf.core.detect.detector import Detector
    return Detector.train(rows, seed=seed)


def _figures(scores, malicious, cuts):
    flagged = np.asarray(scores) >= np.asarray(cuts)
    truth = np.asarray(malicious, bool)
    table = metrics.confusion(int((flagged & truth).sum()), int((flagged & ~truth).sum()),
                              int((~flagged & ~truth).sum()), int((~flagged & truth).sum()))
    return {key: _rounded(table[key]) for key in SHOWN_FIGURES}


def _rounded(value):
    return round(value, 4) if isinstance(value, float) else value


def telling_transitions(detector, top=10):
    """{'malicious': [...], 'normal': [...]}: the transitions (context then
    next character, '^' the chain's start) whose counts differ most between
    the classes, as (transition, log-ratio, times seen in malicious, in
    normal); the log-ratio > 0 speaks for malicious."""
    (bad_keys, bad_counts), (good_keys, good_counts) = detector.counts
    bad = dict(zip(np.asarray(bad_keys).tolist(), np.asarray(bad_counts).tolist()))
    good = dict(zip(np.asarray(good_keys).tolist(), np.asarray(good_counts).tolist()))
    bad_total, good_total = max(sum(bad.values()), 1), max(sum(good.values()), 1)
    size = detector.settings.order + 1
    rows = []
    for key in set(bad) | set(good):
        seen_bad, seen_good = bad.get(key, 0), good.get(key, 0)
        if max(seen_bad, seen_good) < MIN_SEEN:
            continue
        ratio = math.log(((seen_bad + 0.5) / bad_total) / ((seen_good + 0.5) / good_total))
        rows.append((gram_text(key, size), round(ratio, 3), seen_bad, seen_good))
    rows.sort(key=lambda row: (-abs(row[1]), row[0]))
    return {'malicious': [row for row in rows if row[1] > 0][:top],
            'normal': [row for row in rows if row[1] < 0][:top]}


def gram_text(key, size):
    """The characters of an encoded n-gram key."""
    return ''.join(SHOWN[(int(key) // BASE ** back) % BASE] for back in range(size - 1, -1, -1))
