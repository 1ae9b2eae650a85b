"""labels: name behaviors and attach them to connections of groups of models."""
import hashlib
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from stf.commands import common, labelfiles
from stf.commands.registry import Action, Command, Flag
from stf.core.flows import connid, filters, labelnames
from stf.core.errors import UserError
from stf.commands.results import Message, Table, ok, warning
from stf.ops import deletions
from stf.core.formats import counted

WIZARD = (('direction', 'Direction'), ('decision', 'Decision'),
          ('proto3', 'Layer-3 protocol'), ('proto4', 'Main layer-4 protocol'),
          ('details', 'Details (up to 30 characters, no - or spaces)'))


def store(app):
    return app.root['labels']


# -- adding

@dataclass(frozen=True)
class Labeling:
    """What labels -a gathered: the wizard's answers (None with --same or
    --name) and the analyst's consent to replacing other labels."""
    parts: object
    consent: common.Consent


def ask_parts(app, args):
    """The parts of a new label, asked in a terminal (the wizard) unless
    --same or --name say which label; then, when labeling by address or
    filter replaces other labels, what is replaced, told and asked."""
    group = model_group_option(app, args)
    conns = targets(app, group, args)
    parts = None
    if args.same is None and not args.name:
        parts = label_parts(app, args, conns)
    label_id, name = planned_label(app, args, parts)
    check_protocols(name, conns, args.force)
    if named_one(args, group):
        return Labeling(parts, common.Consent(None, True))
    return Labeling(parts, common.consent(
        app, args, deletions.relabel_impact(group, conns, label_id, name), verb='label'))


def add(app, args, gathered):
    group = model_group_option(app, args)
    conns = targets(app, group, args)
    if not gathered.consent.given:
        return [ok('nothing was labeled')]
    if gathered.consent.impact is not None:
        label_id, name = planned_label(app, args, gathered.parts)
        common.check_consent(gathered.consent,
                             deletions.relabel_impact(group, conns, label_id, name))
    label = chosen_label(app, args, gathered.parts)
    check_protocols(label.name, conns, args.force)
    items = [attach(app, group, conn, label) for conn in conns]
    items.append(ok(f'{counted(len(conns), "connection")} of group {group.id} labeled '
                    f'{label.name} (label {label.id})'))
    return [item for item in items if item]


def named_one(args, group):
    """True when -c names one connection (not an address: all its connections)."""
    value = args.connection
    return bool(value) and (is_connection_id(value) or value in group.states)


def planned_label(app, args, parts):
    """(id, name) of the label labels -a will attach; id None for a new one."""
    if args.same is not None:
        label = store(app).get(args.same)
        if label is None:
            raise UserError(f"there is no label {args.same}; list them with 'labels -l'")
        return label.id, label.name
    name = str(labelnames.parse(args.name) if args.name else labelnames.make(**parts))
    label = store(app).by_name(name) if args.name else None
    return (label.id if label else None), name


def check_protocols(name, conns, force):
    """A label whose Proto3 contradicts the connections' protocol is refused
    unless --force."""
    if force:
        return
    try:
        proto3 = labelnames.parse(name).proto3
    except UserError:
        return  # a name outside the grammar says no Proto3
    clashes = clashes_of(proto3, conns)
    if clashes:
        conn, proto = clashes[0]
        raise UserError(f"label {name} says {proto3} but connection {conn} is {proto}"
                        f"{more_clashes(clashes)}; choose the right Proto3, or add --force "
                        'to label it anyway')


def clashes_of(proto3, conns):
    """[(connection, its protocol)] of the connections proto3 contradicts."""
    return [(conn, proto) for conn in conns
            for proto in [labelnames.proto3_contradiction(proto3, conn)] if proto]


def more_clashes(clashes):
    return f' (and {len(clashes) - 1:,} more connections)' if len(clashes) > 1 else ''


def model_group_option(app, args):
    if not args.group:
        raise UserError('say which group of models with -g GROUP (e.g. -g 0-1); '
                        "list them with 'models -l'")
    return common.model_group(app, args.group)


def targets(app, group, args):
    if args.connection and args.filter:
        raise UserError('labels -a: give -c or -f, not both')
    if args.connection:
        value = args.connection
        if is_connection_id(value) or value in group.states:
            if value not in group.states:
                raise UserError(f"group {group.id} has no connection '{value}'; list them "
                                f"with 'models -L {group.id}'")
            return [value]
        found = [conn for conn in group.states.keys() if conn.startswith(value + '-')]
        if not found:
            raise UserError(f'group {group.id} has no connection from {value}')
        return found
    if args.filter:
        conditions = filters.parse('labels', args.filter)
        names = store(app).names()
        found = [conn for conn in group.states.keys() if filters.matches(
            conditions, member_values(group, conn, names))]
        if not found:
            raise UserError(f'no connection of group {group.id} matches the filter')
        return found
    raise UserError('labels -a: say which connections: -c CONN_ID, -c IP or -f connid=...')


def is_connection_id(text):
    """A connection id, not a source address (labels -a -c takes both)."""
    try:
        connid.parse(text)
    except UserError:
        return False
    return True


def member_values(group, conn, names):
    label_id = group.labels.get(conn)
    return {'connid': conn, 'groupid': group.id, 'id': label_id,
            'name': names.get(label_id, '')}


def chosen_label(app, args, parts):
    """The label to attach: --same, --name, or one made from the parts."""
    if args.same is not None:
        label = store(app).get(args.same)
        if label is None:
            raise UserError(f"there is no label {args.same}; list them with 'labels -l'")
        return label
    if args.name:
        name = str(labelnames.parse(args.name))
        return store(app).by_name(name) or store(app).new(name)
    return new_behavior(app, parts)


def label_parts(app, args, conns):
    proto3, proto4 = labelnames.guess(conns[0])
    defaults = {'direction': 'From', 'decision': None, 'proto3': proto3, 'proto4': proto4,
                'details': ''}
    parts = {part: getattr(args, part) for part, _ in WIZARD}
    missing = [part for part in ('direction', 'decision', 'proto3', 'proto4')
               if parts[part] is None]
    if missing and not app.choose:
        raise UserError('in batch mode give the label with --name, or with --'
                        + ', --'.join(missing) + ' (and --details)')
    if parts['details'] is None and not app.choose:
        parts['details'] = ''  # optional: batch runs need not give it
    for part, question in WIZARD:
        if parts[part] is None:
            choices = labelnames.VALUES.get(part, ())
            parts[part] = app.choose(question, choices, defaults[part] or '',
                                     check=lambda answer, part=part: checked_answer(
                                         part, answer, conns, args.force))
    return parts


def checked_answer(part, answer, conns, force):
    """A wizard's answer, or a UserError saying why it is asked again: a bad
    value, or a Proto3 the connections' protocol contradicts (unless --force),
    found now rather than after the last question."""
    labelnames.check(part, answer)
    if part != 'proto3' or force:
        return answer
    clashes = clashes_of(answer, conns)
    if clashes:
        conn, proto = clashes[0]
        raise UserError(f'connection {conn} is {proto}{more_clashes(clashes)}, not {answer}; '
                        f'answer {labelnames.PROTO3_OF[proto]}, or label with --force to keep '
                        f'{answer}')
    return answer


def new_behavior(app, parts):
    """A new label: the next number among labels of the same description."""
    name = labelnames.make(**parts)
    used = [labelnames.parse(other).number
            for other in store(app).names_starting(f'{name.description}-')
            if other.rsplit('-', 1)[0] == name.description]
    name = labelnames.make(**parts, number=max(used, default=0) + 1)
    return store(app).new(str(name))


def attach(app, group, conn, label, note=True):
    """Label one connection; a warning when it replaces another label.

    note: add a line to the model's note (bulk imports note once, on the
    dataset, instead of writing thousands of notes)."""
    old_id = group.labels.get(conn)
    if old_id == label.id:
        return None
    message = None
    if old_id is not None:
        old = store(app).get(old_id)
        if old is not None:
            old.remove(group.id, conn)
            message = warning(f'{conn}: label {old.name} replaced by {label.name}')
    group.labels[conn] = label.id
    label.add(group, conn)
    if note:
        model_note(app, group, conn, f'labeled {label.name}'
                   + (f' (was {old.name})' if message else ''))
    return message


def model_note(app, group, conn, line):
    note_id = group.notes.get(conn)
    note = app.notes.get(note_id) if note_id is not None else None
    if note is None:
        note = app.notes.new(owner=('model', f'{group.id}/{conn}'))
        group.notes[conn] = note.id
    note.append(line)


# -- listing and deleting

def rows(app, conditions):
    """(label, model group id, connection ids) of every membership that passes."""
    for label in store(app).values():
        for group_id, conns in label.members.items():
            values = {'name': label.name, 'id': label.id, 'groupid': group_id}
            if not any(condition.key == 'connid' for condition in conditions):
                if filters.matches(conditions, values):
                    yield label, group_id, list(conns)
                continue
            chosen = [conn for conn in conns
                      if filters.matches(conditions, dict(values, connid=conn))]
            if chosen:
                yield label, group_id, chosen


def list_labels(app, args):
    conditions = filters.parse('labels', args.filter)
    found = [(label.id, label.name, group_id, f'{len(conns):,}', verdict(label.name))
             for label, group_id, conns in rows(app, conditions)]
    found += [(label.id, label.name, '-', '0', verdict(label.name))
              for label in unused(app, conditions)]
    found.sort(key=lambda row: row[0])
    return [Table(['id', 'name', 'group of models', 'connections', 'verdict'], found,
                  title='labels', footer=counted(len({row[0] for row in found}), 'label'),
                  painted={4: 'verdict'})]


def unused(app, conditions):
    """Labels on no connection (emptied by relabeling or deletions), unless
    the filter asks about groups or connections."""
    if any(condition.key in ('groupid', 'connid') for condition in conditions):
        return []
    return [label for label in store(app).values() if not len(label.members)
            and filters.matches(conditions, {'name': label.name, 'id': label.id})]


def verdict(name):
    try:
        return labelnames.parse(name).verdict
    except UserError:
        return labelnames.verdict_of(name)


def doomed_labels(app, args):
    ids = common.id_range(args.delete, 'a label', '20-30')
    labels = [store(app).get(label_id) for label_id in ids]
    labels = [label for label in labels if label is not None]
    if not labels:
        raise UserError(f"there is no label {args.delete}; list them with 'labels -l'")
    return labels


def confirm_delete(app, args):
    return common.consent(app, args, deletions.labels_impact(doomed_labels(app, args)))


def delete(app, args, consent):
    labels = doomed_labels(app, args)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, deletions.labels_impact(labels))
    for label in labels:
        forget(app, label)
    return [ok(f'{counted(len(labels), "label")} deleted: '
               + ', '.join(label.name for label in labels))]


def forget(app, label):
    """Delete a label and its place on every connection (with a note)."""
    deletions.delete_label(app.root, label,
                           lambda group, conn, line: model_note(app, group, conn, line))


def filtered_labels(app, args):
    if not args.filter:
        raise UserError('labels -F needs -f FILTER ... (name, id, groupid, connid)')
    conditions = filters.parse('labels', args.filter)
    found = {label.id: label for label, _, _ in rows(app, conditions)}
    found.update({label.id: label for label in unused(app, conditions)})
    return [found[label_id] for label_id in sorted(found)]


def confirm_delete_filtered(app, args):
    labels = filtered_labels(app, args)
    if not labels:
        return common.Consent(None, True)
    return common.consent(app, args, deletions.labels_impact(labels))


def delete_filtered(app, args, consent):
    doomed = filtered_labels(app, args)
    if not consent.given:
        return [ok('nothing was deleted')]
    if doomed:
        common.check_consent(consent, deletions.labels_impact(doomed))
    for label in doomed:
        forget(app, label)
    return [ok(f'{counted(len(doomed), "label")} deleted')]


def labeled_connection(app, args):
    """(group, label id) of the connection labels -D names."""
    group = model_group_option(app, args)
    label_id = group.labels.get(args.remove)
    if label_id is None:
        raise UserError(f"connection '{args.remove}' has no label in group {group.id}")
    return group, label_id


def removal_impact(group, conn, label_id):
    # A label taken off is an analyst's judgement lost: always told and asked.
    return deletions.Impact(f'label {label_id} from connection {conn} of group {group.id}',
                            asks=True)


def confirm_remove(app, args):
    group, label_id = labeled_connection(app, args)
    return common.consent(app, args, removal_impact(group, args.remove, label_id),
                          verb='remove')


def remove(app, args, consent):
    group, label_id = labeled_connection(app, args)
    if not consent.given:
        return [ok('nothing was removed')]
    common.check_consent(consent, removal_impact(group, args.remove, label_id))
    label = store(app).get(label_id)
    del group.labels[args.remove]
    if label is not None:
        label.remove(group.id, args.remove)
        model_note(app, group, args.remove, f'label {label.name} removed')
    return [ok(f"label {label.name if label else label_id} removed from {args.remove}")]


# -- moving labels between databases and tools

def export(app, args):
    """Write every labeled connection with its group's constructor and the
    sha256 of the file the group was made from (an import into another
    database finds the same capture by it)."""
    path = Path(args.export).expanduser()
    common.check_overwrite(path, args.force)  # before reading every file for its hash
    records, unread = export_records(app)
    writing = app.progress(f'writing {path.name}')
    common.write_whole(path, lambda handle: labelfiles.write(
        handle, common.with_progress(records, len(records), writing), path.suffix),
        force=args.force)
    items = [ok(f'{len(records):,} labeled connections written to {path}')]
    if unread:
        items.append(warning(
            f'the flow files of groups {", ".join(unread)} are not where they were, so their '
            'rows carry no sha256 and import only into a group with the same id; if the '
            "files were moved, run 'datasets -o' and export again"))
    return items


def export_records(app):
    """(records, ids of the groups whose file could not be read)."""
    hashes = CaptureHashes(app)
    records = []
    labels = list(store(app).values())
    pairs = ((label, pair) for label in labels for pair in label.connections())
    for label, (group_id, conn) in common.with_progress(
            pairs, sum(label.count() for label in labels),
            app.progress('reading the labeled connections')):
        group = app.root['models'].get(group_id)
        records.append({'group': group_id, 'connection': conn, 'label': label.name,
                        'constructor': group.constructor_id if group else None,
                        'sha256': hashes.of(group) if group else ''})
    return records, hashes.unread()


class CaptureHashes:
    """The sha256 of the file each group of models was made from: the one
    its kept scan (datasets -F) holds while the file is unchanged, else read
    once per file; '' when the file is not there."""

    def __init__(self, app):
        self.app = app
        self.by_path = {}
        self.by_group = {}

    def of(self, group):
        if group.id not in self.by_group:
            connections = self.app.root['connections'].get(group.connection_group_id)
            path = connections.file_path if connections else group.source
            if path not in self.by_path:
                self.by_path[path] = kept_sha256(self.app, connections) or file_sha256(
                    path, self.app.progress(f'sha256 of {Path(path).name}', unit='bytes'))
            self.by_group[group.id] = self.by_path[path]
        return self.by_group[group.id]

    def unread(self):
        return sorted(group_id for group_id, sha256 in self.by_group.items() if not sha256)


def kept_sha256(app, connections):
    dataset = app.datasets.get(connections.dataset_id) if connections else None
    item = dataset.files.get(connections.file_id) if dataset else None
    if item is None or item.path != connections.file_path:
        return ''
    scan = item.cached_scan()
    return scan.get('sha256', '') if scan else ''


HASH_CHUNK = 4 << 20


def file_sha256(path, progress=None):
    """'' when the file cannot be read; progress(bytes done, size) on the way."""
    digest, done = hashlib.sha256(), 0
    try:
        with open(path, 'rb') as handle:
            size = os.fstat(handle.fileno()).st_size
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
    except OSError:
        return ''
    return digest.hexdigest()


def read_import(app, args):
    """The checked rows, and the sha256 of every group's file when rows
    carry one (read before the transaction)."""
    rows = labelfiles.read(Path(args.import_file).expanduser())
    hashes = CaptureHashes(app)
    if any(row.sha256 for row in rows):
        for group in app.root['models'].values():
            hashes.of(group)
    return rows, hashes.by_group


def import_labels(app, args, gathered):
    """Label the models each row matches; the rows that match none are
    listed, and the command fails (the others are saved)."""
    rows, hashes = gathered
    captures = defaultdict(list)
    for group in app.root['models'].values():
        if hashes.get(group.id):
            captures[hashes[group.id], group.constructor_id].append(group)
    done, unmatched, touched = 0, [], defaultdict(Counter)
    for row in rows:
        groups, why = matching_groups(app, row, hashes, captures)
        if not groups:
            unmatched.append((row.number, row.connection, why))
            continue
        label = store(app).by_name(row.label) or store(app).new(row.label)
        for group in groups:
            attach(app, group, row.connection, label, note=False)
            touched[group.dataset_id][group.id] += 1
            done += 1
    for dataset_id, groups in touched.items():
        common.dataset_note(app, dataset_id, 'labels imported from ' + args.import_file + ': '
                            + ', '.join(f'{count:,} in group {group_id}'
                                        for group_id, count in groups.items()))
    items = [ok(f'{done:,} labeled connections imported from {args.import_file}')]
    if unmatched:
        items += unmatched_report(rows, unmatched, hashes)
    return items


def matching_groups(app, row, hashes, captures):
    """([groups of models], '') the row's label goes to, or ([], why not).

    A row with a sha256 goes to the group with its id when that group was
    made from the same file with the same constructor, else to every group
    that was; a row without (files written before rows had one) by group id."""
    models = app.root['models']
    if not row.sha256:
        group = models.get(row.group)
        if group is None:
            return [], f'there is no group of models {row.group}'
        found = [group]
    else:
        same = models.get(row.group)
        if (same is not None and hashes.get(same.id) == row.sha256
                and same.constructor_id == row.constructor):
            found = [same]
        else:
            found = captures.get((row.sha256, row.constructor), [])
        if not found:
            return [], (f'no group of models here was made from its file (sha256 '
                        f'{row.sha256[:12]}…) with constructor {row.constructor}')
    having = [group for group in found if row.connection in group.states]
    if not having:
        return [], (f'group {", ".join(group.id for group in found)} has no model of this '
                    'connection')
    return having, ''


def unmatched_report(rows, unmatched, hashes):
    unread = sorted(group_id for group_id, sha256 in hashes.items() if not sha256)
    hint = (f"; the flow files of groups {', '.join(unread)} are not where they were, so "
            "their captures could not be told: if they were moved, run 'datasets -o'"
            if unread else '')
    return [Table(['row', 'connection', 'why'], unmatched,
                  title=f'{counted(len(unmatched), "row")} that matched no model'),
            Message(f'{len(unmatched):,} of the {counted(len(rows), "row")} matched no model '
                    f'here and were not imported (listed above){hint}', 'error')]


def flow_labels(app, args):
    """(group, [(connection id, its flows' majority label text)]) of --from-flows."""
    group = model_group_option(app, args)
    connections = app.root['connections'].get(group.connection_group_id)
    if connections is None or not connections.flow_count:
        raise UserError(f'group {group.id} has no flows to take labels from')
    found = []
    for conn, *_, chunk, position in common.with_progress(
            connections.connections(), connections.connection_count,
            app.progress(f"reading the labels of group {connections.id}'s flows")):
        labels = connections.flow_labels(chunk, position)
        if conn in group.states and labels:
            found.append((conn, labels[0]))
    if not found:
        raise UserError(f'the flows of group {group.connection_group_id} carry no labels')
    return group, found


def flows_impact(app, group, found):
    """Labeling from the flows replaces the labels analysts gave that differ."""
    names = store(app).names()
    replaced = Counter()
    for conn, text in common.with_progress(found, len(found),
                                           app.progress('comparing with the labels given')):
        current = group.labels.get(conn)
        if current is not None and names.get(current) != str(flow_label_name(conn, text)):
            replaced[current] += 1
    return deletions.Impact(f'{counted(len(found), "connection")} of group {group.id} from the '
                            'labels of their flows', tuple(f'{piece} replaced' for piece in
                                                    deletions.label_pieces(replaced)))


def confirm_from_flows(app, args):
    group, found = flow_labels(app, args)
    return common.consent(app, args, flows_impact(app, group, found), verb='label')


def from_flows(app, args, consent):
    group, found = flow_labels(app, args)
    if not consent.given:
        return [ok('nothing was labeled')]
    common.check_consent(consent, flows_impact(app, group, found))
    made = Counter()
    labeling = app.progress(f'labeling {counted(len(found), "connection")}')
    for conn, text in common.with_progress(found, len(found), labeling):
        label = label_for_flows(app, conn, text)
        attach(app, group, conn, label, note=False)
        made[label.name] += 1
    app.saves(f'the labels of {counted(len(found), "connection")}')
    common.dataset_note(app, group.dataset_id,
                        f'labeled {counted(sum(made.values()), "connection")} of '
                        f'group {group.id} from the labels of their flows '
                        f'({counted(len(made), "label")})')
    return [Table(['label', 'connections'], [(name, f'{count:,}') for name, count in
                                             made.most_common()],
                  title=f'labels from the flows of group {group.connection_group_id}',
                  footer='each connection takes the label most of its flows have')]


def flow_label_name(conn, text):
    """The label name (number 1) a ground-truth text gives a connection."""
    decision = (labelnames.decision_of(text) or labelnames.UNDECIDED)[0]
    direction = 'To' if text.replace('flow=', '').startswith('To') else 'From'
    proto3, proto4 = labelnames.guess(conn)
    details = ''.join(char for char in text.replace('flow=', '') if char.isalnum())[:30]
    return labelnames.make(direction, decision, proto3, proto4, details)


def label_for_flows(app, conn, text):
    """The stf label for a ground-truth text; the same text gives the same label."""
    name = flow_label_name(conn, text)
    return store(app).by_name(str(name)) or new_behavior(app, {
        'direction': name.direction, 'decision': name.decision, 'proto3': name.proto3,
        'proto4': name.proto4, 'details': name.details})


COMMANDS = [Command(
    'labels', 'label connections of models (Direction-Decision-Proto...)',
    actions=(
        Action(('-a', '--add'), 'label connections: -c CONN_ID or -c IP, or -f FILTER, with '
               '-g GROUP', gather=ask_parts, apply=add),
        Action(('-l', '--list'), 'list the labels (-f to filter)', apply=list_labels),
        Action(('-d', '--delete'), 'delete a label, or a range: 20-30', metavar='ID',
               complete='label_id', gather=confirm_delete, apply=delete),
        Action(('-F', '--delete-filtered'), 'delete the labels matching -f FILTER',
               gather=confirm_delete_filtered, apply=delete_filtered),
        Action(('-D', '--remove'), "remove a connection's label in -g GROUP",
               metavar='CONN_ID', complete='connection_id', gather=confirm_remove,
               apply=remove),
        Action(('-o', '--export'), 'write group, connection, label, constructor, '
               "sha256 (of the group's flow file) rows to FILE (.json for JSON, else CSV)",
               metavar='FILE', complete='path', attribute='export', gather=export),
        Action(('--import',), 'read rows written by -o; each goes to the models of the '
               'same file and constructor (or, in older files, the same group id)',
               metavar='FILE',
               complete='path', attribute='import_file', gather=read_import,
               apply=import_labels),
        Action(('--from-flows',), "label -g GROUP's connections with their flows' majority "
               'label (asks before replacing labels that differ)', gather=confirm_from_flows,
               apply=from_flows),
    ),
    options=(
        Flag(('-c', '--connection'), 'a connection id, or a source IP for all its '
             'connections', metavar='CONN_ID|IP', complete='connection_id'),
        Flag(('-g', '--group'), 'the group of models, e.g. 0-1', metavar='GROUP',
             complete='model_group'),
        Flag(('-f', '--filter'), filters.help_text('labels'), metavar='FILTER',
             nargs='+', extend=True, complete='filter:labels'),
        *(Flag((f'--{part}',), ' | '.join(values), metavar=part.upper(),
               complete=f'label:{part}') for part, values in labelnames.PARTS),
        Flag(('--details',), 'up to 30 characters, no - or spaces', metavar='DETAILS'),
        Flag(('--name',), 'a complete label name, e.g. From-Botnet-TCP-HTTP-CC12-1',
             metavar='NAME', complete='label_name'),
        Flag(('--same',), 'add the connections to this existing label', metavar='LABEL_ID',
             type=int, complete='label_id'),
        Flag(('--force',), "-a: label even when the label's Proto3 contradicts the "
             "connection's protocol; -o: overwrite an existing file"),
        common.YES,
    ))]
