"""What stf is doing, on one line at the bottom of a terminal (stderr).

Commands never write here: they call the update a progress factory gave
them (a bar with rate and ETA when the total is known, a spinner otherwise)
and the console owns the line. A command that runs longer than a second
without saying anything gets a spinner naming it; a save that takes longer
than a second says "saving ..." (see saving()). Batch runs get none of it
(stf.console.app.no_progress).
"""
import shutil
import threading
import time
from contextlib import contextmanager

SPIN = '|/-\\'
CLEAR = '\r\x1b[K'
# A spinner or bar appears only for work that has lasted this long.
DELAY_SECONDS = 1.0
# Bars are redrawn at most this often; spinners turn this often.
REDRAW_SECONDS = 0.1
# A spinner leaves the line to a bar that drew this recently.
BAR_KEEPS_SECONDS = 0.3
BAR_WIDTH = 30
BAR_NARROWEST = 10


class StatusLine:
    """The line that says what stf is doing. Bars (the command's thread) and
    spinners (threads of their own) draw on it in turn; nothing draws while
    a question or the editor has the terminal (holding).

    Attributes: stream, held (questions on the screen), shown (something is
    drawn), bar_drawn (monotonic time a bar last drew), stage ((label, start)
    of the last progress without a total, which spinners show), spinners
    (running, newest last: only it draws).
    """

    def __init__(self, stream, columns=None):
        self.stream = stream
        self.columns = columns
        self.lock = threading.RLock()
        self.held = 0
        self.shown = False
        self.bar_drawn = 0.0
        self.stage = None
        self.spinners = []

    def width(self):
        return (self.columns or shutil.get_terminal_size().columns) - 1

    def draw(self, text):
        with self.lock:
            if self.held:
                return
            self.stream.write(CLEAR + text[:self.width()])
            self.stream.flush()
            self.shown = True

    def clear(self):
        with self.lock:
            if self.shown:
                self.stream.write(CLEAR)
                self.stream.flush()
                self.shown = False

    def holding(self, function):
        """function, with the line cleared and kept quiet while it runs (it
        asks a question or opens the editor)."""
        def held(*args, **kwargs):
            with self.lock:
                self.clear()
                self.held += 1
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.held -= 1
        return held

    def progress(self, label, unit=None):
        """A progress factory (stf.console.app.App.progress): update(done,
        total) draws a bar, or a spinner when total is None."""
        return Bar(self, label, unit).update

    @contextmanager
    def busy(self, label, delay=DELAY_SECONDS):
        """A spinner saying label while the block runs longer than delay."""
        with Spinner(self, label, delay):
            yield


class Bar:
    """One progress: label, unit ('bytes' or None for a count), when it
    started and was last drawn."""

    def __init__(self, line, label, unit=None):
        self.line, self.label, self.unit = line, label, unit
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, done, total):
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self.drawn < REDRAW_SECONDS:
            return
        self.drawn = now
        if finished:
            self.line.clear()
        elif total:
            self.line.stage = None
            self.line.bar_drawn = now
            self.line.draw(bar_text(self.label, done, total, now - self.started,
                                    self.line.width(), self.unit))
        else:
            self.line.stage = (self.label, self.started)
            self.line.draw(spinner_text(self.label, now - self.started))


def bar_text(label, done, total, elapsed, width, unit=None):
    """'reading x.binetflow [######----]  60%  84.4/140.7 MB  21.1 MB/s  ETA 0:03'."""
    share = min(done / total, 1.0)
    tail = f'{int(share * 100):3d}%  {amounts(done, total, unit)}'
    if elapsed >= 0.5 and done:
        rate = done / elapsed
        tail += f'  {amount(rate, unit)}/s  ETA {clock((total - done) / rate)}'
    room = min(BAR_WIDTH, width - len(label) - len(tail) - 4)
    if room < BAR_NARROWEST:
        return f'{label}  {tail}'
    filled = int(share * room)
    return f'{label} [{"#" * filled}{"-" * (room - filled)}] {tail}'


def spinner_text(label, elapsed):
    return f'{label} {SPIN[int(elapsed / REDRAW_SECONDS) % len(SPIN)]} {int(elapsed)} s'


MEGABYTE = 1 << 20


def amount(value, unit):
    if unit == 'bytes':
        return f'{value / MEGABYTE:,.1f} MB'
    return f'{value:,.0f}'


def amounts(done, total, unit):
    if unit == 'bytes':
        return f'{done / MEGABYTE:,.1f}/{total / MEGABYTE:,.1f} MB'
    return f'{done:,}/{total:,}'


def clock(seconds):
    """0:07, 12:30, 1:02:03."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f'{hours}:{minute:02d}:{second:02d}' if hours else f'{minute}:{second:02d}'


class Spinner:
    """A spinner saying `label` on the line from `delay` seconds after the
    block began until it ends: work that ends sooner shows nothing. Only the
    newest running spinner draws, and none over a bar that drew in the last
    BAR_KEEPS_SECONDS; a stage (a progress without a total) begun after the
    spinner is shown in its place (argus running for minutes says so)."""

    def __init__(self, line, label, delay=DELAY_SECONDS):
        self.line, self.label, self.delay = line, label, delay
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.turn, daemon=True, name='stf-spinner')
        self.drew = False

    def __enter__(self):
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        with self.line.lock:
            if self in self.line.spinners:
                self.line.spinners.remove(self)
            if self.drew:
                self.line.clear()
        return False

    def turn(self):
        if self.stop.wait(self.delay):
            return
        with self.line.lock:
            self.line.spinners.append(self)
        while True:
            self.step()
            if self.stop.wait(REDRAW_SECONDS):
                return

    def step(self):
        with self.line.lock:
            now = time.monotonic()
            if (self.line.spinners[-1] is not self or self.line.held
                    or now - self.line.bar_drawn < BAR_KEEPS_SECONDS):
                return
            label, started = self.label, self.started
            if self.line.stage and self.line.stage[1] > self.started:
                label, started = self.line.stage
            self.line.draw(spinner_text(label, now - started))
            self.drew = True


def saving(commit, what, line, delay=DELAY_SECONDS):
    """commit(), with 'saving WHAT...' and a spinner on the line once it has
    taken longer than delay (a large transaction takes seconds to write)."""
    with Spinner(line, f'saving {what}...' if what else 'saving...', delay):
        return commit()


def attach(app, renderer, stream):
    """Give a console's App and Renderer the status line on stream."""
    line = StatusLine(stream)
    app.progress = line.progress
    app.busy = lambda label: line.busy(f'running {label}')
    app.database.saving = lambda commit, what: saving(commit, what, line)
    renderer.busy = line.busy
    for name in ('ask', 'choose', 'editor'):
        if getattr(app, name, None) is not None:
            setattr(app, name, line.holding(getattr(app, name)))
    return line
