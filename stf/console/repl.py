"""The interactive console: prompt_toolkit glue, the only room that knows the
terminal. Key bindings, toolbar and completer are small factories."""
import os
import shutil
import subprocess
import sys

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.completion import Completer, Completion, PathCompleter, WordCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input.typeahead import get_typeahead, store_typeahead
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.styles import Style

from stf.console import completion, progress, remembered
from stf.commands.registry import ExitRequested
from stf.commands.results import Message
from stf.console.config import stf_home
from stf.console.render import Renderer, middle_shortened
from stf.console.replay import run_replay
from stf.core.errors import UserError

STYLE = Style.from_dict({'bottom-toolbar': 'noreverse bg:#333333 #dddddd',
                         'prompt.dataset': 'ansicyan bold'})


class StfCompleter(Completer):
    """Completes from the registry and the App's cached database values."""

    def __init__(self, app):
        self.app = app
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document, complete_event):
        expectation = completion.next_word(self.app.registry, document.text_before_cursor)
        if expectation.kind == 'path':
            yield from self.path_completions(document.text_before_cursor, expectation.word,
                                             complete_event)
            return
        offered = completion.offered(expectation, self.app.completion, self.app.registry)
        for text, meta, display in offered:
            yield Completion(text, start_position=-len(expectation.word), display=display,
                             display_meta=meta)

    def path_completions(self, text, word, complete_event):
        # The whole typed word is replaced, quoted, so that names with
        # spaces or quotes survive the shell-rules split.
        start = completion.last_word_start(text)
        for item in self.paths.get_completions(Document(word), complete_event):
            path = word + item.text
            if os.path.isdir(os.path.expanduser(path)):
                path += '/'  # so that the next Tab goes on inside the folder
            yield Completion(completion.quoted(path), start_position=start - len(text),
                             display=item.display)


def key_bindings():
    """Tab on the only candidate, once it is taken (a folder, 'model:0-1/'),
    goes on from it: the folder's contents, the group's ids. (prompt_toolkit
    would go back to the text as typed.)"""
    bindings = KeyBindings()

    @Condition
    def only_candidate_taken():
        state = get_app().current_buffer.complete_state
        return bool(state) and len(state.completions) == 1 and state.complete_index == 0

    @bindings.add('tab', filter=only_candidate_taken)
    def go_on(event):
        buffer = event.current_buffer
        buffer.complete_state = None
        buffer.start_completion(insert_common_part=True)
    return bindings


TOOLBAR_REFRESH_SECONDS = 1


def toolbar(app):
    def view():
        kind, location = app.database.describe()
        away = ('' if not app.database.looks_away() else
                ' (older database on the server)' if app.database.server_behind() else
                ' (server away)')
        return toolbar_text(app.current_name or '-', f'{kind} {location}', away,
                            shutil.get_terminal_size().columns)
    return view


TOOLBAR_HELP = 'help: help, Ctrl-D exits'


def toolbar_text(dataset, database, away, columns):
    """The toolbar in columns: the help hint goes first, then the middle of
    the database's location."""
    head = f' dataset: {dataset}   database: '
    full = f'{head}{database}{away}   {TOOLBAR_HELP} '
    if len(full) <= columns:
        return full
    room = max(columns - len(head) - len(away) - 1, 12)
    return f'{head}{middle_shortened(database, room)}{away} '


def prompt_message(app):
    def view():
        name = app.current_name
        return [('class:prompt.dataset', f'{name}: ' if name else ''), ('', 'stf > ')]
    return view


def asker(session):
    """Ask a question in the console; an empty answer takes the default."""
    def ask(question, default):
        shown = f' [{default}]' if default else ''
        try:
            answer = session.prompt(f'{question}{shown}: ').strip()
        except EOFError:
            raise KeyboardInterrupt from None  # Ctrl-D cancels, as Ctrl-C does
        if interrupted_at_enter(session):
            raise KeyboardInterrupt
        return answer or default
    return ask


def chooser(session):
    """Ask for one of a few values, with completion; empty takes the default.
    choices: the values, or a mapping value -> what it is (shown beside it).
    check(answer) raises a UserError for an answer to ask again. A bad answer
    is asked again with the one line that says why: the answers given before
    it are kept."""
    def choose(question, choices, default, check=None):
        completer = (WordCompleter(list(choices), ignore_case=True, meta_dict=dict(
            choices) if isinstance(choices, dict) else None) if choices else None)
        prompt = f'{question}{choice_hint(choices)}{f" [{default}]" if default else ""}: '
        while True:
            try:
                answer = session.prompt(prompt, completer=completer,
                                        complete_while_typing=True).strip() or default
            except EOFError:
                raise KeyboardInterrupt from None
            if interrupted_at_enter(session):
                raise KeyboardInterrupt
            try:
                answer = chosen(answer, choices)
                if check:
                    check(answer)
            except UserError as error:
                print(error)
                continue
            return answer
    return choose


def choice_hint(choices):
    """' (From | To)', ' (0 a.pcap | 3 b.pcap)' for a mapping, '' for free text."""
    if not choices:
        return ''
    if isinstance(choices, dict):
        return f" ({' | '.join(f'{value} {meta}' for value, meta in choices.items())})"
    return f" ({' | '.join(choices)})"


def chosen(answer, choices):
    """The choice an answer names (in any case), or a UserError saying why not."""
    if not choices:
        return answer
    match = next((value for value in choices if value.lower() == answer.lower()), None)
    if match is None and not answer:
        raise UserError(f"an answer is needed: one of {', '.join(choices)}")
    if match is None:
        raise UserError(f"'{answer}' is not one of {', '.join(choices)}")
    return match


def run_console(app, banner):
    session = PromptSession(history=FileHistory(str(stf_home() / 'history')),
                            completer=StfCompleter(app), style=STYLE,
                            bottom_toolbar=toolbar(app), complete_while_typing=True,
                            key_bindings=key_bindings(),
                            # The toolbar follows the server going and coming back
                            # while the analyst is idle (no database read).
                            refresh_interval=TOOLBAR_REFRESH_SECONDS)
    renderer = Renderer(sys.stdout, sys.stderr, terminal=True, pager=app.config.pager)
    renderer.full_screen = lambda item: run_replay(item, color=renderer.color)
    app.interactive = True
    app.start_completion()  # before the first keystroke asks for it
    # Questions get their own session: their answers stay out of the command
    # history and their completer does not replace the console's.
    questions = PromptSession()
    app.ask = asker(questions)
    app.choose = chooser(questions)
    progress.attach(app, renderer, sys.stderr)
    # a status line goes straight to stderr: never held by the pager
    app.tell = lambda text: renderer.show([Message(text, 'note')])
    keeper = remembered.Keeper(app)  # the next console on this database starts there
    print(banner)
    while True:
        try:
            line = session.prompt(prompt_message(app))
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if interrupted_at_enter(session):
            renderer.show([Message(f'{line.split()[0] if line.split() else "stf"}: '
                                   'interrupted; nothing was changed', 'error')])
            continue
        going_on = handle_line(app, renderer, line)
        keeper.keep()
        if not going_on:
            break
    return 0


def interrupted_at_enter(session):
    """True when Ctrl-C came while the prompt was closing. On a terminal that
    does not answer cursor position requests, prompt_toolkit waits up to a
    second after Enter in raw mode, and keeps the keys typed meanwhile for
    the next prompt: a Ctrl-C there would stop nothing and then be lost. The
    command has not begun, so it is not run."""
    keys = get_typeahead(session.input)
    if any(key.key == Keys.ControlC for key in keys):
        return True
    store_typeahead(session.input, keys)
    return False


def handle_line(app, renderer, line):
    """Run one line; False when the user asked to leave."""
    line = line.strip()
    try:
        if line.startswith('!'):
            subprocess.run(line[1:], shell=True)  # the user asked for a shell
            return True
        reply = app.execute(line)
        sys.stderr.write('\r\x1b[K')  # a progress line cut short by Ctrl-C
        renderer.show(reply.items)
    except ExitRequested:
        return False
    except KeyboardInterrupt:
        # Ctrl-C in the pager or in a shell command: back to the prompt.
        sys.stderr.write('\n')
    return True
