"""One registry of commands: help, completion and dispatch all read it.

A command is one record: its name, aliases, one-line help, how to build its
argparse parser, which kind of value completes each flag, and the handler.
"""
import argparse
import difflib
from dataclasses import dataclass, field, replace
from typing import Callable

from stf.core.errors import UserError


# What each flag letter means in every command: a command uses a letter only
# with the long names given here. `help` shows this table.
FLAG_MEANINGS = (
    ('-l', ('--list',), 'list'),
    ('-c', ('--create',), 'create'),
    ('-d', ('--delete',), 'delete'),
    ('-n', ('--note',), "edit a note"),
    ('-f', ('--filter',), 'filter: key<op>value ...'),
    ('-i', ('--id',), 'the id of what the action works on'),
    ('-g', ('--generate', '--group'), 'generate; or the group an action works on'),
    ('-o', ('--output',), 'the file written (--output where -o means something else)'),
    ('--yes', ('--yes',), 'confirm without being asked'),
)
# Older meanings that commands keep so that what analysts type goes on working.
KEPT_MEANINGS = {('database', '-i'): '--info', ('database', '-c'): '--commit',
                 ('models', '-c'): '--constructor', ('labels', '-c'): '--connection',
                 ('datasets', '-o'): '--folder', ('datasets', '-f'): '--files',
                 # labels -o writes the labels file; --output keeps a listing
                 ('labels', '-o'): '--export',
                 # `history -n 20` counts, as the shell's and git's do
                 ('history', '-n'): '--number',
                 ('experiments', '-n'): '--new',
                 # the original stf's distances command
                 ('distances', '-n'): '--new', ('distances', '-c'): '--compare'}


class HelpRequested(Exception):
    """Raised instead of printing when -h is given; carries the help text."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


class ExitRequested(Exception):
    """`exit`, `quit`: leave the console."""


def closest(word, names):
    """The name most like a mistyped word (difflib's ratio 0.6 or more), or None."""
    found = difflib.get_close_matches(word, names, n=1)
    return found[0] if found else None


# argparse's error for words it does not know (options mistyped, mostly).
UNRECOGNIZED = 'unrecognized arguments: '


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that never prints or exits: it raises instead."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message}{self.guess(message)}; see '{self.prog} -h'")

    def guess(self, message):
        """' (did you mean --sort?)' when an unrecognized option is like one of ours."""
        if not message.startswith(UNRECOGNIZED):
            return ''
        for word in message[len(UNRECOGNIZED):].split():
            match = word.startswith('-') and closest(word.partition('=')[0],
                                                     list(self._option_string_actions))
            if match:
                return f' (did you mean {match}?)'
        return ''

    def print_help(self, file=None):
        raise HelpRequested(self.format_help())

    def exit(self, status=0, message=None):
        if message:
            raise UserError(message.strip())
        raise HelpRequested(self.format_help())


@dataclass(frozen=True)
class Flag:
    """One option of a command, declared once: argparse, dispatch, completion
    and help are all built from it.

    flags: its option strings ('-c', '--create'), or one name for a
    positional value; metavar: None (with nargs None) for a switch, else what
    the help shows (a tuple for several values); complete: the kind of value
    completion offers ('dataset_id', 'path', ...; a tuple for several values);
    extend: given again, it adds values (filters); attribute: its name in
    the parsed arguments when the long flag cannot be one (--import)."""
    flags: tuple
    help: str = ''
    metavar: object = None
    type: object = None
    nargs: object = None
    const: object = None
    default: object = None
    complete: object = None
    extend: bool = False
    attribute: str = None

    @property
    def dest(self):
        """Its attribute in the parsed arguments (from the long flag unless given)."""
        if self.attribute:
            return self.attribute
        name = next((flag for flag in self.flags if flag.startswith('--')), self.flags[0])
        return name.lstrip('-').replace('-', '_')

    def add_to(self, parser):
        settings = {'help': self.help}
        if self.attribute:
            settings['dest'] = self.attribute
        if self.metavar is None and self.nargs is None and self.flags[0].startswith('-'):
            settings['action'] = 'store_true'
        else:
            settings.update({name: getattr(self, name) for name in
                             ('metavar', 'type', 'nargs', 'const', 'default')
                             if getattr(self, name) is not None})
            if self.extend:
                settings['action'] = 'extend'
        parser.add_argument(*self.flags, **settings)


@dataclass(frozen=True)
class Action(Flag):
    """A Flag that says what the command does (one per run), in two steps.

    gather(app, args): everything that talks to the outside world —
    questions, $EDITOR, argus and ra, reading and writing files — before the
    transaction; it may read the database, and returns what it gathered.
    apply(app, args) or, when the action gathers, apply(app, args, gathered):
    the transaction, which only applies; a conflict or a take-over of the
    shared file runs it again, never gather. Without apply, what gather
    returns is the result (actions that change nothing in the database).
    undo(app, args, gathered): takes back what gather did outside when the
    transaction was not saved (files made or moved), so that nothing is left
    that the database does not know.
    outside: what the action does outside the database that the `undo`
    command cannot take back once it was saved (kept in the history).
    plots: it returns a picture (results.Plot) that --png FILE writes."""
    apply: Callable = None
    gather: Callable = None
    undo: Callable = None
    outside: str = ''
    plots: bool = False


# Every command also takes these (unless it gives one a meaning of its own):
# the renderer sorts its tables and writes them for other programs.
OUTPUT_FLAGS = (
    Flag(('--sort',), 'sort the listing by KEY (its field name; -KEY or KEY:desc '
         'descending; several: KEY,KEY)', metavar='KEY'),
    Flag(('--json',), 'print the result as JSON (a table: an array of objects)'),
    Flag(('--csv',), 'print the result as CSV'),
    Flag(('--tsv',), 'print the result as TSV'),
    Flag(('--output',), 'with --json, --csv or --tsv: the file written', metavar='FILE',
         complete='path'),
    Flag(('--force',), 'overwrite the file of {files}'),
)
# The flags of OUTPUT_FLAGS and PNG_FLAG that name a file --force may overwrite.
FILE_FLAGS = ('--output', '--png')
# Commands with an action that draws (Action.plots) also take this.
PNG_FLAG = Flag(('--png',), 'write the picture of the action into FILE (PNG) instead of '
                'showing it', metavar='FILE', complete='path')


def for_programs(args):
    """True when the result is written as --json, --csv or --tsv: a listing
    that the screen shows in part then gives every row."""
    return any(getattr(args, name, False) for name in ('json', 'csv', 'tsv'))


@dataclass
class Command:
    """A console command: name, one-line help, its actions (one of which is
    given each time) and its other options, each declared once.

    run(app, args): for commands without actions (help, info, exit).
    uses_database: False for commands that must work while the database
    server is away; they run outside any transaction.
    example: the action letter the 'say what to do' message suggests.
    """
    name: str
    help: str
    actions: tuple = ()
    options: tuple = ()
    run: Callable = None
    aliases: tuple = ()
    example: str = 'l'
    uses_database: bool = True
    output: bool = True     # takes OUTPUT_FLAGS (False: it lists nothing)

    _parser: object = field(default=None, init=False, repr=False)

    def parser(self):
        # Built once: completion asks for the options on every keystroke.
        if self._parser is None:
            parser = CommandParser(prog=self.name, description=self.help,
                                   add_help=True, allow_abbrev=False)
            if self.actions:  # argparse cannot show the help of an empty group
                actions = parser.add_mutually_exclusive_group()
                for action in self.actions:
                    action.add_to(actions)
            for option in self.options:
                option.add_to(parser)
            for option in self.output_flags():
                option.add_to(parser)
            self._parser = parser
        return self._parser

    def output_flags(self):
        """The OUTPUT_FLAGS this command does not define itself, and
        PNG_FLAG when one of its actions draws."""
        if not self.output:
            return ()
        own = {flag for option in (*self.actions, *self.options) for flag in option.flags}
        found = OUTPUT_FLAGS + ((PNG_FLAG,) if self.drawing_actions() else ())
        kept = [option for option in found if not own & set(option.flags)]
        # --force's help names the files of this command only.
        files = ' or '.join(option.flags[0] for option in kept if option.flags[0] in FILE_FLAGS)
        return tuple(replace(option, help=option.help.format(files=files))
                     if '{files}' in option.help else option
                     for option in kept if files or option.flags[0] != '--force')

    def drawing_actions(self):
        """The actions that return a picture (--png writes it)."""
        return [option for option in (*self.actions, *self.options)
                if isinstance(option, Action) and option.plots]

    def flags(self):
        return (*self.actions, *self.options, *self.output_flags())

    def chosen(self, args):
        """The action given on the command line. An Action among the options
        (one that also qualifies other actions, as connections -g GROUP does)
        counts only when no other action is given."""
        others = [option for option in self.options if isinstance(option, Action)]
        for action in (*self.actions, *others):
            value = getattr(args, action.dest)
            if value is not None and value is not False:
                return action
        raise UserError(f"{self.name}: say what to do, e.g. '{self.name} -{self.example}'; "
                        f"see '{self.name} -h'")

    def option_help(self):
        """(option string, its help) of every option of this command."""
        return [(opt, action.help or '') for action in self.parser()._actions
                for opt in action.option_strings]

    def completion_kind(self, option):
        """The kind of value completing after an option string ('' for a
        positional value), or None."""
        for flag in self.flags():
            if option in flag.flags or (option == '' and not flag.flags[0].startswith('-')):
                return flag.complete
        return None

    def options_taking_values(self):
        """Option string -> its argparse nargs, for options that take values."""
        return {opt: action.nargs for action in self.parser()._actions
                if action.nargs != 0 for opt in action.option_strings}


class Registry:
    """Commands by name and alias."""

    def __init__(self, commands=()):
        self._by_name = {}
        self.commands = []
        for command in commands:
            self.add(command)

    def add(self, command):
        for name in (command.name, *command.aliases):
            if name in self._by_name:
                raise ValueError(f'command name {name!r} registered twice')
            self._by_name[name] = command
        self.commands.append(command)

    def get(self, name):
        return self._by_name.get(name)

    def names(self):
        return sorted(self._by_name)

    def unknown(self, name):
        """The error for a command name that is none of ours."""
        match = closest(name, self.names())
        guess = f" (did you mean '{match}'?)" if match else ''
        return f"unknown command '{name}'{guess}; type 'help' for the list of commands"
