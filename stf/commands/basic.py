"""help, info, clear, exit: the console's own commands."""
import platform

import stf
from stf.commands.registry import FLAG_MEANINGS, KEPT_MEANINGS, Command, ExitRequested, Flag
from stf.core.errors import UserError
from stf.commands.results import ClearScreen, Fields, Table, Text


def run_help(app, args):
    if args.command:
        command = app.registry.get(args.command)
        if command is None:
            raise UserError(app.registry.unknown(args.command))
        return [Text(command.parser().format_help().rstrip())]
    rows = [(command.name, ', '.join(command.aliases), command.help)
            for command in app.registry.commands]
    rows.append(('!CMD', '', 'run CMD in the system shell'))
    letters = [(letter, ', '.join(names), meaning) for letter, names, meaning in FLAG_MEANINGS]
    return [Table(['command', 'aliases', 'what it does'], rows,
                  footer="Every command has -h. Ctrl-R searches the history."),
            Table(['flag', 'long', 'means in every command'], letters, title='flag letters',
                  footer='older meanings kept: ' + ', '.join(
                      f'{name} {letter} {long}' for (name, letter), long in
                      sorted(KEPT_MEANINGS.items())))]


def run_info(app, args):
    from stf.core.captures import argus
    kind, location = app.database.describe()
    pairs = [
        ('stf', stf.__version__),
        ('python', platform.python_version()),
        ('configuration', str(app.config.path)),
        ('database opened from', app.database.opened_from or str(app.config.zodb_conf)),
        ('packets per bin (bin_seconds)', app.config.bin_seconds),
        ('pager', app.config.pager),
        ('database', f'{kind} {location}'),
        ('stf home', str(app.home())),
        # What the prompt shows: info works while the database server is away.
        ('current dataset', '-' if app.current_id is None
         else f'{app.current_id} {app.current_name}'),
    ]
    pairs += [(tool, path or 'not installed') for tool, path in argus.tool_status().items()]
    return [Fields(pairs, title='stf')]


def run_clear(app, args):
    return [ClearScreen()]


def run_exit(app, args):
    raise ExitRequested()


COMMANDS = [
    Command('help', "list the commands, or show one command's options", run=run_help,
            options=(Flag(('command',), 'show the options of this command', nargs='?',
                          complete='command'),), uses_database=False),
    Command('info', 'stf version, configuration, database and tools', run=run_info,
            uses_database=False),
    Command('clear', 'clear the screen', run=run_clear, uses_database=False),
    Command('exit', 'leave stf (also Ctrl-D)', run=run_exit, aliases=('quit',),
            uses_database=False),
]
