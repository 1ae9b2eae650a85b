"""database: information and upkeep of the object database."""
from pathlib import Path

import stf
from stf.commands import common
from stf.commands.registry import Action, Command
from stf.core.errors import UserError
from stf.commands.results import Fields, Table, ok, warning
from stf.db import copying
from stf.models import STRUCTURES
from stf.ops import deletions
from stf.core.formats import counted


def info(app, args):
    return [Fields(app.database.info(), title='database')]


def commit(app, args):
    return [ok('committed; note that every command commits when it succeeds')]


def revert(app, args):
    app.database.refresh()
    return [ok('reverted to the stored state; you now see every committed change')]


def pack(app, args):
    # Packing needs no open transaction of ours; the command's own is empty.
    unit, before, after = app.database.pack()
    done = f'packed: {counted(before, unit)} -> {counted(after, unit)}'
    if unit != 'byte':
        done += (' (PostgreSQL reuses the room freed after its next VACUUM; its files keep '
                 'their size)')
    return [ok(done),
            warning("undo cannot go back before this pack: the transactions 'history' "
                    'listed before it can no longer be undone')]


def list_structures(app, args):
    rows = [(name, type(value).__name__, _count(value))
            for name, value in sorted(app.root.items())]
    return [Table(['name', 'type', 'items'], rows, title='top-level structures')]


def _count(value):
    try:
        return len(value)
    except TypeError:
        return '-'


def structure(app, name):
    if name not in app.root:
        known = ', '.join(sorted(app.root.keys())) or 'none'
        raise UserError(f"no top-level structure '{name}'; existing: {known}")
    return app.root[name]


def structure_impact(app, name):
    # Everything in it goes: always told and asked (--yes in batch mode).
    return deletions.Impact(f"'{name}'", (f'the {_count(structure(app, name))} items in it',))


def confirm_delete(app, args):
    return common.consent(app, args, structure_impact(app, args.delete))


def delete(app, args, consent):
    name = args.delete
    if not consent.given:
        return [ok('nothing was deleted')]
    common.check_consent(consent, structure_impact(app, name))
    if name in STRUCTURES:
        # stf needs it: emptied through the cascades, so that nothing points at
        # what went, and its ids are not given again
        deletions.empty_structure(app.root, name)
        if name == 'datasets':
            app.current_id = None
        return [ok(f"deleted everything in '{name}'; it starts empty")]
    del app.root[name]
    return [ok(f"deleted '{name}'")]


# $ROOT in a ZConfig file: stf's folder, as for the configured database.
STF_FOLDER = Path(stf.__file__).resolve().parent.parent


def copy_to(app, args):
    # Written into another storage, nothing committed here: all in gather.
    conf = Path(args.copy_to).expanduser()
    if not conf.is_file():
        raise UserError(f'{conf} is not a file; give the ZConfig file of the database to '
                        'copy into (e.g. confs/zodb.conf)')
    line = copying.copy_to(app.database, app.root, conf, STF_FOLDER,
                           app.progress('copying transactions'))
    return [ok(line)]


COMMANDS = [Command(
    'database', 'information about and upkeep of the database', example='i',
    actions=(
        Action(('-i', '--info'), 'storage, path or server, size, object count', apply=info),
        Action(('-c', '--commit'), 'commit (every command already commits when it succeeds)',
               apply=commit),
        Action(('-r', '--revert'), "drop what is not committed and see the others' commits",
               apply=revert),
        Action(('-p', '--pack'), 'pack the database (drop old revisions; ends undo before '
               'the pack time)', apply=pack),
        Action(('-l', '--list'), 'list the top-level structures', apply=list_structures),
        Action(('-d', '--delete'), 'delete one top-level structure and everything in it',
               metavar='NAME', complete='structure', gather=confirm_delete, apply=delete),
        Action(('--copy-to',), 'copy the database with its history into the empty database '
               'a ZConfig file names, then compare them', metavar='CONFIG', complete='path',
               gather=copy_to),
    ),
    options=(common.YES,))]
