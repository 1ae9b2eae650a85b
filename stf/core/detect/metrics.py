"""Error metrics of a binary detector: malicious is the positive class.

Every ratio is None when its denominator is 0 (no malicious chain to
detect, no alarm raised, ...), never a made-up 0 or 1.
"""
import math

import numpy as np


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else None


def _fbeta(tp, fp, fn, beta):
    """F-beta from counts: (1+b²)tp / ((1+b²)tp + b²fn + fp)."""
    weight = beta * beta
    return _ratio((1 + weight) * tp, (1 + weight) * tp + weight * fn + fp)


def confusion(tp, fp, tn, fn):
    """The metrics of a confusion matrix, with its counts."""
    tp, fp, tn, fn = int(tp), int(fp), int(tn), int(fn)
    total = tp + fp + tn + fn
    product = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return {
        'tp': tp, 'fp': fp, 'tn': tn, 'fn': fn,
        'accuracy': _ratio(tp + tn, total),
        'error_rate': _ratio(fp + fn, total),
        'precision': _ratio(tp, tp + fp),
        'tpr': _ratio(tp, tp + fn),
        'fnr': _ratio(fn, tp + fn),
        'fpr': _ratio(fp, fp + tn),
        'tnr': _ratio(tn, fp + tn),
        'f1': _fbeta(tp, fp, fn, 1.0),
        'f2': _fbeta(tp, fp, fn, 2.0),
        'f05': _fbeta(tp, fp, fn, 0.5),
        'mcc': _ratio(tp * tn - fp * fn, math.sqrt(product)) if product else None,
    }


def counts(scores, malicious, threshold):
    """(tp, fp, tn, fn) when a score >= threshold is an alarm."""
    scores = np.asarray(scores, dtype=float)
    malicious = np.asarray(malicious, dtype=bool)
    alarm = scores >= threshold
    tp = int(np.count_nonzero(alarm & malicious))
    fp = int(np.count_nonzero(alarm & ~malicious))
    return tp, fp, int(np.count_nonzero(~malicious)) - fp, int(np.count_nonzero(malicious)) - tp


def sweep(scores, malicious, thresholds=None):
    """One row a threshold (ascending): threshold, tpr, fpr, precision and
    the counts. Thresholds default to 0, 0.05, ..., 1."""
    if thresholds is None:
        thresholds = [step / 20 for step in range(21)]
    rows = []
    for threshold in sorted(set(float(value) for value in thresholds)):
        tp, fp, tn, fn = counts(scores, malicious, threshold)
        table = confusion(tp, fp, tn, fn)
        rows.append({'threshold': threshold, 'tpr': table['tpr'], 'fpr': table['fpr'],
                     'precision': table['precision'], 'tp': tp, 'fp': fp, 'tn': tn, 'fn': fn})
    return rows
