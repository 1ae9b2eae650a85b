"""A detector as a folder of versioned JSON files and manifest.json.

manifest.json lists every file with its sha256; loading reads the manifest
first, refuses a folder whose files do not match it, and only then parses the
JSON (data only: nothing in the folder is ever run).
"""
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from stf.core.detect.alphabet import ALPHABET, BASE, SHOWN
from stf.core.detect import ngrams
from stf.core.detect.features import CONTEXTS, NAMES
from stf.core.detect.logistic import Logistic
from stf.core.detect.neighbours import Neighbours
from stf.core.detect.parts import Settings
from stf.core.errors import UserError

FORMAT = 'stf-detector'
VERSION = 1
MANIFEST = 'manifest.json'
FILES = ('detector.json', 'markov.json', 'ngrams.json', 'examples.json')
RETRAIN = 'train it again (python -m stf.detect train)'


def save(detector, folder):
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        contents = {'detector.json': _detector_json(detector),
                    'markov.json': _markov_json(detector),
                    'ngrams.json': _ngrams_json(detector),
                    'examples.json': _examples_json(detector)}
        digests = {}
        for name, data in contents.items():
            raw = (json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + '\n').encode()
            (folder / name).write_bytes(raw)
            digests[name] = hashlib.sha256(raw).hexdigest()
        manifest = {'format': FORMAT, 'version': VERSION, 'files': digests}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + '\n')
    except OSError as error:
        raise UserError(f'cannot write the detector to {folder}: {error.strerror}') from None


def _detector_json(detector):
    model = detector.logistic
    return {'format': FORMAT, 'version': VERSION, 'name': detector.name,
            'thresholds': detector.thresholds, 'trained_on': detector.trained_on,
            'settings': detector.settings.to_json(),
            'logistic': {'features': list(NAMES), 'mean': model.mean.tolist(),
                         'scale': model.scale.tolist(), 'weights': model.weights.tolist(),
                         'bias': model.bias}}


def _markov_json(detector):
    """(order+1)-gram counts per class, each n-gram as its characters ('^':
    before the chain's start)."""
    order = detector.settings.order
    classes = {}
    for name, (keys, counts) in zip(('malicious', 'normal'), detector.counts):
        classes[name] = {_gram_text(int(key), order + 1): int(count)
                         for key, count in zip(keys, counts)}
    return {'format': FORMAT, 'version': VERSION, 'alphabet': ALPHABET, 'order': order,
            'counts': classes}


def _ngrams_json(detector):
    """The n-gram weights: {n-gram: weight} shared by all chains, and per
    context ('web/tcp', ...) the weights of n-grams in that context only."""
    vocabulary, weights = detector.ngram
    order = detector.settings.order
    span, size = ngrams.span_of(order), BASE ** (order + 1)
    shared, contexts = {}, {}
    for gram, weight in zip(vocabulary.tolist(), weights.tolist()):
        context, rest = divmod(gram, span)
        k, key = divmod(rest, size)
        text = _gram_text(key, k + 1)
        if context:
            contexts.setdefault(CONTEXTS[context - 1], {})[text] = weight
        else:
            shared[text] = weight
    return {'format': FORMAT, 'version': VERSION, 'order': order, 'shared': shared,
            'contexts': contexts}


def _gram_text(key, size):
    return ''.join(SHOWN[(key // BASE ** back) % BASE] for back in range(size - 1, -1, -1))


def _examples_json(detector):
    neighbours = detector.neighbours
    return {'format': FORMAT, 'version': VERSION,
            'examples': [[label, str(verdict), state] + _context_name(context)
                         for label, verdict, state, context in
                         zip(neighbours.labels, neighbours.verdicts, neighbours.states,
                             neighbours.contexts.tolist())]}


def _context_name(context):
    """[the CONTEXTS name] of an example's context; [] when unknown."""
    return [CONTEXTS[context]] if context >= 0 else []


def _neighbours(examples, folder):
    """Neighbours of examples.json's [label, verdict, state(, context)] rows
    (files written before contexts were kept have none)."""
    labels, verdicts, states, contexts = [], [], [], []
    for label, verdict, state, *context in examples:
        if len(context) > 1 or (context and context[0] not in CONTEXTS):
            raise UserError(f'{folder / "examples.json"}: {context!r} is not a context of '
                            f'this stf; {RETRAIN}')
        labels.append(label)
        verdicts.append(verdict)
        states.append(state)
        contexts.append(CONTEXTS.index(context[0]) if context else -1)
    return Neighbours(labels, verdicts, states, contexts)


def load(cls, folder):
    folder = Path(folder)
    texts = _checked_files(folder)
    try:
        return _detector(cls, texts, folder)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise UserError(f'{folder}: not a detector of version {VERSION} ({error}); '
                        f'{RETRAIN}') from None


def check_folder(folder):
    """A UserError (one line) unless folder is a detector whose files all match
    its manifest."""
    _checked_files(Path(folder))


def _checked_files(folder):
    """file name -> parsed JSON, after every file matched the manifest."""
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise UserError(f'{folder} is not a detector folder (no such folder)')
    if not manifest_path.is_file():
        raise UserError(f'{folder} is not a detector folder (it has no {MANIFEST}); '
                        'make one with python -m stf.detect train')
    manifest = _json(manifest_path, manifest_path.read_bytes())
    digests = manifest.get('files') if isinstance(manifest, dict) else None
    if (not isinstance(digests, dict) or manifest.get('format') != FORMAT
            or any(name not in digests for name in FILES)):
        raise UserError(f'{manifest_path}: not an stf detector manifest; {RETRAIN}')
    unknown = sorted(set(digests) - set(FILES))
    if unknown:  # a detector is these files only: anything else was slipped in
        raise UserError(f'{manifest_path}: lists files that are no part of a detector '
                        f'({", ".join(map(repr, unknown))}); refused; {RETRAIN}')
    if manifest.get('version') != VERSION:
        raise UserError(f'{manifest_path}: detector format version {manifest.get("version")!r}'
                        f', this stf reads version {VERSION}; {RETRAIN}')
    parsed = {}
    for name in FILES:
        path = folder / name
        try:
            raw = path.read_bytes()
        except OSError:
            raise UserError(f'{path}: missing; the detector folder is incomplete; '
                            f'{RETRAIN}') from None
        if hashlib.sha256(raw).hexdigest() != digests[name]:
            raise UserError(f'{path}: its sha256 does not match {MANIFEST}, so the detector '
                            f'was changed after it was saved; refused; {RETRAIN}')
        parsed[name] = _json(path, raw)
    return parsed


def _json(path, raw):
    try:
        return json.loads(raw.decode('utf-8'), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UserError(f'{path}: not valid JSON; {RETRAIN}') from None


def _no_constant(name):
    raise ValueError(f'{name} is not a number')


def _detector(cls, texts, folder):
    head, grams, weights, examples = (texts[name] for name in FILES)
    for name, data in texts.items():
        if data.get('format') != FORMAT or data.get('version') != VERSION:
            raise UserError(f'{folder / name}: not a detector file of version {VERSION}; '
                            f'{RETRAIN}')
    settings = Settings.from_json(head['settings'])
    model = head['logistic']
    if model['features'] != list(NAMES):
        raise UserError(f'{folder / "detector.json"}: its features are not the ones this '
                        f'stf computes; {RETRAIN}')
    if grams['alphabet'] != ALPHABET or grams['order'] != settings.order:
        raise UserError(f'{folder / "markov.json"}: another alphabet or order; {RETRAIN}')
    arrays = [_vector(model[key], len(NAMES), folder) for key in ('mean', 'scale', 'weights')]
    logistic = Logistic(*arrays, _number(model['bias'], folder))
    counts = [_counts(grams['counts'][name], settings.order, folder)
              for name in ('malicious', 'normal')]
    ngram = _ngram_weights(weights, settings.order, folder)
    thresholds = {key: _number(head['thresholds'][key], folder) for key in ('default', 'low_fpr')}
    return cls(str(head['name']), settings, counts, ngram, logistic, thresholds,
               dict(head['trained_on']), _neighbours(examples['examples'], folder))


def _number(value, folder):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f'{folder / "detector.json"}: {value!r} is not a number; {RETRAIN}')
    return float(value)


def _vector(values, size, folder):
    if not isinstance(values, list) or len(values) != size:
        raise UserError(f'{folder / "detector.json"}: a vector of the wrong size; {RETRAIN}')
    return np.array([_number(value, folder) for value in values])


CODES = {char: code for code, char in enumerate(SHOWN)}


def _counts(grams, order, folder):
    """(keys, counts) sorted by key from {n-gram text: count}."""
    keys, counts = [], []
    for text, count in grams.items():
        if len(text) != order + 1 or not isinstance(count, int) or count <= 0:
            raise UserError(f'{folder / "markov.json"}: {text!r}: {count!r} is not an '
                            f'n-gram count; {RETRAIN}')
        keys.append(_gram_key(text, folder / 'markov.json'))
        counts.append(count)
    return _sorted(keys, counts, np.int64)


def _gram_key(text, path):
    key = 0
    for char in text:
        if char not in CODES:
            raise UserError(f'{path}: {text!r} is not an n-gram of letters; {RETRAIN}')
        key = key * BASE + CODES[char]
    return key


def _sorted(keys, values, kind):
    keys, values = np.array(keys, dtype=np.int64), np.array(values, dtype=kind)
    order_of = np.argsort(keys, kind='stable')
    return keys[order_of], values[order_of]


def _ngram_weights(data, order, folder):
    """(vocabulary, weights) from ngrams.json."""
    path = folder / 'ngrams.json'
    if data['order'] != order:
        raise UserError(f'{path}: another order than markov.json; {RETRAIN}')
    span, size = ngrams.span_of(order), BASE ** (order + 1)
    keys, values = [], []
    groups = [(0, data['shared'])] + [(CONTEXTS.index(name) + 1, grams)
                                      for name, grams in data['contexts'].items()]
    for context, grams in groups:
        for text, weight in grams.items():
            if not 1 <= len(text) <= order + 1:
                raise UserError(f'{path}: {text!r} is not an n-gram of letters; {RETRAIN}')
            keys.append(context * span + (len(text) - 1) * size + _gram_key(text, path))
            values.append(_number(weight, folder))
    return _sorted(keys, values, float)
