"""An experiment: a detector run over a capture's flows per IP and time slot.

The flows (a binetflow or a Zeek conn.log) are taken in start-time order in
slots of T seconds from the first flow; each tuple's state grows flow by flow
and keeps its last MAX_STATE characters (stf.core.detect.stream). At each
slot's end every tuple that got a flow in it is judged on its state so far
(the detector's calls are batched, many slots at a time), a verdict rule
(stf.core.detect.verdict) decides per source IP, and the decision is scored
against the ground truth (stf.core.detect.truth) per (IP, slot)
(stf.core.detect.slotmetrics).

`run` returns {'summary': {...}, 'ips': {ip: {...}}, 'slots': [...]}, every
value plain JSON (None where a rate has no denominator).
"""
import time
from dataclasses import replace
from datetime import datetime, timezone
from itertools import compress

import numpy as np

from stf.core.detect import detector as detector_module
from stf.core.detect import stream, truth, verdict
from stf.core.detect.slotmetrics import ALPHA, Tally
from stf.core.flows import flowfile, flowtable
from stf.core.flows.letters import DEFAULT_CONSTRUCTOR, SECOND, get_constructor

# States judged in one call of the detector (whole slots at a time).
BATCH_STATES = 1 << 16


def run(flows_path, detector, slot_seconds=stream.SLOT_SECONDS, rule=verdict.DEFAULT_RULE,
        threshold=None, alpha=ALPHA, tuple_labels=None, constructor=DEFAULT_CONSTRUCTOR,
        max_length=stream.MAX_STATE, progress=None, keep=None):
    """The experiment's result (see the module docstring).

    detector: a Detector. rule: one of verdict.RULES; threshold: the evidence
    rule's (default verdict.EVIDENCE_THRESHOLD). tuple_labels: tuple id -> stf
    label name, the ground truth of the tuples it names. keep: keep(tuple id)
    says which tuples take part (None: all); the others' flows are left out,
    from the slots' clock too. progress: called as progress(stage text)
    between the stages.
    """
    began = time.perf_counter()
    verdict.check_rule(rule)
    width = stream.slot_width_us(slot_seconds)
    kind = flowfile.sniff_format(flows_path).kind
    _say(progress, 'reading flows')
    table = kept(flowtable.read(flows_path), keep)
    if keep is not None:  # only the tuples whose id passes keep(id)
        table = table.select(keep)
    _say(progress, 'growing states')
    runs = stream.slot_runs(table, width, get_constructor(constructor), max_length)
    flow_codes, labeled = truth.flow_truth(table, tuple_labels)
    _say(progress, 'judging')
    judged = judge(detector, runs)
    _say(progress, 'deciding and scoring')
    decided = decide(runs, judged, rule, threshold, width / SECOND,
                     run_truth(flow_codes, runs))
    tally = _tally(runs, decided, alpha)
    summary = _summary(tally, table, runs, rule, threshold, alpha, detector, width, kind)
    summary['truth'] = truth.sources(table, labeled, kind)
    summary['seconds'] = round(time.perf_counter() - began, 3)
    return {'summary': summary, 'ips': tally.ip_rows(), 'slots': tally.slots}


def kept(table, keep):
    """The flowtable.FlowTable of the tuples that keep(tuple id) keeps."""
    if keep is None:
        return table
    chosen = np.fromiter((bool(keep(conn)) for conn in table.ids), bool, len(table.ids))
    if chosen.all():
        return table
    sizes = np.diff(table.bounds)
    rows = np.repeat(chosen, sizes)
    bounds = np.concatenate(([0], np.cumsum(sizes[chosen]))).astype(np.int64)
    columns = {name: getattr(table, name)[rows]
               for name in ('start', 'dur', 'size', 'offset', 'line', 'label')}
    return replace(table, ids=list(compress(table.ids, chosen.tolist())), bounds=bounds,
                   **columns)


def _say(progress, stage):
    if progress:
        progress(stage)


def judge(detector, runs):
    """(probability, confidence, malicious) arrays, one value per run."""
    ids = [runs.ids[conn] for conn in runs.conn.tolist()]
    probability = np.zeros(len(runs))
    for begin, end in _batches(runs):
        probability[begin:end] = detector.probabilities(runs.states[begin:end], ids[begin:end])
    confidence = detector_module.confidences([len(state) for state in runs.states])
    return probability, confidence, probability >= detector.thresholds['default']


def _batches(runs):
    """(begin, end) ranges of whole slots of about BATCH_STATES runs."""
    ranges, begin = [], 0
    for _, slot_begin, slot_end in runs.slot_bounds():
        if slot_end - begin > BATCH_STATES and slot_begin > begin:
            ranges.append((begin, slot_begin))
            begin = slot_begin
    if begin < len(runs):
        ranges.append((begin, len(runs)))
    return ranges


def run_truth(flow_codes, runs):
    """The truth code of each run: the largest of its flows'."""
    if not len(runs):
        return np.zeros(0, np.int8)
    order = np.argsort(runs.first)
    codes = np.empty(len(runs), np.int8)
    codes[order] = np.maximum.reduceat(flow_codes, runs.first[order])
    return codes


class Decided:
    """Per (slot, IP) group, sorted by slot then IP: slot, ip, truth code,
    Verdicts, tuples judged."""

    def __init__(self, slot, ip, truth_codes, verdicts, tuples):
        self.slot, self.ip, self.truth = slot, ip, truth_codes
        self.verdicts, self.tuples = verdicts, tuples


def decide(runs, judged, rule, threshold, slot_seconds, run_codes):
    """Every (slot, source IP)'s verdict and truth."""
    probability, confidence, malicious = judged
    ips = sorted(set(runs.src))
    ip_code = {ip: code for code, ip in enumerate(ips)}
    conn_ip = np.array([ip_code[ip] for ip in runs.src], np.int64)
    keys = runs.slot * len(ips) + conn_ip[runs.conn] if len(runs) else np.zeros(0, np.int64)
    unique, group = np.unique(keys, return_inverse=True)
    group = group.reshape(-1)
    classes = [verdict.port_class(runs.ids[conn]) for conn in range(len(runs.ids))]
    weight = verdict.slot_weight(runs.new_flows, slot_seconds,
                                 [classes[conn] for conn in runs.conn.tolist()])
    verdicts = verdict.group_verdicts(rule, group, len(unique), malicious, probability,
                                      confidence, weight, threshold)
    codes = truth.group_max(run_codes, group, len(unique))
    tuples = np.bincount(group, minlength=len(unique))
    slots = unique // max(len(ips), 1)
    return Decided(slots, [ips[code] for code in (unique % max(len(ips), 1)).tolist()],
                   codes, verdicts, tuples)


def _tally(runs, decided, alpha):
    tally = Tally(alpha)
    slots = decided.slot
    change = np.flatnonzero(np.diff(slots)) + 1
    begins = np.concatenate(([0], change)).tolist() if len(slots) else []
    ends = np.concatenate((change, [len(slots)])).tolist() if len(slots) else []
    flagged = decided.verdicts.malicious
    for begin, end in zip(begins, ends):
        number = int(slots[begin])
        tally.add_slot(number, decided.ip[begin:end], decided.truth[begin:end].tolist(),
                       flagged[begin:end].tolist(),
                       {'start': _time_text(runs.slots.begin_us(number)),
                        'tuples_judged': int(decided.tuples[begin:end].sum()),
                        'flagged_ips': sorted(ip for ip, flag in zip(
                            decided.ip[begin:end], flagged[begin:end].tolist()) if flag)})
    return tally


def _time_text(microseconds):
    try:
        moment = datetime.fromtimestamp(microseconds / SECOND, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(microseconds / SECOND)
    return moment.strftime('%Y-%m-%d %H:%M:%S')


def _summary(tally, table, runs, rule, threshold, alpha, detector, width, kind):
    totals = tally.totals()
    rows = tally.ip_rows().values()
    return {
        'flows': table.flows, 'tuples': len(table.ids), 'kind': kind,
        'detector': detector.name, 'rule': rule,
        'threshold': (verdict.EVIDENCE_THRESHOLD if threshold is None else threshold)
        if rule == 'evidence' else None,
        'slot_seconds': width / SECOND, 'alpha': alpha,
        'slots': runs.last_slot, 'slots_with_flows': len(tally.slots),
        'empty_slots': runs.last_slot - len(tally.slots),
        'judgements': len(runs),
        'malicious_ips': sum(row['truth'] == 'malicious' for row in rows),
        'detected_ips': sum(row['outcome'] == 'tp' for row in rows),
        'normal_ips': sum(row['truth'] == 'normal' for row in rows),
        'flagged_normal_ips': sum(row['outcome'] == 'fp' for row in rows),
        'background_ips': sum(row['truth'] == 'background' for row in rows),
        **totals,
    }
