"""Detectors trained in stf and the experiments run with them.

A detector is kept as the files of its export (versioned JSON and its
manifest, stf.core.detect.storage): the database holds data only, and a
detector read back goes through the same manifest check as a folder."""
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from stf.models.notes import utcnow
from stf.models.store import Store


class DetectorRecord(Persistent):
    """Attributes: name, created, source (what it was trained from), files
    (file name -> bytes of its export), trained_on (counts), evaluation
    (cross-validated figures, a dict), thresholds (default, low_fpr: for
    listings, which load no detector), note_id."""

    def __init__(self, name, source, files, trained_on, evaluation, thresholds):
        self.name = name
        self.created = utcnow()
        self.source = source
        self.files = dict(files)
        self.trained_on = dict(trained_on)
        self.evaluation = dict(evaluation)
        self.thresholds = dict(thresholds)
        self.note_id = None


class Detectors(Persistent):
    """Detector records by name."""

    def __init__(self):
        self.items = OOBTree()

    def get(self, name):
        return self.items.get(name)

    def put(self, record):
        self.items[record.name] = record
        return record

    def remove(self, name):
        return self.items.pop(name, None)

    def values(self):
        return list(self.items.values())

    def __len__(self):
        return len(self.items)


class Experiment(Persistent):
    """One run of detectors over a dataset's flows.

    Attributes: id, created, dataset_id, file_name, settings (slot, rule,
    alpha, filter, ...), description, results (detector name -> {'summary',
    'ips', 'slots'}; 'slots' None once dropped), note_id."""

    def __init__(self, experiment_id, dataset_id, file_name, settings, description, results):
        self.id = experiment_id
        self.created = utcnow()
        self.dataset_id = dataset_id
        self.file_name = file_name
        self.settings = dict(settings)
        self.description = description
        self.results = dict(results)
        self.note_id = None

    def drop_slots(self):
        """Forget the per-slot detail (the summary and per-IP table stay);
        the number of slots dropped."""
        dropped = 0
        for name, result in list(self.results.items()):
            if result.get('slots') is not None:
                dropped += len(result['slots'])
                self.results[name] = dict(result, slots=None)
        self._p_changed = True
        return dropped


class Experiments(Store):
    """Experiments by id."""

    def new(self, **fields):
        return self.add(lambda experiment_id: Experiment(experiment_id, **fields))
