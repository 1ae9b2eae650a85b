"""The closest training chain: cosine similarity of character-trigram profiles.

Used to name the label a judged chain looks most like (among the training
chains of the verdict it got).
"""
import numpy as np

from stf.core.detect.alphabet import BASE, START, encode

BUCKETS = 2039  # trigrams are hashed into this many counters (a prime)


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


class Neighbours:
    """Training chains with their labels and verdicts."""

    def __init__(self, labels, verdicts, states):
        self.labels = list(labels)
        self.verdicts = np.array(verdicts)
        self.states = list(states)
        self._profiles = None

    def closest(self, state, verdict):
        """(label, similarity) of the most similar training chain of verdict;
        ('', 0.0) when there is none."""
        candidates = np.flatnonzero(self.verdicts == verdict)
        if not len(candidates):
            return '', 0.0
        if self._profiles is None:
            self._profiles = profiles(self.states)
        similarity = self._profiles[candidates] @ profiles([state])[0]
        best = int(np.argmax(similarity))  # the first of equals: the order of training
        return self.labels[candidates[best]], float(similarity[best])
