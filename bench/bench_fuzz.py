"""The property cases of tests/test_properties.py, run many times over every reader.

    python bench/bench_fuzz.py [--cases N] [--seed S] [--reader NAME]

Runs N cases in total (default 100,000), shared equally by the readers (or all
for --reader, a name as printed), with random.Random instead of hypothesis: case
i of a reader uses the seed S + i. A case generates a valid input, checks that
it reads exactly as written, mutates it and checks that it gives a result or
one UserError, within the time and memory limits of a case (CASE_SECONDS,
CASE_MEMORY). Prints, for each reader, the cases, cases per second, failures,
the slowest case and the most memory a case allocated at once, then a total
line. The first failing input of a reader is saved as
/tmp/stf-fuzz-<reader>-<seed>.bin (the traceback beside it as .txt); run the
case again with --reader NAME --seed SEED --cases 1.
"""
import argparse
import random
import re
import sys
import tempfile
import time
import traceback
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_properties import LAST_CASE, PROPERTIES, Inputs, run_case  # noqa: E402


def slug(name):
    return re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')


def run_reader(name, prop, cases, seed, folder):
    """(seconds, failures, slowest case in s, largest peak of a case in bytes) of
    `cases` cases of one reader's property."""
    inputs = Inputs(folder)
    failures = slowest = largest = 0
    began = time.perf_counter()
    for number in range(cases):
        inputs.current = None
        try:
            run_case(prop, random.Random(seed + number), inputs)
        except Exception:       # an assertion, a CaseLimit, or the reader's own bug
            failures += 1
            if failures == 1:
                save(name, seed + number, inputs.current, traceback.format_exc())
        slowest = max(slowest, LAST_CASE['seconds'])
        largest = max(largest, LAST_CASE['peak'])
    return time.perf_counter() - began, failures, slowest, largest


def save(name, seed, data, trace):
    stem = Path(tempfile.gettempdir()) / f'stf-fuzz-{slug(name)}-{seed}'
    stem.with_suffix('.bin').write_bytes(data or b'')
    stem.with_suffix('.txt').write_text(
        f'python bench/bench_fuzz.py --reader {name!r} --seed {seed} --cases 1\n\n{trace}')
    last = trace.strip().splitlines()[-1]
    print(f'  {name}: case {seed} failed: {last[:200]}\n  input saved as {stem}.bin',
          file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cases', type=int, default=100_000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--reader', choices=sorted(PROPERTIES))
    args = parser.parse_args()
    readers = {args.reader: PROPERTIES[args.reader]} if args.reader else PROPERTIES
    share, extra = divmod(args.cases, len(readers))
    tracemalloc.start()    # once: each case then only resets its peak
    print(f'{"reader":<16}{"cases":>10}{"cases/s":>10}{"failures":>10}'
          f'{"slowest case":>14}{"peak memory":>13}')
    totals = [0, 0.0, 0, 0.0, 0]
    with tempfile.TemporaryDirectory(prefix='stf-fuzz-') as folder:
        for index, (name, prop) in enumerate(readers.items()):
            cases = share + (index < extra)
            seconds, failures, slowest, largest = run_reader(name, prop, cases, args.seed,
                                                             folder)
            print(f'{name:<16}{cases:>10,}{cases / seconds:>10,.0f}{failures:>10,}'
                  f'{slowest:>12.2f} s{largest / 2**20:>10.1f} MB', flush=True)
            totals = [totals[0] + cases, totals[1] + seconds, totals[2] + failures,
                      max(totals[3], slowest), max(totals[4], largest)]
    cases, seconds, failures, slowest, largest = totals
    print(f'{"total":<16}{cases:>10,}{cases / seconds:>10,.0f}{failures:>10,}'
          f'{slowest:>12.2f} s{largest / 2**20:>10.1f} MB   ({seconds:,.0f} s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
