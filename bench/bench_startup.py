"""Console start-up: time from launching `stf.py` to its prompt on a terminal.

Runs the real console in a pseudo-terminal on a fresh database and a database
with datasets, and prints the median of several starts (target: under 0.7 s).
Usage: python bench/bench_startup.py [RUNS]
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent


def time_to_prompt(database, home):
    env = dict(os.environ, STF_HOME=str(home), TERM='xterm')
    started = time.perf_counter()
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--db', str(database)],
                          env=env, encoding='utf-8', timeout=20, dimensions=(40, 120))
    child.expect('stf >')
    elapsed = time.perf_counter() - started
    child.sendcontrol('d')
    child.expect(pexpect.EOF)
    return elapsed


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        database, home = folder / 'stf.db', folder / 'home'
        time_to_prompt(database, home)  # creates the database
        times = [time_to_prompt(database, home) for _ in range(runs)]
    print(f'console start to prompt: median {statistics.median(times):.3f} s, '
          f'min {min(times):.3f} s, max {max(times):.3f} s over {runs} starts')


if __name__ == '__main__':
    main()
