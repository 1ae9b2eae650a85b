"""From a flow file to behavioral models: stf's batch run against csv.reader.

    python bench/bench_models.py [N] [--keep] [--load-only]      (N default 1,000,000)

Writes /tmp/stf-bench-<N>.gen.binetflow with bench/gen_binetflow.py (reused when it
exists), then measures in one run:
  (a) csv.reader merely reading that file (`for row in csv.reader(f): pass`);
  (b) stf in batch mode on a fresh database (`stf.py --db TMP/stf.db`) fed
      `datasets -c FILE --name bench`, `connections -g`, `models -g` on stdin:
      wall time of the whole process, its peak memory (wait4's ru_maxrss), and the
      growth of the FileStorage file over an empty run (target: at most half the
      flow file);
  (c) `models -L 0-1 -f statelength>50` in a second batch run on that database,
      minus the start-up time of a run with only `database -i` on it.
--keep keeps the temporary database folder; --load-only feeds (b) only
`datasets -c` (to check the plumbing or time the loading alone) and skips (c).
Exits 1, showing stf's stderr, when a stf run fails (e.g. a missing command).
"""
import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
STF = ROOT / 'stf.py'
sys.path.insert(0, str(BENCH))

import gen_binetflow  # noqa: E402

TARGET_DB_RATIO = 0.5
LISTING = 'models -L 0-1 -f statelength>50'


class StfFailed(Exception):
    pass


def flow_file(flows):
    """The generated file for this many flows, made once (atomically) and reused."""
    path = Path(f'/tmp/stf-bench-{flows}.gen.binetflow')
    if path.exists():
        return path, None
    partial = path.with_suffix(f'.partial-{os.getpid()}')
    began = time.perf_counter()
    try:
        with open(partial, 'w', buffering=1 << 20) as out:
            gen_binetflow.generate(flows, out)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path, time.perf_counter() - began


def warm(path):
    """Read the file once so that (a) and (b) both find it in the page cache."""
    with open(path, 'rb', buffering=0) as stream:
        while stream.read(1 << 24):
            pass


def time_csv(path):
    began = time.perf_counter()
    with open(path, newline='', buffering=1 << 20) as stream:
        for _ in csv.reader(stream):
            pass
    return time.perf_counter() - began


def run_stf(database, lines, folder, name):
    """Run stf in batch mode on `database` with `lines` on stdin.

    Returns (wall seconds, peak RSS in bytes, stdout text). Raises StfFailed with
    stf's stderr when it exits non-zero.
    """
    stdin_path = folder / f'{name}.in'
    stdout_path, stderr_path = folder / f'{name}.out', folder / f'{name}.err'
    stdin_path.write_text(''.join(line + '\n' for line in lines))
    env = dict(os.environ, STF_HOME=str(folder / 'home'))
    with open(stdin_path) as stdin, open(stdout_path, 'w') as stdout, \
            open(stderr_path, 'w') as stderr:
        began = time.perf_counter()
        pid = os.posix_spawn(sys.executable,
                             [sys.executable, str(STF), '--db', str(database)], env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, stdin.fileno(), 0),
                                           (os.POSIX_SPAWN_DUP2, stdout.fileno(), 1),
                                           (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2)])
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    output, errors = stdout_path.read_text(), stderr_path.read_text()
    if code != 0:
        raise StfFailed(f"stf failed (exit status {code}) on: {' | '.join(lines)}\n"
                        + indent(errors or '(nothing on stderr)')
                        + missing_commands_hint(errors)
                        + ('\n  its stdout ended with:\n'
                           + indent('\n'.join(output.splitlines()[-10:]))
                           if output.strip() else ''))
    if errors.strip():
        print(f'  stf wrote on stderr ({name}):\n{indent(errors)}')
    return elapsed, usage.ru_maxrss * 1024, output


def missing_commands_hint(errors):
    missing = sorted({line.split("unknown command '", 1)[1].split("'", 1)[0]
                      for line in errors.splitlines() if "unknown command '" in line})
    if not missing:
        return ''
    return (f"\nstf has no command {', '.join(repr(m) for m in missing)} yet: "
            'the benchmark needs datasets -c, connections -g and models -g/-L.')


def indent(text, limit=40):
    lines = text.rstrip('\n').splitlines()
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f'... ({len(lines) - limit} more lines)')
    return '\n'.join('    ' + line for line in shown)


def megabytes(size):
    return f'{size / 1e6:,.1f} MB'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('flows', nargs='?', type=int, default=1_000_000,
                        help='flows in the generated file (default 1,000,000)')
    parser.add_argument('--keep', action='store_true', help='keep the temporary database')
    parser.add_argument('--load-only', action='store_true',
                        help='(b) runs only datasets -c; no (c)')
    args = parser.parse_args(argv)

    path, generated = flow_file(args.flows)
    size = path.stat().st_size
    made = f'generated in {generated:.1f} s' if generated is not None else 'reused'
    print(f'flows           {args.flows:,}')
    print(f'flow file       {path} {megabytes(size)} ({made})')
    warm(path)

    reading = time_csv(path)
    print(f'(a) csv.reader  {reading:.2f} s')
    sys.stdout.flush()

    folder = Path(tempfile.mkdtemp(prefix='stf-bench-models-'))
    database = folder / 'stf.db'
    try:
        try:
            measure_stf(args, path, size, folder, database, reading)
        except StfFailed as failure:
            print(f'\nFAILED: {failure}', file=sys.stderr)
            return 1
    finally:
        if args.keep:
            print(f'database kept in {folder}')
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def measure_stf(args, path, size, folder, database, reading):
    # An empty run first: creates the database, gives its empty size.
    empty_time, _, _ = run_stf(database, ['database -i'], folder, 'empty')
    empty_size = database.stat().st_size

    commands = [f'datasets -c {path} --name bench']
    if not args.load_only:
        commands += ['connections -g', 'models -g']
    elapsed, peak, output = run_stf(database, commands, folder, 'load')
    db_size = database.stat().st_size
    growth = db_size - empty_size
    ratio = growth / size
    print(f"(b) stf         {elapsed:.2f} s  ({'; '.join(commands)})")
    print(f'    b/a         {elapsed / reading:.1f}')
    print(f'    flows/s     {args.flows / elapsed:,.0f}')
    print(f'    peak memory {peak / 2**20:,.0f} MB')
    print(f'    database    {megabytes(growth)} added ({megabytes(db_size)} file), '
          f'{ratio:.2f} of the flow file '
          f"(target <= {TARGET_DB_RATIO}: {'ok' if ratio <= TARGET_DB_RATIO else 'OVER'})")
    print(f'    stf said:\n{indent(output, 12)}')
    print(f'    (empty run: {empty_time:.2f} s)')
    if args.load_only:
        return

    # best of three for both, so that start-up noise does not swamp a short listing
    startup = min(run_stf(database, ['database -i'], folder, 'startup')[0] for _ in range(3))
    runs = [run_stf(database, [LISTING], folder, 'list') for _ in range(3)]
    listing, output = min(runs)[0], runs[0][2]
    print(f'(c) {LISTING}: {listing - startup:.2f} s '
          f'(run {listing:.2f} s - start-up {startup:.2f} s, best of 3), '
          f'{len(output.splitlines()):,} lines of output')


if __name__ == '__main__':
    sys.exit(main())
