"""The flow reader of stf-ips, in a process of its own.

Reading and parsing the input takes about as long as judging it, so stf-ips
reads on one core and judges on another: this module runs the input (a file,
stdin or `ra`) in a child process and writes its blocks, notes and errors to
stdout as stf.ips.frames.

    python -m stf.ips.reader MAX_LINE file PATH [OFFSET LINE] | stdin - | argus HOST:PORT
"""
import os
import signal
import sys

from stf.core.errors import UserError
from stf.ips import inputs
from stf.ips.frames import block_frame, frame, stats_frame, text_frame


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # Ctrl-C reaches the whole process group: the parent says when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout.buffer
    try:
        max_line, kind, value, *where = argv
        source = {'argus': lambda: inputs.ArgusSource(value, max_line=int(max_line)),
                  'stdin': lambda: inputs.StreamSource(max_line=int(max_line)),
                  'file': lambda: inputs.FileSource(value, int(max_line),
                                                    *map(int, where))}[kind]()
    except UserError as error:
        out.write(text_frame(b'E', str(error)) + frame(b'Z', b''))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: _stop(source))
    source.items = _Frames(out, source.stats)
    source._run()
    out.flush()
    return 0


def _stop(source):
    """SIGTERM (from the IPS, or to the whole process group): stop ra if it
    runs, say the end and leave at once."""
    source.stop()
    try:
        sys.stdout.buffer.write(frame(b'Z', b''))
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os._exit(0)


class _Frames:
    """Stands for a Source's queue in the child: every item becomes a frame."""

    def __init__(self, out, stats):
        self.out, self.stats = out, stats

    def put(self, item):
        kind, value = item
        if kind == 'block':
            self.out.write(block_frame(value) + stats_frame(self.stats))
        elif kind == 'note':
            self.out.write(text_frame(b'N', value))
        elif kind == 'error':
            self.out.write(text_frame(b'E', str(value)))
        else:
            self.out.write(stats_frame(self.stats) + frame(b'Z', b''))
        self.out.flush()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except BrokenPipeError:   # the parent stopped reading: it is ending
        sys.exit(0)
