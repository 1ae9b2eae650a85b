"""markov_models, distances: the original stf's Markov chains per label and
the letter-by-letter distance of a chain to one (stf.core.detect.labelmarkov).
"""
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from stf.commands import common
from stf.commands.registry import Action, Command, Flag
from stf.commands.results import Plot, Table, Text, ok, warning
from stf.core.detect import labelmarkov, markovfiles, stfm
from stf.core.detect.labelmarkov import MIN_FLOWS, LabelModel
from stf.core.errors import UserError
from stf.core.flows import connid, filters, labelnames
from stf.models.markov import DistanceRecord, MarkovRecord
from stf.plots.distances import compared_figure, distance_figure
from stf.core.formats import counted


def models_store(app):
    return app.root['markov_models']


def distances_store(app):
    return app.root['distances']


# -- what a model is built from

def label_of(app, label_id):
    label = app.root['labels'].get(label_id)
    if label is None:
        raise UserError(f"there is no label {label_id}; list them with 'labels -l'")
    return label


def label_parts(name):
    """(Proto3, decision) of a label name."""
    try:
        parsed = labelnames.parse(name)
    except UserError as error:
        raise UserError(f"label '{name}' has no Proto3 to compare chains by ({error})") from None
    return parsed.proto3, parsed.verdict


def labeled_states(app, label, min_flows):
    """[(model group id, connection id, state)] of the label's connections
    with at least min_flows flows."""
    found = []
    for group_id, conn in label.connections():
        group = app.root['models'].get(group_id)
        entry = group.states.get(conn) if group is not None else None
        if entry is not None and entry[0] >= min_flows:
            found.append((group_id, conn, entry[1]))
    return found


def built(app, label, min_flows):
    """(LabelModel, states used) of a label."""
    proto3, decision = label_parts(label.name)
    used = labeled_states(app, label, min_flows)
    if not used:
        raise UserError(f"label {label.id} {label.name} has no connection with a model of at "
                        f'least {min_flows} flows; lower --min-flows or label more')
    return labelmarkov.build(label.name, proto3, decision, [state for *_, state in used]), used


def model_of(record):
    return LabelModel(record.label, record.proto3, record.decision, record.initial,
                      record.transitions, record.training, record.threshold)


def model_ids(text):
    """The ids of '3', '3,5' or '3-7,9'."""
    return [number for part in str(text).split(',')
            for number in common.id_range(part.strip(), 'a Markov model', '3-7')]


def record_of(app, model_id):
    record = models_store(app).get(model_id)
    if record is None:
        raise UserError(f"there is no Markov model {model_id}; list them with "
                        "'markov_models -l'")
    return record


def chain_proto3(conn, label_name=None):
    """The Proto3 a chain is compared by: its label's, else its protocol's."""
    if label_name:
        try:
            return labelnames.parse(label_name).proto3
        except UserError:
            pass
    try:
        return connid.parse(conn).proto.upper()
    except UserError:
        return ''


# -- markov_models

def generate(app, args):
    label = label_of(app, args.generate)
    model, used = built(app, label, args.min_flows)
    record = models_store(app).add(lambda new_id: MarkovRecord(
        new_id, model, label.id, args.min_flows, used, 'label'))
    return [ok(f'Markov model {record.id} of label {label.id} {label.name}: {len(used)} '
               f'connections, {counted(len(model.training), "character")}; set its threshold with '
               f"'markov_models --train-threshold {record.id}'")]


def generate_all(app, args):
    have = {record.label_id for record in models_store(app).values()}
    items, skipped = [], []
    for label in app.root['labels'].values():
        if label.id in have:
            continue
        try:
            model, used = built(app, label, args.min_flows)
        except UserError as error:
            skipped.append(str(error))
            continue
        record = models_store(app).add(lambda new_id, model=model, used=used, label=label:
                                       MarkovRecord(new_id, model, label.id, args.min_flows,
                                                    used, 'label'))
        items.append((record.id, label.id, label.name, len(used)))
    result = [Table(['model', 'label', 'name', 'connections'], items,
                    title=f'{len(items)} Markov models built')] if items else [
        ok('every label has a Markov model already' if not skipped else 'no model built')]
    return result + [warning(text) for text in skipped]


def list_models(app, args):
    conditions = filters.parse('markov_models', args.filter)
    rows = []
    for record in models_store(app).values():
        values = {'name': record.label, 'id': record.id, 'proto3': record.proto3}
        if filters.matches(conditions, values):
            threshold = '-' if record.threshold is None else f'{record.threshold:g}'
            rows.append((record.id, record.label, record.proto3, record.decision,
                         len(record.used), len(record.training), threshold, record.source))
    return [Table(['id', 'label', 'Proto3', 'decision', 'connections', 'characters',
                   'threshold', 'from'], rows, title='Markov models per label',
                  shorten=(1, 7), painted={3: 'verdict'})]


def matrix(app, args):
    record = record_of(app, args.matrix)
    chars = sorted(set(record.initial) | set(record.transitions) |
                   {char for row in record.transitions.values() for char in row})
    rows = [('initial', *(_p(record.initial.get(char)) for char in chars))]
    rows += [(char, *(_p(record.transitions.get(char, {}).get(after)) for after in chars))
             for char in chars]
    return [Table(['from \\ to', *chars], rows,
                  title=f'Markov model {record.id} ({record.label}): transition probabilities',
                  footer='- never seen (costs log(0.01) in a chain)')]


def _p(value):
    return '-' if not value else f'{value:.3f}'


def simulate(app, args):
    if args.number < 1:
        raise UserError('-N needs a number of characters, 1 or more')
    record = record_of(app, args.simulate)
    return [Text(model_of(record).simulate(args.number))]


def regenerate(app, args):
    record = record_of(app, args.regenerate)
    if record.label_id is None:
        raise UserError(f'Markov model {record.id} came from a file ({record.source}); only '
                        'a model built from a label can be built again')
    model, used = built(app, label_of(app, record.label_id), record.min_flows)
    model.threshold = record.threshold
    before = len(record.used)
    record.take(model)
    record.used = list(used)
    return [ok(f'Markov model {record.id} built again: {before} -> {len(used)} connections, '
               f'{counted(len(model.training), "character")} (threshold kept)')]


def delete(app, args):
    record = models_store(app).remove(args.delete)
    if record is None:
        raise UserError(f"there is no Markov model {args.delete}; list them with "
                        "'markov_models -l'")
    return [ok(f'Markov model {record.id} ({record.label}) deleted')]


def print_states(app, args):
    record = record_of(app, args.states)
    return [Table(['group', 'connection', 'state'], record.used, letters_column=2,
                  title=f'the states Markov model {record.id} was built from',
                  footer=f'joined with {labelmarkov.SEPARATOR!r}; at least '
                         f'{record.min_flows} flows each')]


def labeled_chains(app, skip_label=None):
    """(chain, Proto3, decision) of every labeled model but skip_label's."""
    chains = []
    for label in app.root['labels'].values():
        if label.id == skip_label:
            continue
        try:
            proto3, decision = label_parts(label.name)
        except UserError:
            continue
        chains += [(state, proto3, decision)
                   for *_, state in labeled_states(app, label, 1)]
    return chains


def train_threshold(app, args):
    record = record_of(app, args.train_threshold)
    others = labeled_chains(app, record.label_id)
    rows, chosen = labelmarkov.train_threshold(model_of(record), others)
    table = [(f'{row.threshold:.1f}', row.tp, row.fp, row.tn, row.fn, _rate(row.tpr),
              _rate(row.fpr), _rate(row.precision), _rate(row.f1)) for row in rows]
    judged = rows[0].tp + rows[0].fp + rows[0].tn + rows[0].fn
    items = [Table(['threshold', 'TP', 'FP', 'TN', 'FN', 'TPR', 'FPR', 'precision', 'F1'], table,
                   title=f'Markov model {record.id} ({record.label}) against {judged} labeled '
                         f'models of Proto3 {record.proto3}',
                   footer='precision = TP / (TP + FP); chosen by F1, then lower FPR, then '
                          'lower threshold')]
    if rows[0].tp + rows[0].fn == 0:
        # Nothing to find: every threshold finds it, and the lowest would be chosen
        # on FPR alone.
        return items + [warning(
            f'no chains of other {record.decision} labels of Proto3 {record.proto3} to measure '
            f'Markov model {record.id} against (TP and FN are 0 at every threshold); its '
            f"threshold was not set: set one with 'markov_models --threshold T -i {record.id}'")]
    record.threshold = chosen.threshold
    record.thresholds = [(row.threshold, row.tp, row.fp, row.tn, row.fn) for row in rows]
    return items + [ok(f'threshold of Markov model {record.id} set to {chosen.threshold:g}')]


def _rate(value):
    return '-' if value is None else f'{value:.3f}'


def set_threshold(app, args):
    value = args.threshold
    if not (value >= 1.0 and math.isfinite(value)):
        raise UserError(f'a threshold is a distance: 1 or more, not {value:g}')
    if args.id is None:
        raise UserError('say which models with -i IDS (3, 3,5 or 3-7)')
    ids = model_ids(args.id)
    records = [record_of(app, number) for number in ids]
    for record in records:
        record.threshold = value
    return [ok(f"threshold {value:g} set on Markov model{'s' if len(ids) > 1 else ''} "
               f"{', '.join(map(str, ids))}")]


@dataclass(frozen=True)
class Imported:
    """Models read before the transaction (an .stfm file or an export folder)."""
    models: list
    source: str


def read_models(app, args):
    path = Path(args.import_file)
    if markovfiles.is_folder(path):
        return Imported(markovfiles.load(path), f'folder {path.name}')
    old = stfm.read(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Imported([stfm.to_model(old)], f'file {path.name} sha256 {digest[:16]}')


def import_models(app, args, read):
    items = []
    for model in read.models:
        label = app.root['labels'].by_name(model.label)
        record = models_store(app).add(lambda new_id, model=model, label=label: MarkovRecord(
            new_id, model, label.id if label is not None else None, MIN_FLOWS, [],
            read.source))
        threshold = '-' if model.threshold is None else f'{model.threshold:g}'
        items.append(ok(f'Markov model {record.id} imported from {args.import_file}: label '
                        f'{model.label} ({model.proto3}, {model.decision}), '
                        f'{counted(len(model.training), "character")}, threshold {threshold}'))
    return items


def export(app, args):
    """-x IDS --output DIR: the models as JSON with a manifest (outside the
    database: written before the transaction, which changes nothing)."""
    if not args.output:
        raise UserError('markov_models -x needs --output DIR')
    target = Path(args.output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not args.force:
        raise UserError(f'{target} exists and is not an empty folder; add --force to '
                        'overwrite its files, or choose another folder')
    ids = model_ids(args.export)
    models = [model_of(record_of(app, number)) for number in ids]
    markovfiles.save(target, models)
    return [ok(f"Markov model{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))} "
               f"exported to {target} ({markovfiles.MODELS} and {markovfiles.MANIFEST}); "
               f"read them back with 'markov_models --import {target}'")]


# -- as a detector of the experiments

def markov_detector(app, name):
    """The MarkovDetector 'markov:3,5-7' names (every model must have a threshold)."""
    spec = name.partition(':')[2]
    if not spec.strip():
        raise UserError(f"'{name}' names no Markov model: write markov:ID,... (e.g. "
                        "markov:0,2-5; see 'markov_models -l')")
    ids = model_ids(spec)
    records = [record_of(app, number) for number in ids]
    unset = [str(record.id) for record in records if record.threshold is None]
    if unset:
        raise UserError(f"Markov model{'s' if len(unset) > 1 else ''} {', '.join(unset)} "
                        "has no threshold: train it with 'markov_models --train-threshold "
                        f"{unset[0]}' or set one with --threshold")
    return labelmarkov.MarkovDetector([model_of(record) for record in records], name)


# -- distances

def test_chain(app, text):
    """(GROUP:CONN, state, label name or None) of a model named GROUP:CONN."""
    group_text, colon, conn = str(text).partition(':')
    if not colon or not conn:
        raise UserError(f"--test wants GROUP:CONN_ID (a group of models and a connection, "
                        f"e.g. 0-1:10.0.0.1-8.8.8.8-53-udp), not '{text}'")
    group = common.model_group(app, group_text)
    entry = group.states.get(conn)
    if entry is None:
        raise UserError(f"group of models {group.id} has no connection '{conn}'; list them "
                        f"with 'models -L {group.id}'")
    return f'{group.id}:{conn}', entry[1], label_name(app, group, conn)


def label_name(app, group, conn):
    """The name of the label of a group's connection, or None."""
    label_id = group.labels.get(conn)
    label = app.root['labels'].get(label_id) if label_id is not None else None
    return label.name if label is not None else None


def new_distance(app, args):
    if args.train is None or args.test is None:
        raise UserError("distances -n needs --train MODEL_ID and --test GROUP:CONN_ID")
    record = record_of(app, args.train)
    test, state, label = test_chain(app, args.test)
    model = model_of(record)
    values = model.distances(state)
    if not values:
        raise UserError(f'{test} has {len(state)} characters; a distance needs at least '
                        f'{labelmarkov.MIN_LETTERS}')
    stored = distances_store(app).add(
        lambda new_id: DistanceRecord(new_id, record, test, label, values))
    proto3 = chain_proto3(test.partition(':')[2], label)
    note = '' if model.judges(state, proto3) else (
        f' (its Proto3 {proto3 or "?"} is not the model\'s {record.proto3}: the model would '
        'not judge it)')
    matched = model.first_match(state, record.proto3)
    said = ('no threshold set' if record.threshold is None else
            f'matches at {matched[0]} characters (distance {matched[1]:.3f})' if matched else
            f'never within the threshold {record.threshold:g}')
    figure = distance_figure(f'distance {stored.id}: {test}' + (f' ({label})' if label else '')
                             + f' to Markov model {record.id} ({record.label})', values,
                             record.threshold)
    return [Plot(figure, chart=True, shown=[
        ok(f'distance {stored.id}: {test} to Markov model {record.id} ({record.label}): '
           f'smallest {min(value for _, value in values):.3f}; {said}{note}')])]


def list_distances(app, args):
    conditions = filters.parse('distances', args.filter)
    rows = []
    for stored in distances_store(app).values():
        smallest = min((value for _, value in stored.values), default=math.inf)
        values = {'trainname': stored.model_label, 'testname': stored.test_label or '',
                  'distance': smallest}
        if filters.matches(conditions, values):
            threshold = '-' if stored.threshold is None else f'{stored.threshold:g}'
            rows.append((stored.id, stored.model_id, stored.model_label, stored.test,
                         stored.test_label or '-', f'{smallest:.3f}', threshold))
    return [Table(['id', 'model', 'train label', 'test', 'test label', 'smallest',
                   'threshold'], rows, title='distances', shorten=(2, 3, 4))]


def compare_group(app, args):
    if args.train is None or args.test is None:
        raise UserError('distances -c needs --train MODEL_ID and --test GROUP (a group of '
                        'models)')
    record = record_of(app, args.train)
    model = model_of(record)
    group = common.model_group(app, args.test)
    rows, chains = [], []
    for conn, (flows, state) in group.states.items():
        label = label_name(app, group, conn)
        proto3 = chain_proto3(conn, label)
        if not model.judges(state, proto3):
            continue
        values = model.distances(state)
        smallest = min(value for _, value in values)
        matched = model.first_match(state, proto3)
        rows.append((conn, label or '-', len(state), f'{smallest:.3f}',
                     matched[0] if matched else '-'))
        chains.append((labelnames.verdict_of(label) if label else 'unlabeled', smallest))
    rows.sort(key=lambda row: float(row[3]))
    title = (f'group {group.id} against Markov model {record.id} ({record.label}): '
             f'{len(rows)} chains of Proto3 {record.proto3} with at least '
             f'{labelmarkov.MIN_LETTERS} characters')
    return [Plot(compared_figure(title, chains, record.threshold), chart=True, shown=[
        Table(['connection', 'label', 'characters', 'smallest', 'matched at'], rows,
              title=title, shorten=(0, 1))])]


def delete_distance(app, args):
    stored = distances_store(app).remove(args.delete)
    if stored is None:
        raise UserError(f"there is no distance {args.delete}; list them with 'distances -l'")
    return [ok(f'distance {stored.id} deleted')]


COMMANDS = [
    Command('markov_models', "the original stf's Markov chain per label",
            example='l',
            actions=(
                Action(('-g', '--generate'), "build the model of a label's connections",
                       metavar='LABEL_ID', type=int, complete='label_id', apply=generate),
                Action(('-a', '--all'), 'build one for every label that has none',
                       apply=generate_all),
                Action(('-l', '--list'), 'list the models (-f name=... id=... proto3=...)',
                       apply=list_models),
                Action(('-m', '--matrix'), 'print the transition matrix', metavar='ID',
                       type=int, complete='markov_id', apply=matrix),
                Action(('--simulate',), 'generate a chain from the model (-N characters)',
                       metavar='ID', type=int, complete='markov_id', apply=simulate),
                Action(('-r', '--regenerate'), 'build again from its label (it gained '
                       'connections)', metavar='ID', type=int, complete='markov_id',
                       apply=regenerate),
                Action(('-d', '--delete'), 'delete a model', metavar='ID', type=int,
                       complete='markov_id', apply=delete),
                Action(('-p', '--states'), 'print the states a model was built from',
                       metavar='ID', type=int, complete='markov_id', apply=print_states),
                Action(('--train-threshold',), 'try thresholds 1.1 to 2.0 against the other '
                       'labeled models and keep the best', metavar='ID', type=int,
                       complete='markov_id', apply=train_threshold),
                Action(('--threshold',), 'set the threshold of the models -i names',
                       metavar='VALUE', type=float, apply=set_threshold),
                Action(('--import',), 'read a model file of the original stf (.stfm) or a '
                       'folder exported with -x', metavar='FILE', complete='path',
                       attribute='import_file', gather=read_models, apply=import_models),
                Action(('-x', '--export'), 'write models as JSON with a manifest '
                       '(--output DIR)', metavar='IDS', gather=export,
                       outside='writes the export folder'),
            ),
            options=(
                Flag(('--min-flows',), f'connections with fewer flows are left out (default '
                     f'{MIN_FLOWS})', metavar='N', type=int, default=MIN_FLOWS),
                Flag(('-N', '--number'), '--simulate: characters (default 100)', metavar='N',
                     type=int, default=100),
                Flag(('-i', '--id'), '--threshold: the models (3, 3,5 or 3-7)', metavar='IDS'),
                Flag(('-f', '--filter'), 'name=... id=... proto3=...', metavar='FILTER',
                     nargs='+', extend=True, complete='filter:markov_models'),
                Flag(('--output',), '-x: the folder written', metavar='DIR', complete='path'),
                Flag(('--force',), '-x: write into a folder that is not empty'),
            )),
    Command('distances', 'letter-by-letter distances of chains to a Markov model',
            example='l',
            actions=(
                Action(('-n', '--new'), 'the distance of --test GROUP:CONN to --train ID, '
                       'drawn', apply=new_distance, plots=True),
                Action(('-l', '--list'), 'list stored distances (-f trainname=... '
                       'testname=... distance<2)', apply=list_distances),
                Action(('-c', '--compare'), 'compare --train ID with every chain of --test '
                       'GROUP', apply=compare_group, plots=True),
                Action(('-d', '--delete'), 'delete a stored distance', metavar='ID', type=int,
                       apply=delete_distance),
            ),
            options=(
                Flag(('--train',), 'the Markov model', metavar='ID', type=int,
                     complete='markov_id'),
                Flag(('--test',), '-n: GROUP:CONN_ID; -c: a group of models', metavar='TEST'),
                Flag(('-f', '--filter'), 'trainname=... testname=... distance<2',
                     metavar='FILTER', nargs='+', extend=True, complete='filter:distances'),
            )),
]
