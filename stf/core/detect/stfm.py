"""Model files of the original stf (.stfm): read without running anything.

The original wrote a label's Markov model as six pickles in a row (Python 2,
protocol 2 at most): the initial vector, the transition matrix, the training
chain (state), its self probability, the label's name and the threshold.
They are read by an unpickler that knows exactly four names and maps them to
plain data: `stf.common.markov_chains.Matrix` (the matrix, a dict keyed by
(character, character)), `copy_reg._reconstructor` and `__builtin__.dict` /
`__builtin__.object` (how Python 2 pickled dict subclasses); any other global
is refused with one line before anything is built, so nothing in the file can
run. Python 2 strings are read as latin-1.
"""
import io
import math
import pickle
from dataclasses import dataclass

from stf.core.detect.labelmarkov import LabelModel
from stf.core.errors import UserError
from stf.core.flows import labelnames

PARTS = ('initial vector', 'matrix', 'state', 'self probability', 'label', 'threshold')
MAX_BYTES = 64 << 20


class _Plain(dict):
    """What a mapped class becomes: a dict, its pickled state merged in."""

    def __setstate__(self, state):
        if isinstance(state, tuple):       # (dict state, slots state)
            state = next((part for part in state if isinstance(part, dict)), {})
        if isinstance(state, dict):
            self.update(state)


def _reconstructor(cls, base, state):
    return _Plain() if state is None else _Plain(state)


ALLOWED = {
    ('stf.common.markov_chains', 'Matrix'): _Plain,
    ('copy_reg', '_reconstructor'): _reconstructor,
    ('copyreg', '_reconstructor'): _reconstructor,
    ('__builtin__', 'dict'): _Plain,
    ('__builtin__', 'object'): _Plain,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f'{module}.{name}')
        return found


class _Refused(Exception):
    pass


@dataclass
class OldModel:
    """What an .stfm file holds."""
    initial: dict
    matrix: dict
    state: str
    self_probability: float
    label: str
    threshold: float


def read(path):
    """The OldModel of an .stfm file; a UserError (one line) for anything else."""
    try:
        with open(path, 'rb') as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise UserError(f'cannot read {path}: {error.strerror}') from None
    if len(data) > MAX_BYTES:
        raise UserError(f'{path} is larger than {MAX_BYTES >> 20} MB: not an stf model file')
    stream, parts = io.BytesIO(data), []
    for what in PARTS:
        try:
            parts.append(_Unpickler(stream, encoding='latin-1').load())
        except _Refused as error:
            raise UserError(f'{path}: its {what} names {error}, which an stf model file never '
                            'holds; refused (nothing in it was run)') from None
        except Exception as error:   # anything a damaged pickle raises
            raise UserError(f'{path}: not an stf model file (its {what} cannot be read: '
                            f'{type(error).__name__}); refused') from None
    return _checked(path, *parts)


def _checked(path, initial, matrix, state, self_probability, label, threshold):
    def bad(what):
        return UserError(f'{path}: its {what} is not what an stf model file holds; refused')

    if not isinstance(initial, dict) or not all(isinstance(key, str) and _number(value)
                                                for key, value in initial.items()):
        raise bad('initial vector')
    if not isinstance(matrix, dict) or not all(
            isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)
            and _number(value) for key, value in matrix.items()):
        raise bad('matrix')
    if not isinstance(state, str):
        raise bad('state')
    if not _number(self_probability):
        raise bad('self probability')
    if not isinstance(label, str):
        raise bad('label')
    if threshold is not None and not _number(threshold):
        raise bad('threshold')
    return OldModel(dict(initial), dict(matrix), state, float(self_probability), label,
                    None if threshold is None else float(threshold))


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def to_model(old):
    """The LabelModel of an OldModel (the label's Proto3 and decision from its
    name; the original's probabilities as they were)."""
    try:
        name = labelnames.parse(old.label)
        proto3, decision = name.proto3, name.verdict
    except UserError:
        proto3 = next((word for word in old.label.split('-')
                       if word.upper() in ('TCP', 'UDP', 'ICMP', 'IGMP', 'ARP')), '')
        decision = labelnames.verdict_of(old.label)
    transitions = {}
    for (before, after), probability in old.matrix.items():
        transitions.setdefault(before, {})[after] = float(probability)
    return LabelModel(old.label, proto3, decision,
                      {char: float(p) for char, p in old.initial.items()}, transitions,
                      old.state, old.threshold)
