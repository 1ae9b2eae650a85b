"""models: behavioral models (letters) of the connections, made with a
constructor; list, filter, export and import them."""
from pathlib import Path

import numpy as np

from stf.commands import common, modelview
from stf.commands.registry import Action, Command, Flag
from stf.core.flows import filters, flowtable, letters, letterstsv
from stf.core import formats
from stf.core.errors import UserError
from stf.commands.results import Table, ok
from stf.models.behavior import ModelGroup, group_id
from stf.plots.figure import Panel, Series
from stf.ops import deletions
from stf.ops.gaps import ensure_gaps
from stf.core.formats import counted



# -- constructors and generation

def constructors(app, args):
    rows = [(c.id, c.name, ratio(c.tt1), ratio(c.tt2), ratio(c.tt3),
             letters.seconds_text(c.td1_us), letters.seconds_text(c.td2_us), c.ts1, c.ts2,
             letters.seconds_text(c.timeout_us), 'one' if c.single_zero else 'one per hour')
            for c in letters.CONSTRUCTORS.values()]
    words = [(c.id, c.name, letters.in_words(c)) for c in letters.CONSTRUCTORS.values()]
    return [Table(['id', 'name', 'tt1', 'tt2', 'tt3', 'td1 s', 'td2 s', 'ts1 B', 'ts2 B',
                   'timeout s', "zeros per gap"], rows, title='model constructors',
                  footer=f'default: {letters.DEFAULT_CONSTRUCTOR}'),
            Table(['id', 'name', 'in words'], words, title='constructors in words',
                  footer='TD: the longer of the two last gaps over the shorter'),
            letter_table()]


def letter_table():
    """The letter of each periodicity (rows) and size and duration (columns), as in SPEC.md."""
    size, duration = letters.WORDS['size'], letters.WORDS['duration']
    headers = ['periodicity'] + [f'{big[0]},{long[0]}' for big in size for long in duration]
    rows = [(word, *chars) for word, chars in zip(letters.WORDS['periodicity'], letters.LETTERS)]
    return Table(headers, rows, title='letters', footer=(
        f"columns: size ({', '.join(f'{word[0]} {word}' for word in size)}), duration "
        f"({', '.join(f'{word[0]} {word}' for word in duration)})"))


def ratio(pair):
    numerator, denominator = pair
    return f'{numerator / denominator:g}'


def source_group(app, args):
    return (common.connection_group(app, args.id) if args.id is not None
            else common.latest_connection_group(app))


def make_states(app, args):
    """The letters of every connection (before the transaction: a trimmed
    group's flows are read again from its file)."""
    group = source_group(app, args)
    if not group.flow_count and group.read.get('imported') is not None:
        raise UserError(f'group of connections {group.id} holds no flows: its models were '
                        f"imported from {Path(group.file_path).name}; there is nothing to make "
                        'models from')
    return group.id, group_states(app, group, letters.get_constructor(args.constructor))


def generate(app, args, gathered):
    group_number, rows = gathered
    chosen = letters.get_constructor(args.constructor)
    group = common.connection_group(app, group_number)
    models = app.root['models']
    model_group = models.get(group_id(group.id, chosen.id))
    verb = 'regenerated' if model_group else 'generated'
    if model_group is None:
        model_group = models.put(ModelGroup(group.id, chosen.id, group.dataset_id,
                                            source=group.file_path))
    model_group.set_states([row[:3] for row in rows])
    model_group.set_gaps((row[0], row[3]) for row in rows)
    model_group.columns()
    deletions.forget_connections(app.root, model_group, [
        conn for conn in {*model_group.labels.keys(), *model_group.notes.keys()}
        if conn not in model_group.states])
    app.saves(f'{counted(len(rows), "model")}')
    if verb == 'regenerated':
        common.dataset_note(app, group.dataset_id, f'regenerated models {model_group.id}')
    return [ok(f'group of models {model_group.id} {verb}: {counted(len(rows), "model")} with '
               f'constructor {chosen.id} ({chosen.name})')]


def group_states(app, group, chosen):
    """(connection id, flows, state, median gap in seconds) of every
    connection of a group.

    Letters always come from every flow: after a trim the flows are read
    again from the group's flow file.
    """
    if group.trimmed:
        return states_from_file(app, group, chosen)
    rows = []
    for chunk in common.with_progress(group.chunks, len(group.chunks),
                                      app.progress(f'letters of group {group.id}')):
        start, bounds = chunk.column('start'), chunk.column('bounds')
        found = letters.states(start, chunk.column('dur'), chunk.column('size'), bounds,
                               chosen)
        counts = chunk.column('original')
        rows += zip(chunk.ids, counts.tolist(), found, letters.median_gaps(start, bounds))
    return rows


def states_from_file(app, group, chosen):
    if not Path(group.file_path).is_file():
        raise UserError(common.moved_message(
            group.dataset_id, group.file_path, f'the flow file of group {group.id}',
            why=' (the group was trimmed: its letters come from every flow of the file)'))
    table = flowtable.read(group.file_path, progress=app.progress('reading flows', unit='bytes'),
                           only=set(group.index.keys()))
    found = letters.states(table.start, table.dur, table.size, table.bounds, chosen)
    return list(zip(table.ids, np.diff(table.bounds).tolist(), found,
                    letters.median_gaps(table.start, table.bounds)))


# -- listing

def list_groups(app, args):
    rows = [(group.id, group.dataset_id, group.connection_group_id, group.constructor_id,
             f'{len(group):,}', f'{len(group.labels):,}', formats.when(group.created),
             Path(group.source).name) for group in app.root['models'].values()]
    return [Table(['group', 'dataset', 'connections group', 'constructor', 'models',
                   'labeled', 'created', 'source'], rows, title='groups of models')]


# filter key -> the column of ModelColumns that holds it
NUMBER_COLUMNS = {'flows': 'flows', 'statelength': 'lengths', 'periodicity': 'periodicity',
                  'gap': 'gap'}


def model_columns(app, group):
    """The group's ModelColumns; a group made before gaps were kept gets
    them from its connections' flows first (when they are still held)."""
    ensure_gaps(app.root, group)
    columns = group.columns()
    if columns.count != len(group):     # changed by a path that did not say so
        group.model_columns = None
        columns = group.columns()
    return columns


def selected(app, group, conditions, names):
    """(id, flows, state, label name, periodicity, gap) of the models that
    pass the filters, in id order; names: label id -> name.

    Every condition runs on a whole column of the group's ModelColumns, the
    numeric ones first; the labels are read from the group's labels (a few
    per labeled model), never model by model."""
    columns = model_columns(app, group)
    ids, states, numbers = columns.arrays()
    label_names = None
    passing = np.ones(len(ids), bool)
    for condition in sorted(conditions, key=lambda condition: condition.key not in
                            NUMBER_COLUMNS):
        column = NUMBER_COLUMNS.get(condition.key)
        if column is not None:
            passing &= filters.column_test(condition, numbers[column])
            continue
        if condition.key == 'labelname':   # decided once per label
            label_names = label_names or model_labels(group, columns, names)
            passing &= label_test(condition, label_names, len(ids))
            continue
        positions = np.flatnonzero(passing).tolist()
        values = ids if condition.key == 'name' else states
        passing[positions] = filters.passing(condition, [values[at] for at in positions])
    positions = np.flatnonzero(passing)
    flows = numbers['flows'][positions].tolist()
    periodic = _none_for_nan(numbers['periodicity'][positions])
    gaps = _none_for_nan(numbers['gap'][positions])
    labels = group.labels
    for index, at in enumerate(positions.tolist()):
        conn = ids[at]
        yield (conn, flows[index], states[at], names.get(labels.get(conn)), periodic[index],
               gaps[index])


def model_labels(group, columns, names):
    """row -> label name, of the labeled models."""
    rows = columns.positions()
    found = {}
    for conn, label_id in group.labels.items():
        at = rows.get(conn)
        if at is not None:
            found[at] = names.get(label_id)
    return found


def label_test(condition, label_names, count):
    """The condition on every row's label name (None: no label)."""
    found = np.full(count, filters.passing(condition, [None])[0])
    if label_names:
        found[list(label_names)] = filters.passing(condition, list(label_names.values()))
    return found


def _none_for_nan(column):
    return [None if value != value else value for value in column.tolist()]


def list_models(app, args):
    group = common.model_group(app, args.models)
    conditions = filters.parse('models', args.filter)
    limit = args.letters
    if limit is not None and limit < 1:
        raise UserError(f'-a must be 1 or more letters, not {limit}')
    rows = [('*' if conn in group.notes else '', label or '', conn, f'{flows:,}',
             '-' if periodic is None else f'{periodic:.2f}',
             '-' if gap is None else f'{gap:,.6f}',
             state if limit is None or len(state) <= limit else state[:limit] + '…')
            for conn, flows, state, label, periodic, gap in selected(
                app, group, conditions, app.root['labels'].names())]
    return [Table(['note', 'label', 'model', 'flows', 'periodicity', 'gap', 'state'], rows,
                  title=f'models of group {group.id}', footer=f'{counted(len(rows), "model")}',
                  letters_column=6)]


def count(app, args):
    group = common.model_group(app, args.count)
    conditions = filters.parse('models', args.filter)
    total = sum(1 for _ in selected(app, group, conditions, app.root['labels'].names()))
    return [ok(f'{total:,} of the {counted(len(group), "model")} of group {group.id} match')]


def histogram(app, args):
    group = common.model_group(app, args.histogram)
    lengths = [len(state) for _, state in group.states.values()]
    dataset = app.datasets.get(group.dataset_id)
    where = f"dataset '{dataset.name}', " if dataset else ''
    title = (f'models of group {group.id} ({where}connections {group.connection_group_id}): '
             f'{counted(len(group), "model")}')
    measure = f'state lengths of group {group.id}'
    periodicity = periodicity_panel(app, group)
    plot = common.spread_plot(title, ((measure, lengths, 1, 'models'),), more=[periodicity],
                              x_labels={measure: 'state length (letters)'})
    # the screen and --json show the periodicity in the picture's bins
    plot.shown.append(common.histogram_table(periodicity, f'periodicity of group {group.id}',
                                             'models'))
    return [plot]


# The periodicity histogram's bins: tenths of 0..1.
PERIODICITY_EDGES = tuple(step / 10 for step in range(11))


def periodicity_panel(app, group):
    """How periodic the group's models are: a histogram of their share of
    strongly periodic letters (models without periodicity left out)."""
    values = model_columns(app, group).arrays()[2]['periodicity']
    known = values[~np.isnan(values)]
    counts = np.histogram(known, bins=PERIODICITY_EDGES)[0]
    left_out = len(values) - len(known)
    return Panel('histogram', f'periodicity: {counted(len(known), "model")} with letters '
                 f'that say it ({left_out:,} without, left out)',
                 'periodicity (share of strongly periodic letters, 0 to 1)',
                 'models', (Series('', (), tuple(counts.tolist())),), edges=PERIODICITY_EDGES)


# -- changing

def doomed_models(app, args):
    """(group, model ids) that models -D names."""
    group = common.model_group(app, args.delete_models)
    if args.id and args.filter:
        raise UserError('models -D: give -i or -f, not both')
    if args.id:
        if args.id not in group.states:
            raise UserError(f"group {group.id} has no model '{args.id}'")
        return group, [args.id]
    if args.filter:
        conditions = filters.parse('models', args.filter)
        return group, [conn for conn, *_ in selected(app, group, conditions,
                                                      app.root['labels'].names())]
    raise UserError('models -D: say which: -i ID or -f FILTER ...')


def confirm_delete_models(app, args):
    group, doomed = doomed_models(app, args)
    return common.consent(app, args, deletions.models_impact(group, doomed))


def delete_models(app, args, consent):
    group, doomed = doomed_models(app, args)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, deletions.models_impact(group, doomed))
    deleted = deletions.delete_models(app.root, group, doomed)
    common.dataset_note(app, group.dataset_id,
                        f'deleted {counted(deleted, "model")} from group {group.id}')
    return [ok(f'{counted(deleted, "model")} deleted from group {group.id}')]


def confirm_delete_group(app, args):
    group = common.model_group(app, args.delete)
    return common.consent(app, args, deletions.model_group_impact(group))


def delete_group(app, args, consent):
    group = common.model_group(app, args.delete)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, deletions.model_group_impact(group))
    deletions.delete_model_group(app.root, group)
    common.dataset_note(app, group.dataset_id, f'deleted group of models {group.id}')
    return [ok(f'group of models {group.id} deleted')]


def noted_model(app, args):
    group = common.model_group(app, args.note)
    modelview.chosen_model(group, args.id, '-n')
    return group


def gather_note(app, args):
    return common.gather_note(app, noted_model(app, args).notes.get(args.id), args.text)


def edit_note(app, args, gathered):
    group = noted_model(app, args)
    note, changed = common.save_note(app, gathered, group.notes.get(args.id),
                                     ('model', f'{group.id}/{args.id}'))
    if not changed:
        return [ok('the note is unchanged')]
    group.notes[args.id] = note.id
    return [ok(f'note {note.id} of model {args.id} (group {group.id}) saved')]


# -- letters TSV

def export(app, args):
    group = common.model_group(app, args.export)
    if not args.output:
        raise UserError(f'models -e {group.id} needs -o FILE, the file to write')
    path = Path(args.output).expanduser()
    for dataset in app.datasets.values():
        if any(item.path == str(path.resolve()) for item in dataset.files.values()):
            raise UserError(f"{path} is a file of dataset {dataset.id} '{dataset.name}'; "
                            'write the models to another file')
    names = app.root['labels'].names()
    rows = ((conn, flows, names.get(group.labels.get(conn), ''), state)
            for conn, (flows, state) in group.states.items())
    common.write_whole(path, lambda handle: letterstsv.write(handle, rows), force=args.force)
    return [ok(f'{counted(len(group), "model")} of group {group.id} written to {path}')]


def import_letters(app, dataset, item, rows, labels):
    """A letters TSV becomes a group of models with its labels (and an empty
    group of connections, so that ids keep their meaning)."""
    connections = app.root['connections'].new(dataset.id, item.id, item.path)
    connections.read = {'imported': len(rows)}
    model_group = app.root['models'].put(ModelGroup(
        connections.id, letters.DEFAULT_CONSTRUCTOR, dataset.id, source=item.path))
    model_group.set_states(rows)
    model_group.set_gaps([])     # a letters file holds no times
    model_group.columns()
    attach_imported_labels(app, model_group, labels)
    return ok(f'{counted(len(rows), "model")} with {counted(len(labels), "label")} imported as '
              f'group of models {model_group.id}')


def attach_imported_labels(app, model_group, labels):
    """Labels of an imported letters file; names that break the grammar are kept
    as they are (they come from other tools)."""
    store = app.root['labels']
    by_name = {label.name: label for label in store.values()}
    for conn, name in labels.items():
        label = by_name.get(name)
        if label is None:
            label = by_name[name] = store.new(name)
        label.add(model_group, conn)
        model_group.labels[conn] = label.id


COMMANDS = [Command(
    'models', 'behavioral models: the letters of each connection',
    actions=(
        Action(('-s', '--constructors'), 'list the model constructors and their thresholds',
               apply=constructors),
        Action(('-g', '--generate'), "make the models of the current dataset's newest group "
               'of connections (or -i GROUP) with constructor -c (default 1)',
               gather=make_states, apply=generate),
        Action(('-l', '--list'), 'list the groups of models', apply=list_groups),
        Action(('-L', '--models'), 'list the models of a group', metavar='GROUP',
               complete='model_group', apply=list_models),
        Action(('-C', '--count'), 'count models (with -f)', metavar='GROUP',
               complete='model_group', apply=count),
        Action(('-D', '--delete-models'), 'delete models of a group: -i ID or -f FILTER',
               metavar='GROUP', complete='model_group', gather=confirm_delete_models,
               apply=delete_models),
        Action(('-d', '--delete'), 'delete a group of models', metavar='GROUP',
               complete='model_group', gather=confirm_delete_group, apply=delete_group),
        Action(('-S', '--show'), 'show one model whole (-i ID): its letters, what they mean '
               'for its constructor, their counts, periodicity, gap, label and note',
               metavar='GROUP', complete='model_group', apply=modelview.show),
        Action(('-H', '--histogram'), 'histogram of the state lengths of a group (with '
               '--png: and of their periodicity)', metavar='GROUP', complete='model_group',
               apply=histogram, plots=True),
        Action(('-n', '--note'), "edit a model's note (-i ID)", metavar='GROUP',
               complete='model_group', gather=gather_note, apply=edit_note),
        Action(('-e', '--export'), 'export a group as a letters TSV file (-o FILE)',
               metavar='GROUP', complete='model_group', gather=export),
    ),
    options=(
        Flag(('-c', '--constructor'), '-g: the constructor', metavar='ID', type=int,
             default=letters.DEFAULT_CONSTRUCTOR, complete='constructor'),
        Flag(('-i', '--id'), '-g: the group of connections; -D, -n, -S: the model id',
             metavar='ID', complete='connection_id'),
        Flag(('-f', '--filter'), filters.help_text('models'), metavar='FILTER', nargs='+',
             extend=True,
             complete='filter:models'),
        Flag(('-a', '--letters'), '-L: show at most N letters of each state', metavar='N',
             type=int),
        Flag(('-o', '--output'), '-e: the file to write', metavar='FILE', complete='path'),
        Flag(('--force',), '-e: overwrite the file if it exists'),
        Flag(('--text',), '-n: the note text, instead of $EDITOR', metavar='TEXT'),
        common.YES,
    ))]
