"""database: information and upkeep of the object database."""
from stf.commands import common
from stf.commands.registry import Command, action_handler
from stf.core.errors import UserError
from stf.commands.results import Fields, Table, ok
from stf.models import STRUCTURES


def configure(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument('-i', '--info', action='store_true',
                       help='storage, path or server, size, object count')
    group.add_argument('-c', '--commit', action='store_true',
                       help='commit (every command already commits when it succeeds)')
    group.add_argument('-r', '--revert', action='store_true',
                       help='drop what is not committed and see the others\' commits')
    group.add_argument('-p', '--pack', action='store_true',
                       help='pack the database (drop old revisions)')
    group.add_argument('-l', '--list', action='store_true',
                       help='list the top-level structures')
    group.add_argument('-d', '--delete', metavar='NAME',
                       help='delete one top-level structure and everything in it')


def info(app, args):
    return [Fields(app.database.info(), title='database')]


def commit(app, args):
    return [ok('committed; note that every command commits when it succeeds')]


def revert(app, args):
    app.database.refresh()
    return [ok('reverted to the stored state; you now see every committed change')]


def pack(app, args):
    # Packing needs no open transaction of ours; the command's own is empty.
    before, after = app.database.pack()
    return [ok(f'packed: {before:,} bytes -> {after:,} bytes')]


def list_structures(app, args):
    rows = [(name, type(value).__name__, _count(value))
            for name, value in sorted(app.root.items())]
    return [Table(['name', 'type', 'items'], rows, title='top-level structures')]


def _count(value):
    try:
        return len(value)
    except TypeError:
        return '-'


def delete(app, args):
    name = args.delete
    if name not in app.root:
        known = ', '.join(sorted(app.root.keys())) or 'none'
        raise UserError(f"no top-level structure '{name}'; existing: {known}")
    count = _count(app.root[name])
    if not common.confirmed(app, f"Delete '{name}' and the {count} items in it?"):
        return [ok('nothing was deleted')]
    del app.root[name]
    if name in STRUCTURES:
        app.root[name] = STRUCTURES[name]()  # stf needs it: start it empty
        if name == 'datasets':
            app.current_id = None
        return [ok(f"deleted everything in '{name}'; it starts empty")]
    return [ok(f"deleted '{name}'")]


ACTIONS = {'info': info, 'commit': commit, 'revert': revert, 'pack': pack,
           'list': list_structures, 'delete': delete}

COMMANDS = [Command('database', 'information about and upkeep of the database',
                    configure, action_handler('database', ACTIONS, example='i'), completions={'-d': 'structure', '--delete': 'structure'})]
