"""The closest training chain: the nearest in the detector's feature space.

Used to name the label a judged chain looks most like, among the training
chains of the verdict it got. Chains are compared by the features the
detector judges them on (features.NAMES: what their transitions say, their
length, the share of each kind of letter and symbol, their protocol and port
class), standardised as the detector standardises them, by Euclidean
distance; of equals, the first in training order. So a chain is named after
a training chain that behaves alike on the same kind of port (a DNS tuple
after a DNS label), and naming thousands of chains is one matrix product.
"""
import numpy as np

# Chains compared per matrix product: bounds the memory (rows x examples).
PASS_ROWS = 1024


class Neighbours:
    """Training chains with their labels, verdicts and contexts (the
    features.CONTEXTS number of each chain's protocol and port class, or -1
    when the detector's files did not record it)."""

    def __init__(self, labels, verdicts, states, contexts=None):
        self.labels = list(labels)
        self.verdicts = np.array(verdicts)
        self.states = list(states)
        self.contexts = (np.full(len(self.states), -1, np.int32) if contexts is None
                         else np.asarray(contexts, np.int32))
        self._features = {}

    def candidates(self, verdict):
        """The indices of the training chains of verdict."""
        return np.flatnonzero(self.verdicts == verdict)

    def closest(self, rows, verdict, features_of):
        """(label, distance) of the nearest training chain of verdict to each
        row of standardised features; ('', 0.0) when there is none.
        features_of(indices) gives the training chains' standardised
        features (computed once per verdict)."""
        rows = np.asarray(rows, float)
        candidates = self.candidates(verdict)
        if not len(candidates):
            return [('', 0.0)] * len(rows)
        if verdict not in self._features:
            table = np.asarray(features_of(candidates), float)
            single = table.astype(np.float32)
            self._features[verdict] = table, single, (single * single).sum(axis=1)
        table, single, norms = self._features[verdict]
        found = []
        for first in range(0, len(rows), PASS_ROWS):
            part = rows[first:first + PASS_ROWS]
            # |t|^2 - 2 q.t orders the examples as |q - t| does; single precision
            # halves the work, the distance of the one chosen is exact
            best = np.argmin(norms[None, :] - 2.0 * (part.astype(np.float32) @ single.T),
                             axis=1)   # the first of equals: training order
            distance = np.sqrt(((part - table[best]) ** 2).sum(axis=1))
            found += [(self.labels[candidates[index]], value)
                      for index, value in zip(best.tolist(), distance.tolist())]
        return found
