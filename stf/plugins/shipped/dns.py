"""The `dns` command: DNS statistics of a dataset, a plugin shipped with stf.

It reads the DNS messages of the dataset's group of connections (the srcUdata and
dstUdata that argus kept of its DNS flows) or of its capture (--pcap; also when the
flow file has no payload columns), and shows who asked for which names, the response
codes (a client with many NXDOMAIN answers may run a DGA), the TTLs, the addresses
answered, the names' length and entropy, and the names looked up just before each
connection. It changes nothing: its one step gathers (the database gives the paths and
the DNS flows' places, then the files are read). It uses stf only through
stf.plugins.api and the pure core, as any plugin may.
"""
from pathlib import Path
from typing import NamedTuple

from stf.core import formats
from stf.core.captures import dnsstats, payload
from stf.core.flows import connid, flowfile, stats as spreads
from stf.plugins import api

VERSION = '1.0'

CURRENT = 'current'         # DATASET left out: the selected dataset
DNS_CONNECTIONS = ('-53-udp', '-53-tcp')
TOP = 20
SHOWN_ADDRESSES = 5
CENTI = 100                 # entropies are binned in hundredths of a bit
PAYLOADS = ('src_udata', 'dst_udata')
# Why a dataset has no DNS messages to read, and what to do: (has a group?) -> line.
NO_PAYLOADS = {
    True: ("dataset {dataset} has no DNS payloads to read: its flow file {flows} has no "
           "srcUdata/dstUdata columns and it has no capture; add its capture with 'datasets "
           "-a PCAP', or make a binetflow with payloads from a capture with 'datasets -g'"),
    False: ("dataset {dataset} has no DNS payloads to read: it has no connections and no "
            "capture; make its connections with 'connections -g' from a flow file with "
            "srcUdata/dstUdata, or add its capture with 'datasets -a PCAP'"),
}


class Plan:
    """What the database says is to be read: dataset, group (or None), flow_path,
    flows ([dnsstats.DnsFlow] of the group's DNS connections, the first MAX_MESSAGES
    in file order), dns_flows (all of them), capture (a path or None), from_capture
    (--pcap), connections ([dnsstats.Connection] of the group, for --before; None
    when not asked or no group)."""

    def __init__(self, dataset, group, capture, from_capture):
        self.dataset, self.group, self.capture = dataset, group, capture
        self.from_capture = from_capture
        self.flow_path = group.file_path if group else None
        self.flows, self.dns_flows, self.connections = [], 0, None


class Read(NamedTuple):
    """What was read: stats (dnsstats.DnsStats), where (words for the messages' place),
    connections (for --before), notes (lines on what was left out)."""
    stats: object
    where: str
    connections: list
    notes: list


# ---- the database: what to read ----------------------------------------------------

def plan(app, args, view):
    # -g alone names the dataset too: no dataset need be selected.
    alone = args.dataset == CURRENT and args.group is not None
    dataset = None if alone else _dataset(app, args.dataset)
    group = _group(app, args.group, dataset)
    dataset = dataset or app.datasets.get(group.dataset_id)
    found = Plan(dataset, group, _capture(dataset, args.pcap), args.pcap)
    if group is not None:
        if not args.pcap:
            found.flows, found.dns_flows = dns_flows(group)
        if view == 'before':
            found.connections = group_connections(group)
    return found


def _dataset(app, text):
    if text == CURRENT:
        return app.require_current()
    try:
        dataset = app.datasets.get(int(text))
    except ValueError:
        raise api.UserError(f"'{text}' is not a dataset id (a number); list them with "
                            "'datasets -l'") from None
    if dataset is None:
        raise api.UserError(f"there is no dataset {text}; list them with 'datasets -l'")
    return dataset


def _group(app, text, dataset):
    """The group of -g (of dataset, when given), else the dataset's newest group (None
    when it has none)."""
    if text is None:
        groups = app.root['connections'].of_dataset(dataset.id)
        return groups[-1] if groups else None
    try:
        group = app.root['connections'].get(int(text))
    except ValueError:
        group = None
    if group is None:
        raise api.UserError(f"there is no group of connections '{text}'; list them with "
                            "'connections -l'")
    if dataset is not None and group.dataset_id != dataset.id:
        raise api.UserError(f'group {group.id} is of dataset {group.dataset_id}, not of '
                            f'dataset {dataset.id}; leave out one of them')
    return group


def _capture(dataset, required):
    """The path of the dataset's first capture (pcap or pcapng), or None; with
    required (--pcap), its absence is the error."""
    captures = dataset.files_of_kind('pcap', 'pcapng')
    if required and not captures:
        raise api.UserError(f"dataset {dataset.id} '{dataset.name}' has no capture; add one "
                            "with 'datasets -a PCAP', or leave out --pcap to read the flows' "
                            "payloads")
    return captures[0].path if captures else None


def dns_flows(group):
    """([DnsFlow] of the group's DNS connections, the first MAX_MESSAGES in file
    order; how many flows those connections have)."""
    connections = []
    for conn in group.index.keys():
        if conn.endswith(DNS_CONNECTIONS):
            chunk, position = group.locate(conn)
            flows, ends = chunk.flows(position), _ends(conn)
            if ends:
                connections.append((flows['offset'], flows['start'], ends.src, ends.dst,
                                    ends.proto == 'udp'))
    return dnsstats.first_flows(connections, dnsstats.MAX_MESSAGES)


def group_connections(group):
    """[Connection] of the group, one for each source and destination address: the
    first flow of their connections (DNS's own left out)."""
    firsts = {}
    for chunk in group.chunks:
        bounds, starts = chunk.column('bounds'), chunk.column('start')
        for conn, begin, end in zip(chunk.ids, bounds[:-1].tolist(), bounds[1:].tolist()):
            ends = end > begin and not conn.endswith(DNS_CONNECTIONS) and _ends(conn)
            if ends:
                first, key = int(starts[begin:end].min()), (ends.src, ends.dst)
                firsts[key] = min(firsts.get(key, first), first)
    return [dnsstats.Connection(src, dst, first) for (src, dst), first in firsts.items()]


def _ends(conn):
    """The fields of a connection id, or None for one made of odd flow fields (its
    connection is left out rather than the whole listing)."""
    try:
        return connid.parse(conn)
    except api.UserError:
        return None


# ---- the files: reading --------------------------------------------------------------

def read(app, found, wants_connections):
    """Read the flows' payloads when the flow file has them, else (and with --pcap)
    the capture."""
    if not found.from_capture and found.group is not None and _has_payloads(found):
        return _read_flows(app, found)
    if found.capture is not None:
        return _read_capture(app, found, wants_connections)
    raise api.UserError(NO_PAYLOADS[found.group is not None].format(
        dataset=f"{found.dataset.id} '{found.dataset.name}'",
        flows=found.flow_path and Path(found.flow_path).name))


def _has_payloads(found):
    path = Path(found.flow_path)
    if not path.is_file():
        raise api.UserError(f"the flow file {path} of group {found.group.id} is not there any "
                            f"more; if the dataset's files were moved, run 'datasets -o "
                            f"{found.dataset.id} NEW_FOLDER'")
    return set(PAYLOADS) <= set(flowfile.sniff_format(path).columns)


def _read_flows(app, found):
    stats, update = dnsstats.DnsStats(), app.progress('reading the DNS flows')
    path = Path(found.flow_path)
    done = dnsstats.read_flows(path, flowfile.sniff_format(path), found.flows, stats, update)
    notes = [] if done >= found.dns_flows else [
        f'read the first {done:,} of {found.dns_flows:,} DNS flows: the work is bounded']
    where = (f'the flow file {path.name} (group {found.group.id}, '
             f'{formats.counted(found.dns_flows, "DNS flow")})')
    return Read(stats, where, found.connections, notes + _cut(stats))


def _read_capture(app, found, wants_connections):
    path = Path(found.capture)
    if not path.is_file():
        raise api.UserError(f"the capture {path} is not there any more; if the dataset's "
                            f"files were moved, run 'datasets -o {found.dataset.id} "
                            "NEW_FOLDER'")
    stats, update = dnsstats.DnsStats(), app.progress(f'DNS messages in {path.name}')
    if update:
        update(0, None)
    own = wants_connections and found.connections is None
    connections = dnsstats.read_capture(path, stats, connections=own)
    notes = []
    if not found.from_capture and found.group is not None:
        notes.append(f'the flow file {Path(found.flow_path).name} has no payload columns: '
                     'read the capture')
    return Read(stats, f'the capture {path.name}', connections if own else found.connections,
                notes + _cut(stats))


def _cut(stats):
    if not stats.cut:
        return []
    return [f'counted the first {stats.messages:,} DNS messages, the rest were left out: '
            'the work is bounded']


# ---- the views -----------------------------------------------------------------------

def name_text(name):
    """A name as text, exactly so in --json/--csv (a name may look like a number)."""
    return api.Exact(payload.safe_text(name))


def seconds(number):
    """A number of seconds with separators, whole ones without a fraction ('3,600',
    '180.5'): a number in --json."""
    return f'{number:,.0f}' if float(number).is_integer() else f'{number:,}'


def ratio(part, whole):
    return '-' if not whole else f'{part / whole:.4f}'


def table(headers, rows, title, top, what, footer=''):
    """A listing of all the rows, of which the first top are shown (after --sort)."""
    return api.Table(headers, rows, title=title, footer=footer, limit=top,
                     cut_footer='{shown:,} of {total:,} ' + what + '; --top N shows more')


def summary_view(got, top):
    stats = got.stats
    codes = [(f'{dnsstats.rcode_name(code)} responses', count)
             for code, count in sorted(stats.rcodes.items())]
    nxdomain = stats.rcodes[dnsstats.NXDOMAIN]
    spread = spreads.spread(stats.ttls)
    busiest = min(stats.names.items(), key=lambda item: (-item[1].queries, item[0]),
                  default=None)
    pairs = [('read from', got.where), ('DNS messages', stats.messages),
             ('queries', stats.queries), ('responses', stats.responses), *codes,
             ('names', len(stats.names)), ('clients', len(stats.clients)),
             ('NXDOMAIN ratio', ratio(nxdomain, stats.responses)),
             ('answer records', len(stats.ttls)), ('addresses answered', len(stats.names_of)),
             ('TTL median (s)', '-' if spread is None else seconds(spread.median)),
             ('most asked name', '-' if busiest is None else name_text(busiest[0])),
             ('its queries', '-' if busiest is None else busiest[1].queries)]
    return [api.Fields(pairs, title='DNS')]


def names_view(got, top):
    rows = [[name_text(name), found.queries, len(found.clients), found.responses,
             found.nxdomain, formats.from_us(found.first_us), formats.from_us(found.last_us)]
            for name, found in sorted(got.stats.names.items(),
                                      key=lambda item: (-item[1].queries, item[0]))]
    return [table(['name', 'queries', 'clients', 'responses', 'nxdomain', 'first', 'last'],
                  rows, 'queries per name', top, 'names')]


def clients_view(got, top):
    ordered = sorted(got.stats.clients.items(), key=lambda item: (
        -(item[1].ratio or 0), -item[1].nxdomain, -item[1].queries, item[0]))
    rows = [[client, found.queries, len(found.names), found.responses, found.nxdomain,
             ratio(found.nxdomain, found.responses)] for client, found in ordered]
    return [table(['client', 'queries', 'names', 'responses', 'nxdomain', 'nxdomain ratio'],
                  rows, 'clients by NXDOMAIN ratio', top, 'clients')]


def codes_view(got, top):
    stats = got.stats
    codes = [[code, dnsstats.rcode_name(code), count, ratio(count, stats.responses)]
             for code, count in sorted(stats.rcodes.items(), key=lambda item: (-item[1], item[0]))]
    kinds = [[kind, dnsstats.type_name(kind), count, ratio(count, sum(stats.qtypes.values()))]
             for kind, count in sorted(stats.qtypes.items(), key=lambda item: (-item[1], item[0]))]
    return [table(['rcode', 'name', 'responses', 'share'], codes, 'response codes', top,
                  'codes'),
            table(['type', 'name', 'questions', 'share'], kinds, 'query types', top, 'types')]


def ttl_view(got, top):
    ttls = got.stats.ttls
    spread = spreads.spread(ttls)
    if spread is None:
        return [api.Message(f'no answer records in {got.where}')]
    pairs = [('answer records', spread.count), ('median (s)', seconds(spread.median)),
             ('MAD (s)', seconds(spread.mad)), ('lowest (s)', seconds(min(ttls))),
             ('highest (s)', seconds(max(ttls)))]
    return [api.Fields(pairs, title='TTLs'), _bins_table(spread.bins, 'TTL distribution (s)',
                                                         'records')]


def _bins_table(bins, title, what, scale=1):
    rows = [[_edge(low, scale), _edge(high, scale), count]
            for low, high, count in zip(bins.edges, bins.edges[1:], bins.counts)]
    return api.Table(['from', 'below', what], rows, title=title)


def _edge(value, scale):
    return value if scale == 1 else f'{value / scale:.2f}'


def answers_view(got, top):
    stats = got.stats
    per_name = sorted(stats.ips_of.items(), key=lambda item: (-len(item[1]), item[0]))
    per_ip = sorted(stats.names_of.items(),
                    key=lambda item: (-len(item[1]), dnsstats.address_order(item[0])))
    return [table(['name', 'addresses', 'answered'],
                  [[name_text(name), len(found),
                    _listed(sorted(found, key=dnsstats.address_order), dnsstats.address_text)]
                   for name, found in per_name], 'addresses per name', top, 'names'),
            table(['address', 'names', 'answered'],
                  [[dnsstats.address_text(packed), len(found), _listed(sorted(found), name_text)]
                   for packed, found in per_ip], 'names per address', top, 'addresses')]


def _listed(values, text):
    """All the values as text: the screen shows the first SHOWN_ADDRESSES, --json all."""
    return api.Several([text(value) for value in values], shown=SHOWN_ADDRESSES)


def entropy_view(got, top):
    measured = sorted(((dnsstats.entropy(name), name, found.queries)
                       for name, found in got.stats.names.items()),
                      key=lambda item: (-item[0], item[1]))
    if not measured:
        return [api.Message(f'no names in {got.where}')]
    rows = [[name_text(name), len(name), f'{value:.4f}', queries]
            for value, name, queries in measured]
    lengths = spreads.spread([len(name) for _, name, _ in measured])
    entropies = spreads.spread([round(value * CENTI) for value, _, _ in measured])
    return [table(['name', 'length', 'entropy', 'queries'], rows,
                  'names by entropy (bits per character)', top, 'names'),
            _bins_table(lengths.bins, 'name length (characters)', 'names'),
            _bins_table(entropies.bins, 'entropy (bits per character)', 'names', CENTI)]


def before_view(got, top):
    if not got.connections:
        return [api.Message(f'no connections to look up names for in {got.where}')]
    found = [item for item in dnsstats.names_before(got.stats, got.connections, most=None)
             if item.names]
    rows = [[item.connection.source, item.connection.destination,
             formats.from_us(item.connection.first_us), name_text(name),
             f'{(item.connection.first_us - moment) / 1_000_000:.6f}', client,
             api.Several([name_text(other) for other, *_ in item.names[1:]],
                         shown=dnsstats.SHOWN_BEFORE - 1)]
            for item in found for name, moment, client in item.names[:1]]
    return [table(['source', 'destination', 'first', 'name', 'seconds before', 'answered to',
                   'other names'], rows, 'names looked up before connections', top,
                  'connections', footer=f'{len(found):,} of '
                  f'{formats.counted(len(got.connections), "connection")} had a name answered '
                  'before them')]


VIEWS = {'summary': summary_view, 'names': names_view, 'clients': clients_view,
         'codes': codes_view, 'ttl': ttl_view, 'answers': answers_view,
         'entropy': entropy_view, 'before': before_view}


def gather(view):
    """The gather step of one view: the database, then the files, then the result."""
    def run(app, args):
        top = TOP if args.top is None else args.top
        if top < 1:
            raise api.UserError(f'--top takes a number of rows of 1 or more, not {top}')
        found = plan(app, args, view)
        got = read(app, found, view == 'before')
        notes = [api.warning(note) for note in got.notes]
        return VIEWS[view](got, top) + notes
    return run


def _action(flags, help_text, view):
    return api.Action(flags, help_text, gather=gather(view))


COMMANDS = [api.Command(
    'dns', 'DNS statistics: names, clients, rcodes, TTLs, answers',
    actions=(
        _action(('-s', '--summary'), 'the summary (the default)', 'summary'),
        _action(('--names',), 'queries per name: count, clients, first and last time', 'names'),
        _action(('--clients',), 'clients by NXDOMAIN ratio (a DGA sign): queries, names, '
                'NXDOMAIN responses', 'clients'),
        _action(('--codes',), 'responses per response code and questions per type', 'codes'),
        _action(('--ttl',), 'the distribution of the answers\' TTLs', 'ttl'),
        _action(('--answers',), 'the addresses answered for each name and the names of each '
                'address', 'answers'),
        _action(('--entropy',), 'the length and character entropy of each name, and their '
                'distribution', 'entropy'),
        _action(('--before',), 'the names answered for each destination just before a '
                'connection to it began', 'before'),
    ),
    options=(
        # Given or not, the dataset counts as the action when no other is given: the
        # summary is the default.
        api.Action(('dataset',), 'the dataset (default: the selected one)', metavar='DATASET',
                   nargs='?', default=CURRENT, complete='dataset_id', gather=gather('summary')),
        api.Flag(('-g', '--group'), 'the group of connections whose flow file is read '
                 '(default: the dataset\'s newest)', metavar='GROUP',
                 complete='connection_group'),
        api.Flag(('--pcap',), "read the dataset's capture instead of the flows' payloads"),
        api.Flag(('--top',), f'show at most N rows (default {TOP})', metavar='N', type=int),
    ),
    example='s')]
