"""visualize on the screen: a full-screen view of a Replay (stf.commands.results).

One line per tuple with its letters growing as its flows come, colored as
listings color them, under a header that says what is replayed, the replay's
time, speed and flows. The replay's state is stf.core.flows.replay.Playback;
this module only draws it and turns keys into its calls.
"""
import asyncio
import logging
import os
import shlex
import time
import traceback

from prompt_toolkit.application import Application, get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import (BufferControl, ConditionalContainer, FormattedTextControl,
                                   HSplit, Layout, Window)
from prompt_toolkit.layout.processors import BeforeInput

from stf.commands.results import Message
from stf.console.config import stf_home
from stf.console.render import RESET, colored_letters, item_text, middle_shortened, visible
from stf.core.errors import UserError
from stf.core.flows import filters, replay
from stf.core.formats import when_us
from stf.db.errors import ServerAway

log = logging.getLogger('stf')
# Seconds between two redraws while the replay runs.
TICK_SECONDS = 0.1
HEADER_LINES = 2
FOOTER_LINES = 1
NAME_WIDTH = 44      # a tuple's name is shortened in its middle beyond this
FLOWS_WIDTH = 9
KEYS = ('space pause  n/→ step  +/- speed  s sort  / filter  g jump  ↑↓ select  '
        'Enter model  q quit')
MODEL_KEYS = 'Esc back  ↑↓ PgUp PgDn scroll'
# what the input line asks, by what it is for
PROMPTS = {'filter': 'filter (models keys, empty for all): ',
           'jump': 'jump to (YYYY-MM-DD HH:MM:SS UTC or +SECONDS from the first flow): '}
REVERSE = '\x1b[7m'
# States kept for drawing; more are read again when needed.
KEPT_STATES = 4096


class ReplayView:
    """The view of one Replay.

    Attributes: item (the Replay), playback (its Playback), clock (seconds:
    time.monotonic; a test gives its own), color (letters in color; off
    with NO_COLOR), mode ('replay', 'model': a model's view, 'input': a
    line typed), asking (what the line is for: a key of PROMPTS), selected
    (the tuple under the cursor, or None), message (one line under the list),
    model_lines and model_top (the model's view and its first line shown),
    filter_words (the filter now), states (conn -> (state, state_ends))."""

    def __init__(self, item, clock=time.monotonic, color=True):
        self.item = item
        self.playback = item.playback
        self.clock = clock
        self.color = color
        self.mode = 'replay'          # or 'model' (a model's view), 'input' (a line typed)
        self.asking = None            # what the input line is for: a key of PROMPTS
        self.selected = None          # the tuple (index) the cursor is on
        self.message = ''             # one line under the list: an error, a note
        self.model_lines = []
        self.model_top = 0
        self.filter_words = list(item.filter_words or ())
        self.states = {}
        self.input = Buffer(multiline=False, accept_handler=self._accept)
        self._last = None

    # -- the application
    def application(self, input=None, output=None):
        replaying = Condition(lambda: self.mode == 'replay')
        body = HSplit([
            Window(FormattedTextControl(self.header), height=HEADER_LINES),
            Window(FormattedTextControl(self.body), wrap_lines=False),
            ConditionalContainer(Window(BufferControl(self.input, input_processors=[
                BeforeInput(lambda: PROMPTS.get(self.asking, ''))]), height=1),
                filter=Condition(lambda: self.mode == 'input')),
            Window(FormattedTextControl(self.footer), height=FOOTER_LINES),
        ])
        return Application(layout=Layout(body), key_bindings=self.keys(replaying),
                           full_screen=True, input=input, output=output)

    def run(self, input=None, output=None, ticking=True):
        app = self.application(input, output)
        app.ttimeoutlen = 0.05     # Esc alone is read at once, not after half a second
        self._last = self.clock()
        return app.run(pre_run=(lambda: app.create_background_task(self._ticking(app)))
                       if ticking else None)

    async def _ticking(self, app):
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception as error:      # the view leaves with the one line
                app.exit(exception=error)
                return
            app.invalidate()

    def tick(self):
        """The clock went on: the replay shows what the time since brings."""
        now = self.clock()
        elapsed, self._last = now - (self._last if self._last is not None else now), now
        self._safely(lambda: self.playback.advance(elapsed))

    def _safely(self, work):
        """work(); a database that went away or a group changed meanwhile
        pauses the replay with the one line that says so."""
        try:
            work()
        except (UserError, ServerAway) as error:
            self.playback.paused = True
            self.message = self.message or str(error)    # the first says what happened

    # -- keys
    def keys(self, replaying):
        """The key bindings of KEY_TABLE, each in its mode; Ctrl-C leaves from any."""
        bindings = KeyBindings()
        modes = {'replay': replaying, 'model': Condition(lambda: self.mode == 'model'),
                 'input': Condition(lambda: self.mode == 'input')}
        for mode, keys, action in KEY_TABLE:
            for key in keys:
                bindings.add(key, filter=modes[mode])(
                    lambda event, action=action: action(self, event))
        bindings.add('c-c')(lambda event: event.app.exit())
        return bindings

    def _toggle_pause(self):
        self.playback.paused = not self.playback.paused
        if not self.playback.paused:
            self.message = ''

    def _step(self):
        self.playback.paused = True
        self._safely(self.playback.step)

    def _ask(self, event, what):
        text = filters.as_typed(self.filter_words) if what == 'filter' else ''
        self.mode, self.asking = 'input', what
        self.input.set_document(Document(text, len(text)))
        event.app.layout.focus(self.input)

    def _accept(self, buffer):
        """The input line's Enter: a filter or a time to jump to."""
        text, what = buffer.text, self.asking
        self._back()
        self.message = ''
        if what == 'filter':
            self._safely(lambda: self._filter(text))
        elif text.strip():              # an empty answer jumps nowhere
            self._safely(lambda: self._jump(text))
        return False    # the line is not kept

    def _jump(self, text):
        """Jump to the time typed, within the replay's first and last flow
        (saying so when it was outside)."""
        order = self.playback.order
        wanted = replay.moment(text, order.first)
        moment = min(max(wanted, order.first), order.last)
        self.playback.jump(moment)
        if moment != wanted:
            side = 'before the first' if wanted < moment else 'after the last'
            self.message = (f'{text.strip()} is {side} flow: jumped to it, '
                            f'{when_us(moment)}')

    def _filter(self, text):
        try:
            words = shlex.split(text)
        except ValueError as error:
            raise UserError(f'cannot split the filter: {error}; close the quotes') from None
        self.playback.select(self.item.select(words))
        self.filter_words = self.item.filter_words = words   # the item's playback keeps it

    def _back(self, event=None):
        self.mode, self.asking = 'replay', None
        app = event.app if event else get_app()
        if app.layout.has_focus(self.input):
            app.layout.focus_previous()

    # -- the list
    def _rows(self):
        rows = get_app().output.get_size().rows
        return max(rows - HEADER_LINES - FOOTER_LINES - (self.mode == 'input'), 1)

    def _move(self, by):
        showing = self.playback.showing
        if not showing:
            return
        at = self._rank()
        at = 0 if at is None else min(max(at + by, 0), showing - 1)
        self.selected = int(self._ranked(at + 1)[at])

    def _rank(self):
        """Where the selected tuple is in the playback's order, None when
        it is not there (none selected, or none of its flows shown)."""
        if self.selected is None:
            return None
        return self._ranking(lambda: self.playback.rank(self.selected))

    def _ranked(self, limit):
        return self._ranking(lambda: self.playback.ranked(limit))

    def _ranking(self, work):
        """work() (a ranking); when the periodicity sort cannot read the
        states (the database away, the models changed meanwhile) the replay
        pauses with the one line and ranks by the latest flow instead."""
        try:
            return work()
        except (UserError, ServerAway) as error:
            self.playback.paused = True
            self.message = self.message or str(error)
            self.playback.sort = replay.SORTS[0]
            return work()

    def shown_rows(self, rows):
        """(tuple, connection id, flows shown) of the rows on screen: the
        selected tuple's page."""
        at = self._rank()
        top = 0 if at is None else at - at % rows
        chosen = self._ranked(top + rows)[top:].tolist()
        ids = self.playback.order.ids
        return [(tuple_, ids[tuple_], int(self.playback.seen[tuple_])) for tuple_ in chosen]

    def letters(self, conn, flows):
        """The tuple's letters after its first `flows` flows."""
        state, ends = self.states[conn]
        if not len(ends):
            return state
        return state[:ends[min(flows, len(ends)) - 1]]

    def _read_states(self, conns):
        missing = [conn for conn in conns if conn not in self.states]
        if not missing:
            return
        if len(self.states) + len(missing) > KEPT_STATES:
            self.states.clear()
        found = self.item.states(missing)
        self.states.update({conn: (state, replay.state_ends(state))
                            for conn, state in found.items()})

    # -- drawing
    def header(self):
        playback = self.playback
        speed = (f'{playback.speed:g}× real time' if playback.speed else
                 f'evenly, {playback.rate:g} flows/s')
        if playback.bound:
            speed += f' (the {playback.bound})'
        state = 'ended' if playback.finished else 'paused' if playback.paused else 'playing'
        filtered = (f'   models passing {filters.as_typed(self.filter_words)}'
                    if self.filter_words else '')
        return [('bold', visible(self.item.heading) + '\n'),
                ('', f'{when_us(playback.clock)}   {speed}   {playback.shown:,} / '
                     f'{playback.total:,} flows   sort: {playback.sort}   '),
                ('reverse' if playback.paused else 'bold', state), ('', visible(filtered))]

    def footer(self):
        if self.message:
            return [('fg:ansired', visible(self.message))]
        return [('', MODEL_KEYS if self.mode == 'model' else KEYS)]

    def body(self):
        size = get_app().output.get_size()
        if self.mode == 'model':
            return ANSI('\n'.join(self.model_lines[self.model_top:
                                                   self.model_top + self._rows()]))
        return ANSI('\n'.join(self.list_lines(size.columns, self._rows())))

    def list_lines(self, columns, rows):
        """The list as lines of text (ANSI colors when self.color)."""
        shown = self.shown_rows(rows)
        if not shown:
            return ['(no flow yet: space pauses and resumes, n steps one flow)']
        self._safely(lambda: self._read_states([conn for _, conn, _ in shown]))
        width = min(max(len(conn) for _, conn, _ in shown), NAME_WIDTH)
        room = max(columns - width - FLOWS_WIDTH - 5, 1)    # the line fills the screen
        lines = []
        for tuple_, conn, flows in shown:
            name = middle_shortened(visible(conn), width).ljust(width)
            letters = self.letters(conn, flows) if conn in self.states else ''
            tail = visible(letters[-room:])
            mark = '>' if tuple_ == self.selected else ' '
            head = f'{mark} {name} {flows:>{FLOWS_WIDTH},} '
            if self.color and tuple_ == self.selected:
                head = f'{REVERSE}{head}{RESET}'
            lines.append(head + ' ' + (colored_letters(tail) if self.color else tail))
        return lines

    # -- a model's view
    def _open_model(self):
        if not self.playback.showing:
            return
        if self._rank() is None:
            self.selected = int(self._ranked(1)[0])
        conn = self.playback.order.ids[self.selected]
        try:
            items = self.item.model_view(conn)
        except (UserError, ServerAway) as error:
            self.message = str(error)
            return
        columns = get_app().output.get_size().columns
        text = '\n\n'.join(item_text(item, self.color, columns, terminal=True)
                           for item in items)
        self.model_lines = text.split('\n')
        self.model_top = 0
        self.mode = 'model'

    def _scroll(self, by):
        most = max(len(self.model_lines) - self._rows(), 0)
        self.model_top = min(max(self.model_top + by, 0), most)


# (mode, keys, action(view, event)): what each key does in each mode.
KEY_TABLE = (
    ('replay', (' ',), lambda view, event: view._toggle_pause()),
    ('replay', ('n', 'right'), lambda view, event: view._step()),
    ('replay', ('+', '='), lambda view, event: view.playback.faster()),
    ('replay', ('-',), lambda view, event: view.playback.slower()),
    ('replay', ('s',), lambda view, event: view.playback.next_sort()),
    ('replay', ('/',), lambda view, event: view._ask(event, 'filter')),
    ('replay', ('g',), lambda view, event: view._ask(event, 'jump')),
    ('replay', ('up',), lambda view, event: view._move(-1)),
    ('replay', ('down',), lambda view, event: view._move(1)),
    ('replay', ('pageup',), lambda view, event: view._move(-view._rows())),
    ('replay', ('pagedown',), lambda view, event: view._move(view._rows())),
    ('replay', ('enter',), lambda view, event: view._open_model()),
    ('replay', ('q',), lambda view, event: event.app.exit()),   # Esc only closes
    ('model', ('q', 'escape'), lambda view, event: view._back(event)),
    ('model', ('up',), lambda view, event: view._scroll(-1)),
    ('model', ('down',), lambda view, event: view._scroll(1)),
    ('model', ('pageup',), lambda view, event: view._scroll(-view._rows())),
    ('model', ('pagedown',), lambda view, event: view._scroll(view._rows())),
    ('input', ('escape',), lambda view, event: view._back(event)),
)


def run_replay(item, color=None, input=None, output=None):
    """Show a Replay until q; the items to show after it: an unexpected
    error in one line (its traceback in the log), as the console says it of
    a command."""
    view = ReplayView(item, color=not os.environ.get('NO_COLOR') if color is None else color)
    try:
        view.run(input, output)
    except Exception as error:
        log.error('visualize failed:\n%s', traceback.format_exc())
        return [Message(f'visualize: unexpected error {type(error).__name__}: {error} '
                        f"(details in {stf_home() / 'stf.log'}); the console goes on",
                        'error')]
    return []
