"""The original stf's Markov chains per label, and distances computed with them.

A model keeps what stf.core.detect.labelmarkov.LabelModel holds, as plain
data (dicts, strings, numbers), and where it came from."""
from persistent import Persistent

from stf.models.notes import utcnow
from stf.models.store import Store


class MarkovRecord(Persistent):
    """Attributes: id, created, label_id (None when imported from a file),
    label (name), proto3, decision, initial ({char: p}), transitions ({char:
    {char: p}}), training (the joined states), threshold (None until set),
    min_flows, used ([(model group id, connection id, state)]), source ('label'
    or 'file NAME sha256 ...'), thresholds (the rows of the last training:
    [(threshold, tp, fp, tn, fn)])."""

    def __init__(self, record_id, model, label_id, min_flows, used, source):
        self.id = record_id
        self.created = utcnow()
        self.label_id = label_id
        self.min_flows = min_flows
        self.used = list(used)
        self.source = source
        self.thresholds = []
        self.take(model)

    def take(self, model):
        """Hold a LabelModel's values."""
        self.label, self.proto3, self.decision = model.label, model.proto3, model.decision
        self.initial = dict(model.initial)
        self.transitions = {char: dict(row) for char, row in model.transitions.items()}
        self.training = model.training
        self.threshold = model.threshold


class MarkovModels(Store):
    """Markov models per label, by id."""


class DistanceRecord(Persistent):
    """A letter-by-letter distance: id, created, model_id, model_label, test
    (GROUP:CONN), test_label, threshold (the model's then), values
    ([(length, distance)])."""

    def __init__(self, record_id, model, test, test_label, values):
        self.id = record_id
        self.created = utcnow()
        self.model_id = model.id
        self.model_label = model.label
        self.test = test
        self.test_label = test_label
        self.threshold = model.threshold
        self.values = list(values)


class Distances(Store):
    """Distances by id."""
