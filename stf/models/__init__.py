"""Persistent classes. They know no commands and no screen."""
from stf.models.behavior import ModelGroups
from stf.models.connections import ConnectionGroups
from stf.models.datasets import Datasets
from stf.models.detection import Detectors, Experiments
from stf.models.labels import Labels
from stf.models.markov import Distances, MarkovModels
from stf.models.notes import Notes

# The top-level structures of a database, by root key. Later kinds of data
# (connections, models, labels, ...) add themselves here.
STRUCTURES = {
    'datasets': Datasets,
    'notes': Notes,
    'connections': ConnectionGroups,
    'models': ModelGroups,
    'labels': Labels,
    'detectors': Detectors,
    'experiments': Experiments,
    'markov_models': MarkovModels,
    'distances': Distances,
}


def ensure_structures(root):
    """Create the structures a new database lacks; True if any was created."""
    missing = [name for name in STRUCTURES if name not in root]
    for name in missing:
        root[name] = STRUCTURES[name]()
    return bool(missing)
