"""The median gap of every model of a group, which groups made before gaps
were kept get from their connections' flows on first use (models -L, -S)."""
from stf.core.flows import letters


def ensure_gaps(root, group):
    """Give a group of models made before gaps were kept the gaps of its
    connections (when their flows are still held: none after a trim)."""
    if not group.knows_gaps():
        group.set_gaps(gaps_from_connections(root, group))


def gaps_from_connections(root, group):
    """(connection id, median seconds between its flows) of the group's
    connections; none when the flows are gone."""
    connections = root['connections'].get(group.connection_group_id)
    if connections is None or connections.trimmed or not connections.flow_count:
        return []
    return [pair for chunk in connections.chunks for pair in zip(
        chunk.ids, letters.median_gaps(chunk.column('start'), chunk.column('bounds')))]
