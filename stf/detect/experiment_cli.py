"""python -m stf.detect experiment [--models DIR] --flows FILE [--slot 300]
[--rule evidence|any|majority] [--threshold X] [--alpha 0.01] [--labels LETTERS.tsv]
[--json]"""
import argparse
import json

from stf.core.detect import Detector
from stf.core.detect import experiment, stream, verdict
from stf.core.detect.slotmetrics import ALPHA
from stf.core.errors import UserError
from stf.core.flows import letterstsv
from stf.core.formats import counted

HELP = ('run a detector over a capture\'s flows per source IP and time slot and print its '
        'error metrics against the capture\'s labels')
# Rows of the per-IP part of the readable summary, per kind of IP.
SHOWN_IPS = 10


def add_arguments(parser):
    parser.add_argument('--models', metavar='DIR',
                        help='a detector folder (default: the detector shipped with stf)')
    parser.add_argument('--flows', required=True, metavar='FILE',
                        help='a binetflow or Zeek conn.log with labels')
    parser.add_argument('--slot', type=positive_number, default=stream.SLOT_SECONDS,
                        metavar='SECONDS', help='the length of a time slot (default 300)')
    parser.add_argument('--rule', choices=verdict.RULES, default=verdict.DEFAULT_RULE,
                        help="how an IP's judged tuples make its verdict in a slot: evidence "
                             "(default), any (the original stf's), majority (the original "
                             "IPS's)")
    parser.add_argument('--threshold', type=positive_number, metavar='X',
                        help='the evidence an IP needs in a slot under --rule evidence '
                             f'(default {verdict.EVIDENCE_THRESHOLD:g})')
    parser.add_argument('--alpha', type=rate, default=ALPHA, metavar='A',
                        help='alpha of the time-corrected metrics (default 0.01)')
    parser.add_argument('--labels', metavar='LETTERS.tsv',
                        help="labeled models (models -e): their labels are the ground truth "
                             "of their tuples, before the file's own labels")
    parser.add_argument('--json', action='store_true', help='print JSON')


def positive_number(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float('inf'):
        raise argparse.ArgumentTypeError(f'takes a number above 0, not {text!r}')
    return value


def rate(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float('inf'):
        raise argparse.ArgumentTypeError(f'takes a number of 0 or more, not {text!r}')
    return value


def run(args):
    if args.threshold is not None and args.rule != 'evidence':
        raise UserError(f'--threshold is for --rule evidence; --rule {args.rule} has none')
    detector = Detector.load(args.models) if args.models else Detector.default()
    labels = letterstsv.read(args.labels)[1] if args.labels else None
    result = experiment.run(args.flows, detector, args.slot, args.rule, args.threshold,
                            args.alpha, labels)
    print(json.dumps(result) if args.json else summary_text(args.flows, result))
    return 0


def _number(value, digits=4):
    return '-' if value is None else f'{value:.{digits}f}'


RATES = (('tpr', 'TPR'), ('tnr', 'TNR'), ('fpr', 'FPR'), ('fnr', 'FNR'),
         ('precision', 'precision'), ('accuracy', 'accuracy'), ('error_rate', 'error rate'),
         ('f1', 'F1'), ('f2', 'F2'), ('f05', 'F0.5'), ('mcc', 'MCC'))
TIME_RATES = (('ttpr', 'tTPR'), ('ttnr', 'tTNR'), ('tfpr', 'tFPR'), ('tfnr', 'tFNR'),
              ('tprecision', 'tPrecision'), ('taccuracy', 'tAccuracy'),
              ('terror_rate', 'tErrorRate'), ('tf1', 'tF1'))


def summary_text(path, result):
    """The readable summary of an experiment's result."""
    summary = result['summary']
    lines = [_heading(path, summary),
             f"ground truth: {', '.join(summary['truth'])}",
             f"per (IP, slot): TP {summary['tp']}  FP {summary['fp']}  TN {summary['tn']}  "
             f"FN {summary['fn']}",
             '  ' + '  '.join(f'{name} {_number(summary[key])}' for key, name in RATES),
             f"time-corrected (alpha {summary['alpha']:g}): tTP {summary['ttp']:.4f}  "
             f"tFP {summary['tfp']:.4f}  tTN {summary['ttn']:.4f}  tFN {summary['tfn']:.4f}",
             '  ' + '  '.join(f'{name} {_number(summary[key])}' for key, name in TIME_RATES),
             _per_ip_line(summary)]
    if not summary['malicious_ips'] and not summary['normal_ips']:
        lines.append('no flow has a malicious or normal label: nothing was scored; give a '
                     'labeled capture or --labels')
    lines += _ip_lines(result['ips'], 'malicious', 'detected in')
    lines += _ip_lines(result['ips'], 'normal', 'flagged in')
    return '\n'.join(lines)


def _heading(path, summary):
    rule = summary['rule']
    if summary['threshold'] is not None:
        rule += f" (threshold {summary['threshold']:g})"
    return (f"{path}: {counted(summary['flows'], 'flow')}, "
            f"{counted(summary['tuples'], 'tuple')}; detector "
            f"{summary['detector']!r}, rule {rule}; {counted(summary['slots'], 'slot')} of "
            f"{summary['slot_seconds']:g} s ({summary['empty_slots']:,} empty); "
            f"{summary['seconds']:.2f} s")


def _per_ip_line(summary):
    per_ip = summary['per_ip']
    return (f"per IP, whole run (an FP is never forgiven): {summary['detected_ips']} of "
            f"{summary['malicious_ips']} malicious IPs detected, {summary['flagged_normal_ips']}"
            f" of {summary['normal_ips']} normal IPs flagged, {summary['background_ips']} "
            f"background IPs not scored; TPR {_number(per_ip['tpr'])}  FPR "
            f"{_number(per_ip['fpr'])}  F1 {_number(per_ip['f1'])}")


def _ip_lines(ips, truth, verb):
    """The IPs of one truth, the most often flagged first, then the busiest,
    at most SHOWN_IPS of them."""
    hit = 'tp' if truth == 'malicious' else 'fp'
    rows = [(ip, row) for ip, row in ips.items() if row['truth'] == truth]
    rows.sort(key=lambda item: (-item[1][hit], -(item[1]['tp'] + item[1]['fn'] +
                                                 item[1]['fp'] + item[1]['tn']), item[0]))
    lines = []
    for ip, row in rows[:SHOWN_IPS]:
        hits = row['tp'] if truth == 'malicious' else row['fp']
        scored = row['tp'] + row['fn'] if truth == 'malicious' else row['fp'] + row['tn']
        first = row['first_detected_slot']
        lines.append(f"  {truth} {ip}: {verb} {hits} of {scored} slots"
                     + (f' (first in slot {first})' if first is not None else ''))
    if len(rows) > SHOWN_IPS:
        lines.append(f'  ... and {len(rows) - SHOWN_IPS} more {truth} IPs (--json lists them)')
    return lines
