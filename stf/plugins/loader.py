"""Finding plugins and adding their commands to the registry.

Where plugins come from, in this order (SOURCES): the modules of
stf/plugins/shipped/, installed packages declaring the entry point group
`stf.plugins`, the .py files of <stf home>/plugins/ and those of the folder
stf.conf names (plugins_folder). Only there: stf never loads code from a
capture, a database or a download.

Each plugin is imported on its own; whatever it raises (a SyntaxError too)
makes it one failure record with a one-line reason, and the others still
load. Its commands are added only if none of them takes the name or alias of
a built-in command or of an earlier plugin's: a plugin loads whole or not at
all.
"""
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from stf.commands.registry import Command

ENTRY_POINT_GROUP = 'stf.plugins'
SHIPPED_PACKAGE = 'stf.plugins.shipped'
# A file plugin's module name: stable across runs, since a database names the
# module of every class a plugin stores there.
FILE_MODULE_PREFIX = 'stf_plugin_'
COMMAND_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_-]*\Z')

# module path -> ((mtime, size), module): a file plugin is run once per
# process while it is unchanged, so that the classes it stores stay the same
# objects for every database opened meanwhile (a server, the tests).
_file_modules = {}


@dataclass
class Plugin:
    """What `plugins -l` shows of one plugin. status: 'loaded', 'failed:
    REASON' or 'refused: REASON' (one line each); commands: the names its
    COMMANDS declare (those added when loaded); details: the traceback of
    what a plugin that failed raised, for the log."""
    name: str
    source: str
    version: str = '-'
    commands: list = field(default_factory=list)
    status: str = 'loaded'
    details: str = ''

    @property
    def loaded(self):
        return self.status == 'loaded'

    def warning(self):
        """The start-up line for a plugin that did not load, or None."""
        if self.loaded:
            return None
        return f"plugin '{self.name}' ({self.source}) {self.status}"


class PluginFailed(Exception):
    """A plugin that cannot load, with the one-line reason."""


def one_line(error):
    """An exception as one line: its type and the first line of its text."""
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


def load(registry, home, folder=None):
    """Find every plugin, import it and add its commands to registry.
    home: stf's folder (plugins in home/plugins/); folder: plugins_folder of
    stf.conf, or None. Returns the Plugin records, in the order found."""
    taken = dict.fromkeys(registry.names(), 'a built-in command')
    records, sources = [], {}  # sources: plugin name -> where the first of that name came from
    for record, importer in found(home, folder):
        records.append(record)
        if importer is None:  # a folder that cannot be read: its record says why
            continue
        if record.name in sources:
            record.status = (f"refused: a plugin named '{record.name}' came earlier "
                             f'({sources[record.name]})')
            continue
        sources[record.name] = record.source
        commands = imported(record, importer)
        if commands is None:
            continue
        clash = clashing(commands, taken)
        if clash:
            record.status = f'refused: {clash}'
            continue
        for command in commands:
            registry.add(command)
            taken.update(dict.fromkeys((command.name, *command.aliases),
                                       f"a command of plugin '{record.name}'"))
    return records


def imported(record, importer):
    """The plugin's checked commands (its version noted in record), or None
    with record's status saying why it failed."""
    try:
        module = importer()
        record.version = version_of(module, record.version)
        commands = commands_of(module)
    except PluginFailed as failure:
        record.status = f'failed: {failure}'
        return None
    except (Exception, SystemExit) as error:  # whatever a plugin raises, it fails alone
        record.details = traceback.format_exc()
        record.status = f'failed: {one_line(error)}'
        return None
    record.commands = [command.name for command in commands]
    return commands


def found(home, folder):
    """(Plugin record, importer) of every plugin, in SOURCES order;
    importer() imports it and returns the module (or the object an entry
    point names); None for a record that failed already."""
    for source in SOURCES:
        yield from source(home, folder)


def shipped(home, folder):
    package = importlib.import_module(SHIPPED_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda item: item.name):
        if not info.name.startswith('_'):
            module = f'{SHIPPED_PACKAGE}.{info.name}'
            yield (Plugin(info.name, 'shipped'),
                   lambda module=module: importlib.import_module(module))


def packages(home, folder):
    """Entry points of the group stf.plugins; each names a module or an
    object with COMMANDS (VERSION: its distribution's unless it says)."""
    for point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                        key=lambda item: item.name):
        dist = point.dist
        record = (Plugin(point.name, f'package {dist.name}=={dist.version}', dist.version)
                  if dist else Plugin(point.name, 'package'))
        yield record, point.load


def home_files(home, folder):
    folder = Path(home) / 'plugins'
    if folder.exists():  # an analyst without plugins has none
        yield from files_in(folder, 'file')


def folder_files(home, folder):
    if folder is not None:
        yield from files_in(Path(folder), 'folder')


SOURCES = (shipped, packages, home_files, folder_files)


def files_in(folder, kind):
    """The .py files of folder, as plugins; a folder that cannot be read is
    one failed record."""
    try:
        paths = sorted(folder.iterdir())
    except OSError as error:
        why = error.strerror or one_line(error)
        yield Plugin(folder.name, f'{kind} {folder}', status=f'failed: cannot read the '
                     f'folder: {why}' + ('' if kind == 'file' else
                                         '; fix plugins_folder in stf.conf')), None
        return
    for path in paths:
        if path.suffix == '.py' and not path.name.startswith(('_', '.')):
            yield Plugin(path.stem, f'{kind} {path}'), lambda path=path: file_plugin(path)


def file_plugin(path):
    """Import a .py file as the module stf_plugin_<stem> (once per process
    while the file is unchanged)."""
    if not path.stem.isidentifier():
        raise PluginFailed(f"'{path.name}' is not a Python module name (letters, digits "
                           'and _); rename the file')
    name = FILE_MODULE_PREFIX + path.stem
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    kept = _file_modules.get(str(path))
    if kept and kept[0] == stamp and sys.modules.get(name) is kept[1]:
        return kept[1]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # In sys.modules while it runs: the classes it defines are found by name
    # (pickles, dataclasses).
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _file_modules[str(path)] = (stamp, module)
    return module


def version_of(module, default):
    version = getattr(module, 'VERSION', None)
    return default if version is None else str(version)


def commands_of(module):
    """The plugin's COMMANDS, checked: Command records whose options build."""
    commands = getattr(module, 'COMMANDS', None)
    if not isinstance(commands, (list, tuple)):
        raise PluginFailed('it declares no COMMANDS (a list of api.Command)')
    for command in commands:
        problem = command_problem(command)
        if problem:
            raise PluginFailed(problem)
    return list(commands)


def command_problem(command):
    """What makes command unusable, in one line, or None."""
    if not isinstance(command, Command):
        return f'COMMANDS holds {command!r:.40}, which is not an api.Command'
    for name in (command.name, *command.aliases):
        if not isinstance(name, str) or not COMMAND_NAME.match(name):
            return f'command name {name!r} is not one word (a letter, then letters, digits, _, -)'
    if command.run is None and not command.actions:
        return f"command '{command.name}' has neither actions nor run"
    idle = [action.flags[0] for action in command.actions
            if action.apply is None and action.gather is None]
    if idle:
        return f"command '{command.name}': action {idle[0]} has neither apply nor gather"
    try:
        command.parser()
    except Exception as error:  # argparse refuses the options
        return f"command '{command.name}': its options do not build: {one_line(error)}"
    return None


def clashing(commands, taken):
    """Why the commands cannot be added (a name taken), or ''."""
    own = set()
    for command in commands:
        for name in (command.name, *command.aliases):
            if name in taken:
                return f"'{name}' is already {taken[name]}; a plugin cannot replace it"
            if name in own:
                return f"'{name}' is declared twice in its COMMANDS"
            own.add(name)
    return ''
