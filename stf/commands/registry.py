"""One registry of commands: help, completion and dispatch all read it.

A command is one record: its name, aliases, one-line help, how to build its
argparse parser, which kind of value completes each flag, and the handler.
"""
import argparse
from dataclasses import dataclass, field
from typing import Callable

from stf.core.errors import UserError


class HelpRequested(Exception):
    """Raised instead of printing when -h is given; carries the help text."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


class ExitRequested(Exception):
    """`exit`, `quit`: leave the console."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that never prints or exits: it raises instead."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message}; see '{self.prog} -h'")

    def print_help(self, file=None):
        raise HelpRequested(self.format_help())

    def exit(self, status=0, message=None):
        if message:
            raise UserError(message.strip())
        raise HelpRequested(self.format_help())


@dataclass
class Command:
    """A console command.

    name: what the user types; aliases: other names; help: one line.
    configure: adds arguments to a CommandParser.
    handler: handler(app, args) -> list of result items.
    completions: option string, or argparse dest (for all its option
      strings), -> kind of value that follows it ('dataset_id', 'path', ...);
      '' for positional values.
    uses_database: False for commands that must work while the database
      server is away (help, exit): they run outside any transaction.
    """
    name: str
    help: str
    configure: Callable
    handler: Callable
    aliases: tuple = ()
    completions: dict = field(default_factory=dict)
    uses_database: bool = True  # False: runs without a transaction (server away too)

    _parser: object = field(default=None, init=False, repr=False)

    def parser(self):
        # Built once: completion asks for the options on every keystroke.
        if self._parser is None:
            parser = CommandParser(prog=self.name, description=self.help,
                                   add_help=True, allow_abbrev=False)
            self.configure(parser)
            self._parser = parser
        return self._parser

    def options(self):
        """(option string, its help) of every option of this command."""
        return [(opt, action.help or '') for action in self.parser()._actions
                for opt in action.option_strings]

    def completion_kind(self, option):
        """The kind of value completing after an option string, or None."""
        if option in self.completions:
            return self.completions[option]
        dest = next((action.dest for action in self.parser()._actions
                     if option in action.option_strings), None)
        return self.completions.get(dest)

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


def action_handler(name, actions, example='l'):
    """A handler that runs the action whose flag was given.

    actions: argparse dest -> function(app, args). The flags are an optional
    mutually exclusive group, so that a mistyped flag is reported as such
    rather than as a missing action.
    """
    def run(app, args):
        for dest, action in actions.items():
            value = getattr(args, dest)
            if value is not None and value is not False:
                return action(app, args)
        raise UserError(f"{name}: say what to do, e.g. '{name} -{example}'; see '{name} -h'")
    return run
