"""connections: split a dataset's flows into connections (4-tuples without
the source port) and inspect them."""
import base64
from pathlib import Path

import numpy as np

from stf.commands import common, context, timeline
from stf.commands.registry import Action, Command, Flag
from stf.core.flows import connid, filters, flowfile, flowtable, letters
from stf.core import formats
from stf.core.captures import payload
from stf.core.errors import UserError
from stf.commands.results import Exact, Fields, Message, Table, Text, ok, warning
from stf.ops import deletions
from stf.core.formats import counted

FLOW_KINDS = ('binetflow', 'zeek')


# -- making a group

def read_flows(app, args):
    """Read the flow file (before the transaction: it can take a while)."""
    if args.generate is not True:
        raise UserError(f"connections: -g {args.generate} names a group only with -F, -H, -T "
                        "or -P; to make connections give -g alone (and -i FILE_ID)")
    item = flow_file(app.require_current(), args.id)
    table = flowtable.read(item.path,
                           progress=app.progress(f'reading {item.name}', unit='bytes'))
    if not table.flows:
        raise UserError(f'{item.name} has no valid flows ({describe_skipped(table.stats)}); '
                        'check the file')
    return item.id, table


def generate(app, args, gathered):
    file_id, table = gathered
    dataset = app.require_current()
    item = dataset.files.get(file_id)
    if item is None:
        raise UserError(f"file {file_id} was removed from dataset '{dataset.name}' meanwhile; "
                        'nothing was made')
    group = app.root['connections'].new(dataset.id, item.id, item.path)
    group.fill(table)
    app.saves(f'{counted(group.connection_count, "connection")}')
    item.note_span(table.start.min(), table.start.max())  # datasets -l shows it
    items = [ok(f'group of connections {group.id}: {counted(group.connection_count, "connection")} '
                f'from {counted(group.flow_count, "flow")} of {item.name}')]
    items += [warning(text) for text in read_warnings(table.stats)]
    return items


def flow_file(dataset, file_id):
    if file_id is not None:
        item = dataset.files.get(as_int(file_id, 'file id'))
        if item is None or item.kind not in FLOW_KINDS:
            raise UserError(f"dataset '{dataset.name}' has no binetflow or Zeek file "
                            f"{file_id}; list its files with 'datasets -f'")
    else:
        candidates = dataset.files_of_kind(*FLOW_KINDS)
        if not candidates:
            raise UserError(f"dataset '{dataset.name}' has no binetflow or Zeek conn.log; "
                            "make one from its pcap with 'datasets -g' or add one with "
                            "'datasets -a PATH'")
        if len(candidates) > 1:
            ids = ', '.join(str(candidate.id) for candidate in candidates)
            raise UserError(f"dataset '{dataset.name}' has several flow files (ids {ids}); "
                            'pick one with -i FILE_ID')
        item = candidates[0]
    if not item.exists():
        raise UserError(common.moved_message(dataset.id, item.path, f'file {item.id}'))
    return item


def non_negative(number, flag):
    if number < 0:
        raise UserError(f'{flag} must be 0 or more, not {number}')
    return number


def as_int(text, what):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise UserError(f"'{text}' is not a {what} (a number)") from None


def read_warnings(stats):
    texts = []
    if stats.malformed:
        lines = ', '.join(map(str, stats.first_malformed))
        texts.append(f'{stats.malformed:,} malformed lines skipped (first at lines {lines})')
    if stats.out_of_order:
        texts.append(f'{counted(stats.out_of_order, "flow")} out of time order; '
                     'each connection was sorted by start time')
    if stats.negative:
        texts.append(f'{stats.negative:,} negative durations or sizes were read as 0')
    return texts


def describe_skipped(stats):
    return (f'{stats.malformed:,} malformed lines, {stats.management:,} management '
            f'records, {counted(stats.comments + stats.blank, "comment")} or blank lines')


# -- listing

def list_groups(app, args):
    rows = []
    for group in app.root['connections'].values():
        dataset = app.datasets.get(group.dataset_id)
        rows.append((group.id, group.dataset_id, dataset.name if dataset else '-',
                     file_name(group), f'{group.connection_count:,}', f'{group.flow_count:,}',
                     f'at most {group.trimmed}' if group.trimmed else ''))
    return [Table(['group', 'dataset', 'dataset name', 'file', 'connections', 'flows',
                   'trimmed'], rows, title='groups of connections')]


def file_name(group):
    return group.file_path.rsplit('/', 1)[-1]


def selected(app, group, conditions):
    """(id, flows, original, chunk, position) of the connections that pass."""
    for conn, flows, original, chunk, position in group.connections():
        values = {'name': conn, 'flowamount': flows}
        if any(condition.key == 'flowlabel' for condition in conditions):
            values['flowlabel'] = ' '.join(group.flow_labels(chunk, position))
        if filters.matches(conditions, values):
            yield conn, flows, original, chunk, position


def list_connections(app, args):
    group = common.connection_group(app, args.connections)
    conditions = filters.parse('connections', args.filter)
    rows = [(conn, f'{flows:,}' if flows == original else f'{flows:,} of {original:,}',
             ', '.join(group.flow_labels(chunk, position)))
            for conn, flows, original, chunk, position in selected(app, group, conditions)]
    return [Table(['connection', 'flows', 'labels in the flows'], rows,
                  title=f'connections of group {group.id}',
                  footer=counted(len(rows), 'connection'))]


def count(app, args):
    group = common.connection_group(app, args.count)
    conditions = filters.parse('connections', args.filter)
    total = sum(1 for _ in selected(app, group, conditions))
    return [ok(f'{total:,} of the {counted(group.connection_count, "connection")} of group '
               f'{group.id} match')]


# -- one connection

def show_flows(app, args):
    group = common.group_with_connection(app, args.flows, group_argument(args))
    chunk, position = group.locate(args.flows)
    flows = chunk.flows(position)
    limit = 100 if args.limit is None else non_negative(args.limit, '--limit')
    shown = len(flows['start']) if limit == 0 else min(limit, len(flows['start']))
    pieces = letters.flow_letters(flows['start'], flows['dur'], flows['size'])
    # --sort orders every flow before the first `limit` are shown: all of them are
    # listed then (as with --limit 0), else only those shown.
    listed = len(pieces) if getattr(args, 'sort', None) else shown
    rows = [flow_row(group, flows, index, pieces[index]) for index in range(listed)]
    cut_footer = '{shown:,} of {total:,} flows; --limit 0 shows all'
    footer = f'{shown:,} of {counted(len(pieces), "flow")}'
    if shown < len(pieces):
        footer = cut_footer.format(shown=shown, total=len(pieces))
    items = [Table(['#', 'line', 'start', 'dur s', 'bytes', 'label', 'letter', 'T1 s', 'T2 s',
                    'TD'], rows, title=f'flows of {args.flows} (group {group.id})',
                   footer=footer, limit=shown, cut_footer=cut_footer)]
    items += [Message(line) for line in dns_context(app, group, args.flows)]
    if args.lines:
        items.append(original_lines(group, flows['offset'][:shown], flows['line'][:shown]))
    return items


def original_lines(group, offsets, numbers):
    """The flows as their file writes them (the file must still be there)."""
    try:
        lines = [f'{int(number)}: {printable(flowfile.line_at(group.file_path, int(offset)))}'
                 for offset, number in zip(offsets, numbers)]
    except OSError as error:
        raise UserError(common.moved_message(group.dataset_id, group.file_path,
                                             why=f' ({error.strerror})')) from None
    return Text('\n'.join([f'lines of {file_name(group)}:', *lines]))


def printable(text):
    """No control characters reach the terminal from a file."""
    return ''.join(char if char.isprintable() or char == '\t' else '?' for char in text)


def group_argument(args):
    return None if args.generate in (None, True) else args.generate


def flow_row(group, flows, index, piece):
    return (index, int(flows['line'][index]), formats.from_us(int(flows['start'][index])),
            letters.seconds_text(int(flows['dur'][index])), int(flows['size'][index]),
            group.labels[flows['label'][index]], piece.piece,
            seconds(piece.t1_us), seconds(piece.t2_us), piece.td)


def seconds(microseconds):
    return '-' if microseconds is None else letters.seconds_text(microseconds)


def histograms(app, args):
    group = common.group_with_connection(app, args.histogram, group_argument(args))
    chunk, position = group.locate(args.histogram)
    flows = chunk.flows(position)
    state = letters.states(flows['start'], flows['dur'], flows['size'],
                           np.array([0, len(flows['start'])], dtype=np.int64))[0]
    gaps = np.diff(flows['start'])
    items = [Fields([('flows', f"{len(flows['start']):,}"), ('state length', len(state))],
                    title=f'{args.histogram} (group {group.id})')]
    dataset = app.datasets.get(group.dataset_id)
    where = f"dataset '{dataset.name}', " if dataset else ''
    title = (f'connection {args.histogram} ({where}group {group.id}): '
             f"{counted(len(flows['start']), 'flow')}")
    return items + [common.spread_plot(title, (
        ('duration (s)', flows['dur'], letters.SECOND, 'flows'),
        ('size (bytes)', flows['size'], 1, 'flows'),
        ('time between flows (s)', gaps, letters.SECOND, 'gaps')))]


def payloads(app, args):
    conn = args.payload
    group = common.group_with_connection(app, conn, group_argument(args))
    _, _, port, proto = connid.parse(conn)
    limit = non_negative(args.limit, '--limit') or 10 if args.limit is not None else 10
    if proto not in ('tcp', 'udp') and args.pcap:
        raise UserError(f'--pcap shows tcp and udp payloads; {conn} is {proto}')
    if args.pcap:
        return pcap_payloads(app, group, conn, limit)
    chunk, position = group.locate(conn)
    flows = chunk.flows(position)
    offsets = [int(offset) for offset in flows['offset'][:limit]]
    if not Path(group.file_path).is_file():
        raise UserError(common.moved_message(group.dataset_id, group.file_path))
    fmt = flowfile.sniff_format(group.file_path)
    pairs = payload.flow_payloads(group.file_path, fmt, offsets)
    title = (f'payloads of the first {len(pairs)} flows of {conn} (group {group.id}), '
             'from the flow file (argus keeps the first 480 bytes of each direction)')
    lines, records = [title, *dns_context(app, group, conn)], []
    for number, (start, (outgoing, incoming)) in enumerate(zip(flows['start'], pairs)):
        moment = formats.from_us(int(start))
        lines.append(f'flow {number}  {moment}')
        lines += direction_lines('->', outgoing, proto, port)
        lines += direction_lines('<-', incoming, proto, port)
        records += [payload_record(number, moment, arrow, data, proto, port)
                    for arrow, data in (('->', outgoing), ('<-', incoming))]
    return [Text('\n'.join(lines), data=payload_table(records, 'flow', title))]


def dns_context(app, group, conn, capture=False):
    """[the line on the names DNS answers gave the connection's destination], or []
    when the group's payloads hold no DNS answers (see stf.commands.context)."""
    line = context.dns_line(app, group, connid.parse(conn).dst, capture)
    return [line] if line else []


# a payload's direction as data: words a spreadsheet takes for no formula
DIRECTIONS = {'->': 'out', '<-': 'in'}


def payload_record(number, moment, arrow, data, proto, port):
    """A payload as data: its bytes in base64 beside the text stf shows."""
    data = data or b''
    return (number, moment, DIRECTIONS[arrow], len(data), Exact(base64.b64encode(data).decode()),
            Exact('\n'.join(payload.payload_lines(data, proto, port)) if data else ''))


def payload_table(records, unit, title):
    return Table([unit, 'time', 'direction', 'bytes', 'base64', 'text'], records, title=title)


def direction_lines(arrow, data, proto, port):
    if not data:
        return [f'  {arrow} no payload']
    return [f'  {arrow} {len(data)} bytes'] + [
        '      ' + line for line in payload.payload_lines(data, proto, port)]


def pcap_payloads(app, group, conn, limit):
    dataset = app.datasets.get(group.dataset_id)
    captures = dataset.files_of_kind('pcap', 'pcapng') if dataset else []
    if not captures:
        raise UserError(f"dataset {group.dataset_id} has no pcap; add it with 'datasets -a PATH'")
    capture = captures[0]
    if not capture.exists():
        raise UserError(common.moved_message(dataset.id, capture.path, 'the pcap'))
    src, dst, port, proto = connid.parse(conn)
    packets = payload.pcap_payloads(capture.path, src, dst, port, proto, limit=limit)
    title = f'payloads of the first {len(packets)} packets of {conn} in {capture.name}'
    lines, records = [title, *dns_context(app, group, conn, capture=True)], []
    for number, (moment, arrow, data) in enumerate(packets):
        lines.append(f'{formats.from_us(moment)}  {arrow} {len(data)} bytes')
        lines += ['      ' + line for line in payload.payload_lines(data, proto, port)]
        records.append(payload_record(number, formats.from_us(moment), arrow, data, proto, port))
    if not packets:
        lines.append('no packet of this connection carries a payload')
    return [Text('\n'.join(lines), data=payload_table(records, 'packet', title))]


# -- changing a group

def doomed_connections(app, args):
    """(group, connection ids) that connections -D names."""
    group = common.connection_group(app, args.delete_connections)
    if args.id and args.filter:
        raise UserError('connections -D: give -i or -f, not both')
    if args.id:
        if group.locate(args.id) is None:
            raise UserError(f"group {group.id} has no connection '{args.id}'")
        return group, [args.id]
    if args.filter:
        conditions = filters.parse('connections', args.filter)
        return group, [conn for conn, *_ in selected(app, group, conditions)]
    raise UserError('connections -D: say which: -i CONN_ID or -f FILTER ...')


def confirm_delete_connections(app, args):
    group, doomed = doomed_connections(app, args)
    return common.consent(app, args, deletions.connections_impact(app.root, group, doomed))


def delete_connections(app, args, consent):
    group, doomed = doomed_connections(app, args)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, deletions.connections_impact(app.root, group, doomed))
    deleted, models = deletions.delete_connections(app.root, group, doomed)
    common.dataset_note(app, group.dataset_id,
                        f'deleted {counted(deleted, "connection")} from group {group.id}')
    extra = f' with their {counted(models, "model")}' if models else ''
    return [ok(f'{counted(deleted, "connection")} deleted from group {group.id}{extra}')]


def confirm_delete_group(app, args):
    group = common.connection_group(app, args.delete)
    return common.consent(app, args, deletions.connection_group_impact(app.root, group))


def delete_group(app, args, consent):
    group = common.connection_group(app, args.delete)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, deletions.connection_group_impact(app.root, group))
    models = deletions.delete_connection_group(app.root, group)
    common.dataset_note(app, group.dataset_id, f'deleted group of connections {group.id}')
    extra = f' and its groups of models {", ".join(models)}' if models else ''
    return [ok(f'group of connections {group.id} deleted{extra}')]


def trim(app, args):
    group = common.connection_group(app, args.trim)
    if args.amount is None or args.amount < 1:
        raise UserError('connections -t GROUP needs -a N, the flows to keep (1 or more)')
    changed = group.trim(args.amount)
    common.dataset_note(app, group.dataset_id, f'trimmed group of connections {group.id} to '
                        f'at most {args.amount} flows per connection ({changed:,} trimmed)')
    return [ok(f'{counted(changed, "connection")} of group {group.id} trimmed to '
               f'{args.amount} flows; their models keep every flow')]


def delete_modelless(app, args):
    group = common.connection_group(app, args.delete_modelless)
    models = app.root['models'].of_connections(group.id)
    if not models:
        raise UserError(f"group {group.id} has no models; make them with 'models -g' first")
    kept = set().union(*(set(model_group.states.keys()) for model_group in models))
    doomed = [conn for conn in group.index.keys() if conn not in kept]
    deleted = group.delete(doomed)
    return [ok(f'{counted(deleted, "connection")} without models deleted from group {group.id}')]


GROUP = dict(metavar='GROUP', complete='connection_group')
CONNECTION = dict(metavar='CONN_ID', complete='connection_id')

COMMANDS = [Command(
    'connections', 'split flows into connections (4-tuples without source port)',
    actions=(
        Action(('-l', '--list'), 'list the groups of connections', apply=list_groups),
        Action(('-L', '--connections'), 'list the connections of a group (id, flows, flow '
               'labels)', **GROUP, apply=list_connections),
        Action(('-F', '--flows'), "a connection's flows with their letter, T1, T2 and TD",
               **CONNECTION, gather=show_flows),
        Action(('-C', '--count'), 'count connections (with -f)', **GROUP, apply=count),
        Action(('-D', '--delete-connections'), 'delete connections of a group: -i CONN_ID or '
               '-f FILTER', **GROUP, gather=confirm_delete_connections,
               apply=delete_connections),
        Action(('-d', '--delete'), 'delete a group of connections', **GROUP,
               gather=confirm_delete_group, apply=delete_group),
        Action(('-t', '--trim'), 'trim every connection of a group to at most -a flows',
               **GROUP, apply=trim),
        Action(('-M', '--delete-modelless'), 'delete the connections whose models were '
               'deleted', **GROUP, apply=delete_modelless),
        Action(('-H', '--histogram'), "histograms of a connection's durations, sizes and gaps "
               "with their median, MAD and mode (a picture with --png)",
               **CONNECTION, apply=histograms, plots=True),
        Action(('-T', '--timeline'), "a connection's flows over time: gaps, sizes and "
               "letters in columns of time (a picture with --png)", **CONNECTION,
               apply=timeline.timeline, plots=True),
        Action(('-P', '--payload'), "payloads of a connection's first flows (--pcap: its "
               "first packets from the dataset's capture)", **CONNECTION, gather=payloads),
    ),
    options=(
        Action(('-g', '--generate'), "alone: make a group of connections from the current "
               "dataset's flow file; with -F, -H, -T or -P: the group", nargs='?', const=True,
               **GROUP, gather=read_flows, apply=generate),
        Flag(('-i', '--id'), '-g: the flow file id; -D: the connection id', metavar='ID',
             complete='connection_id'),
        Flag(('-f', '--filter'), filters.help_text('connections'), metavar='FILTER', nargs='+',
             extend=True,
             complete='filter:connections'),
        Flag(('-a', '--amount'), '-t: flows to keep', metavar='N', type=int),
        Flag(('--limit',), '-F: show at most N flows (default 100, 0 for all); '
             '-P: flows or packets (default 10)', metavar='N', type=int),
        Flag(('--lines',), '-F: also show each flow as its line of the flow file'),
        Flag(('--pcap',), "-P: read the payloads from the dataset's pcap"),
        common.YES,
    ))]
