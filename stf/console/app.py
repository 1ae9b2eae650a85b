"""The application: the open database, the current dataset, and dispatch.

One App serves a console or a batch run. execute() turns one input line into
result items: split with shell rules, find the command in the registry, parse
its arguments, run the handler as one transaction. The App knows no terminal:
the console gives it `ask`, `progress`, `busy` and `interactive` when there
is one.
"""
import contextlib
import logging
import shlex
import threading
import time
import traceback
from dataclasses import dataclass, field

from stf.commands import build_registry, common
from stf.commands.registry import ExitRequested, HelpRequested
from stf.console import completion, config as config_module, pictures, structured
from stf.core.errors import Interrupted, UserError
from stf.db.errors import ServerAway, server_lost
from stf.core.flows.filters import FILTER_KEYS
from stf.core.flows import labelnames
from stf.core.flows.letters import CONSTRUCTORS
from stf.commands.results import Message, Text, cut_items
from stf.models import ensure_structures
from stf.plugins import loader as plugin_loader
from stf.core.formats import counted

log = logging.getLogger('stf')


@dataclass
class Reply:
    """What one input line gave: its items and whether it succeeded."""
    items: list = field(default_factory=list)
    ok: bool = True


def log_to_home():
    """Send stf's log, and the messages of the ZEO client, to <stf home>/stf.log
    (once per home folder): a server going away must not fill the screen."""
    path = str(config_module.stf_home() / 'stf.log')
    for handler in list(log.handlers):
        if getattr(handler, 'baseFilename', None) == path:
            return
        log.removeHandler(handler)
    handler = logging.FileHandler(path, delay=True)
    handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s %(message)s'))
    handler.addFilter(shorten_server_away)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    # A log the disk has no room for is lost rather than shown on the screen.
    logging.raiseExceptions = False
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.addHandler(handler)
        library.propagate = False


def shorten_server_away(record):
    """A load failed because the database server is away: one line, no
    traceback (the command says so on the screen; a traceback there tells
    nothing)."""
    error = record.exc_info[1] if record.exc_info else None
    if error is not None and (isinstance(error, ServerAway) or server_lost(error)):
        record.msg = f'{record.getMessage()}: {record.exc_info[1]}'
        record.args = ()
        record.exc_info = record.exc_text = None
    return True


# Loggers of the libraries that talk to the database server (ZODB logs a
# failed load with its traceback before the command reports it in one line;
# RelStorage warns of each connection refused), and of transactions (a failed
# commit's abort).
LIBRARY_LOGGERS = ('asyncio', 'ZEO', 'ZODB', 'txn', 'relstorage')


def no_progress(label, unit=None):
    return None


def not_busy(label):
    return contextlib.nullcontext()


class App:
    """Attributes: config, database (stf.db.database.Database), registry,
    current_id (current dataset id or None), interactive, ask (callable
    (question, default) -> answer, or None in batch), choose (callable
    (question, choices, default) -> one of choices, or None in batch), progress (factory
    (label, unit=None) -> update(done, total) or None; unit 'bytes' or None for a
    count), busy (label -> a context manager: a console's spinner while a
    command runs long), tell (callable (text) showing a line while a command
    runs, or None in batch), completion (cached database values),
    typed (the text typed in the editor by the running command, or None),
    plugins (stf.plugins.loader.Plugin records: every plugin found, loaded
    or not), outside_database (True while a command declared
    uses_database=False runs), structures_ready (False while the server
    that went away as stf started has not been reached since)."""

    def __init__(self, config, database, interactive=False):
        self.config = config
        self.database = database
        self.registry = build_registry()
        self.current_id = None
        self.deleted_current = None  # the id of a selected dataset found deleted
        self.typed = None
        self._line = ''  # the command line running, for the database's history
        self.current_name = ''  # of the current dataset, for the prompt (no database read)
        self.interactive = interactive
        self.ask = None
        self.choose = None
        self.tell = None
        self.progress = no_progress
        self.busy = not_busy
        self._completion = None
        self._completion_state = None
        self._refreshing = None  # the thread reading completion values apart
        self._completion_generation = 0  # console reads: a read apart is older after one
        self._seen_ids = completion.SeenIds()  # groups' ids, read again when they change
        log_to_home()
        self.outside_database = False
        self.plugins = plugin_loader.load(self.registry, self.home(),
                                          config.plugins_folder)
        for record in self.plugins:
            if record.details:
                log.warning('plugin %s (%s) failed to load:\n%s', record.name, record.source,
                            record.details)
        self.structures_ready = False  # stf's structures are known to be in the database
        try:
            self._ensure_structures()
        except ServerAway:
            # The server went away as stf started: a console starts anyway,
            # showing it away; its first command that reaches the server
            # creates what a new database lacks.
            log.info('the database server went away as stf started')
        if interactive:
            self.refresh_completion()

    def _ensure_structures(self):
        """Create the structures a new database lacks, once (ServerAway while
        the server is away)."""
        if self.structures_ready:
            return
        self.database.annotation = ('stf: set up the database', '')
        try:
            self.database.run(lambda: ensure_structures(self.database.root))
        finally:
            self.database.annotation = None
        self.structures_ready = True

    # -- what the commands get from the console
    @staticmethod
    def home():
        """stf's folder for history, log and drafts ($STF_HOME or ~/.stf)."""
        return config_module.stf_home()

    def edit(self, text):
        """The text as the analyst leaves it in the editor; kept in the drafts
        folder if the command is not saved."""
        self.typed = self.editor(text)
        return self.typed

    @staticmethod
    def editor(text):
        """$EDITOR on text (the console's; tests put another in its place)."""
        from stf.console.editor import edit_text
        return edit_text(text)

    def saves(self, what):
        """Say what the running command saves ('266,715 connections'): a
        console shows it while a long save runs."""
        self.database.saving_what = what

    def confirm(self, question):
        """A yes/no question in a terminal; no in batch mode (where commands
        need --yes instead: stf.commands.common.consent)."""
        if not self.ask:
            return False
        return self.ask(f'{question} [y/N]', '').strip().lower() in ('y', 'yes')

    # -- data access used by the commands
    @property
    def root(self):
        return self.database.root

    @property
    def datasets(self):
        return self.root['datasets']

    @property
    def notes(self):
        return self.root['notes']

    def current(self):
        """The current dataset, or None (also when another analyst deleted it)."""
        if self.current_id is None:
            return None
        dataset = self.datasets.get(self.current_id)
        # Remembered for require_current's message when another analyst deleted it.
        self.deleted_current = self.current_id if dataset is None else None
        if dataset is None:
            self.current_id = None
        return dataset

    def current_dataset_label(self, default='-'):
        dataset = self.current()
        return dataset.name if dataset else default

    def require_current(self):
        dataset = self.current()
        if dataset is None and self.deleted_current is not None:
            deleted, self.deleted_current = self.deleted_current, None
            raise UserError(f'the selected dataset {deleted} was deleted meanwhile (by another '
                            "analyst?); select one with 'datasets -s ID' (list them with "
                            "'datasets -l')")
        if dataset is None:
            raise UserError('no dataset is selected; select one with '
                            "'datasets -s ID' (list them with 'datasets -l')")
        return dataset

    # -- dispatch
    def execute(self, line):
        try:
            words = shlex.split(line)
        except ValueError as error:
            return Reply([Message(f'cannot split the input: {error}; '
                                  'close the quotes', 'error')], ok=False)
        if not words:
            return Reply()
        command = self.registry.get(words[0])
        if command is None:
            return Reply([Message(self.registry.unknown(words[0]), 'error')], ok=False)
        self._line = shlex.join(words)
        return self._run(command, words[1:])

    def _run(self, command, argv):
        self.typed = None
        selected = self.current_id
        try:
            with self.busy(self._line):
                reply = self._reply(command, argv)
            if not reply.ok and self.current_id is not None:
                self.current_id = selected  # a dataset a command not saved selected
        finally:
            self.database.annotation = self.database.saving_what = None
            self._remember_current()
            # help, info, exit change nothing: no database read after them.
            if command.uses_database and self._completion_state != self._state():
                self._completion_stale()
        if self.typed is not None and not reply.ok:
            reply.items.append(self._keep_draft())
        return reply

    def _keep_draft(self):
        """Save the text typed in the editor for a command that was not saved."""
        try:
            folder = config_module.stf_home() / 'drafts'
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime('%Y%m%d-%H%M%S')
            path, number = folder / f'note-{stamp}.md', 1
            while path.exists():
                number += 1
                path = folder / f'note-{stamp}-{number}.md'
            path.write_text(self.typed)
        except (OSError, UserError) as error:
            # Not even a file: the words go to the screen rather than nowhere.
            why = getattr(error, 'strerror', None) or error
            return Message(f'your text could not be kept in a file ({why}); here it is:\n'
                           f'{self.typed}', 'warning')
        return Message(f'your text is kept in {path}', 'warning')

    def _reply(self, command, argv):
        try:
            args = command.parser().parse_args(structured.sort_argument(argv))
            form = structured.chosen_format(args)
            listing = structured.check_output(command, args, form)
            picture = pictures.checked_target(command, args, form)
            items = self._sorted(list(self._perform(command, args) or []), args)
            if picture is not None:
                items = pictures.written(items, picture, bool(getattr(args, 'force', False)))
            items = self._presented(items, args, form, listing)
            # A command saved with an error among its results (rows an import
            # could not place) failed too: a batch run exits with status 1.
            return Reply(items, ok=not any(isinstance(item, Message) and item.level == 'error'
                                           for item in items))
        except HelpRequested as shown:
            return Reply([Text(shown.text.rstrip())])
        except KeyboardInterrupt:
            return Reply([Message(f'{command.name}: interrupted; nothing was '
                                  'changed', 'error')], ok=False)
        except Interrupted as error:
            return Reply([Message(str(error), 'error')], ok=False)
        except UserError as error:
            return Reply([Message(str(error), 'error')], ok=False)
        except ExitRequested:
            raise
        except ServerAway as error:
            return Reply([self._server_away(command.name, error)], ok=False)
        except Exception as error:
            return Reply([self._unexpected(command.name, error)], ok=False)

    @staticmethod
    def _sorted(items, args):
        """--sort, then the tables cut to their limits (before a picture is
        written: the tables it stands for are sorted with it)."""
        if getattr(args, 'sort', None):
            items = structured.sort_items(items, args.sort)
        return cut_items(items)

    def _presented(self, items, args, form, path):
        """--json/--csv/--tsv (to stdout, or to path: --output FILE)."""
        if form is None:
            return items
        text, others = structured.render(items, form)
        if path is not None:
            common.write_whole(path, lambda handle: handle.write(text + '\n'),
                               force=bool(getattr(args, 'force', False)))
            return structured.as_notes(others) + [Message(f'written to {path}', 'note')]
        return [Text(text)] + structured.as_notes(others)

    def _perform(self, command, args):
        """Run a command in its two steps: what it gathers from the outside
        world, then its transaction (run again on a conflict, never the
        gathering)."""
        if not command.uses_database:
            return self._outside_database(command, args)
        self._ensure_structures()  # not yet when the server went away as stf started
        if command.run is not None:
            return self.database.run(lambda: command.run(self, args))
        action = command.chosen(args)
        self.database.annotation = (self._line, action.outside)
        if action.gather is None:
            return self._applied(lambda: action.apply(self, args))
        gathered = self.database.read(lambda: action.gather(self, args))
        if action.apply is None:
            return gathered
        try:
            return self._applied(lambda: action.apply(self, args, gathered))
        except BaseException as error:
            if action.undo and not getattr(error, 'while_saving', False):
                action.undo(self, args, gathered)
            raise

    def _outside_database(self, command, args):
        """A command that works while the database is away: its run, or
        its action's steps, in no transaction."""
        self.outside_database = True
        try:
            if command.run is not None:
                return command.run(self, args)
            action = command.chosen(args)
            if action.gather is None:
                return action.apply(self, args)
            gathered = action.gather(self, args)
            return gathered if action.apply is None else action.apply(self, args, gathered)
        finally:
            self.outside_database = False

    def _applied(self, work):
        items = list(self.database.run(work) or [])
        if self.database.saved_through_interrupt:
            items.append(Message('Ctrl-C came while this command was being saved: it was '
                                 'saved in full', 'warning'))
        return items

    def _remember_current(self):
        try:
            self.current_name = self.current_dataset_label(default='')
        except Exception:  # the server went away: keep the name we had
            pass

    def _server_away(self, name, error):
        where = self.database.server_location()
        if self.database.server_behind():
            return Message(f'{name}: the database server {where} now serves an older or another '
                           'database than this console was using (restarted from another file '
                           'or a backup?), so this console cannot go on with it; nothing was '
                           'changed; start stf again to work on that database', 'error')
        if error.while_saving:
            return Message(f'{name}: the database server {where} went away while this command '
                           'was being saved; whether it was saved shows when the server is '
                           'back (the console goes on and reconnects)', 'error')
        return Message(f'{name}: the database server {where} is not reachable; nothing was '
                       'changed (the console goes on and reconnects when the server is back)',
                       'error')

    def _unexpected(self, name, error):
        log.error('command %s failed:\n%s', name, traceback.format_exc())
        where = config_module.stf_home() / 'stf.log'
        return Message(f'{name}: unexpected error {type(error).__name__}: {error} '
                       f'(details in {where}); the console goes on', 'error')

    # -- completion cache
    def _state(self):
        """What the completion values depend on: the data and the selection."""
        return self.database.last_transaction(), self.current_id

    @property
    def completion(self):
        """The database values completion offers (dict kind -> {value: meta}),
        read again when another analyst has committed since (read between
        commands only: the console's completer is the only reader)."""
        if self._completion is None:
            self.refresh_completion()
        elif self.database.reachable() and self.database.others_committed():
            if self.interactive:
                self._refresh_apart()  # a keystroke never waits for the server
            else:
                self.refresh_completion()
        return self._completion

    def _refresh_apart(self):
        """Read the values again in a thread and a database connection of
        their own; the completer offers them from its next call."""
        if self._refreshing is not None and self._refreshing.is_alive():
            self.database.note_other_commit()  # read again once this one is done
            return
        current_id, generation = self.current_id, self._completion_generation

        def read():
            try:
                values = self.database.read_apart(
                    lambda root: self._completion_values(root, current_id))
            except Exception:
                log.exception('refreshing completion values apart failed')
                return
            if generation == self._completion_generation:  # none read since, in the console
                self._completion = values
        self._refreshing = threading.Thread(target=read, daemon=True, name='stf-completion')
        self._refreshing.start()

    def _completion_stale(self):
        # A console reads the values now, between commands, so that no
        # keystroke waits for the database; a batch run reads them only if a
        # command asks (several analysts' batch runs would otherwise each
        # reread all labels after every commit).
        if self.interactive:
            self.refresh_completion()
        else:
            self._completion = None

    def refresh_completion(self):
        """Read the database values completion offers, once per change
        (ours or another analyst's)."""
        self._completion_state = self._state()
        self._completion_generation += 1
        try:
            self._ensure_structures()
            self._completion = self.database.run(self._completion_values)
        except ServerAway:
            self._keep_completion()
            log.info('completion values not refreshed: the server is away')
        except Exception:
            self._keep_completion()
            log.exception('refreshing completion values failed')

    def _keep_completion(self):
        # Keep offering what we had; the next command reads them again.
        self._completion = self._completion or {}
        self._completion_state = None

    def start_completion(self):
        """At a console's start: every value but the ids of connections and
        models now, those read apart (500,000 connections take a second to
        read, and the prompt must not wait for them)."""
        self._completion_state = self._state()
        try:
            self._ensure_structures()
            self._completion = self.database.run(
                lambda: self._completion_values(with_ids=False))
        except Exception:
            log.exception('reading completion values failed')
            self._keep_completion()
            return
        self._refresh_apart()

    def _completion_values(self, root=None, current_id=None, with_ids=True):
        """The values, read from root (this console's connection by default)
        for the dataset current_id (the current one by default); with_ids
        False: no connection or model ids."""
        if root is None:
            root, current_id = self.root, self.current_id
        datasets = {str(item.id): item.name for item in root['datasets'].values()}
        current = root['datasets'].get(current_id) if current_id is not None else None
        files = ({str(item.id): item.name for item in current.files.values()}
                 if current else {})
        structures = {name: type(value).__name__ for name, value in root.items()}
        every_group = root['connections'].values()
        groups = [group for group in every_group
                  if current is None or group.dataset_id == current.id]
        model_groups = root['models'].values()
        if with_ids:
            self._seen_ids.keep_only(every_group + model_groups)
        return {'dataset_id': datasets, 'file_id': files, 'structure': structures,
                'connection_group': {str(group.id): group.file_path.rsplit('/', 1)[-1]
                                     for group in groups},
                'model_group': {group.id: counted(len(group), 'model') for group in model_groups},
                'connection_id': completion.connection_ids(groups if with_ids else [],
                                                           self._seen_ids),
                'model_id': completion.model_ids(model_groups if with_ids else [],
                                                 self._seen_ids),
                'constructor': {str(key): item.name for key, item in CONSTRUCTORS.items()},
                'note_id': completion.note_ids(root['notes']),
                'transaction_id': self._transaction_ids(),
                'detector_name': {'default': 'shipped', **{
                    item.name: item.source for item in root['detectors'].values()}, **{
                    f'markov:{item.id}': item.label
                    for item in root['markov_models'].values()}},
                'experiment_id': {str(item.id): item.file_name
                                  for item in root['experiments'].values()},
                'label_id': {str(key): name for key, name in root['labels'].names().items()},
                'markov_id': {str(item.id): item.label
                              for item in root['markov_models'].values()},
                'label_name': {name: 'label' for name in root['labels'].names().values()},
                **{f'label:{part}': dict.fromkeys(values, part)
                   for part, values in labelnames.PARTS},
                **{f'filter:{kind}': dict.fromkeys(keys, 'filter key')
                   for kind, keys in FILTER_KEYS.items()}}

    def _transaction_ids(self):
        try:
            return {item.short: item.command for item in self.database.transactions(20)}
        except Exception:  # a storage without an undo log: nothing to offer
            log.exception('reading the transactions for completion failed')
            return {}

    def close(self):
        self.database.close()
