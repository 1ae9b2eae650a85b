"""Metrics of an experiment per (IP, time slot), per slot and for the whole run.

SPEC.md ("Experiments", the CTU-13 methodology): TP/FP/TN/FN are counted per
(IP, slot), background IPs apart. The time-corrected metrics weigh the early
slots more (detecting a bot early is worth more):

  cf(n) = e^(-alpha n) + 1, n the slot number from 1;
  B(n), N(n): the malicious and the normal IPs of slot n;
  tTP = sum TP(n) cf(n) / B(n),  tFN = sum FN(n) cf(n) / B(n),
  tFP = sum FP(n) / N(n),        tTN = sum TN(n) / N(n);
  slots without malicious (normal) IPs add nothing to tTP and tFN (tFP and tTN).

The rates are then the usual ones of those four numbers (tTPR = tTP / (tTP +
tFN), ...), None where a denominator is 0. The per-IP table of the whole run
never lets a later TN forgive an earlier FP: a normal IP flagged in any slot
is an FP of the run.
"""
import math
from dataclasses import dataclass

from stf.core.detect.metrics import confusion
from stf.core.detect.truth import BACKGROUND, MALICIOUS, NAMES, NORMAL

ALPHA = 0.01


def correction(number, alpha=ALPHA):
    """cf(n) of slot number n (from 1)."""
    return math.exp(-alpha * number) + 1


def outcome(truth, flagged):
    """'tp', 'fp', 'tn', 'fn' of one IP in one slot, None for background."""
    if truth == MALICIOUS:
        return 'tp' if flagged else 'fn'
    if truth == NORMAL:
        return 'fp' if flagged else 'tn'
    return None


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else None


def time_corrected(slots, alpha=ALPHA):
    """The time-corrected metrics of (n, tp, fp, tn, fn) per slot."""
    ttp = tfn = tfp = ttn = 0.0
    for number, tp, fp, tn, fn in slots:
        if tp + fn:
            weight = correction(number, alpha) / (tp + fn)
            ttp, tfn = ttp + tp * weight, tfn + fn * weight
        if fp + tn:
            tfp, ttn = tfp + fp / (fp + tn), ttn + tn / (fp + tn)
    return _time_rates(ttp, tfp, ttn, tfn)


def _time_rates(ttp, tfp, ttn, tfn):
    total = ttp + tfp + ttn + tfn
    tpr, precision = _ratio(ttp, ttp + tfn), _ratio(ttp, ttp + tfp)
    return {
        'ttp': ttp, 'tfp': tfp, 'ttn': ttn, 'tfn': tfn,
        'ttpr': tpr, 'ttnr': _ratio(ttn, ttn + tfp), 'tfpr': _ratio(tfp, tfp + ttn),
        'tfnr': _ratio(tfn, ttp + tfn), 'tprecision': precision,
        'taccuracy': _ratio(ttp + ttn, total), 'terror_rate': _ratio(tfp + tfn, total),
        'tf1': _ratio(2 * precision * tpr, precision + tpr)
        if precision is not None and tpr is not None else None,
    }


@dataclass
class IpRecord:
    """One IP over the whole run: its truth (the worst of its slots), its
    counts per slot, the slots it was background in, the slots it was flagged
    in (background ones too) and the first of them."""
    truth: int = BACKGROUND
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    background: int = 0
    flagged: int = 0
    first_detected_slot: int = None

    def add(self, number, truth, flagged):
        self.truth = max(self.truth, truth)
        kind = outcome(truth, flagged)
        if kind is None:
            self.background += 1
        else:
            setattr(self, kind, getattr(self, kind) + 1)
        if flagged:
            self.flagged += 1
            if self.first_detected_slot is None:
                self.first_detected_slot = number

    @property
    def run_outcome(self):
        """The IP's outcome over the whole run: a malicious IP is a TP if it was
        detected in one of its malicious slots; a normal one is an FP if it was
        flagged in any slot (a later TN does not forgive it)."""
        if self.truth == MALICIOUS:
            return 'tp' if self.tp else 'fn'
        if self.truth == NORMAL:
            return 'fp' if self.fp else 'tn'
        return None

    def row(self):
        return {'truth': NAMES[self.truth], 'tp': self.tp, 'fp': self.fp, 'tn': self.tn,
                'fn': self.fn, 'background': self.background, 'flagged': self.flagged,
                'first_detected_slot': self.first_detected_slot,
                'outcome': self.run_outcome}


class Tally:
    """Counts an experiment as its slots are decided: per slot, per IP, whole run."""

    def __init__(self, alpha=ALPHA):
        self.alpha = alpha
        self.slots = []
        self.ips = {}

    def add_slot(self, number, ips, truths, flags, extra=None):
        """One slot's IPs with their truth codes and predictions (flagged or
        not); extra: more fields for the slot's row."""
        counts = dict.fromkeys(('tp', 'fp', 'tn', 'fn'), 0)
        background = 0
        for ip, truth, flagged in zip(ips, truths, flags):
            record = self.ips.get(ip)
            if record is None:
                record = self.ips[ip] = IpRecord()
            record.add(number, truth, flagged)
            kind = outcome(truth, flagged)
            if kind is None:
                background += 1
            else:
                counts[kind] += 1
        row = {'slot': number, **confusion(**counts), 'cf': correction(number, self.alpha),
               'malicious_ips': counts['tp'] + counts['fn'],
               'normal_ips': counts['fp'] + counts['tn'], 'background_ips': background}
        self.slots.append(row | (extra or {}))
        return row

    def totals(self):
        """The whole run: counts and rates per (IP, slot), time-corrected
        metrics, and per IP (never forgiving an FP)."""
        sums = {kind: sum(row[kind] for row in self.slots) for kind in ('tp', 'fp', 'tn', 'fn')}
        per_ip = dict.fromkeys(('tp', 'fp', 'tn', 'fn'), 0)
        for record in self.ips.values():
            if record.run_outcome:
                per_ip[record.run_outcome] += 1
        slots = [(row['slot'], row['tp'], row['fp'], row['tn'], row['fn']) for row in self.slots]
        return {**confusion(**sums), **time_corrected(slots, self.alpha),
                'per_ip': confusion(**per_ip)}

    def ip_rows(self):
        return {ip: record.row() for ip, record in self.ips.items()}
