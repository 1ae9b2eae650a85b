"""python -m stf.detect evaluate --models DIR --letters TEST.tsv [--json]
[--prefix N] [--max-fpr 0.02] [--sweep]"""
import json

from stf.core.detect import Detector, metrics
from stf.core.detect.evaluation import evaluate
from stf.core.detect.training import read_letters
from stf.core.errors import UserError

HELP = 'judge the chains of a labeled letters TSV with a detector and print its error metrics'


def add_arguments(parser):
    parser.add_argument('--models', required=True, metavar='DIR', help='a detector folder')
    parser.add_argument('--letters', required=True, metavar='TEST.tsv',
                        help='labeled models to judge')
    parser.add_argument('--json', action='store_true', help='print JSON')
    parser.add_argument('--prefix', type=positive, metavar='N',
                        help='judge only the first N characters of each chain')
    parser.add_argument('--max-fpr', type=float, metavar='RATE',
                        help="use the detector's low-false-positive threshold (trained for a "
                             'false positive rate of at most RATE, e.g. 0.02)')
    parser.add_argument('--sweep', action='store_true',
                        help='print TPR, FPR and precision at each threshold instead')


def positive(text):
    import argparse
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'--prefix takes a whole number of characters >= 1, '
                                         f'not {text!r}')
    return int(text)


def run(args):
    detector = Detector.load(args.models)
    threshold = 'default'
    if args.max_fpr is not None:
        target = detector.settings.low_fpr
        if not target <= args.max_fpr < 1:
            raise UserError(f'--max-fpr {args.max_fpr}: this detector has a threshold for a '
                            f'false positive rate of at most {target:g} only; give '
                            f'--max-fpr {target:g} or more')
        threshold = 'low_fpr'
    rows = read_letters(args.letters)
    result, scores, malicious = evaluate(detector, rows, args.prefix, threshold)
    if args.sweep:
        cuts = [step / 20 for step in range(21)] + list(detector.thresholds.values())
        sweep = metrics.sweep(scores, malicious, cuts)
        print(json.dumps(sweep) if args.json else sweep_table(sweep))
    elif args.json:
        print(json.dumps(result))
    else:
        print(table(detector, threshold, result))
    return 0


def sweep_table(sweep):
    lines = ['threshold\ttpr\tfpr\tprecision']
    for row in sweep:
        lines.append('\t'.join([f"{row['threshold']:.4f}"] + [_number(row[key]) for key in
                                                               ('tpr', 'fpr', 'precision')]))
    return '\n'.join(lines)


def _number(value, digits=4):
    return '-' if value is None else f'{value:.{digits}f}'


def table(detector, threshold, result):
    judged = result['tp'] + result['fp'] + result['tn'] + result['fn']
    speed = result['chains_per_second']
    median = result['median_letters_to_detect']
    return '\n'.join([
        f"detector {detector.name!r}, {threshold} threshold "
        f"{detector.thresholds[threshold]:.4f}; {judged} chains judged, "
        f"{result['skipped']} skipped (neither malicious nor normal)",
        '             judged malicious  judged normal',
        f"malicious    {result['tp']:>16}  {result['fn']:>13}",
        f"normal       {result['fp']:>16}  {result['tn']:>13}",
        f"accuracy {_number(result['accuracy'])}  f1 {_number(result['f1'])}  "
        f"tpr {_number(result['tpr'])}  fpr {_number(result['fpr'])}  "
        f"precision {_number(result['precision'])}",
        f"{'-' if speed is None else f'{speed:,}'} chains/s; median letters to detect: "
        f"{'-' if median is None else f'{median:g}'}",
    ])
