"""Groups of behavioral models: one connection's letters each."""
import numpy as np
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from stf.core.flows import letters
from stf.models.notes import utcnow


class ModelGroup(Persistent):
    """The models of one group of connections made with one constructor.

    Attributes: id ('<connections group>-<constructor>'), connection_group_id,
    constructor_id, dataset_id, created, states (OOBTree connection id ->
    (flows, state)), labels (OOBTree connection id -> label name), notes
    (OOBTree connection id -> note id), source (where the models came from).
    """

    def __init__(self, connection_group_id, constructor_id, dataset_id, source=''):
        self.id = group_id(connection_group_id, constructor_id)
        self.connection_group_id = connection_group_id
        self.constructor_id = constructor_id
        self.dataset_id = dataset_id
        self.created = utcnow()
        self.states = OOBTree()
        self.labels = OOBTree()
        self.notes = OOBTree()
        self.source = source
        self.count = 0

    def __len__(self):
        # Kept as a number: len() of a BTree loads all of it (a listing of the
        # groups must not read 500,000 models).
        return self.count

    def set_states(self, rows):
        """rows: (connection id, flows, state); replaces every state."""
        self.states.clear()
        self.states.update({conn: (flows, state) for conn, flows, state in rows})
        self.count = len(self.states)
        self.model_columns = None

    def set_gaps(self, pairs):
        """(connection id, median seconds between its flows or None)."""
        self.gaps = OOBTree({conn: gap for conn, gap in pairs if gap is not None})
        self.model_columns = None

    def knows_gaps(self):
        """False for a group made before gaps were kept."""
        return getattr(self, 'gaps', None) is not None

    def columns(self):
        """The models' numbers in columns (ModelColumns), made on first use
        after a change (and for groups made before columns existed)."""
        found = getattr(self, 'model_columns', None)
        if found is None:
            found = self.model_columns = ModelColumns.of(self)
        return found

    def gap_of(self, conn):
        """The median seconds between a model's flows; None when unknown (one
        flow, imported letters, or a group made before gaps were kept)."""
        gaps = getattr(self, 'gaps', None)
        return gaps.get(conn) if gaps is not None else None

    def delete(self, conns):
        count = 0
        for conn in conns:
            if self.states.pop(conn, None) is not None:
                count += 1
            self.labels.pop(conn, None)
            self.notes.pop(conn, None)
        self.count -= count
        if count and getattr(self, 'model_columns', None) is not None:
            self.model_columns = self.model_columns.without(conns)
        return count


class ModelColumns(Persistent):
    """A group's models in columns, in the order of its states' keys, so that
    a listing filters and sorts 500,000 models in a few array operations
    and reads a handful of records instead of every bucket of the states.

    A separate persistent object: labeling, which changes the group's
    labels, leaves it alone. Its rows are kept in parts (ColumnPart) of at
    most PART_ROWS rows and PART_CHARS characters of states, so that no
    record is large.
    """

    NUMBERS = ('flows', 'lengths', 'periodicity', 'gap')
    PART_ROWS = 1 << 16
    PART_CHARS = 8 << 20

    def __init__(self, ids, states, flows, periodicity, gap):
        self.count = len(ids)
        lengths = np.fromiter((len(state) for state in states), np.int64, len(states))
        numbers = [np.asarray(flows, np.int64), lengths,
                   np.asarray(periodicity, np.float64), np.asarray(gap, np.float64)]
        self.parts = tuple(ColumnPart(ids[begin:end], states[begin:end],
                                      *(column[begin:end] for column in numbers))
                           for begin, end in self.cuts(lengths))

    @classmethod
    def cuts(cls, lengths):
        """(begin, end) of each part."""
        ends = np.cumsum(lengths + 1)
        begin = 0
        while begin < len(lengths):
            before = ends[begin - 1] if begin else 0
            fitting = int(np.searchsorted(ends, before + cls.PART_CHARS, 'right'))
            end = min(begin + cls.PART_ROWS, max(fitting, begin + 1))
            yield begin, end
            begin = end

    @classmethod
    def of(cls, group):
        ids, flows, states = [], [], []
        for conn, (count, state) in group.states.items():
            ids.append(conn)
            flows.append(count)
            states.append(state)
        gap = np.full(len(ids), np.nan)
        if group.knows_gaps():
            gap_of = group.gap_of
            gap[:] = [np.nan if found is None else found
                      for found in (gap_of(conn) for conn in ids)]
        return cls(ids, states, flows, letters.periodicities(states), gap)

    def arrays(self):
        """(ids, states, {name: array}): decoded once while the object stays
        in this connection's cache (a _v_ attribute is never saved)."""
        found = getattr(self, '_v_arrays', None)
        if found is None:
            decoded = [part.arrays() for part in self.parts]
            ids = [conn for part in decoded for conn in part[0]]
            states = [state for part in decoded for state in part[1]]
            numbers = {name: np.concatenate([part[2][name] for part in decoded])
                       if decoded else np.zeros(0) for name in self.NUMBERS}
            found = self._v_arrays = (ids, states, numbers)
        return found

    def positions(self):
        """connection id -> its row (kept while the object is cached)."""
        found = getattr(self, '_v_positions', None)
        if found is None:
            found = self._v_positions = {conn: at for at, conn in enumerate(self.arrays()[0])}
        return found

    def without(self, conns):
        """A copy without the rows of conns."""
        ids, states, numbers = self.arrays()
        gone = set(conns)
        keep = [conn not in gone for conn in ids]
        mask = np.array(keep, bool)
        return ModelColumns([conn for conn, kept in zip(ids, keep) if kept],
                            [state for state, kept in zip(states, keep) if kept],
                            numbers['flows'][mask], numbers['periodicity'][mask],
                            numbers['gap'][mask])


class ColumnPart(Persistent):
    """Rows of ModelColumns, as text and bytes (the database stores no numpy
    object): ids and states ('\\n'-joined: neither holds a line break),
    flows and lengths (int64), periodicity and gap (float64; NaN where
    unknown)."""

    def __init__(self, ids, states, flows, lengths, periodicity, gap):
        self.ids = _lines(ids)
        self.states = _lines(states)
        self.flows = flows.tobytes()
        self.lengths = lengths.tobytes()
        self.periodicity = periodicity.tobytes()
        self.gap = gap.tobytes()

    def arrays(self):
        return self.ids.split('\n'), self.states.split('\n'), {
            'flows': np.frombuffer(self.flows, np.int64),
            'lengths': np.frombuffer(self.lengths, np.int64),
            'periodicity': np.frombuffer(self.periodicity, np.float64),
            'gap': np.frombuffer(self.gap, np.float64)}


def _lines(texts):
    joined = '\n'.join(texts)
    if joined.count('\n') != len(texts) - 1:
        raise ValueError('a model id or state holds a line break')
    return joined


def group_id(connection_group_id, constructor_id):
    return f'{connection_group_id}-{constructor_id}'


class ModelGroups(Persistent):
    """Model groups by id ('0-1'); not a Store since ids are made of two parts."""

    def __init__(self):
        self.items = OOBTree()

    def get(self, model_group_id):
        return self.items.get(model_group_id)

    def put(self, group):
        self.items[group.id] = group
        return group

    def remove(self, model_group_id):
        return self.items.pop(model_group_id, None)

    def values(self):
        return list(self.items.values())

    def of_connections(self, connection_group_id):
        return [group for group in self.items.values()
                if group.connection_group_id == connection_group_id]

    def __len__(self):
        return len(self.items)
