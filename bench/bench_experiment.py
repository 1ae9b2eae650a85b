"""Experiments: speed on a large capture, and the cross-validation that chose
the evidence threshold of the default verdict rule.

    python bench/bench_experiment.py [N]          speed on N flows (default 1,000,000)
    python bench/bench_experiment.py --cv [FILE ...]

Speed: writes /tmp/stf-bench-<N>.gen.binetflow with bench/gen_binetflow.py
(reused when it exists) and times `experiment.run` on it with the shipped
detector, stage by stage (target: well under a minute for 1 M flows).

--cv: leave-one-capture-out over the labeled captures (default: the four of
../shared/data with malicious or normal labels). Each capture is run once; the
evidence of every (IP, slot) is kept, so that any threshold can be applied
afterwards. For each held-out capture the threshold is chosen on the others as
the lowest one of the grid (0.05, 0.10, ..., 3.00) at which no normal IP of
those captures is flagged in more than 10% of its slots (the target of a
benign host), which detects the most under that bound; the held-out capture is
then judged with it. The threshold shipped is the one the same rule picks on
all captures together. Prints the folds and the per-IP figures as Markdown
(docs/experiments.md holds them).
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from stf.core.detect import Detector  # noqa: E402
from stf.core.detect import experiment, stream, truth  # noqa: E402
from stf.core.flows import flowfile, flowtable  # noqa: E402
from stf.core.flows.letters import SECOND, get_constructor  # noqa: E402

SHARED = ROOT.parent / 'shared' / 'data'
CAPTURES = ('zeek/normal40-labeled.conn.log', 'zeek/normal42-labeled.conn.log',
            'zeek/njrat-labeled.conn.log', 'binetflow/test5-mixed.binetflow')
GRID = [round(0.05 * step, 2) for step in range(1, 61)]
MAX_FLAGGED_SHARE = 0.10


# ---- speed ----------------------------------------------------------------------

def speed(flows):
    path = Path(f'/tmp/stf-bench-{flows}.gen.binetflow')
    if not path.exists():
        subprocess.run([sys.executable, str(BENCH / 'gen_binetflow.py'), str(flows), str(path)],
                       check=True)
    detector = Detector.default()
    stages, last = [], [time.perf_counter()]

    def progress(stage):
        now = time.perf_counter()
        stages.append((stage, now - last[0]))
        last[0] = now

    began = time.perf_counter()
    result = experiment.run(str(path), detector, progress=progress)
    stages.append(('done', time.perf_counter() - last[0]))
    total = time.perf_counter() - began
    summary = result['summary']
    print(f"{path}: {summary['flows']:,} flows, {summary['tuples']:,} tuples, "
          f"{summary['judgements']:,} judgements in {summary['slots']:,} slots")
    for (stage, _), (_, seconds) in zip(stages, stages[1:]):
        print(f'  {stage:<22} {seconds:6.2f} s')
    print(f'  total                  {total:6.2f} s ({summary["flows"] / total:,.0f} flows/s)')


# ---- cross-validation -------------------------------------------------------------

class Capture:
    """One labeled capture run once: per (slot, IP) group its IP, truth code
    and evidence under the default rule's weights."""

    def __init__(self, path, detector):
        self.name = Path(path).name
        table = flowtable.read(path)
        runs = stream.slot_runs(table, stream.SLOT_SECONDS * SECOND, get_constructor(1))
        codes, _ = truth.flow_truth(table)
        judged = experiment.judge(detector, runs)
        decided = experiment.decide(runs, judged, 'evidence', None, stream.SLOT_SECONDS,
                                    experiment.run_truth(codes, runs))
        self.kind = flowfile.sniff_format(path).kind
        self.ip = np.array(decided.ip)
        self.truth = decided.truth
        self.evidence = decided.verdicts.evidence

    def hosts(self, threshold):
        """ip -> (truth, slots flagged, slots scored) of the malicious and
        normal IPs; an IP is malicious if it ever is, and then counts its
        malicious slots, a normal IP its normal slots."""
        flagged = self.evidence >= threshold - 1e-9
        rows = {}
        for ip in np.unique(self.ip[self.truth != truth.BACKGROUND]).tolist():
            mine = self.ip == ip
            worst = int(self.truth[mine].max())
            slots = mine & (self.truth == worst)
            rows[ip] = (truth.NAMES[worst], int(np.count_nonzero(flagged & slots)),
                        int(np.count_nonzero(slots)))
        return rows


def fits(captures, threshold):
    """Whether no normal IP of the captures is flagged in more than 10% of
    its slots at this threshold."""
    for capture in captures:
        for kind, flagged, slots in capture.hosts(threshold).values():
            if kind == 'normal' and flagged > MAX_FLAGGED_SHARE * slots:
                return False
    return True


def bounds(captures):
    """(lowest threshold of the grid that keeps every normal IP within 10% of
    its slots, highest that still detects a malicious IP in every capture)."""
    low = next((value for value in GRID if fits(captures, value)), GRID[-1])
    top = min(float(capture.evidence[capture.truth == truth.MALICIOUS].max(initial=0))
              for capture in captures if (capture.truth == truth.MALICIOUS).any())
    high = max([value for value in GRID if value <= top + 1e-9], default=GRID[0])
    return low, high


def choose(captures):
    """Midway between the bounds (on the grid), or the lower bound when the
    bounds cross: the benign target comes first."""
    low, high = bounds(captures)
    if high <= low:
        return low
    return min(GRID, key=lambda value: (abs(value - (low + high) / 2), value))


def cross_validate(paths, detector):
    captures = [Capture(path, detector) for path in paths]
    print('| held out | bounds on the others | threshold | malicious IPs detected '
          '(>= 1 slot) | normal IPs: slots flagged |')
    print('|---|---|---|---|---|')
    for held in captures:
        others = [capture for capture in captures if capture is not held]
        low, high = bounds(others)
        threshold = choose(others)
        hosts = held.hosts(threshold)
        malicious = [row for row in hosts.values() if row[0] == 'malicious']
        detected = sum(1 for row in malicious if row[1])
        flagged = ', '.join(f'{ip} {row[1]}/{row[2]}' for ip, row in hosts.items()
                            if row[0] == 'normal') or '-'
        print(f'| {held.name} | {low:g} .. {high:g} | {threshold:g} | {detected} of '
              f'{len(malicious)} | {flagged} |')
    low, high = bounds(captures)
    chosen = choose(captures)
    print(f'\nall captures: bounds {low:g} .. {high:g}, threshold {chosen:g}\n')
    print('| capture | IP | truth | slots flagged / scored |')
    print('|---|---|---|---|')
    for capture in captures:
        hosts = capture.hosts(chosen)
        busiest = sorted(hosts.items(), key=lambda item: (-item[1][2], item[0]))
        for ip, (kind, hits, slots) in busiest[:4]:
            print(f'| {capture.name} | {ip} | {kind} | {hits} / {slots} |')
        malicious = [row for row in hosts.values() if row[0] == 'malicious']
        print(f'| {capture.name} | all {len(malicious)} malicious IPs | malicious | '
              f'{sum(1 for row in malicious if row[1])} detected in >= 1 slot |')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('flows', nargs='?', type=int, default=1_000_000)
    parser.add_argument('--cv', nargs='*', metavar='FILE')
    parser.add_argument('--models', metavar='DIR', help='a detector folder (default: shipped)')
    args = parser.parse_args(argv)
    if args.cv is not None:
        paths = args.cv or [SHARED / name for name in CAPTURES]
        cross_validate(paths, Detector.load(args.models) if args.models else Detector.default())
    else:
        speed(args.flows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
