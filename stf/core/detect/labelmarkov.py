"""The original stf's method: a first-order Markov chain per label, and the
letter-by-letter distance of a chain to it.

A label's model is built from the states of its connections (those with at
least `min_flows` flows), joined with '#' between them; every character is a
state and the transitions across '#' count, as the original counted them.
The initial probability of a character is its share of all the transitions
that start from it. The log-probability of a chain is the log of its first
character's initial probability plus the logs of its transitions; an unseen
first character or transition costs log(0.01).

The distance of a test chain of n characters to a model compares it with the
model's own training chain cut to n characters: the larger absolute
log-probability over the smaller (at least 1; infinite when one is 0). A model
judges only chains of its own Proto3 (the label's protocol) and of at least
MIN_LETTERS characters; it matches when the distance is at most its
threshold, tried letter by letter as the chain grows: the first length at
which a model matches decides, and of the models matching there the smallest
distance wins.
"""
import functools
import math
import random
from dataclasses import dataclass, field

import numpy as np

from stf.core.errors import UserError
from stf.core.flows import connid

UNSEEN = math.log(0.01)
SEPARATOR = '#'
MIN_LETTERS = 4
MIN_FLOWS = 3
# The thresholds --train-threshold tries: 1.1, 1.2, ..., 2.0.
THRESHOLDS = tuple(round(1 + tenth / 10, 1) for tenth in range(1, 11))


@dataclass
class LabelModel:
    """A label's Markov chain: initial probabilities {char: p}, transitions
    {char: {next char: p}}, the training chain (the joined states), the
    label, its Proto3 and decision, and the matching threshold (None until
    trained or set)."""
    label: str
    proto3: str
    decision: str
    initial: dict
    transitions: dict
    training: str
    threshold: float = None
    states: list = field(default_factory=list)

    def log_probability(self, chain):
        """log P(chain) under this model (0 for an empty chain)."""
        if not chain:
            return 0.0
        total = _log(self.initial.get(chain[0]))
        transitions = self.transitions
        for before, after in zip(chain, chain[1:]):
            total += _log(transitions.get(before, {}).get(after))
        return total

    @property
    def self_probability(self):
        """The log-probability of the model's own training chain."""
        return self.log_probability(self.training)

    def distance(self, chain):
        """The distance of chain to this model (see the module docstring)."""
        length = len(chain)
        own = abs(self.log_probability(self.training[:length]))
        other = abs(self.log_probability(chain))
        return _ratio_of(own, other)

    def distances(self, chain):
        """The distance after each character from the MIN_LETTERS-th on:
        [(length, distance)] (running sums: each prefix costs one step)."""
        own, other = self._training_prefixes, self.prefixes(chain)
        found = []
        for length in range(MIN_LETTERS, len(chain) + 1):
            mine = abs(own[min(length, len(own)) - 1]) if own else 0.0
            theirs = abs(other[length - 1])
            found.append((length, _ratio_of(mine, theirs)))
        return found

    def prefixes(self, chain):
        """log P(chain[:k]) for k = 1..len(chain), summed as log_probability sums."""
        if not chain:
            return []
        total = _log(self.initial.get(chain[0]))
        found = [total]
        transitions = self.transitions
        for before, after in zip(chain, chain[1:]):
            total += _log(transitions.get(before, {}).get(after))
            found.append(total)
        return found

    @functools.cached_property
    def _training_prefixes(self):
        return self.prefixes(self.training)

    def judges(self, chain, proto3):
        return proto3.upper() == self.proto3.upper() and len(chain) >= MIN_LETTERS

    def first_match(self, chain, proto3, threshold=None):
        """(length, distance) of the first length at which chain matches, or
        None (a chain of another Proto3 or shorter than MIN_LETTERS never does)."""
        limit = self.threshold if threshold is None else threshold
        if limit is None or not self.judges(chain, proto3):
            return None
        for length, value in self.distances(chain):
            if value <= limit:
                return length, value
        return None

    def simulate(self, length=100, seed=None):
        """A chain of `length` characters drawn from the model."""
        draw = random.Random(seed)
        if not self.initial:
            return ''
        chain = [_choose(draw, self.initial)]
        while len(chain) < length:
            following = self.transitions.get(chain[-1])
            if not following:
                following = self.initial
            chain.append(_choose(draw, following))
        return ''.join(chain)


def build(label, proto3, decision, states):
    """The LabelModel of a label from the states of its connections."""
    training = SEPARATOR.join(states)
    counts, starts = {}, {}
    for before, after in zip(training, training[1:]):
        row = counts.setdefault(before, {})
        row[after] = row.get(after, 0) + 1
        starts[before] = starts.get(before, 0) + 1
    total = sum(starts.values())
    initial = {char: number / total for char, number in sorted(starts.items())}
    transitions = {before: {after: number / starts[before] for after, number in
                            sorted(row.items())} for before, row in sorted(counts.items())}
    return LabelModel(label, proto3, decision, initial, transitions, training,
                      states=list(states))


def best_match(models, chain, proto3):
    """(model, length, distance) of the model that matches chain first as it
    grows (the smallest distance among those matching at that length), or None."""
    found = []
    for model in models:
        matched = model.first_match(chain, proto3)
        if matched is not None:
            found.append((matched[0], matched[1], model))
    if not found:
        return None
    length, distance, model = min(found, key=lambda item: (item[0], item[1]))
    return model, length, distance


@dataclass(frozen=True)
class ThresholdRow:
    """The counts and rates of one threshold tried by train_threshold."""
    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def tpr(self):
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def fpr(self):
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def precision(self):
        # TP / (TP + FP): the original printed TP / (TP + FN) here by mistake
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self):
        precision, recall = self.precision, self.tpr
        if precision is None or recall is None or precision + recall == 0:
            return None
        return 2 * precision * recall / (precision + recall)


def train_threshold(model, others, thresholds=THRESHOLDS):
    """([ThresholdRow] of every threshold, the chosen one) against others:
    (chain, proto3, decision) of the other labeled models. A match of a chain
    whose decision is the model's is a TP, of another decision a FP; a chain
    not matched is a FN when its decision is the model's, else a TN. Only
    chains the model judges (same Proto3, long enough) count. Chosen: the best
    F1, then the lower FPR, then the lower threshold."""
    judged = [(chain, proto3, decision) for chain, proto3, decision in others
              if model.judges(chain, proto3)]
    # the smallest distance at which each chain would match: one pass per chain
    closest = [(min((value for _, value in model.distances(chain)), default=math.inf),
                decision == model.decision) for chain, _, decision in judged]
    rows = []
    for threshold in thresholds:
        tp = sum(1 for value, same in closest if value <= threshold and same)
        fp = sum(1 for value, same in closest if value <= threshold and not same)
        fn = sum(1 for value, same in closest if value > threshold and same)
        tn = len(closest) - tp - fp - fn
        rows.append(ThresholdRow(threshold, tp, fp, tn, fn))
    chosen = min(rows, key=lambda row: (-(row.f1 or 0.0), row.fpr or 0.0, row.threshold))
    return rows, chosen


class MarkovDetector:
    """Markov models per label as a detector of the experiments engine: a
    chain is malicious (probability 1) when the model matching it first as it
    grows is of a malicious label, else normal (0). Models without a threshold
    match nothing. name: how it was chosen ('markov:3,5')."""

    def __init__(self, models, name):
        self.models = list(models)
        self.name = name
        self.thresholds = {'default': 0.5}

    def probabilities(self, states, tuple_ids=None):
        ids = list(tuple_ids) if tuple_ids is not None else [''] * len(states)
        found = np.zeros(len(states))
        for index, (state, tuple_id) in enumerate(zip(states, ids)):
            best = best_match(self.models, state, proto3_of(tuple_id))
            if best is not None and best[0].decision == 'malicious':
                found[index] = 1.0
        return found


def proto3_of(tuple_id):
    """The Proto3 a tuple's chain is compared by: its protocol, upper case."""
    try:
        return connid.parse(tuple_id).proto.upper()
    except UserError:
        return ''


def _ratio_of(one, other):
    """The larger over the smaller absolute log-probability; infinite at 0."""
    if one == 0 or other == 0:
        return math.inf
    return max(one, other) / min(one, other)


def _log(probability):
    return math.log(probability) if probability else UNSEEN


def _ratio(part, whole):
    return part / whole if whole else None


def _choose(draw, weights):
    point, total = draw.random(), 0.0
    for char, weight in weights.items():
        total += weight
        if point < total:
            return char
    return char
