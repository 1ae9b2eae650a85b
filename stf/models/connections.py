"""Groups of connections, stored as columns.

A group holds the connections made from one flow file. Flows are never
persistent objects of their own: consecutive connections share a FlowChunk
that keeps their flows as int64 columns (bytes), so a group costs a few
objects per tens of thousands of flows, and showing one connection loads
only its chunk.
"""
from BTrees.OLBTree import OLBTree
from persistent import Persistent
from persistent.list import PersistentList

import numpy as np

from stf.models.notes import utcnow
from stf.models.store import Store

# Flows per chunk: large enough for few objects, small enough that one
# connection's details load little.
CHUNK_FLOWS = 1 << 16
CHUNK_CONNECTIONS = 4096
COLUMNS = ('start', 'dur', 'size', 'offset', 'line')
POSITION_BITS = 32


class FlowChunk(Persistent):
    """Consecutive connections of a group with their flows as columns.

    Attributes: ids (connection ids), bounds (int64 bytes, len(ids) + 1,
    rows of connection i are bounds[i]:bounds[i+1]), one bytes column per
    COLUMNS name and label (int32 codes into the group's labels), original
    (int64 bytes: flows per connection before any trim).
    """

    def __init__(self, ids, bounds, columns, label, original):
        self.ids = list(ids)
        self.store(bounds, columns, label, original)

    def store(self, bounds, columns, label, original):
        self.bounds = np.ascontiguousarray(bounds, dtype=np.int64).tobytes()
        for name in COLUMNS:
            setattr(self, name, np.ascontiguousarray(columns[name], dtype=np.int64).tobytes())
        self.label = np.ascontiguousarray(label, dtype=np.int32).tobytes()
        self.original = np.ascontiguousarray(original, dtype=np.int64).tobytes()

    def column(self, name):
        dtype = np.int32 if name == 'label' else np.int64
        return np.frombuffer(getattr(self, name), dtype=dtype)

    def rows(self, position):
        bounds = self.column('bounds')
        return int(bounds[position]), int(bounds[position + 1])

    def flows(self, position):
        """The columns of one connection's flows: name -> array."""
        begin, end = self.rows(position)
        return {name: self.column(name)[begin:end] for name in (*COLUMNS, 'label')}

    def counts(self):
        return np.diff(self.column('bounds'))

    def keep(self, positions, limit=None):
        """Keep only the connections at positions, each trimmed to limit flows."""
        bounds = self.column('bounds')
        rows = [np.arange(bounds[p], bounds[p + 1] if limit is None
                          else min(bounds[p + 1], bounds[p] + limit)) for p in positions]
        taken = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        new_bounds = np.zeros(len(positions) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=new_bounds[1:])
        columns = {name: self.column(name)[taken] for name in COLUMNS}
        original = self.column('original')[list(positions)]
        self.ids = [self.ids[p] for p in positions]
        self.store(new_bounds, columns, self.column('label')[taken], original)


class ConnectionGroup(Persistent):
    """The connections made from one flow file.

    Attributes: id, dataset_id, file_id, file_path, created, labels (flow
    label texts; code 0 is no label), chunks (FlowChunk list), index
    (connection id -> chunk number << 32 | position), read (counts from
    reading the file: malformed, out_of_order, ...), trimmed (flow limit of
    the last trim, or None).
    """

    def __init__(self, group_id, dataset_id, file_id, file_path):
        self.id = group_id
        self.dataset_id = dataset_id
        self.file_id = file_id
        self.file_path = file_path
        self.created = utcnow()
        self.labels = []
        self.chunks = PersistentList()
        self.index = OLBTree()
        self.read = {}
        self.trimmed = None
        self.connection_count = 0
        self.flow_count = 0

    def fill(self, table):
        """Store a FlowTable (stf.core.flows.flowtable) in chunks."""
        self.labels = list(table.labels)
        self.read = {key: value for key, value in vars(table.stats).items()}
        original = np.diff(table.bounds)
        for first, last in chunk_ranges(table.bounds):
            begin, end = int(table.bounds[first]), int(table.bounds[last])
            columns = {name: getattr(table, name)[begin:end] for name in COLUMNS}
            chunk = FlowChunk(table.ids[first:last], table.bounds[first:last + 1] - begin,
                              columns, table.label[begin:end], original[first:last])
            self.add_chunk(chunk)
        self.count()

    def add_chunk(self, chunk):
        number = len(self.chunks)
        self.chunks.append(chunk)
        for position, conn in enumerate(chunk.ids):
            self.index[conn] = (number << POSITION_BITS) | position

    def count(self):
        self.connection_count = len(self.index)
        self.flow_count = sum(int(chunk.column('bounds')[-1]) for chunk in self.chunks)

    def locate(self, conn):
        """(chunk, position) of a connection id, or None."""
        where = self.index.get(conn)
        if where is None:
            return None
        return self.chunks[where >> POSITION_BITS], where & ((1 << POSITION_BITS) - 1)

    def connections(self):
        """(id, flows, original flows, chunk, position) for every connection, in id order."""
        for chunk in self.chunks:
            counts = chunk.counts()
            original = chunk.column('original')
            for position, conn in enumerate(chunk.ids):
                yield conn, int(counts[position]), int(original[position]), chunk, position

    def flow_labels(self, chunk, position):
        """The distinct labels of one connection's flows, most frequent first."""
        codes = chunk.flows(position)['label']
        values, counts = np.unique(codes, return_counts=True)
        ordered = sorted(zip(counts.tolist(), values.tolist()), key=lambda pair: -pair[0])
        return [self.labels[code] for _, code in ordered if self.labels[code]]

    def delete(self, conns):
        """Delete connections by id; the number deleted."""
        by_chunk = {}
        for conn in conns:
            found = self.index.get(conn)
            if found is not None:
                by_chunk.setdefault(found >> POSITION_BITS, set()).add(conn)
        for number, doomed in by_chunk.items():
            chunk = self.chunks[number]
            chunk.keep([p for p, conn in enumerate(chunk.ids) if conn not in doomed])
            self.reindex(number)
            for conn in doomed:
                del self.index[conn]
        self.count()
        return sum(len(doomed) for doomed in by_chunk.values())

    def reindex(self, number):
        for position, conn in enumerate(self.chunks[number].ids):
            self.index[conn] = (number << POSITION_BITS) | position

    def trim(self, limit):
        """Keep at most limit flows per connection; connections changed."""
        changed = 0
        for chunk in self.chunks:
            counts = chunk.counts()
            if (counts > limit).any():
                changed += int((counts > limit).sum())
                chunk.keep(range(len(chunk.ids)), limit)
        self.trimmed = limit
        self.count()
        return changed


def chunk_ranges(bounds):
    """(first, last) connection ranges of about CHUNK_FLOWS flows each."""
    ranges, first, total = [], 0, len(bounds) - 1
    while first < total:
        limit = bounds[first] + CHUNK_FLOWS
        last = int(np.searchsorted(bounds, limit, side='right')) - 1
        last = max(first + 1, min(last, first + CHUNK_CONNECTIONS, total))
        ranges.append((first, last))
        first = last
    return ranges


class ConnectionGroups(Store):
    """Groups of connections by id."""

    def new(self, dataset_id, file_id, file_path):
        return self.add(lambda group_id: ConnectionGroup(group_id, dataset_id, file_id,
                                                         file_path))

    def of_dataset(self, dataset_id):
        return [group for group in self.items.values() if group.dataset_id == dataset_id]
