"""detectors: train behavioral detectors from labeled models, show how well
they do, move them between databases and to the IPS.

A detector is kept in the database as the files of its export (JSON and a
manifest of their sha256), and read back through the same checks as a
folder; the shipped one (`default`) lives in stf/core/detect/default."""
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stf.commands import common
from stf.commands.registry import Action, Command, Flag
from stf.commands.results import Fields, Plot, Table, ok
from stf.core import formats
from stf.core.detect import report
from stf.core.detect.detector import DEFAULT_FOLDER, Detector
from stf.core.detect.parts import TrainingRow
from stf.core.detect.storage import FILES, MANIFEST
from stf.core.detect.training import read_letters
from stf.core.errors import UserError
from stf.models.detection import DetectorRecord
from stf.plots.metrics import detector_figure

SHIPPED = 'default'
# The shipped detector's cross-validated figures (not part of the detector).
SHIPPED_FIGURES = DEFAULT_FOLDER.parent / 'default-figures.json'


def store(app):
    return app.root['detectors']


# -- reading detectors back

def files_of_folder(folder):
    """file name -> bytes of a detector folder, checked as Detector.load does."""
    Detector.load(folder)  # the manifest and every file's sha256 first
    return {name: (Path(folder) / name).read_bytes() for name in (MANIFEST, *FILES)}


def detector_of_files(files):
    """A Detector from stored files, through the folder checks."""
    with tempfile.TemporaryDirectory(prefix='stf-detector-') as folder:
        for name, data in files.items():
            (Path(folder) / Path(name).name).write_bytes(bytes(data))
        return Detector.load(folder)


def find(app, name):
    """(record or None for the shipped one, Detector) named name."""
    if name == SHIPPED:
        return None, Detector.default()
    record = store(app).get(name)
    if record is None:
        known = ', '.join([SHIPPED, *(item.name for item in store(app).values())])
        raise UserError(f"there is no detector '{name}'; known: {known} "
                        "(list them with 'detectors -l')")
    return record, detector_of_files(record.files)


# -- training

@dataclass(frozen=True)
class Trained:
    """A detector trained before the transaction, with what is stored of it."""
    name: str
    source: str
    files: dict
    trained_on: dict
    evaluation: dict
    thresholds: dict


def checked_name(app, name):
    if not name:
        raise UserError('name the detector with --name NAME')
    if name == SHIPPED or not name.replace('-', '').replace('_', '').replace('.', '').isalnum():
        raise UserError(f"'{name}' cannot name a detector: use letters, digits, - _ . "
                        f"(and not '{SHIPPED}', the shipped one)")
    if store(app).get(name) is not None:
        raise UserError(f"there is already a detector '{name}'; choose another name or "
                        f"delete it with 'detectors -d {name}'")
    return name


def training_rows(app, source):
    """(TrainingRows, words naming the source) of --from: a group of models
    of this database, or a letters TSV file."""
    group = app.root['models'].get(source)
    if group is not None:
        names = app.root['labels'].names()
        labels = group.labels
        rows = [TrainingRow(conn, names.get(labels.get(conn), ''), state)
                for conn, (_, state) in group.states.items()]
        return rows, f'group of models {group.id}'
    path = Path(source).expanduser()
    if not path.exists() and '-' in source and not source.endswith('.tsv'):
        raise UserError(f"there is no group of models '{source}' and no file {path}; "
                        "give a group (list them with 'models -l') or a letters TSV")
    return read_letters(path), str(path.resolve())


def train(app, args):
    name = checked_name(app, args.name)
    rows, source = training_rows(app, args.source)
    step = common.stages(app, f'training {name}', 3)
    detector = Detector.train(rows, name=name)
    step()
    evaluation = report.cross_validated(rows, progress=lambda stage: step())
    with tempfile.TemporaryDirectory(prefix='stf-detector-') as folder:
        detector.save(folder)
        files = {path.name: path.read_bytes() for path in Path(folder).iterdir()}
    # Stored as plain values: the database reads back no numpy type.
    return Trained(name, source, files, plain(detector.trained_on), plain(evaluation),
                   plain(detector.thresholds))


def plain(value):
    """value with only dicts, lists, text, numbers, booleans and None."""
    return json.loads(json.dumps(value))


def store_trained(app, args, trained):
    checked_name(app, trained.name)
    store(app).put(DetectorRecord(trained.name, trained.source, trained.files,
                                  trained.trained_on, trained.evaluation, trained.thresholds))
    counts = trained.trained_on
    what = (f"detector '{trained.name}' trained on {counts.get('malicious', 0):,} malicious "
            f"and {counts.get('normal', 0):,} normal models ({counts.get('skipped', 0):,} "
            'skipped)')
    if not trained.evaluation and args.train:
        return [ok(f'{what}; too few models of one class to cross-validate it')]
    if not trained.evaluation:
        return [ok(f'{what}, imported from {trained.source}')]
    figures = trained.evaluation['default']
    return [ok(f"{what}; cross-validated accuracy {percent(figures['accuracy'])}, TPR "
               f"{percent(figures['tpr'])} at FPR {percent(figures['fpr'])}")]


def percent(value):
    return '-' if value is None else f'{value:.1%}'


# -- listing and showing

def list_detectors(app, args):
    shipped = Detector.default()
    rows = [(SHIPPED, 'shipped with stf', *counted(shipped.trained_on), '-',
             thresholds(shipped))]
    for record in store(app).values():  # kept with the record: no detector is loaded
        rows.append((record.name, record.source, *counted(record.trained_on),
                     formats.when(record.created), thresholds(record)))
    return [Table(['name', 'trained from', 'malicious', 'normal', 'skipped', 'created',
                   'thresholds'], rows, title='detectors',
                  footer="thresholds: default, low FPR; details: 'detectors -s NAME'")]


def counted(trained_on):
    return tuple(f"{trained_on.get(key, 0):,}" for key in ('malicious', 'normal', 'skipped'))


def thresholds(item):
    """A detector's or a record's two thresholds, as text."""
    return f"{item.thresholds['default']:.3f}, {item.thresholds['low_fpr']:.3f}"


def show(app, args):
    record, detector = find(app, args.show)
    evaluation = record.evaluation if record is not None else shipped_evaluation()
    items = [Fields([('name', args.show),
                     ('trained from', record.source if record else 'shipped with stf'),
                     ('models', ', '.join(f'{key} {value:,}' for key, value in
                                          detector.trained_on.items())),
                     ('thresholds', thresholds(detector) + ' (default, low FPR)'),
                     *([] if evaluation else [('cross-validated', 'not known (imported, or '
                                               'too few models of a class)')])],
                    title=f'detector {args.show}')]
    if evaluation:
        points = [('default threshold', 'default'), ('low-FPR threshold', 'low_fpr'),
                  (f'first {report.PREFIX} characters', f'prefix_{report.PREFIX}')]
        items.append(Table(['judged at', *report.SHOWN_FIGURES],
                           [(words, *(common.figure(evaluation[key].get(figure))
                                      for figure in report.SHOWN_FIGURES))
                            for words, key in points if key in evaluation],
                           title=f"cross-validated ({evaluation.get('folds', 5)} folds)"))
    for verdict, rows in report.telling_transitions(detector).items():
        items.append(Table(['after', 'comes', 'log-ratio', 'in malicious', 'in normal'],
                           [(gram[:-1], gram[-1], f'{ratio:+.2f}', f'{bad:,}', f'{good:,}')
                            for gram, ratio, bad, good in rows],
                           title=f'transitions that speak most for {verdict}',
                           footer="'^' is the start of a chain; log-ratio > 0 speaks for "
                                  'malicious'))
    counts = detector.trained_on
    source = (f"{record.source if record else 'its shipped training set'} "
              f"({counts.get('malicious', 0):,} malicious, {counts.get('normal', 0):,} normal "
              'models)')
    return [Plot(detector_figure(args.show, source, evaluation), shown=items, chart=True)]


def shipped_evaluation():
    """The shipped detector's cross-validated figures, written beside it when
    it was trained (python -m stf.detect crossvalidate ... --out)."""
    try:
        return json.loads(SHIPPED_FIGURES.read_text())
    except (OSError, ValueError):
        return {}


# -- moving detectors

def export(app, args):
    if not args.output:
        raise UserError(f'detectors -x {args.export}: say where with --output DIR')
    record, _ = find(app, args.export)
    target = Path(args.output).expanduser()
    if target.exists() and not target.is_dir():
        raise UserError(f'{target} is a file; --output takes a folder')
    if target.exists() and any(target.iterdir()) and not args.force:
        raise UserError(f'{target} exists and is not an empty folder; add --force to '
                        'overwrite its detector files, or choose another folder')
    files = record.files if record else {name: (DEFAULT_FOLDER / name).read_bytes()
                                         for name in (MANIFEST, *FILES)}
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (target / name).write_bytes(bytes(data))
    except OSError as error:
        raise UserError(f'cannot write {target}: {error.strerror}') from None
    Detector.load(target)  # what was written reads back
    return [ok(f"detector '{args.export}' written to {target} (its manifest lists every "
               "file's sha256); the IPS reads it with --models")]


def read_import(app, args):
    folder = Path(args.import_folder).expanduser()
    files = files_of_folder(folder)
    detector = detector_of_files(files)
    try:
        name = checked_name(app, args.name or detector.name)
    except UserError as error:
        if args.name:
            raise
        raise UserError(f'{error}; give it another name with --name NAME') from None
    return Trained(name, str(folder.resolve()), files, plain(detector.trained_on), {},
                   plain(detector.thresholds))


def delete(app, args):
    if args.delete == SHIPPED:
        raise UserError(f"'{SHIPPED}' is the detector shipped with stf; it cannot be deleted")
    if store(app).remove(args.delete) is None:
        raise UserError(f"there is no detector '{args.delete}'; list them with 'detectors -l'")
    return [ok(f"detector '{args.delete}' deleted (experiments run with it keep their "
               'results)')]


NAME = dict(metavar='NAME', complete='detector_name')

COMMANDS = [Command(
    'detectors', 'train, evaluate and export detectors of malicious behavior',
    example='l',
    actions=(
        Action(('-t', '--train'), 'train one: --from GROUP|LETTERS.tsv --name NAME',
               gather=train, apply=store_trained),
        Action(('-l', '--list'), 'list the detectors (the shipped one included)',
               apply=list_detectors),
        Action(('-s', '--show'), 'cross-validated figures and the most telling transitions',
               **NAME, gather=show, plots=True),
        Action(('-x', '--export'), 'write a detector folder: -x NAME --output DIR',
               **NAME, gather=export),
        Action(('--import',), 'store the detector of a folder (its manifest is checked)',
               metavar='DIR', complete='path', attribute='import_folder', gather=read_import,
               apply=store_trained),
        Action(('-d', '--delete'), 'delete a detector', **NAME, apply=delete),
    ),
    options=(
        Flag(('--from',), '-t: a group of models (e.g. 0-1) or a letters TSV', metavar='SOURCE',
             attribute='source', complete='model_group'),
        Flag(('--name',), '-t, --import: the name of the detector', metavar='NAME'),
        Flag(('-o', '--output'), '-x: the folder to write', metavar='DIR', complete='path'),
        Flag(('--force',), '-x: write into a folder that is not empty'),
        common.YES,
    ))]
