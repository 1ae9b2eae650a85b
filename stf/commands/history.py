"""history, undo: the database's record of commands, and taking one back."""
import time
from dataclasses import dataclass

from stf.commands.registry import Action, Command
from stf.commands.results import Table, ok, warning
from stf.core.errors import UserError
from stf.db.history import text


def when(seconds):
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(seconds))


def list_history(app, args):
    if args.number < 1:
        raise UserError('history -n needs a number of transactions, 1 or more')
    rows = [(item.short, when(item.time), item.analyst, item.command)
            for item in app.database.transactions(args.number)]
    return [Table(['id', 'time', 'analyst', 'command'], rows,
                  title="this database's transactions, newest first",
                  footer="take one back with 'undo ID'")]


@dataclass(frozen=True)
class UndoPlan:
    """The transaction undo takes back, checked before undo's transaction."""
    entry: object


def find_undoable(app, args):
    """The transaction ID names, refused when a later one wrote any object it
    wrote (ZODB's undo would refuse it too, without saying which)."""
    short = args.transaction.strip().lower()
    if not short or any(char not in '0123456789abcdef' for char in short):
        raise UserError(f"'{args.transaction}' is not a transaction id (hex, as "
                        "'history' shows it)")
    if len(short) < 4:
        raise UserError(f"'{short}' is too short to name one transaction: give at least 4 "
                        "characters of the id 'history' shows")
    found = app.database.find_transaction(short)
    if not found:
        raise UserError(f"no transaction {short} in this database's history (packing ends "
                        "undo before the pack time); see 'history'")
    if len(found) > 1:
        raise UserError(f'{len(found)} transactions end with {short}; give more of its id '
                        f'({", ".join(item.tid.hex() for item in found)})')
    (entry,) = found
    later = app.database.undo_blocker(entry.tid)
    if later is not None and text(later.get('description')).startswith(f'undo {entry.short}:'):
        raise UserError(f'{entry.short} ({entry.command}) was undone already: '
                        f"{text(later.get('description'))}")
    if later is not None:
        raise UserError(f"cannot undo {entry.short} ({entry.command}): a later command "
                        f"changed the same data: {text(later.get('description'))} "
                        f"({text(later.get('user_name')).removeprefix('/ ')}, "
                        f"{when(later.get('time', 0))}); undo that first")
    # The history names what was undone, whatever was typed.
    app.database.annotation = (f'undo {entry.short}: {entry.command}', '')
    return UndoPlan(entry)


def undo(app, args, plan):
    app.database.undo(plan.entry)
    items = [ok(f'undone: {plan.entry.short} {plan.entry.command}')]
    if plan.entry.outside:
        items.append(warning(f'undo cannot take back what it did outside the database: '
                             f'{plan.entry.outside}'))
    return items


COMMANDS = [
    Command('history', "the database's last commands, by every analyst",
            example='n 20',
            actions=(Action(('-n', '--number'), 'how many, newest first (default 20); what you '
                            'typed in this console is another history: Ctrl-R searches it',
                            metavar='N', type=int, nargs='?', const=20, default=20,
                            apply=list_history),)),
    Command('undo', "take back a command listed by 'history'", output=False,
            options=(Action(('transaction',), "the id 'history' shows; refused when a later "
                            'command changed the same data',
                            metavar='ID', complete='transaction_id', gather=find_undoable,
                            apply=undo),)),
]
