"""datasets: create, select, list and delete datasets; add, inspect and
generate their files."""
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stf.commands import common
from stf.commands.registry import Action, Command, Flag, for_programs
from stf.core.captures import argus, filetypes
from stf.core import formats
from stf.core.errors import UserError
from stf.commands.fileinfo import CAPTURES, file_details, new_scan, same_content
from stf.core.flows import letterstsv
from stf.commands.results import Table, ok, warning
from stf.ops import deletions
from stf.core.formats import counted


# -- datasets

@dataclass(frozen=True)
class NewFile:
    """A file read before the transaction: its path, type and, for a letters
    TSV, its models (rows, labels)."""
    path: Path
    kind: str
    models: tuple = None


def read_new_file(text):
    path = checked_path(text)
    kind = filetypes.detect_type(path)
    return NewFile(path, kind, letterstsv.read(path) if kind == 'letters' else None)


def gather_create(app, args):
    new = read_new_file(args.create)
    return new, dataset_name(app, args.name, new.path)


def create(app, args, gathered):
    new, name = gathered
    check_unused(app, name)
    dataset = app.datasets.new(name, new.path.parent)
    item = dataset.add_file(new.path, new.kind)
    app.current_id = dataset.id
    return [ok(f"dataset {dataset.id} '{name}' created with {new.path.name} ({new.kind}) "
               'and selected'), *imported(app, dataset, item, new)]


def imported(app, dataset, item, new):
    """A letters TSV brings its models (and labels) along."""
    if new.models is None:
        return []
    from stf.commands.models import import_letters
    return [import_letters(app, dataset, item, *new.models)]


def checked_path(text):
    path = Path(text).expanduser()
    filetypes.check_readable(path)
    return path.resolve()


def dataset_name(app, name, path):
    """The name given, or asked in a terminal (the folder's by default)."""
    default = path.parent.name or path.stem
    if name is None and app.ask:
        name = app.ask('Name of the dataset', default)
    name = (default if name is None else name).strip()
    if not name:
        raise UserError('the dataset name is empty; give one with --name')
    check_unused(app, name)
    return name


def check_unused(app, name):
    existing = app.datasets.by_name(name)
    if existing is not None:
        raise UserError(f"a dataset named '{name}' exists already (id {existing.id}); "
                        'choose another with --name')


def list_datasets(app, args):
    rows = [dataset_row(app, dataset) for dataset in app.datasets.values()]
    return [Table(['id', 'name', 'added', 'main file', 'capture start', 'folder',
                   'current', 'note'], rows, title='datasets', shorten=(7,))]


def dataset_row(app, dataset):
    main = dataset.main_file()
    note = app.notes.get(dataset.note_id) if dataset.note_id is not None else None
    return (dataset.id, dataset.name, formats.when(dataset.added),
            main.name if main else '-', formats.when_us(capture_start(dataset)),
            dataset.folder, '*' if dataset.id == app.current_id else '',
            note.summary() if note else '')


def capture_start(dataset):
    """The first packet or flow time (µs) of the dataset's capture: of its main
    file, else of the first of its files stf has read (flows made from a
    capture start with it); None before any was read (datasets -F,
    connections -g)."""
    main = dataset.main_file()
    files = ([main] if main else []) + list(dataset.files.values())
    return next((span[0] for item in files for span in [item.time_span()] if span), None)


def find_dataset(app, dataset_id):
    dataset = app.datasets.get(dataset_id)
    if dataset is None:
        raise UserError(f"there is no dataset {dataset_id}; list them with 'datasets -l'")
    return dataset


def select(app, args):
    dataset = find_dataset(app, args.select)
    app.current_id = dataset.id
    items = [ok(f"dataset {dataset.id} '{dataset.name}' selected")]
    missing = dataset.missing_files()
    if missing:
        items.append(warning(moved_message(dataset, missing[0])))
    return items


def unselect(app, args):
    app.current_id = None
    return [ok('no dataset is selected now')]


def confirm_delete(app, args):
    dataset = find_dataset(app, args.delete)
    return common.consent(app, args, deletions.dataset_impact(app.root, dataset))


def delete(app, args, consent):
    dataset = find_dataset(app, args.delete)
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, deletions.dataset_impact(app.root, dataset))
    removed = deletions.delete_dataset(app.root, dataset.id)
    if app.current_id == dataset.id:
        app.current_id = None
    gone = ', '.join(f'{name}: {count}' for name, count in removed.items() if count)
    return [ok(f"dataset {dataset.id} '{dataset.name}' deleted"
               + (f' with what was made from it ({gone})' if gone else '')
               + '; its files stay on disk')]


def gather_note(app, args):
    return common.gather_note(app, find_dataset(app, args.note).note_id, args.text)


def edit_note(app, args, gathered):
    dataset = find_dataset(app, args.note)
    note, changed = common.save_note(app, gathered, dataset.note_id, ('dataset', dataset.id))
    if not changed:
        return [ok('the note is unchanged')]
    dataset.note_id = note.id
    return [ok(f"note {note.id} of dataset {dataset.id} '{dataset.name}' saved")]


# -- files

def list_files(app, args):
    dataset = app.require_current()
    rows = [(item.name, item.id, formats.when(item.mtime), formats.size(item.size),
             item.kind, item.status(), os.path.dirname(item.path))
            for item in dataset.files.values()]
    return [Table(['name', 'id', 'file time', 'size', 'type', 'status', 'folder'], rows,
                  painted={5: 'status'},
                  title=f"files of dataset {dataset.id} '{dataset.name}'",
                  footer=f'folder: {dataset.folder}')]


def find_file(app, file_id):
    dataset = app.require_current()
    item = dataset.files.get(file_id)
    if item is None:
        raise UserError(f"dataset '{dataset.name}' has no file {file_id}; "
                        "list its files with 'datasets -f'")
    if not item.exists():
        raise UserError(moved_message(dataset, item))
    return dataset, item


def moved_message(dataset, item):
    return common.moved_message(dataset.id, item.path, f'file {item.id}')


def gather_file_info(app, args):
    """Scan the file (unless its kept scan holds) and read its details."""
    dataset, item = find_file(app, args.file)
    bin_seconds = app.config.bin_seconds if args.bin is None else args.bin
    if bin_seconds <= 0:
        raise UserError(f'--bin must be a positive number of seconds, not {bin_seconds}')
    if args.bin is not None and item.kind not in CAPTURES:
        raise UserError(f'--bin sets the time bins of a capture (pcap or pcapng); file '
                        f'{item.id} is {item.kind}; leave out --bin')
    if args.png and item.kind not in CAPTURES:
        raise UserError(f'--png draws the packets of a capture (pcap or pcapng); file {item.id} '
                        f'is {item.kind}; nothing was written')
    scan = new_scan(item, bin_seconds, app.progress, app.config.ra_conf)
    retimed = item.changed() and same_content(item, item.scan, scan)
    return (scan, retimed), (change_notice(item, retimed)
                             + file_details(item, scan or item.scan, bin_seconds, app.progress,
                                            dataset, whole=for_programs(args)))


def change_notice(item, retimed):
    """A file whose time changed (touched, copied back) but whose hash did not
    is the same file: its new time is recorded and it is not 'changed'."""
    if retimed:
        return [ok(f'{item.name}: unchanged content (the same sha256); only its file time '
                   f'changed since it was added ({formats.when(item.mtime)}); the new time '
                   'is recorded')]
    if item.changed():
        return [warning(f'{item.name} changed since it was added ({formats.when(item.mtime)}, '
                        f'{counted(item.size, "byte")}); the details below are of the file as '
                        'it is now')]
    return []


def file_info(app, args, gathered):
    """Keep a new scan with the file, and its new time when only that changed."""
    (scan, retimed), items = gathered
    item = find_file(app, args.file)[1]
    if retimed:
        item.refresh_stat()
    if scan is not None:
        item.store_scan(scan)
    return items


def gather_add(app, args):
    check_new(app.require_current(), checked_path(args.add))
    return read_new_file(args.add)


def add_file(app, args, new):
    dataset = app.require_current()
    check_new(dataset, new.path)
    item = dataset.add_file(new.path, new.kind)
    return [ok(f"{new.path.name} ({new.kind}) added to dataset '{dataset.name}' as file "
               f'{item.id}'), *imported(app, dataset, item, new)]


def check_new(dataset, path):
    for item in dataset.files.values():
        if item.path == str(path):
            raise UserError(f"{path.name} is already file {item.id} of dataset "
                            f"'{dataset.name}'")


def remove_file(app, args):
    dataset = app.require_current()
    if args.remove not in dataset.files:
        raise UserError(f"dataset '{dataset.name}' has no file {args.remove}; "
                        "list its files with 'datasets -f'")
    item = dataset.remove_file(args.remove)
    return [ok(f"file {item.id} {item.name} removed from dataset '{dataset.name}'; "
               'it stays on disk')]


def folder_dataset(app, args):
    dataset_id, folder = args.folder
    try:
        return find_dataset(app, int(dataset_id))
    except ValueError:
        raise UserError(f"datasets -o: '{dataset_id}' is not a dataset id") from None


def move_files(app, args):
    """Move the files (before the transaction); (folder, file id -> target, moved)."""
    dataset = folder_dataset(app, args)
    folder = Path(args.folder[1]).expanduser().resolve()
    if not folder.exists():
        raise UserError(f'{folder} does not exist; create it first')
    if not folder.is_dir():
        raise UserError(f'{folder} is not a folder; give the folder the files are in')
    plan = [(item, folder / item.name) for item in dataset.files.values()]
    for item, target in plan:
        check_relocation(item, target)
    files = {}
    try:
        for item, target in plan:
            files[item.id] = (target, relocate(item, target), item.path)
    except BaseException:
        unmove_files(app, args, (folder, files))  # interrupted: the files go back
        raise
    return folder, files


def unmove_files(app, args, gathered):
    """Put moved files back where they were (the command was not saved); a
    copy cut short by Ctrl-C across file systems is removed."""
    for target, moved, origin in gathered[1].values():
        if moved:
            shutil.move(target, origin)


def change_folder(app, args, gathered):
    dataset = folder_dataset(app, args)
    folder, files = gathered
    for file_id, (target, _, _) in files.items():
        item = dataset.files.get(file_id)
        if item is not None:
            item.path = str(target)
            item.refresh_stat()
    dataset.folder = str(folder)
    moved = sum(was_moved for _, was_moved, _ in files.values())
    return [ok(f"dataset {dataset.id} '{dataset.name}' now lives in {folder}: "
               f'{moved} files moved, {len(files) - moved} found there')]


def check_relocation(item, target):
    if Path(item.path) == target:
        return
    if item.exists() and target.exists():
        raise UserError(f'{target} exists already; nothing was moved')
    if not item.exists() and not target.exists():
        raise UserError(f'{item.name} is neither at {item.path} nor in {target.parent}; '
                        'nothing was moved')
    if not item.exists() and target.stat().st_size != item.size:
        raise UserError(f'{target} is not file {item.id} of the dataset: it has '
                        f'{counted(target.stat().st_size, "byte")}, the dataset\'s had '
                        f'{item.size:,}; nothing was moved')
    if item.exists() and not os.access(Path(item.path).parent, os.W_OK):
        raise UserError(f'cannot move {item.path}: its folder is not writable; '
                        'nothing was moved')


def relocate(item, target):
    """Move the file (or adopt it where it already is); 1 if moved."""
    if Path(item.path) == target:
        return 0
    moved = item.exists()
    if moved:
        try:
            shutil.move(item.path, target)
        except BaseException:
            if item.exists() and target.exists():
                target.unlink()  # a copy to another file system cut short
            raise
    return int(moved)


def run_tools(app, args):
    """Run argus and ra (before the transaction); [(path, kind, new)] they
    made, new when the file was not there before."""
    made = []
    try:
        return generate_files(app, args, made)
    except BaseException:
        remove_new_files(app, args, made)  # interrupted: no file the dataset lacks
        raise


def remove_new_files(app, args, made):
    """The command was not saved: files argus and ra made anew go again (a
    later run would find them in its way)."""
    for path, _, new in made:
        if new and path.exists():
            path.unlink()


def generate_files(app, args, made):
    dataset = app.require_current()
    source = generation_source(app, dataset, args.id)
    out = Path(args.out).expanduser().resolve() if args.out else Path(dataset.folder)
    if args.out and not out.exists() and out.parent.is_dir():
        out.mkdir()
    check_writable_folder(out)
    biargus, binetflow = generated_paths(source, out)
    for target in filter(None, (biargus, binetflow)):
        check_target(dataset, target, args.force)
    tell(app, generation_plan(source, out, biargus, binetflow))
    source_path = Path(source.path)
    if biargus:
        step(app, f'argus: {source.name} -> {biargus.name}')
        made.append((biargus, 'biargus', not biargus.exists()))
        argus.generate_biargus(source.path, biargus, app.config.argus_conf)
        source_path = biargus
    step(app, f'ra: {source_path.name} -> {binetflow.name}')
    made.append((binetflow, 'binetflow', not binetflow.exists()))
    argus.generate_binetflow(source_path, binetflow, app.config.ra_conf)
    return made


def generated_paths(source, out):
    """(the .biargus argus writes or None for an argus file, the .binetflow ra writes)."""
    if source.kind in ('pcap', 'pcapng'):
        biargus = out / (Path(source.name).stem + '.biargus')
        return biargus, out / (biargus.stem + '.binetflow')
    return None, out / (Path(source.name).stem + '.binetflow')


def generation_plan(source, out, biargus, binetflow):
    """Where -g writes, said before argus runs (minutes on a big capture)."""
    made = f'{biargus.name} with argus and ' if biargus else ''
    return (f'making {made}{binetflow.name} with ra in {out}, from {source.name} '
            f'(file {source.id})')


def generate(app, args, made):
    dataset = app.require_current()
    return [record_output(dataset, path, kind) for path, kind, _ in made]


def step(app, label):
    """Say on a terminal which tool runs now: argus on a big pcap takes minutes."""
    update = app.progress(label)
    if update:
        update(0, None)


def tell(app, text):
    """A line for the analyst at a terminal while the command is still running."""
    if app.tell:
        app.tell(text)


# The files -g makes flows from, most wanted first: a capture, else an argus
# file (a dataset's biargus is usually made from its capture).
GENERATION_SOURCES = ((('pcap', 'pcapng'), 'captures'), (('biargus',), 'argus files'))


def generation_source(app, dataset, file_id=None):
    """The file -g makes flows from: -i FILE_ID, the only capture (or argus
    file), or the one the analyst chooses (batch runs need -i then)."""
    if file_id is not None:
        item = dataset.files.get(file_id)
        if item is None or item.kind not in ('pcap', 'pcapng', 'biargus'):
            raise UserError(f"dataset '{dataset.name}' has no pcap, pcapng or biargus file "
                            f"{file_id}; list its files with 'datasets -f'")
    else:
        item = only_source(app, dataset)
    if not item.exists():
        raise UserError(moved_message(dataset, item))
    return item


def only_source(app, dataset):
    for kinds, what in GENERATION_SOURCES:
        found = dataset.files_of_kind(*kinds)
        if len(found) == 1:
            return found[0]
        if found:
            return chosen_source(app, dataset, found, what)
    raise UserError(f"dataset '{dataset.name}' has no pcap or biargus file to "
                    "generate flows from; add one with 'datasets -a PATH'")


def chosen_source(app, dataset, found, what):
    named = {str(item.id): item.name for item in found}
    if not app.choose:
        listed = ', '.join(f'{key} ({name})' for key, name in named.items())
        raise UserError(f"dataset '{dataset.name}' has {len(found)} {what}: {listed}; say "
                        'which to make flows from with -i FILE_ID')
    answer = app.choose(f'Which of the {what} to make flows from', named, str(found[0].id))
    return dataset.files[int(answer)]


def check_writable_folder(folder):
    if not folder.is_dir():
        raise UserError(f'{folder} is not a folder; create it or choose another with --out')
    # Root may write anywhere; a folder without write bits is still meant read-only.
    if not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222:
        raise UserError(f'cannot write in {folder} (permission denied); '
                        'choose a writable folder with --out FOLDER')


def check_target(dataset, path, force):
    owned = any(item.path == str(path) for item in dataset.files.values())
    if path.exists() and not owned and not force:
        raise UserError(f'{path} exists and is not a file of this dataset; remove it, '
                        'choose another folder with --out, or overwrite with --force')


def record_output(dataset, path, kind):
    for item in dataset.files.values():
        if item.path == str(path):
            item.refresh_stat()
            item.forget_contents()
            return ok(f'{path.name} regenerated (file {item.id})')
    item = dataset.add_file(path, kind)
    return ok(f'{path.name} generated and added as file {item.id}')


COMMANDS = [Command(
    'datasets', 'create, select, list and delete datasets and their files',
    actions=(
        Action(('-c', '--create'), 'create a dataset from a file and select it',
               metavar='FILE', complete='path', gather=gather_create, apply=create),
        Action(('-l', '--list'), 'list the datasets', apply=list_datasets),
        Action(('-s', '--select'), 'select a dataset', metavar='ID', type=int,
               complete='dataset_id', apply=select),
        Action(('-u', '--unselect'), 'unselect the current dataset', apply=unselect),
        Action(('-d', '--delete'), 'delete a dataset and everything generated from it',
               metavar='ID', type=int, complete='dataset_id', gather=confirm_delete,
               apply=delete),
        Action(('-f', '--files'), 'list the files of the current dataset', apply=list_files),
        Action(('-F', '--file'), "details of a file of the current dataset (a capture's "
               'packets per time bin: a picture with --png)', metavar='ID', type=int,
               complete='file_id', gather=gather_file_info, apply=file_info, plots=True),
        Action(('-a', '--add'), 'add a file to the current dataset', metavar='PATH',
               complete='path', gather=gather_add, apply=add_file),
        Action(('-D', '--remove'), 'remove a file from the current dataset (the file stays '
               'on disk)', metavar='ID', type=int, complete='file_id', apply=remove_file),
        Action(('-o', '--folder'), "change a dataset's folder: its files are moved there, "
               'or found there if they were moved already', nargs=2,
               metavar=('ID', 'FOLDER'), complete=('dataset_id', 'path'), gather=move_files,
               apply=change_folder, undo=unmove_files,
               outside="the files moved to the new folder stay there; move them back with "
                       "'datasets -o ID OLD_FOLDER'"),
        Action(('-n', '--note'), "edit a dataset's note in $EDITOR (or give --text)",
               metavar='ID', type=int, complete='dataset_id', gather=gather_note,
               apply=edit_note),
        Action(('-g', '--generate'), 'make <pcap>.biargus with argus and <pcap>.binetflow '
               "with ra from the current dataset's pcap (or biargus)", gather=run_tools,
               apply=generate, undo=remove_new_files,
               outside='the .biargus and .binetflow files argus and ra wrote stay on disk'),
    ),
    options=(
        Flag(('--name',), "name of the new dataset (-c); default: the file's folder name",
             metavar='NAME'),
        Flag(('--text',), 'the new note text (-n), instead of $EDITOR', metavar='TEXT'),
        Flag(('--bin',), 'width of the packets-per-time bins (-F); default from stf.conf',
             metavar='SECONDS', type=int),
        Flag(('--out',), "where -g writes (default: the dataset's folder)", metavar='FOLDER',
             complete='path'),
        Flag(('--force',), '-g: overwrite output files stf did not make; --png, --output: '
             'overwrite the picture, the listing'),
        Flag(('-i', '--id'), '-g: the capture (or biargus) to use when there are several',
             metavar='FILE_ID', type=int, complete='file_id'),
        common.YES,
    ))]
