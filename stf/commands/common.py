"""Look-ups and small pieces several commands share."""
from dataclasses import dataclass
from pathlib import Path

from stf.commands.registry import Flag
from stf.commands.results import Plot, Table
from stf.core import files
from stf.core.errors import UserError
from stf.core.flows import stats
from stf.plots.figure import Figure, Panel, Series
from stf.plots.terminal import bar, bin_text, histogram_rows, number, short_number


def connection_group(app, text):
    """The group of connections with id text (an int as typed)."""
    try:
        group_id = int(text)
    except (TypeError, ValueError):
        raise UserError(f"'{text}' is not a group of connections id (a number); "
                        "list them with 'connections -l'") from None
    group = app.root['connections'].get(group_id)
    if group is None:
        raise UserError(f"there is no group of connections {group_id}; "
                        "list them with 'connections -l'")
    return group


def model_group(app, text):
    group = app.root['models'].get(text)
    if group is None:
        raise UserError(f"there is no group of models '{text}' (ids look like 0-1); "
                        "list them with 'models -l'")
    return group


def latest_connection_group(app):
    """The newest group of connections of the current dataset."""
    dataset = app.require_current()
    groups = app.root['connections'].of_dataset(dataset.id)
    if not groups:
        raise UserError(f"dataset '{dataset.name}' has no connections yet; "
                        "make them with 'connections -g'")
    return groups[-1]


def group_with_connection(app, conn, group_text):
    """The group named by -g, or the current dataset's group holding conn."""
    if group_text is not None:
        group = connection_group(app, group_text)
        if group.locate(conn) is None:
            raise UserError(f"group {group.id} has no connection '{conn}'; "
                            f"list them with 'connections -L {group.id}'")
        return group
    dataset = app.require_current()
    for group in reversed(app.root['connections'].of_dataset(dataset.id)):
        if group.locate(conn) is not None:
            return group
    raise UserError(f"no group of connections of dataset '{dataset.name}' has a "
                    f"connection '{conn}'; check the id or name the group with -g")


def id_range(text, what, example):
    """The ids of 'N' or 'FIRST-LAST' (labels -d 20-30, experiments -d 2-5)."""
    first, dash, last = str(text).partition('-')
    try:
        first, last = int(first), int(last) if dash else int(first)
    except ValueError:
        raise UserError(f"'{text}' is not {what} id or a range like {example}") from None
    if last < first:
        raise UserError(f'the range {text} goes backwards; write it {last}-{first}')
    return range(first, last + 1)


def stages(app, label, count):
    """step(): one more of count stages done, on the progress line."""
    update, done = app.progress(label), [0]

    def step(*_):
        done[0] += 1
        if update:
            update(done[0], count)
    if update:
        update(0, count)
    return step


# A counted progress is reported this many times at most: the console
# redraws ten times a second anyway.
COUNT_REPORTS = 500


def with_progress(items, total, update):
    """items, counted on update(done, total) as they are taken (the App's
    progress; None in batch mode: items as they are)."""
    if update is None:
        yield from items
        return
    every = max(1, total // COUNT_REPORTS)
    update(0, total)
    for done, item in enumerate(items, 1):
        if not done % every:
            update(done, total)
        yield item
    update(total, total)


def figure(value):
    """A metric in a table: 4 decimals, '-' where it is undefined."""
    return '-' if value is None else (f'{value:.4f}' if isinstance(value, float) else value)


def moved_message(dataset_id, path, what='file', why=''):
    """The one message for a file of a dataset that is not where it was."""
    return (f"{what} {path} is not there any more{why}; if the dataset's files were moved, "
            f"run 'datasets -o {dataset_id} NEW_FOLDER'")


def write_whole(path, write, force=False):
    """write(handle) into a file beside path, renamed to path once complete:
    a write refused part-way (or Ctrl-C) leaves no half file. An existing
    path is refused unless force: an export never overwrites by mistake.
    UTF-8 whatever the locale: stf's readers read UTF-8."""
    check_overwrite(path, force)

    def written(partial):
        with open(partial, 'w', newline='', encoding='utf-8') as handle:
            write(handle)
    files.replace_whole(path, written)


def check_overwrite(path, force):
    """Refuse a file that exists unless --force was given (also checked
    before slow work, so that nothing runs before the refusal)."""
    if not force and (path.exists() or path.is_symlink()):
        raise UserError(f'{path} exists; add --force to overwrite it, or choose another file')


def target_file(text, option, example, force):
    """The Path of the file an option (--png, --output) names, '~' expanded,
    checked before the command runs: a name, not a folder, in a folder that
    is there, not over a file without force. example: a file name to suggest."""
    if not text.strip():
        raise UserError(f'{option}: the file name is empty; give one, e.g. {option} {example}')
    path = Path(text).expanduser()
    if path.is_dir():
        raise UserError(f'{option}: {path} is a folder; give a file in it, e.g. '
                        f'{option} {path / example}')
    folder = next(parent for parent in path.parents if parent.exists() or parent == parent.parent)
    if not folder.is_dir():
        raise UserError(f'{option}: {folder} is a file, not a folder; choose another file')
    if folder != path.parent:
        raise UserError(f'{option}: the folder {path.parent} does not exist; create it or '
                        'choose another file')
    check_overwrite(path, force)
    return path


@dataclass(frozen=True)
class Consent:
    """What the analyst agreed to before the transaction: the impact they
    were told (stf.ops.deletions.Impact; None with --yes) and their answer."""
    impact: object
    given: bool


def consent(app, args, impact, verb='delete'):
    """Before the transaction: a change that takes more than its own objects
    (labels' places, notes, models) is told in full and asked in a terminal;
    in batch mode it needs --yes."""
    if getattr(args, 'yes', False):
        return Consent(None, True)
    if not impact.beyond:
        return Consent(impact, True)
    if not app.ask:
        raise UserError(f'this would {verb} {impact}; nothing was changed: add --yes to '
                        'confirm (batch mode cannot ask)')
    return Consent(impact, app.confirm(f'{verb.capitalize()} {impact}?'))


def check_consent(consent_given, impact_now):
    """In the transaction: what goes must be what the analyst agreed to."""
    if consent_given.impact is not None and consent_given.impact != impact_now:
        raise UserError(f'what this takes changed since you were asked (another analyst?): '
                        f'now {impact_now}; nothing was changed; run it again')


# Every command that deletes or replaces labels takes it.
YES = Flag(('--yes',), 'delete or replace without asking (batch mode needs it when more '
           'than the named objects would go)')


@dataclass(frozen=True)
class NoteText:
    """A note's new text, gathered before the transaction. note_id: the note
    it was written for (None: a new one); base: the text it was written over."""
    note_id: object
    base: str
    text: str


def gather_note(app, note_id, text_argument):
    """The new text of note note_id (None: a new note): --text, or $EDITOR
    in a terminal."""
    note = app.notes.get(note_id) if note_id is not None else None
    base = note.text if note else ''
    note_id = note.id if note else None  # an id that points at nothing: a new note
    if text_argument is not None:
        text = text_argument.replace('\\n', '\n')
    elif app.interactive:
        text = app.edit(base)
    else:
        raise UserError('in batch mode give the note with --text "..."')
    return NoteText(note_id, base, text)


def save_note(app, gathered, note_id, owner):
    """Apply a gathered text to the note note_id is now (None: none yet, one
    is made for owner); (note, changed). Refused only when that note's own
    text changed since it was read: writing over another analyst's words would
    lose them, and merging could garble both."""
    note = app.notes.get(note_id) if note_id is not None else None
    if gathered.note_id is not None and note is None:
        raise UserError(f'note {gathered.note_id} was deleted by another analyst while you '
                        "edited it; nothing was saved; write a new one with 'notes -c'")
    if (note.text if note else '') != gathered.base:
        raise UserError(f'note {note.id} was changed by another analyst while you edited it; '
                        f"nothing was saved: see theirs with 'notes -s {note.id}' and edit again")
    if gathered.text == gathered.base:
        return note, False
    if note is None:
        note = app.notes.new(owner=owner)
    note.set_text(gathered.text)
    return note, True


def dataset_note(app, dataset_id, line):
    """Append a dated line to a dataset's note (created when missing)."""
    dataset = app.datasets.get(dataset_id)
    if dataset is None:
        return
    note = app.notes.get(dataset.note_id) if dataset.note_id is not None else None
    if note is None:
        note = app.notes.new(owner=('dataset', dataset.id))
        dataset.note_id = note.id
    note.append(line)


SPREAD_HEADERS = ['values', 'median', 'MAD', 'mode (fullest bin)', 'bins']
SPREAD_FOOTER = 'MAD: the median absolute deviation from the median'


def spreads(measures, width=40):
    """A table of the median, MAD and mode of each measure (title, values,
    unit, what its values count: 'flows', 'gaps'), then a histogram of each."""
    return spread_tables(measured(measures), width)


def spread_plot(title, measures, width=40, more=(), x_labels=None):
    """The spreads of the measures as a Plot: on the screen their tables,
    with --png a histogram panel of each (then the panels of more), under
    title. x_labels: measure title -> its axis's name, where the title
    lacks the unit."""
    found = measured(measures)
    panels = tuple(spread_panel(*measure, (x_labels or {}).get(measure[0]))
                   for measure in found) + tuple(more)
    return Plot(Figure(title, panels), shown=spread_tables(found, width))


def measured(measures):
    return [(title, stats.spread(values), unit, what) for title, values, unit, what in measures]


def spread_tables(found, width):
    summary = Table(SPREAD_HEADERS, [spread_row(title, spread, unit)
                                     for title, spread, unit, _ in found],
                    title='summary', footer=SPREAD_FOOTER)
    return [summary] + [Table(['range', what, ''], histogram_rows(spread.bins, width, unit)
                              if spread else [], title=title, painted={2: 'bar'})
                        for title, spread, unit, what in found]


def histogram_table(panel, title, what, width=40):
    """A histogram panel as the rows the screen and --json show: each bin's
    range (both ends as the picture's axis has them), its count, a bar; the
    panel's title below."""
    counts = [int(count) for count in panel.series[0].y]
    top = max(counts, default=0) or 1
    rows = [(f'{short_number(low)} - {short_number(high)}', count, bar(count, top, width))
            for low, high, count in zip(panel.edges[:-1], panel.edges[1:], counts)]
    return Table(['range', what, ''], rows, title=title, footer=panel.title,
                 painted={2: 'bar'})


def spread_panel(title, spread, unit, what, x_label=None):
    """A measure's histogram (its bins in its unit), titled with its median and MAD."""
    x_label = x_label or title
    if spread is None:
        return Panel('histogram', f'{title}: none', x_label, what, (Series('', (), ()),))
    bins = spread.bins
    return Panel('histogram', f'{title}: median {number(spread.median, unit)}, MAD '
                 f'{number(spread.mad, unit)}', x_label, what, (Series('', (), bins.counts),),
                 edges=tuple(edge / unit for edge in bins.edges), x_log=bins.width is None)


def spread_row(title, spread, unit):
    if spread is None:
        return (title, '-', '-', '-', '-')
    bins = spread.bins
    return (title, number(spread.median, unit), number(spread.mad, unit),
            bin_text(bins, bins.fullest, unit),
            'decades' if bins.width is None else f'{number(bins.width, unit)} wide')
