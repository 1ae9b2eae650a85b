"""The original stf's Markov chains per label beside the shipped detector, on
the shared labeled captures (the README's table).

    python bench/bench_markov.py [--rule evidence|any|majority] [--min-flows 3]

Models: the labeled chains of ../shared/data/letters/train.tsv (the shipped
detector's training set). There each chain has a numbered label of its own
(From-Botnet-UDP-DNS--1143), so one model is built per label description
(the name without its number: the chains of one behaviour), from the chains
with at least --min-flows flows, as `markov_models -g` builds one per label.
Each model's threshold is trained as `markov_models --train-threshold` does,
against every other labeled chain. Then each capture is run through the
experiments engine (`experiments -n --detector default markov:...`) with both
detectors, 300 s slots, the capture's own labels as ground truth, and the
per-IP-and-slot figures are printed as Markdown, with the time each took.
"""
import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stf.core.detect import Detector, experiment, labelmarkov  # noqa: E402
from stf.core.errors import UserError  # noqa: E402
from stf.core.flows import labelnames  # noqa: E402

SHARED = ROOT.parent / 'shared' / 'data'
TRAIN = SHARED / 'letters' / 'train.tsv'
# Each capture and its host of interest (the infected one, or the benign workstation).
CAPTURES = {'zeek/njrat-labeled.conn.log': '192.168.1.115',
            'binetflow/test5-mixed.binetflow': '10.0.2.15',
            'zeek/normal40-labeled.conn.log': '147.32.81.167',
            'zeek/normal42-labeled.conn.log': '147.32.83.234'}
FIGURES = ('tp', 'fp', 'tn', 'fn', 'tpr', 'fpr', 'f1')


def labeled_chains():
    """(description, Proto3, decision, flows, state) of every parseable row."""
    with open(TRAIN, newline='', encoding='utf-8') as stream:
        for row in csv.DictReader(stream, delimiter='\t'):
            try:
                name = labelnames.parse(row['label'])
            except UserError:
                continue
            yield name.description, name.proto3, name.verdict, int(row['flows']), row['state']


def models(min_flows):
    chains = list(labeled_chains())
    by_description = {}
    for description, proto3, decision, flows, state in chains:
        if flows >= min_flows:
            by_description.setdefault((description, proto3, decision), []).append(state)
    built = []
    for (description, proto3, decision), states in sorted(by_description.items()):
        model = labelmarkov.build(description, proto3, decision, states)
        others = [(state, other_proto3, other_decision)
                  for other, other_proto3, other_decision, _, state in chains
                  if other != description]
        _, chosen = labelmarkov.train_threshold(model, others)
        model.threshold = chosen.threshold
        built.append(model)
    return built


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rule', default='evidence')
    parser.add_argument('--min-flows', type=int, default=labelmarkov.MIN_FLOWS)
    args = parser.parse_args()
    if not TRAIN.exists():
        sys.exit(f'{TRAIN} is missing: this benchmark needs ../shared/data')
    began = time.perf_counter()
    built = models(args.min_flows)
    print(f'{len(built)} models (one per label description), thresholds trained in '
          f'{time.perf_counter() - began:.1f} s')
    detectors = {'shipped detector': Detector.default(),
                 'Markov per label': labelmarkov.MarkovDetector(built, 'markov')}
    print(f"\n| capture | method | host: slots flagged | {' | '.join(FIGURES)} | seconds |")
    print('|' + '---|' * (len(FIGURES) + 4))
    for name, host in CAPTURES.items():
        for method, detector in detectors.items():
            began = time.perf_counter()
            result = experiment.run(SHARED / name, detector, rule=args.rule)
            summary, mine = result['summary'], result['ips'][host]
            scored = mine['tp'] + mine['fp'] + mine['tn'] + mine['fn']
            values = [summary[key] if isinstance(summary[key], int) else
                      (f'{summary[key]:.3f}' if summary[key] is not None else '-')
                      for key in FIGURES]
            print(f"| {Path(name).name} | {method} | {host} ({mine['truth']}): "
                  f"{mine['tp'] + mine['fp']} of {scored} | {' | '.join(map(str, values))} | "
                  f'{time.perf_counter() - began:.1f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
