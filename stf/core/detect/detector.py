"""The behavioral detector: malicious or normal for a chain of letters, with a
calibrated probability, the closest training label and the reasons.

Method (docs/detector.md): each character is looked up, with the three before
it, in two tables: the log-ratio of two class-conditional order-3 Markov
chains with back-off (stf.core.detect.markov) and the weight of a
discriminative n-gram model, partly per port class and protocol
(stf.core.detect.ngrams). Their means over the chain, the chain's length, the
share of each kind of letter and symbol, and the connection's protocol and
port are combined by a logistic regression (stf.core.detect.logistic). The
regression learns from chains the Markov and n-gram models had not seen
(cross-fitting, stf.core.detect.training), so its probabilities are
calibrated, and from prefixes of the chains, so a growing tuple is judged
fairly. Two thresholds come from cross-validation on the training data:
'default' (best accuracy) and 'low_fpr' (at most 2% of normal chains called
malicious).
"""
import math
from pathlib import Path

import numpy as np

from stf.core.detect import features, markov, ngrams, storage, training
from stf.core.detect.alphabet import SHOWN, encode
from stf.core.detect.parts import Judgement, Settings, TrainingRow

__all__ = ['Detector', 'Judgement', 'Settings', 'TrainingRow', 'confidence']

CLASSES = ('malicious', 'normal')
FORMAT_VERSION = 1
# Characters after which a chain's confidence is 1 - 1/e (63%); 95% after three times as many.
CONFIDENCE_LETTERS = 10
# Features that are sums over the characters: explained transition by transition.
MEANS_OF_TRANSITIONS = ('markov', 'ngram', 'ngram_by_length')
DEFAULT_FOLDER = Path(__file__).resolve().parent / 'default'
CLOSEST_PASS = 4096   # chains named per pass (neighbours.PASS_ROWS at a time)


class Detector:
    """A trained detector. Build one with Detector.train, Detector.load or
    Detector.default."""

    def __init__(self, name, settings, counts, ngram, logistic, thresholds, trained_on,
                 neighbours):
        self.name = name
        self.version = FORMAT_VERSION
        self.settings = settings
        self.counts = counts  # [(keys, counts) of malicious, of normal]: (order+1)-grams
        self.ngram = ngram  # (vocabulary of n-gram ids, their weights)
        self.tables = self.tables_of(counts, ngram, settings)
        self.logistic = logistic
        self.thresholds = thresholds
        self.trained_on = trained_on
        self.neighbours = neighbours

    @staticmethod
    def tables_of(counts, ngram, settings):
        """The lookup tables of Markov counts and n-gram weights."""
        tables = markov.build(counts, settings.order, settings.alpha)
        tables.weights = ngrams.weight_table(tables, *ngram, settings.order)
        tables.context_weights = ngrams.context_table(*ngram, settings.order,
                                                      len(features.CONTEXTS))
        return tables

    # -- building ----------------------------------------------------------
    @classmethod
    def train(cls, rows, name='detector', seed=0, settings=None):
        """A detector trained on TrainingRows; rows whose label is neither
        malicious nor normal are skipped and counted in trained_on."""
        return training.train(cls, rows, name, seed, settings or Settings())

    def save(self, folder):
        storage.save(self, folder)

    @classmethod
    def load(cls, folder):
        """The detector saved in folder; its manifest is checked first."""
        return storage.load(cls, folder)

    @classmethod
    def default(cls):
        """The detector shipped with stf (trained on the Stratosphere letters)."""
        return cls.load(DEFAULT_FOLDER)

    # -- judging -----------------------------------------------------------
    def probabilities(self, states, tuple_ids=None, contexts=None):
        """P(malicious) of every chain (tuple_ids: the same number of ids, or
        None; or contexts: their features.context_classes, known already)."""
        states = list(states)
        classes = (features.context_classes(tuple_ids, len(states)) if contexts is None
                   else np.asarray(contexts, np.int32))
        result = np.empty(len(states))
        for first, last in features.batches(states):
            matrix = features.batch_matrix(self.tables, states[first:last], classes[first:last])
            result[first:last] = self.logistic.probabilities(matrix)
        return result

    def prefix_probabilities(self, state, tuple_id=''):
        """P(malicious) after each character of state (one value per character)."""
        return self.logistic.probabilities(features.prefix_matrix(self.tables, state, tuple_id))

    def judge(self, state, tuple_id=''):
        probability = float(self.probabilities([state], [tuple_id])[0])
        malicious = probability >= self.thresholds['default']
        (label, _), = self.closest([state], [tuple_id], CLASSES[0] if malicious else CLASSES[1])
        return Judgement(probability, confidence(len(state)), bool(malicious), label,
                         self.explain(state, tuple_id))

    def closest(self, states, tuple_ids, verdict, contexts=None):
        """(label, distance) of the training chain of verdict nearest to each
        chain (neighbours.Neighbours), in one batch (contexts: as for
        probabilities)."""
        states = list(states)
        if contexts is None:
            contexts = features.context_classes(tuple_ids, len(states))
        found = []
        for first in range(0, len(states), CLOSEST_PASS):   # bounds the memory
            last = first + CLOSEST_PASS
            rows = self.standardised(features.chain_matrix(self.tables, states[first:last],
                                                           None, contexts[first:last]))
            found += self.neighbours.closest(rows, verdict, self._example_features)
        return found

    def standardised(self, matrix):
        return (matrix - self.logistic.mean) / self.logistic.scale

    def _example_features(self, indices):
        """Standardised features of training chains (an unrecorded context
        counts as no port, another protocol)."""
        neighbours = self.neighbours
        contexts = neighbours.contexts[indices]
        contexts = np.where(contexts >= 0, contexts, len(features.CONTEXTS) - 1)
        states = [neighbours.states[index] for index in indices]
        matrix = np.empty((len(states), len(features.NAMES)))
        for first, last in features.batches(states):
            matrix[first:last] = features.batch_matrix(self.tables, states[first:last],
                                                       contexts[first:last])
        return self.standardised(matrix)

    def explain(self, state, tuple_id='', top=5):
        """The transitions and features that moved the log-odds most, as
        (what, weight): weight > 0 pushes towards malicious."""
        encoded = encode([state])
        rows, chars = markov.char_rows(self.tables, encoded)
        ratios, weights = markov.char_values(self.tables, encoded,
                                             features.context_classes([tuple_id], 1))
        x = features.chain_matrix(self.tables, [state], [tuple_id])[0]
        parts = self.logistic.contributions(x)
        length = len(state)
        reasons = _transition_reasons(self, rows[:length], chars[:length],
                                      ratios[:length], weights[:length], length)
        reasons += _feature_reasons(x, parts, tuple_id)
        reasons.sort(key=lambda reason: (-abs(reason[1]), reason[0]))
        return reasons[:top]


def confidence(length):
    """How much a chain of `length` characters can say: 1 - exp(-length / 10)."""
    return float(confidences(np.array([length]))[0])


def confidences(lengths):
    """confidence() of many lengths at once."""
    return 1.0 - np.exp(-np.asarray(lengths, float) / CONFIDENCE_LETTERS)


def _transition_reasons(detector, rows, chars, ratios, weights, length):
    """One reason per distinct transition (longest seen context -> character):
    what its Markov log-ratio and n-gram weight add to the log-odds through
    the features that are means over the characters."""
    model, names = detector.logistic, features.NAMES
    coefficient = model.weights / model.scale / max(length, 1)
    per_ratio = coefficient[names.index('markov')]
    per_weight = (coefficient[names.index('ngram')]
                  + coefficient[names.index('ngram_by_length')] * math.log1p(length))
    totals, times = {}, {}
    for row, char, ratio, weight in zip(rows.tolist(), chars.tolist(), ratios.tolist(),
                                        weights.tolist()):
        key = (row, char)
        totals[key] = totals.get(key, 0.0) + ratio * per_ratio + weight * per_weight
        times[key] = times.get(key, 0) + 1
    reasons = []
    for (row, char), weight in totals.items():
        context = detector.tables.context_text(row)
        reasons.append((f"transition '{context}' -> '{SHOWN[char]}' (x{times[(row, char)]})",
                        float(weight)))
    return reasons


def _feature_reasons(x, parts, tuple_id):
    """The features' share of the log-odds (the transitions' mean apart);
    the protocol and port are one reason."""
    reasons = []
    for index, name in enumerate(features.CHAR_FEATURES):
        if name in MEANS_OF_TRANSITIONS:
            continue
        if name == 'log_length':
            text = f'length {int(round(math.expm1(x[index])))} characters'
        elif name == 'markov_total':
            text = f'sum of the Markov log-ratios {math.sinh(x[index]):.1f}'
        else:
            text = f"share of {name[len('share_'):].replace('_', ' ')} {x[index]:.2f}"
        reasons.append((text, float(parts[index])))
    proto, port = features.context_of(tuple_id)
    first = len(features.CHAR_FEATURES)
    where = features.port_class(port)
    service = f' ({where[len("port_"):]})' if where else ''
    context = (f'port {port or "none"}/{proto}{service}' if proto
               else 'no port or protocol (not a tuple id)')
    reasons.append((context, float(parts[first:].sum())))
    return reasons
