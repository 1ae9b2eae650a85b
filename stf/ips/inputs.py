"""Where the flows come from: a file, stdin, or `ra -S HOST:PORT` started here.

Each source is read in a thread that hands FlowBlocks over a small queue, so
the main thread stays free to close windows on the wall clock, re-read the
config once a second and answer signals while the input is idle. stf-ips runs
its source in a child process (ProcessSource, stf.ips.reader), so reading and
judging use two cores. Lines longer than flowfile.MAX_LINE (1 MiB) are
skipped and counted as malformed without being held in memory (the flow
readers do it).
"""
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stf.core.captures import argus
from stf.core.errors import UserError
from stf.core.flows import flowfile
from stf.ips import frames

# Blocks read ahead of the engine: a producer faster than the judging waits
# (it is never dropped) and memory stays bounded.
QUEUE_BLOCKS = 4
# A stream block is handed on when the input pauses this long.
STREAM_WAIT = 0.2
# Seconds before ra is started again after it ended, doubled up to RESTART_MAX.
RESTART_FIRST, RESTART_MAX = 1.0, 30.0
ROOT = Path(__file__).resolve().parents[2]
RA_CONF = ROOT / 'confs' / 'ra.conf'


class Source:
    """Blocks of one input. get(timeout) gives ('block', FlowBlock),
    ('note', text), ('error', UserError) or ('end', None), or None when
    nothing came within timeout seconds. stats: the reader's ReadStats."""

    live = True

    def __init__(self, name, max_line=flowfile.MAX_LINE):
        self.name = name
        self.max_line = max_line
        self.stats = flowfile.ReadStats()
        self.items = queue.Queue(QUEUE_BLOCKS)
        self.thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self):
        self.thread.start()
        return self

    def get(self, timeout):
        try:
            return self.items.get(timeout=timeout)
        except queue.Empty:
            return None

    def _run(self):
        try:
            for block in self.blocks():
                self.items.put(('block', block))
        except UserError as error:
            self.items.put(('error', error))
        except OSError as error:
            self.items.put(('error', UserError(f'cannot read {self.name}: {error}')))
        self.items.put(('end', None))

    def blocks(self):
        raise NotImplementedError

    def stop(self):
        """Nothing to stop: the reader thread ends with the process."""


class FileSource(Source):
    live = False

    def __init__(self, path, max_line=flowfile.MAX_LINE, begin=0, first_line=1):
        super().__init__(str(path), max_line)
        self.path = path
        self.begin, self.first_line = begin, first_line   # where a resumed run goes on
        self.fmt = flowfile.sniff_format(path)   # a missing or empty file: said now

    def blocks(self):
        return flowfile.iter_blocks(self.path, self.fmt, self.stats, begin=self.begin,
                                    first_line=self.first_line, max_line=self.max_line)


class StreamSource(Source):
    def __init__(self, stream=None, max_line=flowfile.MAX_LINE):
        super().__init__('standard input', max_line)
        self.stream = stream if stream is not None else sys.stdin.buffer

    def blocks(self):
        return flowfile.iter_stream_blocks(self.stream, stats=self.stats, max_wait=STREAM_WAIT,
                                           max_line=self.max_line)


class ArgusSource(Source):
    """`ra -n -F confs/ra.conf -S HOST:PORT`, started again whenever it ends."""

    def __init__(self, address, ra_conf=RA_CONF, max_line=flowfile.MAX_LINE):
        super().__init__(f'argus at {address}', max_line)
        check_address(address)
        self.program = argus.require_tool('ra')
        self.argv = [self.program, '-n', '-F', str(ra_conf), '-S', address]
        if not Path(ra_conf).is_file():
            raise UserError(f'ra configuration {ra_conf} not found; the project ships '
                            'confs/ra.conf')
        self.child = None
        self.stopping = False

    def blocks(self):
        pause = RESTART_FIRST
        while not self.stopping:
            began = time.monotonic()
            yield from self._one_run()
            if self.stopping:
                return
            if time.monotonic() - began > RESTART_MAX:
                pause = RESTART_FIRST
            self.items.put(('note', f'ra ended ({self.why}); starting it again in {pause:g} s'))
            time.sleep(pause)
            pause = min(pause * 2, RESTART_MAX)

    def _one_run(self):
        with tempfile.TemporaryFile() as errors:
            # TZ=UTC: ra prints local time (see stf.core.captures.argus).
            self.child = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=errors,
                                          stdin=subprocess.DEVNULL,
                                          env=dict(os.environ, TZ='UTC'))
            try:
                yield from flowfile.iter_stream_blocks(self.child.stdout, stats=self.stats,
                                                       max_wait=STREAM_WAIT,
                                                       max_line=self.max_line)
            finally:
                self.child.stdout.close()
                code = self.child.wait()
            errors.seek(0)
            lines = [line for line in errors.read().decode(errors='replace').splitlines()
                     if line.strip()]
            detail = argus.LOG_PREFIX.sub('', lines[-1]).strip() if lines else ''
            self.why = f'exit status {code}' + (f': {detail}' if detail else '')

    def stop(self):
        self.stopping = True
        end_child(self.child)


class ProcessSource(Source):
    """A source read by `python -m stf.ips.reader ARGS` in a child process
    (which inherits stdin), its frames turned back into blocks here. A full
    queue stops this thread, the pipe fills and the child waits: nothing is
    dropped."""

    def __init__(self, inner, args):
        super().__init__(inner.name, inner.max_line)
        self.live = inner.live
        self.args = list(args)
        self.child = None
        self.stopping = self.finished = False

    def start(self):
        path = os.environ.get('PYTHONPATH')
        env = dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ''))
        self.child = subprocess.Popen([sys.executable, '-m', 'stf.ips.reader', *self.args],
                                      stdout=subprocess.PIPE, env=env)
        return super().start()

    def _run(self):
        try:
            self._frames()
        except Exception as error:   # never leave the IPS waiting on a dead thread
            self.items.put(('error', ReaderFailed(
                f'the flow reader of {self.name} sent what cannot be read ({error!r})')))
            self.items.put(('end', None))

    def _frames(self):
        stream = self.child.stdout
        while True:
            frame = frames.read_frame(stream)
            if frame is None:
                code = self.child.wait()
                if not self.stopping:
                    self.items.put(('error', ReaderFailed(
                        f'the flow reader of {self.name} ended before its input did '
                        f'({_ended(code)})')))
                self.items.put(('end', None))
                return
            kind, payload = frame
            if kind == b'B':
                self.items.put(('block', frames.block_of(payload)))
            elif kind == b'S':
                for key, value in json.loads(payload).items():
                    setattr(self.stats, key, value)
            elif kind in (b'N', b'E'):
                text = payload.decode('utf-8', 'replace')
                self.items.put(('note', text) if kind == b'N' else ('error', UserError(text)))
            else:
                self.finished = True
                self.items.put(('end', None))
                return

    def stop(self):
        self.stopping = True
        # a child that said its end is ending by itself: only waited for
        end_child(self.child, terminate=not self.finished)


def end_child(child, terminate=True):
    """Stop a child process (SIGTERM, then SIGKILL after 5 s)."""
    if child is None or child.poll() is not None:
        return
    if terminate:
        child.terminate()
    try:
        child.wait(5)
    except subprocess.TimeoutExpired:
        child.kill()


class ReaderFailed(UserError):
    """The reader process died: not bad input, so a watcher starts stf-ips again."""


def _ended(code):
    if code is not None and code < 0:
        try:
            return f'killed by {signal.Signals(-code).name}'
        except ValueError:
            return f'killed by signal {-code}'
    return f'exit status {code}'


def check_address(address):
    host, colon, port = address.rpartition(':')
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--argus wants HOST:PORT (e.g. 127.0.0.1:561), not '{address}'")


def open_source(name, argus_address=None, child=False, max_line=flowfile.MAX_LINE,
                resume=None):
    """The Source for a file name, '-' (stdin) or an argus address; with
    child, checked here and read in a child process (ProcessSource). resume:
    (byte offset, line number) where a file is read from."""
    if argus_address:
        if name:
            raise UserError('give either a flow file (or -) or --argus HOST:PORT, not both')
        source = ArgusSource(argus_address, max_line=max_line)
        args = ['argus', argus_address]
    elif not name:
        raise UserError('give a flow file, - for standard input, or --argus HOST:PORT')
    elif name == '-':
        source, args = StreamSource(max_line=max_line), ['stdin', '-']
    else:
        begin, first_line = resume or (0, 1)
        source = FileSource(name, max_line, begin, first_line)
        args = ['file', name, str(begin), str(first_line)]
    return ProcessSource(source, [str(max_line)] + args) if child else source
