"""The watcher: runs the detector as a child process and restarts it if it dies.

`stf-ips FILE` and `stf-ips --argus HOST:PORT` are supervised unless
--no-watch (stdin cannot be read again, so `stf-ips -` never is). The child
is `python -m stf.ips ... --no-watch --progress FILE`: after each window it
closes it writes where a restart would go on (the line after that window, the
window grid, and how long the alerts and log files were once that window's
lines were in them). When the child dies (a signal, a crash), the watcher says
so, waits (1 s, doubling up to 60 s; back to 1 s after a minute of running)
and starts it again with `--resume FILE`: a file goes on from that line and
the files are cut back to those lengths (a window written but not yet
recorded as done is written again), so no window is alerted twice in them;
`--argus` simply starts again, and the child starts `ra` again. A child that
ends by itself (exit 0: the input ended, or it was asked to stop) or refuses
its input or settings (exit 2) is not restarted: the watcher exits with its
status.

SIGTERM, SIGINT and SIGHUP are passed on to the child (where a platform has
them); no shell is used anywhere, so it runs the same on Windows.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stf.core.errors import UserError

FIRST_PAUSE, MAX_PAUSE = 1.0, 60.0
# A child that ran this long is restarted after FIRST_PAUSE again.
STEADY = 60.0
# Exit statuses after which the child is not started again.
FINAL = (0, 2)


def supervised(args):
    """Whether this run is the watcher (a file or argus, no --no-watch)."""
    if args.no_watch or args.progress or args.resume:
        return False
    return bool(args.argus) or bool(args.input and args.input != '-')


def write_progress(path, position, input_name):
    """Where a restart resumes: written whole, then renamed over the old one."""
    temporary = Path(f'{path}.new')
    temporary.write_text(json.dumps(dict(position, input=input_name)), encoding='utf-8')
    os.replace(temporary, path)


def read_progress(path, input_name):
    """The position a restarted child resumes at (None: from the start)."""
    try:
        position = json.loads(Path(path).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None
    if not isinstance(position, dict) or position.get('input') != input_name:
        return None
    try:
        found = {key: int(position[key]) for key in
                 ('line', 'offset', 'origin_us', 'width_us', 'number')}
        found['sizes'] = {name: int(size) for name, size in position.get('sizes', {}).items()}
        return found
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f'{path}: not a progress file of stf-ips') from None


class Watcher:
    def __init__(self, argv):
        self.argv = list(argv)
        self.folder = Path(tempfile.mkdtemp(prefix='stf-ips-'))
        self.progress = self.folder / 'progress.json'
        self.child = None
        self.stopping = False
        self.woken = threading.Event()
        self.restarts = []   # what the next child says first (console and log)

    def command(self):
        command = [sys.executable, '-m', 'stf.ips', *self.argv, '--no-watch',
                   '--progress', str(self.progress)]
        if self.progress.exists():
            command += ['--resume', str(self.progress)]
        for text in self.restarts:
            command += ['--said', text]
        self.restarts = []
        return command

    def run(self):
        pause = FIRST_PAUSE
        try:
            while True:
                began = time.monotonic()
                self.child = subprocess.Popen(self.command(), env=_environment())
                code = self.child.wait()
                if self.stopping or code in FINAL:
                    return 0 if self.stopping else code
                if time.monotonic() - began >= STEADY:
                    pause = FIRST_PAUSE
                text = f'the detector process ended ({_why(code)}); started again after {pause:g} s'
                print(f'stf-ips watcher: {text}', file=sys.stderr, flush=True)
                self.restarts.append(text)
                self.woken.wait(pause)
                if self.stopping:
                    return 0
                pause = min(pause * 2, MAX_PAUSE)
        finally:
            _remove(self.folder)

    def pass_on(self, number, _frame=None):
        """A signal for the watcher: the child gets it too."""
        if number != getattr(signal, 'SIGHUP', None):
            self.stopping = True
            self.woken.set()
        child = self.child
        if child is not None and child.poll() is None:
            try:
                child.send_signal(number if number != signal.SIGINT else signal.SIGTERM)
            except OSError:
                pass


def run(argv):
    watcher = Watcher(argv)
    for name in ('SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK'):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), watcher.pass_on)
    return watcher.run()


def _environment():
    """The child finds this stf whatever the working folder."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get('PYTHONPATH')
    return dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ''))


def _why(code):
    if code < 0:
        try:
            return f'killed by {signal.Signals(-code).name}'
        except ValueError:
            return f'killed by signal {-code}'
    return f'exit status {code}'


def _remove(folder):
    for path in folder.glob('*'):
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass
