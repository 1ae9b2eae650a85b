"""A detector judged on labeled chains: confusion metrics, speed, and how
many characters a detected malicious chain needed."""
import time

import numpy as np

from stf.core.detect import metrics
from stf.core.detect.training import labeled

KEYS = ('accuracy', 'f1', 'tpr', 'fpr', 'precision', 'tp', 'fp', 'tn', 'fn', 'skipped',
        'chains_per_second', 'median_letters_to_detect')


def evaluate(detector, rows, prefix=None, threshold='default'):
    """The KEYS of detector on TrainingRows (prefix: only the first prefix
    characters of each chain are judged; threshold: 'default' or 'low_fpr')."""
    data = labeled(rows)
    states = [state[:prefix] for state in data.states] if prefix else data.states
    began = time.perf_counter()
    scores = detector.probabilities(states, data.tuple_ids)
    elapsed = time.perf_counter() - began
    cut = detector.thresholds[threshold]
    table = metrics.confusion(*metrics.counts(scores, data.malicious, cut))
    result = {key: table[key] for key in KEYS if key in table}
    result['skipped'] = data.skipped
    result['chains_per_second'] = round(len(states) / elapsed) if elapsed > 0 and states else None
    detected = np.flatnonzero((scores >= cut) & data.malicious)
    needed = [letters_to_detect(detector, states[i], data.tuple_ids[i], cut) for i in detected]
    result['median_letters_to_detect'] = float(np.median(needed)) if needed else None
    return {key: result[key] for key in KEYS}, scores, data.malicious


def letters_to_detect(detector, state, tuple_id, cut):
    """Characters of state read when its probability first reached cut."""
    crossed = np.flatnonzero(detector.prefix_probabilities(state, tuple_id) >= cut)
    return int(crossed[0]) + 1 if len(crossed) else len(state)
