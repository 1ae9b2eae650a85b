"""visualize [DATASET] [-g GROUP] [-x SPEED] [-f FILTER]: a group's flows
replayed in time order, each tuple's letters growing as its flows come. The
command gathers what the replay needs and returns a Replay item; the console
shows it full-screen (stf.console.replay) and reads the group's chunks through
the database as the replay goes (the same connection, so over ZEO too)."""
from types import SimpleNamespace

import numpy as np

from stf.commands import models, modelview
from stf.commands.common import connection_group
from stf.commands.datasets import find_dataset
from stf.commands.registry import Action, Command, Flag
from stf.commands.results import Replay
from stf.core.errors import UserError
from stf.core.flows import filters, letters, replay
from stf.models.behavior import group_id

NOT_A_TERMINAL = ("visualize needs a terminal: it replays the flows full-screen; in a batch "
                  "run see a tuple's letters with 'models -S GROUP -i ID' or its flows over "
                  "time with 'connections -T ID'")
# DATASET left out: the selected dataset (or the dataset of -g's group).
CURRENT = 'current'
SPEED_RANGE = (f'0 (flows evenly spaced) or from 1/{1 / replay.SPEEDS[0]:g} to '
               f'{replay.SPEEDS[1]:,.0f} times real time')


def gather_replay(app, args):
    if not app.interactive:
        raise UserError(NOT_A_TERMINAL)
    if args.speed and not replay.SPEEDS[0] <= args.speed <= replay.SPEEDS[1]:
        raise UserError(f'-x must be {SPEED_RANGE}, not {args.speed:g}')
    dataset, group = chosen_group(app, args.dataset, args.group)
    model_group = chosen_models(app, group)
    conditions = filters.parse('models', args.filter)
    filter_words = list(args.filter or ())
    source = GroupChunks(app, group)
    order = replay.FlowOrder(source, progress=app.progress(f'reading group {group.id}'))
    source.read = app.database.read      # from now on each read is a transaction of its own
    positions = {conn: at for at, conn in enumerate(order.ids)}
    chooser = Selection(app, model_group.id, positions)
    states = ColumnStates(app, model_group, positions)
    playback = replay.Playback(order, args.speed, chooser.mask(conditions, filter_words),
                               states=lambda *asked: app.database.read(
                                   lambda: states.read(*asked)))
    return [Replay(f"dataset {dataset.id} '{dataset.name}', group {group.id} "
                   f'(models {model_group.id})', playback,
                   states=lambda conns: app.database.read(
                       lambda: model_states(app, model_group.id, conns)),
                   select=lambda words: app.database.read(lambda: chooser.from_words(words)),
                   model_view=lambda conn: app.database.read(
                       lambda: modelview.show(app, SimpleNamespace(show=model_group.id,
                                                                   id=conn))),
                   filter_words=filter_words)]


def chosen_group(app, dataset_text, group_text):
    """(dataset, group of connections): DATASET (else the selected one; -g
    alone names its own), and -g's group (of that dataset) else the
    dataset's newest."""
    if dataset_text == CURRENT and group_text is not None:
        group = connection_group(app, group_text)
        return app.datasets.get(group.dataset_id), group
    dataset = chosen_dataset(app, dataset_text)
    if group_text is None:
        groups = app.root['connections'].of_dataset(dataset.id)
        if not groups:
            raise UserError(f"dataset {dataset.id} '{dataset.name}' has no connections yet; "
                            f"make them with 'datasets -s {dataset.id}' then 'connections -g'")
        return dataset, groups[-1]
    group = connection_group(app, group_text)
    if group.dataset_id != dataset.id:
        raise UserError(f'group of connections {group.id} is of dataset {group.dataset_id}, not '
                        f"of dataset {dataset.id} '{dataset.name}'; list the groups with "
                        "'connections -l'")
    return dataset, group


def chosen_dataset(app, text):
    if text == CURRENT:
        return app.require_current()
    try:
        number = int(text)
    except ValueError:
        raise UserError(f"'{text}' is not a dataset id (a number); list them with "
                        "'datasets -l'") from None
    return find_dataset(app, number)


def chosen_models(app, group):
    """The models of the group: those of the default constructor if made."""
    if not group.flow_count and group.read.get('imported') is not None:
        raise UserError(f'group of connections {group.id} holds no flows: its models were '
                        'imported from a letters file; there are no flow times to replay')
    found = app.root['models'].get(group_id(group.id, letters.DEFAULT_CONSTRUCTOR))
    found = found or next(iter(app.root['models'].of_connections(group.id)), None)
    if found is None:
        raise UserError(f'group of connections {group.id} has no models yet; make them with '
                        f"'models -g -i {group.id}'")
    return found


class GroupChunks:
    """The chunks of a group of connections as a source of stf.core.flows.replay:
    each chunk is loaded, worked on, then let go (a chunk is a few MB: memory
    holds one at a time). read(work): how a scan reaches the database (a
    transaction of its own once the command is done)."""

    def __init__(self, app, group):
        self.app = app
        self.group_id = group.id
        self.count = len(group.chunks)
        self.flows = group.flow_count
        self.read = lambda work: work()

    def scan(self, numbers, work):
        return self.read(lambda: self._scan(numbers, work))

    def _scan(self, numbers, work):
        group = self.app.root['connections'].get(self.group_id)
        if group is None or len(group.chunks) != self.count or group.flow_count != self.flows:
            raise UserError(f'group of connections {self.group_id} changed while it was '
                            'replayed (by another analyst?); run visualize again')
        found = []
        for number in numbers:
            stored = group.chunks[number]
            found.append(work(replay.Chunk(stored.column('start'), stored.column('bounds'),
                                           stored.ids)))
            stored._p_deactivate()      # its columns leave memory (unless changed here)
        return found


class Selection:
    """The tuples a models filter (-f, or '/' in the replay) keeps: whole
    models, judged on all their flows (the replay then shows each from its
    first flow, and its flows shown count up to the models' flows)."""

    def __init__(self, app, model_group_id, positions):
        self.app = app
        self.model_group_id = model_group_id
        self.positions = positions

    def from_words(self, words):
        return self.mask(filters.parse('models', words), words)

    def mask(self, conditions, words):
        """A bool per tuple (None without conditions); words: the filter as
        typed, to name it when no model passes."""
        if not conditions:
            return None
        group = self.app.root['models'].get(self.model_group_id)
        if group is None:
            raise UserError(f'group of models {self.model_group_id} was deleted (by another '
                            'analyst?); run visualize again')
        kept = np.zeros(len(self.positions), bool)
        names = self.app.root['labels'].names()
        at = [self.positions.get(conn) for conn, *_ in models.selected(
            self.app, group, conditions, names)]
        kept[[where for where in at if where is not None]] = True
        if not kept.any():
            raise UserError(f'no model of group {self.model_group_id} passes the filter '
                            f"{filters.as_typed(words)}; count those that pass one with 'models "
                            f"-C {self.model_group_id} -f FILTER'")
        return kept


class ColumnStates:
    """Pieces of the states of the replay's tuples (what the periodicity
    sort counts its letters in), read from the model group's ModelColumns:
    each tuple's part, where its state begins in the part's text and its
    length are found once; a read loads only the parts of the tuples asked
    for and slices the pieces out of their text."""

    def __init__(self, app, model_group, positions):
        self.app = app
        self.model_group_id = model_group.id
        # a group made before columns were kept makes them here, unsaved:
        # they stay in memory, the group never holds them
        self.columns = models.model_columns(app, model_group)
        self.part = np.full(len(positions), -1, np.int64)     # -1: no model
        self.begin = np.zeros(len(positions), np.int64)
        self.length = np.zeros(len(positions), np.int64)
        for number, part in enumerate(self.columns.parts):
            lengths = np.frombuffer(part.lengths, np.int64)
            begins = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
            at = np.array([positions.get(conn, -1) for conn in part.ids.split('\n')], np.int64)
            known = at >= 0
            self.part[at[known]] = number
            self.begin[at[known]] = begins[known]
            self.length[at[known]] = lengths[known]
            part._p_deactivate()        # its states leave memory (when saved)

    def read(self, tuples, begins, sizes):
        """The characters begins[i] to begins[i] + sizes[i] of each tuple's
        state (shorter at its end; '' for a tuple without a model)."""
        group = self.app.root['models'].get(self.model_group_id)
        saved = self.columns._p_oid is not None
        if group is None or saved and getattr(group, 'model_columns', None) is not self.columns:
            raise UserError(f'group of models {self.model_group_id} changed while it was '
                            'replayed (by another analyst?); run visualize again')
        found = [''] * len(tuples)
        parts = self.part[tuples]
        firsts = self.begin[tuples] + np.minimum(begins, self.length[tuples])
        lasts = self.begin[tuples] + np.minimum(begins + sizes, self.length[tuples])
        for number in np.unique(parts[parts >= 0]).tolist():
            text = self.columns.parts[number].states
            asked = np.flatnonzero(parts == number)
            for index, first, last in zip(asked.tolist(), firsts[asked].tolist(),
                                          lasts[asked].tolist()):
                found[index] = text[first:last]
        return found


def model_states(app, model_group_id, conns):
    """conn -> its state ('' for a tuple without a model)."""
    group = app.root['models'].get(model_group_id)
    if group is None:
        raise UserError(f'group of models {model_group_id} was deleted (by another '
                        'analyst?); run visualize again')
    return {conn: group.states.get(conn, (0, ''))[1] for conn in conns}


COMMANDS = [Command(
    'visualize', "replay a dataset's flows in time order, full-screen", example='',
    output=False,
    options=(
        Action(('dataset',), "the dataset (default: the selected one, or -g's)",
               metavar='DATASET', nargs='?', default=CURRENT, complete='dataset_id',
               gather=gather_replay),
        Flag(('-g', '--group'), "the group of connections (default: the dataset's newest)",
             metavar='GROUP', complete='connection_group'),
        Flag(('-x', '--speed'), f'times real time, 1/{1 / replay.SPEEDS[0]:g} to '
             f'{replay.SPEEDS[1]:,.0f} (default 1; 0: flows evenly spaced, '
             f'{replay.EVEN_RATE:g} a second at first)', metavar='SPEED', type=float,
             default=1.0),
        Flag(('-f', '--filter'), 'replay only the models that pass, judged on all their '
             'flows: ' + filters.help_text('models'), metavar='FILTER', nargs='+', extend=True,
             complete='filter:models'),
    ))]
