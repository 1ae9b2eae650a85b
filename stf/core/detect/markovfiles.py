"""Markov models per label as files: `markov.json` (the models) and
`manifest.json` (its sha256), like a detector folder; read back only when
the manifest matches and every value has the type it should (JSON only,
nothing runs)."""
import hashlib
import json
import math
from pathlib import Path

from stf.core.detect.labelmarkov import LabelModel
from stf.core.errors import UserError

FORMAT, VERSION = 'stf-markov', 1
MODELS, MANIFEST = 'markov.json', 'manifest.json'


def save(folder, models):
    """Write models into folder (made when missing)."""
    folder = Path(folder)
    data = {'format': FORMAT, 'version': VERSION,
            'models': [{'label': model.label, 'proto3': model.proto3,
                        'decision': model.decision, 'threshold': model.threshold,
                        'initial': model.initial, 'transitions': model.transitions,
                        'training': model.training} for model in models]}
    raw = (json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + '\n').encode()
    manifest = {'format': FORMAT, 'version': VERSION,
                'files': {MODELS: hashlib.sha256(raw).hexdigest()}}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODELS).write_bytes(raw)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + '\n')
    except OSError as error:
        raise UserError(f'cannot write the models to {folder}: {error.strerror}') from None
    return folder


def is_folder(path):
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def load(folder):
    """The LabelModels of a folder save() wrote; a UserError (one line) when
    the manifest does not match or a value is not what it should be."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding='utf-8'))
        raw = (folder / MODELS).read_bytes()
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise UserError(f'{folder} is not a folder of Markov models ({error}); export one '
                        "with 'markov_models -x IDS --output DIR'") from None
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise UserError(f'{folder / MANIFEST}: not a manifest of Markov models')
    if manifest.get('files') != {MODELS: hashlib.sha256(raw).hexdigest()}:
        raise UserError(f'{folder / MODELS}: its sha256 does not match {MANIFEST} (or other '
                        'files are listed), so it was changed after it was saved; refused')
    try:
        data = json.loads(raw.decode('utf-8'))
        if data.get('version') != VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        return [_model(item) for item in data['models']]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f'{folder / MODELS}: not Markov models of version {VERSION} '
                        f'({error}); refused') from None


def _model(item):
    texts = [item[key] for key in ('label', 'proto3', 'decision', 'training')]
    if not all(isinstance(text, str) for text in texts):
        raise TypeError('a label, Proto3, decision or training chain is not text')
    threshold = item['threshold']
    if threshold is not None and not _number(threshold):
        raise TypeError('a threshold is not a number')
    initial = _probabilities(item['initial'])
    transitions = {char: _probabilities(row) for char, row in _mapping(item['transitions'])}
    return LabelModel(*texts[:3], initial, transitions, texts[3],
                      None if threshold is None else float(threshold))


def _mapping(value):
    if not isinstance(value, dict):
        raise TypeError('probabilities are not a mapping')
    return value.items()


def _probabilities(value):
    found = {}
    for char, probability in _mapping(value):
        if not isinstance(char, str) or not _number(probability) or not 0 <= probability <= 1:
            raise TypeError(f'{char!r}: {probability!r} is not a probability')
        found[char] = float(probability)
    return found


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)
