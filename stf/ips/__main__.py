"""stf-ips: report hosts that behave like known malware, window by window.

    stf-ips FILE | - | --argus HOST:PORT  [options]

Options are also keys of the config file ($STF_HOME/ips.conf unless --config);
the command line wins. SIGHUP re-reads the config; SIGTERM or Ctrl-C judge the
open window and exit.
"""
import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from stf.core.detect.detector import Detector
from stf.core.errors import UserError
from stf.core.formats import counted
from stf.ips import config, inputs, updates, watcher
from stf.ips.alerts import AlertOutput
from stf.ips.engine import Engine
from stf.ips.whitelist import Whitelist

# Seconds between looks at the wall clock and the config file on live input.
TICK = 0.25


def parser():
    p = argparse.ArgumentParser(
        prog='stf-ips', description='Report hosts whose flows behave like known malware.')
    p.add_argument('input', nargs='?', help='a binetflow or Zeek conn.log, or - for stdin')
    p.add_argument('--argus', metavar='HOST:PORT', help='read flows from argus with ra -S')
    p.add_argument('--config', metavar='FILE', help='the config file (default $STF_HOME/ips.conf)')
    p.add_argument('--models', metavar='DIR', help='a detector folder exported by stf')
    for name, kind in (('window', str), ('state-length', str), ('idle', str),
                       ('lateness', str), ('rule', str), ('threshold', str),
                       ('whitelist', str), ('alerts', str), ('log', str), ('verbose', str),
                       ('max-line', str)):
        p.add_argument(f'--{name}', type=kind, help=config.HELP[name.replace('-', '_')])
    p.add_argument('--print-all', action='store_true', default=None,
                   help='a line per IP and window, not only malicious ones (config: '
                        'print_all = yes)')
    p.add_argument('--update-now', action='store_true',
                   help='fetch, verify and install the update the config names, then exit '
                        '(0: installed, 1: refused or nothing to apply)')
    p.add_argument('--rollback', action='store_true',
                   help='go back to the detector before the last update, then exit')
    p.add_argument('--no-watch', action='store_true',
                   help='run the detector in this process, without the watcher that '
                        'restarts it (stdin is always read so)')
    # Between the watcher and its detector process: where the detector says how
    # far it got, and where a restarted one resumes from.
    p.add_argument('--progress', help=argparse.SUPPRESS)
    p.add_argument('--resume', help=argparse.SUPPRESS)
    p.add_argument('--said', action='append', default=[], help=argparse.SUPPRESS)
    return p


def overrides(args):
    """{setting: value} of the options given on the command line, checked."""
    given = {}
    for key in (item.name for item in config.fields(config.Settings)):
        value = getattr(args, key, None)
        if value is None:
            continue
        given[key] = value if isinstance(value, bool) else config.parse_value(
            key, value, f"--{key.replace('_', '-')}")
    return given


class Ips:
    """The running IPS: config, detector, whitelist, output, engine, input."""

    def __init__(self, args):
        given = overrides(args)
        if args.config == '':
            raise UserError('--config needs a file name')
        path = Path(args.config) if args.config else config.default_path()
        if path.is_dir():
            raise UserError(f'the config file {path} is a folder; give a file name')
        self.created = config.ensure(path)
        self.config = config.ConfigFile(path, given)
        settings = self.config.load()
        self.progress = Path(args.progress) if args.progress else None
        # a detector process of a watcher ends with it (a kill -9 of the watcher too)
        self.watcher_pid = os.getppid() if self.progress is not None else None
        position = watcher.read_progress(args.resume, args.input) if args.resume else None
        self.source = inputs.open_source(
            args.input, args.argus, child=True, max_line=settings.max_line,
            resume=(position['offset'], position['line']) if position else None)
        self.store = updates.store_path(config.stf_home())
        self.installed = updates.current_name(self.store)
        self.detector = load_detector(settings.models, self.store)
        self.updating = None        # the thread of a scheduled update
        self.said = []              # its line, for the main thread to print
        self.whitelist = load_whitelist(settings.whitelist)
        self.output = make_output(settings, self.detector)
        self.engine = Engine(self.detector, settings, self.output, self.whitelist)
        self.engine.read_stats = self.source.stats
        for text in args.said:      # the watcher's word on why this process started
            self.output.note(f'watcher: {text}')
        if position:
            self.engine.restore(position)
            self.output.cut(position['sizes'])
            self.output.note(f"resumed {args.input} at line {position['line']}")
        if self.progress is not None:
            self.engine.on_resume = self.tell_progress
        self.reload_asked = self.stop_asked = False
        if self.created:
            self.output.note(f'created {path} with the default settings')

    def run(self):
        self.source.start()
        next_tick = time.monotonic() + TICK
        while not self.stop_asked:
            item = self.source.get(TICK)
            if self.reload_asked or time.monotonic() >= next_tick or self.config.changed():
                self.reload()
            if time.monotonic() >= next_tick:
                if self.watcher_pid is not None and os.getppid() != self.watcher_pid:
                    self.output.note('the watcher is gone: stopping')
                    return
                self.follow_updates()
                if self.source.live:
                    self.engine.tick()
                next_tick = time.monotonic() + TICK
            if item is None:
                continue
            kind, value = item
            if kind == 'block':
                self.engine.feed(value)
            elif kind == 'note':
                self.output.note(value)
            elif kind == 'error':
                if self.stop_asked:     # a signal to the whole group reached the reader too
                    return
                raise value
            else:
                return

    def tell_progress(self, position):
        """Say where a restart would resume: called as soon as a window's
        alerts are out."""
        watcher.write_progress(self.progress, dict(position, sizes=self.output.sizes()),
                               self.source.name)

    def follow_updates(self):
        """Start a scheduled update when it is due; take a newly installed
        detector (it judges from the next window on)."""
        settings = self.engine.settings
        while self.said:
            self.output.note(self.said.pop(0))
        if self.updating is None and updates.due(self.store, settings):
            self.updating = threading.Thread(target=self._update, args=(settings,), daemon=True)
            self.updating.start()
        name = updates.current_name(self.store)
        if settings.models or name == self.installed:
            return
        self.installed = name
        try:
            detector = load_detector('', self.store)
        except UserError as error:
            self.output.note(f'{error}; keeping the detector in use')
            return
        self.detector = detector
        self.engine.take_detector(detector)
        self.output.note(f"detector '{detector.name}' ({name or 'shipped'}) taken: it judges "
                         'from the next window on')

    def _update(self, settings):
        try:
            self.said.append(updates.update(self.store, settings, scheduled=True))
        except updates.NothingToApply:
            pass                        # asked again after update_every_days
        except UserError as error:
            self.said.append(f'update refused: {error}')
        except Exception as error:   # a scheduled update never stops the IPS
            self.said.append(f'update failed: {error!r}')
        finally:
            self.updating = None

    def reload(self):
        """Re-read the config if it changed (or SIGHUP asked), keeping the last
        good settings when it is invalid."""
        asked, self.reload_asked = self.reload_asked, False
        if not (asked or self.config.changed()):
            return
        settings, message = self.config.reload()
        if settings is not None:
            try:
                self.take(settings)
            except UserError as error:
                message = f'{error}; none of the new settings were taken (the previous ones stay)'
        if message:
            self.output.note(message)

    def take(self, settings):
        old = self.engine.settings
        if settings.max_line != old.max_line:
            self.output.note(f'max_line {settings.max_line} takes effect when stf-ips starts '
                             f'again; lines longer than {size_text(old.max_line)} are still '
                             'skipped')
        if settings.models != old.models:
            self.detector = self.engine.detector = load_detector(settings.models, self.store)
        if settings.whitelist != old.whitelist:
            self.engine.whitelist = load_whitelist(settings.whitelist)
        if (settings.alerts, settings.log) != (old.alerts, old.log):
            output = make_output(settings, self.detector)
            self.output.close()
            self.output = self.engine.output = output
        self.output.print_all, self.output.verbose = settings.print_all, settings.verbose
        self.output.detector_name = self.detector.name
        self.engine.apply(settings)

    def finish(self):
        """Judge the open window and say what was skipped."""
        self.source.stop()
        self.engine.flush()
        stats, totals = self.source.stats, getattr(self.engine, 'totals', None) or {}
        if not stats.flows and not stats.malformed and not self.stop_asked:
            self.output.note(f'no flow was read from {self.source.name}')
        if stats.malformed:
            first = stats.first_malformed
            lines = ', '.join(map(str, first))
            self.output.note(
                f"{counted(stats.malformed, 'line')} skipped as unreadable or longer than "
                f"{size_text(self.source.max_line)} (the first: "
                f"{'line' if len(first) == 1 else 'lines'} {lines})")
        if totals.get('late'):
            self.output.note(f"{counted(totals['late'], 'flow')} in all came too late to be "
                             'judged')
        self.output.close()


def size_text(size):
    """'1 MiB', '64 KiB' or '1,500 bytes'."""
    for unit, name in ((1 << 20, 'MiB'), (1 << 10, 'KiB')):
        if size % unit == 0:
            return f'{size // unit:,} {name}'
    return f'{counted(size, "byte")}'


def load_detector(folder, store):
    """The detector of folder; without one, the installed update (if any),
    else the shipped detector."""
    if folder:
        if Path(folder).is_file():
            raise UserError(f'--models {folder} is a file; give the folder of a detector '
                            '(python -m stf.detect train --out DIR, or detectors -x in stf)')
        return Detector.load(Path(folder))
    installed = updates.current_folder(store)
    if installed is None:
        return Detector.default()
    try:
        return Detector.load(installed)
    except UserError as error:
        raise UserError(f'the installed detector {installed.name} was changed after it was '
                        f'installed ({updates.reason(error)}); stf-ips --rollback goes back '
                        'to the previous one') from None


def load_whitelist(path):
    return Whitelist.load(path) if path else None


def make_output(settings, detector):
    return AlertOutput(sys.stdout, settings.log or None, settings.alerts or None,
                       settings.print_all, settings.verbose, detector.name)


def act_on_updates(args):
    """--update-now or --rollback: one line, exit status 0 (done) or 1."""
    if args.update_now and args.rollback:
        raise UserError('give --update-now or --rollback, not both')
    path = Path(args.config) if args.config else config.default_path()
    config.ensure(path)
    settings = config.ConfigFile(path, overrides(args)).load()
    store = updates.store_path(config.stf_home())
    try:
        print(updates.rollback(store) if args.rollback else updates.update(store, settings))
    except UserError as error:
        print(f'stf-ips: {error}', file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    args = parser().parse_args(argv)
    ips = None
    try:
        if args.update_now or args.rollback:
            return act_on_updates(args)
        if watcher.supervised(args):
            return watcher.run(argv if argv is not None else sys.argv[1:])
        ips = Ips(args)
        _handle_signals(ips)
        ips.run()
    except inputs.ReaderFailed as error:    # not the input's fault: a watcher retries
        print(f'stf-ips: {error}', file=sys.stderr)
        return 1
    except UserError as error:
        print(f'stf-ips: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        return 0
    if ips is not None:
        ips.finish()
        if ips.source.thread.is_alive():
            # The reader thread is blocked in a read of stdin or ra's pipe: Python's
            # shutdown would wait for the stream's lock and abort.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
    return 0


def _handle_signals(ips):
    def stop(*_):
        ips.stop_asked = True

    def reload(*_):
        ips.reload_asked = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if hasattr(signal, 'SIGHUP'):
        signal.signal(signal.SIGHUP, reload)


if __name__ == '__main__':
    sys.exit(main())
