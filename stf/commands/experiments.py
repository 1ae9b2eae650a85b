"""experiments: run detectors over a dataset's flows in time slots and
measure them per source IP, as the botnet-detection research does (the
engine is stf.core.detect.experiment, the one the IPS runs)."""
from dataclasses import dataclass

from stf.commands import common
from stf.commands.connections import flow_file
from stf.commands import markov
from stf.commands.detectors import find as find_detector, plain
from stf.commands.registry import Action, Command, Flag
from stf.commands.results import Fields, Plot, Table, ok, warning
from stf.core import formats
from stf.core.detect import experiment, stream, truth, verdict
from stf.core.errors import UserError
from stf.core.flows import filters
from stf.ops import deletions
from stf.plots.metrics import experiment_figure
from stf.core.formats import counted

# The figures of a run that listings show, in order.
LISTED = ('tpr', 'fpr', 'precision', 'f1', 'mcc', 'ttpr', 'tfpr')


def store(app):
    return app.root['experiments']


# -- running

@dataclass(frozen=True)
class Ran:
    """An experiment run before the transaction: what it was run on and its
    results per detector."""
    dataset_id: int
    file_name: str
    settings: dict
    description: str
    results: dict


def dataset_of(app, args):
    if args.dataset is None:
        return app.require_current()
    dataset = app.datasets.get(args.dataset)
    if dataset is None:
        raise UserError(f"there is no dataset {args.dataset}; list them with 'datasets -l'")
    return dataset


def stf_labels(app, dataset_id):
    """tuple id -> label name of the dataset's labeled groups of models (the
    ground truth when there is one)."""
    names = app.root['labels'].names()
    labels = {}
    for group in app.root['models'].values():
        if group.dataset_id == dataset_id:
            for conn, label_id in group.labels.items():
                labels.setdefault(conn, names.get(label_id, ''))
    return labels


def run(app, args):
    dataset = dataset_of(app, args)
    item = flow_file(dataset, args.id)
    verdict.check_rule(args.rule)
    if args.slot is not None and args.slot <= 0:
        raise UserError('experiments --slot takes seconds, more than 0')
    if not args.alpha >= 0:
        raise UserError(f'experiments --alpha takes a number of 0 or more, not {args.alpha}')
    detectors = [(name, detector_named(app, name)) for name in args.detector or ['default']]
    settings = {'slot': args.slot or stream.SLOT_SECONDS, 'rule': args.rule,
                'alpha': args.alpha, 'filter': ' '.join(args.filter or []),
                'detectors': [name for name, _ in detectors]}
    keep = tuple_filter(args.filter)
    labels = stf_labels(app, dataset.id)
    results = {}
    for name, detector in detectors:
        step = common.stages(app, f'experiment with {name}', 4)  # run() says 4 stages
        results[name] = experiment.run(
            item.path, detector, slot_seconds=settings['slot'], rule=args.rule,
            alpha=args.alpha, tuple_labels=labels or None, keep=keep,
            progress=step)
    return Ran(dataset.id, item.name, settings, args.description or '', plain(results))


def detector_named(app, name):
    """A detector stf trained, the shipped one, or Markov models per label
    (markov:ID,...)."""
    if name.startswith('markov:'):
        return markov.markov_detector(app, name)
    return find_detector(app, name)[1]


def tuple_filter(conditions_text):
    """keep(tuple id) of -f name=...; None for every tuple."""
    if not conditions_text:
        return None
    conditions = filters.parse('experiments', conditions_text)
    return lambda conn: filters.matches(conditions, {'name': conn})


def store_run(app, args, ran):
    if app.datasets.get(ran.dataset_id) is None:
        raise UserError(f'dataset {ran.dataset_id} was deleted while the experiment ran; '
                        'nothing was stored')
    first = next(iter(ran.results.values()))['summary']
    if not first.get('flows'):
        raise UserError(f"no flow of {ran.file_name} is left to judge"
                        + (f" by the filter {ran.settings['filter']}" if ran.settings['filter']
                           else '') + '; nothing was stored')
    made = store(app).new(dataset_id=ran.dataset_id, file_name=ran.file_name,
                          settings=ran.settings, description=ran.description,
                          results=ran.results)
    items = [ok(f'experiment {made.id} stored: {ran.file_name}, '
                f"{ran.settings['slot']} s slots, rule {ran.settings['rule']}")]
    items.append(figures_table(made))
    if truth.NO_TRUTH in first.get('truth', ()):
        items.append(warning('the flows carry no ground truth (no stf labels, no Label column, '
                             'no Zeek label): the figures are empty; label the models or '
                             "take labels from the flows ('labels --from-flows')"))
    return items


# -- showing

def figures_table(made):
    rows = [(name, *(common.figure(result['summary'].get(key)) for key in LISTED))
            for name, result in made.results.items()]
    return Table(['detector', *LISTED], rows, title=f'experiment {made.id} (per IP and slot)')


def list_experiments(app, args):
    rows = []
    for made in store(app).values():
        for name, result in made.results.items():
            summary = result['summary']
            rows.append((made.id, formats.when(made.created), made.dataset_id, made.file_name,
                         name, made.settings.get('rule'), made.settings.get('slot'),
                         *(common.figure(summary.get(key)) for key in ('tpr', 'fpr', 'f1')),
                         made.description))
    return [Table(['id', 'run', 'dataset', 'file', 'detector', 'rule', 'slot', 'tpr', 'fpr',
                   'f1', 'description'], rows, title='experiments',
                  footer="details: 'experiments -p ID' (--slots: per slot)")]


def find(app, experiment_id):
    made = store(app).get(experiment_id)
    if made is None:
        raise UserError(f"there is no experiment {experiment_id}; list them with "
                        "'experiments -l'")
    return made


def show(app, args):
    made = find(app, args.print)
    items = [Fields([('dataset', made.dataset_id), ('file', made.file_name),
                     ('run', formats.when(made.created)),
                     *((key, ', '.join(value) if isinstance(value, list) else value)
                       for key, value in made.settings.items() if value not in ('', None)),
                     ('description', made.description or '-'),
                     ('ground truth', ', '.join(next(iter(made.results.values()))['summary']
                                                .get('truth', ())) or '-')],
                    title=f'experiment {made.id}')]
    for name, result in made.results.items():
        items.append(Fields([(key, common.figure(value)) for key, value in result['summary'].items()
                             if not isinstance(value, (dict, list)) and key not in made.settings],
                            title=f'{name}: whole run (per IP and slot)'))
        items.append(ip_table(name, result['ips']))
        if args.slots:
            items.append(slot_table(name, result.get('slots')))
    dataset = app.datasets.get(made.dataset_id)
    return [Plot(experiment_figure(made, dataset.name if dataset else ''), shown=items,
                 chart=True)]


IP_FIELDS = ('truth', 'tp', 'fp', 'tn', 'fn', 'first_detected_slot')


def ip_table(name, ips):
    rows = [(ip, *(common.figure(values.get(key)) for key in IP_FIELDS))
            for ip, values in sorted(ips.items())]
    return Table(['ip', *IP_FIELDS], rows, title=f'{name}: per IP for the whole run',
                 footer='an IP flagged once while normal stays a false positive',
                 painted={1 + IP_FIELDS.index('truth'): 'verdict'})


def slot_table(name, slots):
    if slots is None:
        return Table(['slot'], [], title=f'{name}: per slot',
                     footer="the per-slot detail was dropped ('experiments -r')")
    keys = [key for key in (slots[0] if slots else {}) if not isinstance(slots[0][key],
                                                                           (dict, list))]
    return Table(keys, [tuple(common.figure(slot.get(key)) for key in keys) for slot in slots],
                 title=f'{name}: per slot')


# -- changing

def doomed(app, args):
    numbers = common.id_range(args.delete, 'an experiment', '2-5')
    found = [store(app).get(number) for number in numbers]
    found = [made for made in found if made is not None]
    if not found:
        raise UserError(f"there is no experiment {args.delete}; list them with "
                        "'experiments -l'")
    return found


def impact(found):
    notes = sum(1 for made in found if made.note_id is not None)
    return deletions.Impact('experiment' + ('s ' if len(found) > 1 else ' ')
                            + ', '.join(str(made.id) for made in found),
                            tuple(deletions.count_piece(notes, 'note')))


def confirm_delete(app, args):
    return common.consent(app, args, impact(doomed(app, args)))


def delete(app, args, consent):
    found = doomed(app, args)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, impact(found))
    for made in found:
        deletions.delete_experiment(app.root, made)
    return [ok(f'{counted(len(found), "experiment")} deleted')]


def drop_slots(app, args):
    made = find(app, args.drop_slots)
    dropped = made.drop_slots()
    return [ok(f'experiment {made.id}: {dropped:,} per-slot rows dropped (the summary and the '
               'per-IP table stay)')]


COMMANDS = [Command(
    'experiments', 'run detectors over a dataset; measured per IP and slot',
    example='l',
    actions=(
        Action(('-n', '--new'), 'run one: --detector NAME... --dataset ID [--slot 300]',
               gather=run, apply=store_run),
        Action(('-l', '--list'), 'list the experiments', apply=list_experiments),
        Action(('-p', '--print'), 'show one: its figures and per-IP table (--slots: per slot)',
               metavar='ID', type=int, complete='experiment_id', apply=show, plots=True),
        Action(('-d', '--delete'), 'delete experiments: ID or a range 2-5', metavar='ID',
               complete='experiment_id', gather=confirm_delete, apply=delete),
        Action(('-r', '--drop-slots'), "drop an experiment's per-slot detail", metavar='ID',
               type=int, complete='experiment_id', apply=drop_slots),
    ),
    options=(
        Flag(('--detector',), '-n: the detectors to run (default: the shipped one; '
             'markov:ID,... the Markov models per label)',
             metavar='NAME', nargs='+', extend=True, complete='detector_name'),
        Flag(('--dataset',), '-n: the dataset (default: the current one)', metavar='ID',
             type=int, complete='dataset_id'),
        Flag(('-i', '--id'), "-n: the dataset's flow file when it has several",
             metavar='FILE_ID', complete='file_id'),
        Flag(('--slot',), '-n: seconds per slot (default 300)', metavar='SECONDS', type=int),
        Flag(('--rule',), f'-n: the verdict per IP: {", ".join(verdict.RULES)} '
             f'(default {verdict.DEFAULT_RULE})', metavar='RULE', default=verdict.DEFAULT_RULE),
        Flag(('--alpha',), '-n: α of the time-corrected metrics (default 0.01)', metavar='A',
             type=float, default=0.01),
        Flag(('-f', '--filter'), '-n: only the tuples that match: name=...', metavar='FILTER',
             nargs='+', extend=True, complete='filter:experiments'),
        Flag(('--description',), '-n: words kept with the experiment', metavar='TEXT'),
        Flag(('--slots',), '-p: also the per-slot detail'),
        common.YES,
    ))]
