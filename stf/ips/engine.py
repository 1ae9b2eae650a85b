"""Flows in, per-IP alerts out, window by window.

Windows of `window` seconds are counted from the first flow's start. Flows come
out of start-time order (Zeek writes a connection when it ends, argus at each
status interval): a flow that starts up to `lateness` seconds before the open
window joins it; an earlier one is counted as late and reported. A flow past
the open window's end closes it (and every empty window in between). The open
window's flows are added to their tuples' states in start-time order when it
closes, then every tuple that got a flow in it is judged in one batch and the
shared verdict rule gives each source IP its verdict for the window.
"""
import time
from dataclasses import dataclass

import numpy as np

from stf.core.detect import detector as detector_module
from stf.core.detect.features import context_classes
from stf.core.detect.stream import TupleTable, grown
from stf.core.detect.verdict import group_verdicts, slot_weights, source_and_weight
from stf.core.flows import connid
from stf.core.formats import counted
from stf.core.flows.letters import SECOND
from stf.ips.alerts import Alert, TupleFinding

# The letters an alert shows of each tuple's state (its last ones).
SHOWN_LETTERS = 50
# Flows whose start is within this of the wall clock are live: how far behind
# the IPS is can then be told.
LIVE_SPAN_US = 86400 * SECOND
# Rows looked at first when searching a block for the flow that closes the
# open window (the search doubles from there).
FIRST_LOOK = 64


class Engine:
    """detector: a Detector; settings: config.Settings; output: an AlertOutput
    (report, window_stats, tuple_line, note); whitelist: a Whitelist or None.

    Flows are taken a block at a time and kept as columns until their window
    closes; tuples live in a stream.TupleTable, with each row's source IP and
    port weight beside it."""

    def __init__(self, detector, settings, output, whitelist=None):
        self.detector = detector
        self.output = output
        self.whitelist = whitelist
        self.table = TupleTable(max_length=settings.state_length)
        self.row_source = []                  # row -> source IP
        self.row_weight = np.zeros(0)         # row -> port weight
        self.row_context = np.zeros(0, np.int32)   # row -> features.context_classes
        self.pending = []          # (start, dur, size, ids) of the open window, per block
        self.origin_us = None
        self.number = 0            # the open window, counted from origin
        self.latest_us = None      # the latest flow start seen, and when (wall clock)
        self.latest_wall = None
        self.counts = _zero_counts()
        self.skipped_before = 0    # the reader's skipped lines at the last report
        self.read_stats = None
        self.next_detector = None   # an updated detector, taken at the next window
        self.resume = None          # where a restart would resume (after a closed window)
        self.on_resume = None       # called with it as soon as it moves
        self.apply(settings)

    def apply(self, settings):
        """Take new settings; a new window length starts at the open window's end."""
        self.settings = settings
        self.table.max_length = settings.state_length
        self.lateness_us = round(settings.lateness * SECOND)
        self.idle_us = round(settings.idle * SECOND)
        new_width = round(settings.window * SECOND)
        if self.origin_us is None or not hasattr(self, 'width_us'):
            self.width_us = new_width
        self.next_width_us = new_width

    def take_detector(self, detector):
        """Judge with detector from the next window on (at once when no
        window has flows yet): a window is judged by one detector."""
        if self.pending:
            self.next_detector = detector
        else:
            self.detector, self.next_detector = detector, None
            self.output.detector_name = detector.name

    def restore(self, position):
        """Continue the windows of a run that stopped at position (a resume)."""
        self.origin_us, self.width_us = position['origin_us'], position['width_us']
        self.number = position['number']

    @property
    def begin_us(self):
        return self.origin_us + self.number * self.width_us

    @property
    def end_us(self):
        return self.begin_us + self.width_us

    # -- flows in ----------------------------------------------------------
    def feed(self, block):
        """Take the flows of one FlowBlock (or frames.Flows, whose distinct
        tuples the reader process found)."""
        tuples, index = _tuples_of(block)
        start, dur, size, lines, offsets = (
            np.asarray(column, np.int64) for column in
            (block.start, block.dur, block.bytes, block.line_no, block.offset))
        # where each kept flow was in the block: the whitelisted flows between
        # two kept ones are counted in the window the kept ones go to
        position = None
        if self.whitelist is not None and self.whitelist.active:
            keep = self._not_whitelisted(block)
            start, dur, size, index = start[keep], dur[keep], size[keep], index[keep]
            lines, offsets = lines[keep], offsets[keep]
            position = np.append(np.flatnonzero(keep), len(keep))
        at, count = 0, len(index)
        while at < count:
            if self.origin_us is None:
                self.origin_us = int(start[at])   # the first flow not whitelisted
            earliest, end = self.begin_us - self.lateness_us, self.end_us
            closing = _first_at_or_after(start, at, end)
            if position is not None:
                self.counts['whitelisted'] += int(position[closing] - position[at]
                                                  - (closing - at))
            if closing > at:
                self._take(start[at:closing], dur[at:closing], size[at:closing],
                           tuples, index[at:closing], earliest)
            if closing < count:
                self._close_until(int(start[closing]))
                # every line before this flow's is judged: a restart resumes here
                self.resume = {'line': int(lines[closing]), 'offset': int(offsets[closing]),
                               'origin_us': self.origin_us, 'width_us': self.width_us,
                               'number': self.number}
                if self.on_resume is not None:   # said at once: no window alerted twice
                    self.on_resume(self.resume)
            at = closing

    def _take(self, start, dur, size, tuples, index, earliest):
        """Keep flows of the open window (with the tuples they name, tuples[index]);
        count the ones too late for it."""
        late = start < earliest
        if late.any():
            self.counts['late'] += int(late.sum())
            keep = ~late
            start, dur, size, index = start[keep], dur[keep], size[keep], index[keep]
            if not len(index):
                return
        used, index = np.unique(index, return_inverse=True)
        self.pending.append((start, dur, size, [tuples[at] for at in used.tolist()], index))
        latest = int(start.max())
        if self.latest_us is None or latest > self.latest_us:
            self.latest_us = latest
        self.latest_wall = time.time()

    def _not_whitelisted(self, block):
        skips = self.whitelist.skips
        keep = np.fromiter((not skips(src, dst, dport) for src, dst, dport
                            in zip(block.src, block.dst, block.dport)), bool, len(block.src))
        if not keep.any():
            self.counts['whitelisted'] += len(keep)
        elif not keep[0]:   # those before the first kept flow belong to the open window
            self.counts['whitelisted'] += int(np.argmax(keep))
        return keep

    def tick(self, now_wall=None):
        """Live input: close the open window once its end plus the lateness has
        passed on the flows' clock, which runs on from the latest flow start
        with the wall clock (so a replayed capture closes windows by its own
        times, and live input when the wall clock passes the end)."""
        if not self.pending or self.latest_wall is None:
            return
        now_wall = time.time() if now_wall is None else now_wall
        clock_us = self.latest_us + round((now_wall - self.latest_wall) * SECOND)
        if clock_us >= self.end_us + self.lateness_us:
            self._close_until(clock_us)

    def flush(self):
        """End of input (or SIGTERM): judge the open window."""
        if self.pending:
            self._close_window()

    # -- windows -----------------------------------------------------------
    def _close_until(self, start_us):
        """Close the open window and open the one start_us falls in (windows
        in between had no flow: nothing to judge)."""
        self._close_window()
        if start_us >= self.end_us:
            self.number += (start_us - self.begin_us) // self.width_us

    def _close_window(self):
        begin, end = self.begin_us, self.end_us
        touched, new_flows = self._grow()
        judged = self._judge(touched, new_flows, begin, end) if len(touched) else None
        self.counts['evicted'] += self._evict(end - self.idle_us)
        self._report(judged, begin, end)
        if self.next_width_us != self.width_us:
            self.origin_us, self.number, self.width_us = end, 0, self.next_width_us
        if self.next_detector is not None:   # an update: a window is judged by one detector
            self.detector, self.next_detector = self.next_detector, None
            self.output.detector_name = self.detector.name

    def _grow(self):
        """Add the open window's flows to their tuples' states: (rows, new
        flows) of the tuples that got flows."""
        parts, self.pending = self.pending, []
        self.counts['flows'] = sum(len(part[4]) for part in parts)
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        start, dur, size = (np.concatenate([part[column] for part in parts])
                            for column in range(3))
        rows = []
        for _, _, _, tuples, index in parts:   # each tuple looked up once a block
            found, new_rows, new_ids = self.table.rows_of(tuples)
            if new_rows:
                self._new_rows(new_rows, new_ids)
            rows.append(found[index])
        return self.table.add(np.concatenate(rows), start, dur, size)

    def _new_rows(self, rows, ids):
        """New tuples' source IPs, port weights and contexts, parsed once
        while they are kept."""
        needed = max(rows) + 1
        if needed > len(self.row_weight):
            size = max(1024, 2 * needed)
            self.row_weight = grown(self.row_weight, size)
            self.row_context = grown(self.row_context, size)
        self.row_source.extend([None] * (needed - len(self.row_source)))
        for row, tuple_id in zip(rows, ids):
            self.row_source[row], self.row_weight[row] = source_and_weight(tuple_id)
        self.row_context[rows] = context_classes(ids, len(ids))

    def _judge(self, rows, new_flows, begin, end):
        """A Judged (the window's tuples, their scores and their IPs' verdicts)."""
        table = self.table
        row_list = rows.tolist()
        states = [table.states[row] for row in row_list]
        ids = [table.ids[row] for row in row_list]
        contexts = self.row_context[rows]
        probability = self.detector.probabilities(states, contexts=contexts)
        malicious = probability >= self.detector.thresholds['default']
        lengths = np.fromiter(map(len, states), np.int64, len(states))
        confidence = detector_module.confidences(lengths)
        sources = list(map(self.row_source.__getitem__, row_list))
        ips = {ip: number for number, ip in enumerate(dict.fromkeys(sources))}
        group = np.fromiter(map(ips.__getitem__, sources), np.int64, len(sources))
        weight = slot_weights(new_flows, (end - begin) / SECOND, self.row_weight[rows])
        verdicts = group_verdicts(self.settings.rule, group, len(ips), malicious, probability,
                                  confidence, weight, self.settings.threshold)
        return Judged(ids, states, contexts, group, list(ips), probability, confidence,
                      malicious, verdicts)

    def _evict(self, before_us):
        """Forget tuples without a flow since before_us."""
        rows = self.table.evict(before_us)
        for row in rows.tolist():
            self.row_source[row] = None
        return len(rows)

    def _report(self, judged, begin, end):
        if judged is not None:
            for alert in self._alerts(judged, begin, end):
                self.output.report(alert)
            if self.settings.verbose >= 3:
                for tuple_id, state, score, malicious in zip(
                        judged.ids, judged.states, judged.probability.tolist(),
                        judged.malicious.tolist()):
                    self.output.tuple_line(tuple_id, state[-SHOWN_LETTERS:], score, malicious)
        self._window_stats(begin, end, len(judged.ids) if judged is not None else 0)

    def _alerts(self, judged, begin, end):
        """An Alert per IP (only the malicious ones unless print_all), most
        evidence first; its tuples judged malicious, highest score first."""
        verdicts = judged.verdicts
        shown = verdicts.malicious | self.settings.print_all
        chosen = np.flatnonzero(judged.malicious & shown[judged.group])
        chosen = chosen[np.lexsort((-judged.probability[chosen], judged.group[chosen]))]
        labels = self.detector.closest([judged.states[at] for at in chosen.tolist()], None,
                                       'malicious', judged.contexts[chosen])
        drivers = {}
        for at, (label, _) in zip(chosen.tolist(), labels):
            drivers.setdefault(int(judged.group[at]), []).append(TupleFinding(
                judged.ids[at], judged.states[at][-SHOWN_LETTERS:], label,
                float(judged.probability[at]), float(judged.confidence[at])))
        groups = np.flatnonzero(shown)
        order = np.lexsort((-verdicts.evidence[groups], ~verdicts.malicious[groups]))
        for number in groups[order].tolist():
            yield Alert(begin, end, judged.ips[number], bool(verdicts.malicious[number]),
                        float(verdicts.evidence[number]), drivers.get(number, []))

    def _window_stats(self, begin, end, judged):
        counts = dict(self.counts, tuples=len(self.table), judged=judged)
        skipped = self.read_stats.malformed if self.read_stats is not None else 0
        counts['skipped'] = skipped - self.skipped_before
        self.skipped_before = skipped
        counts['behind_seconds'] = self._behind_seconds()
        if counts['late']:
            one = counts['late'] == 1
            self.output.note(f"{counted(counts['late'], 'flow')} started more than "
                             f"{self.settings.lateness:g} s before {'its' if one else 'their'} "
                             f"window and {'was' if one else 'were'} counted as late, not "
                             'judged')
        self.output.window_stats(begin, end, counts)
        self.totals_add(counts)
        self.counts = _zero_counts()

    def totals_add(self, counts):
        totals = getattr(self, 'totals', None) or _zero_counts()
        for key in ('flows', 'late', 'whitelisted', 'evicted'):
            totals[key] += counts[key]
        self.totals = totals

    def _behind_seconds(self):
        """How far the flows judged lag the wall clock, for live input (0 for a
        replayed capture)."""
        if self.latest_us is None:
            return 0.0
        lag_us = time.time() * SECOND - self.latest_us
        return max(0.0, lag_us / SECOND) if 0 <= lag_us < LIVE_SPAN_US else 0.0


@dataclass
class Judged:
    """A window's judged tuples (ids, states, their IP's number in ips, and
    the detector's probability, confidence and malicious of each) and the
    verdict.Verdicts of its IPs."""
    ids: list
    states: list
    contexts: np.ndarray
    group: np.ndarray
    ips: list
    probability: np.ndarray
    confidence: np.ndarray
    malicious: np.ndarray
    verdicts: object


def _tuples_of(block):
    """(distinct connection ids, each flow's index in them) of a block."""
    index = getattr(block, 'tuple', None)
    if index is not None:
        return block.tuples, index
    return connid.distinct(connid.make_all(block.src, block.dst, block.dport, block.proto))


def _first_at_or_after(start, at, end):
    """The first row from `at` whose start is at or after end (len(start) if
    none), looking at a few rows first and twice as many each time after."""
    step = FIRST_LOOK
    while at < len(start):
        hits = np.flatnonzero(start[at:at + step] >= end)
        if len(hits):
            return at + int(hits[0])
        at += step
        step *= 2
    return len(start)


def _zero_counts():
    return {'flows': 0, 'late': 0, 'whitelisted': 0, 'evicted': 0}
