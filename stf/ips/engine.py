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
from operator import itemgetter

import numpy as np

from stf.core.detect import detector as detector_module
from stf.core.detect.neighbours import profiles
from stf.core.detect.stream import TupleStates, source_of
from stf.core.detect.verdict import Judged, SlotFacts, decide, port_class
from stf.core.flows import connid
from stf.core.flows.letters import SECOND
from stf.ips.alerts import Alert, TupleFinding

# The letters an alert shows of each tuple's state (its last ones).
SHOWN_LETTERS = 50
# Flows whose start is within this of the wall clock are live: how far behind
# the IPS is can then be told.
LIVE_SPAN_US = 86400 * SECOND


class Engine:
    """detector: a Detector; settings: config.Settings; output: an AlertOutput
    (report, window_stats, tuple_line, note); whitelist: a Whitelist or None."""

    def __init__(self, detector, settings, output, whitelist=None):
        self.detector = detector
        self.output = output
        self.whitelist = whitelist
        self.states = TupleStates(max_length=settings.state_length)
        self.last_seen = {}        # tuple -> last flow start, oldest first
        self.pending = []          # (start, dur, size, tuple) of the open window
        self.origin_us = None
        self.number = 0            # the open window, counted from origin
        self.latest_us = None      # the latest flow start seen, and when (wall clock)
        self.latest_wall = None
        self.counts = _zero_counts()
        self.skipped_before = 0    # the reader's skipped lines at the last report
        self.read_stats = None
        self.labels = None
        self.tuple_parts = {}      # tuple -> (source IP, port class)
        self.apply(settings)

    def apply(self, settings):
        """Take new settings; a new window length starts at the open window's end."""
        self.settings = settings
        self.states.max_length = settings.state_length
        self.lateness_us = round(settings.lateness * SECOND)
        self.idle_us = round(settings.idle * SECOND)
        new_width = round(settings.window * SECOND)
        if self.origin_us is None or not hasattr(self, 'width_us'):
            self.width_us = new_width
        self.next_width_us = new_width

    @property
    def begin_us(self):
        return self.origin_us + self.number * self.width_us

    @property
    def end_us(self):
        return self.begin_us + self.width_us

    # -- flows in ----------------------------------------------------------
    def feed(self, block):
        """Take the flows of one FlowBlock."""
        ids = connid.make_all(block.src, block.dst, block.dport, block.proto)
        rows = zip(block.start, block.dur, block.bytes, ids)
        if self.whitelist is not None and self.whitelist.active:
            rows = self._not_whitelisted(rows, block)
        pending, counts, latest = self.pending, self.counts, self.latest_us
        earliest, end = self._bounds()
        for row in rows:
            start = row[0]
            if start >= end:
                if self.origin_us is None:
                    self.origin_us = start     # the first flow not whitelisted
                else:
                    self._close_until(start)
                earliest, end = self._bounds()
            if start < earliest:
                counts['late'] += 1
                continue
            pending.append(row)
            if latest is None or start > latest:
                latest = start
        if latest is not None:
            self.latest_us, self.latest_wall = latest, time.time()

    def _bounds(self):
        """(the earliest start that joins the open window, its end)."""
        if self.origin_us is None:
            return 0, 0
        return self.begin_us - self.lateness_us, self.end_us

    def _not_whitelisted(self, rows, block):
        skips = self.whitelist.skips
        for row, src, dst, dport in zip(rows, block.src, block.dst, block.dport):
            if skips(src, dst, dport):
                self.counts['whitelisted'] += 1
            else:
                yield row

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
        # emptied in place: feed holds the list
        flows = self.pending[:]
        self.pending.clear()
        self.counts['flows'] = len(flows)
        new_flows = self._grow(flows)
        findings = self._judge(new_flows, begin, end) if new_flows else []
        self.counts['evicted'] += self._evict(end - self.idle_us)
        self._report(findings, begin, end)
        if self.next_width_us != self.width_us:
            self.origin_us, self.number, self.width_us = end, 0, self.next_width_us

    def _grow(self, flows):
        """Add the window's flows to their states in start-time order:
        {tuple: new flows}."""
        flows.sort(key=itemgetter(0))
        add, entries, last_seen = self.states.add, self.states.tuples, self.last_seen
        new_flows = {}
        for start, dur, size, tuple_id in flows:
            entry = entries.get(tuple_id)
            if entry is not None and entry.last_start > start:
                start = entry.last_start   # a late flow of a tuple seen in a closed window
            add(tuple_id, start, dur, size)
            new_flows[tuple_id] = new_flows.get(tuple_id, 0) + 1
            last_seen.pop(tuple_id, None)
            last_seen[tuple_id] = start
        return new_flows

    def _judge(self, new_flows, begin, end):
        """[(tuple, state, ip, Judgement, SlotFacts)] of the window's tuples."""
        ids = list(new_flows)
        states = [self.states.tuples[tuple_id].state for tuple_id in ids]
        probabilities = self.detector.probabilities(states, ids)
        limit = self.detector.thresholds['default']
        seconds = (end - begin) / SECOND
        findings = []
        for tuple_id, state, probability in zip(ids, states, probabilities.tolist()):
            judgement = detector_module.Judgement(
                probability, detector_module.confidence(len(state)), probability >= limit, '')
            ip, where = self._parts(tuple_id)
            facts = SlotFacts(new_flows[tuple_id], seconds, where)
            findings.append((tuple_id, state, ip, judgement, facts))
        return findings

    def _parts(self, tuple_id):
        """(source IP, port class) of a tuple, parsed once while it is kept."""
        parts = self.tuple_parts.get(tuple_id)
        if parts is None:
            parts = self.tuple_parts[tuple_id] = (source_of(tuple_id), port_class(tuple_id))
        return parts

    def _evict(self, before_us):
        """Forget tuples without a flow since before_us (oldest first)."""
        last_seen, entries = self.last_seen, self.states.tuples
        evicted = 0
        while last_seen:
            tuple_id = next(iter(last_seen))
            if last_seen[tuple_id] >= before_us:
                break
            del last_seen[tuple_id]
            entries.pop(tuple_id, None)
            self.tuple_parts.pop(tuple_id, None)
            evicted += 1
        return evicted

    def _report(self, findings, begin, end):
        verdicts = decide([Judged(ip, judgement, facts)
                           for _, _, ip, judgement, facts in findings],
                          self.settings.rule, self.settings.threshold)
        for alert in self._alerts(findings, verdicts, begin, end):
            self.output.report(alert)
        if self.settings.verbose >= 3:
            for tuple_id, state, _, judgement, _ in findings:
                self.output.tuple_line(tuple_id, state[-SHOWN_LETTERS:], judgement.probability,
                                       judgement.malicious)
        self._window_stats(begin, end, len(findings))

    def _alerts(self, findings, verdicts, begin, end):
        """An Alert per IP (only the malicious ones unless print_all), its
        tuples judged malicious first by score."""
        shown = {ip for ip, (malicious, _) in verdicts.items()
                 if malicious or self.settings.print_all}
        chosen = [(tuple_id, state, ip, judgement) for tuple_id, state, ip, judgement, _
                  in findings if ip in shown and judgement.malicious]
        labels = self._closest([state for _, state, _, _ in chosen], 'malicious')
        drivers = {}
        for (tuple_id, state, ip, judgement), label in zip(chosen, labels):
            drivers.setdefault(ip, []).append(TupleFinding(
                tuple_id, state[-SHOWN_LETTERS:], label, judgement.probability,
                judgement.confidence))
        for ip, (malicious, evidence) in verdicts.items():
            if ip in shown:
                tuples = sorted(drivers.get(ip, []), key=lambda found: -found.score)
                yield Alert(begin, end, ip, malicious, evidence, tuples)

    def _closest(self, states, verdict):
        """The closest training label of verdict of each state, in one batch."""
        if self.labels is None or self.labels.neighbours is not self.detector.neighbours:
            self.labels = ClosestLabels(self.detector.neighbours)
        return self.labels.closest_many(states, verdict)

    def _window_stats(self, begin, end, judged):
        counts = dict(self.counts, tuples=len(self.states.tuples), judged=judged)
        skipped = self.read_stats.malformed if self.read_stats is not None else 0
        counts['skipped'] = skipped - self.skipped_before
        self.skipped_before = skipped
        counts['behind_seconds'] = self._behind_seconds()
        if counts['late']:
            self.output.note(f"{counts['late']} flows started more than "
                             f'{self.settings.lateness:g} s before their window and were '
                             'counted as late, not judged')
        self.output.window_stats(begin, end, counts)
        self.totals_add(counts)
        self.counts.update(_zero_counts())   # in place: feed holds the dict

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


class ClosestLabels:
    """Neighbours.closest for many chains: the training chains' profiles of
    each verdict are kept transposed, so a chain is compared through the few
    trigram buckets it has instead of copying every profile each time."""

    def __init__(self, neighbours):
        self.neighbours = neighbours
        self.tables = {}

    def closest(self, state, verdict):
        """The label of the most similar training chain of verdict ('' if none)."""
        candidates, table = self._table(verdict)
        if not len(candidates):
            return ''
        row = profiles([state])[0]
        present = np.flatnonzero(row)
        similarity = row[present] @ table[present]
        return self.neighbours.labels[candidates[int(np.argmax(similarity))]]

    def closest_many(self, states, verdict):
        """closest() of many chains at once (one matrix product)."""
        candidates, table = self._table(verdict)
        if not states:
            return []
        if not len(candidates):
            return [''] * len(states)
        found = []
        for row in profiles(states):  # each through the few trigram buckets it has
            present = np.flatnonzero(row)
            best = int(np.argmax(row[present] @ table[present]))
            found.append(self.neighbours.labels[candidates[best]])
        return found

    def _table(self, verdict):
        if verdict not in self.tables:
            candidates = np.flatnonzero(self.neighbours.verdicts == verdict)
            chains = [self.neighbours.states[index] for index in candidates]
            table = np.ascontiguousarray(profiles(chains).T) if chains else None
            self.tables[verdict] = candidates, table
        return self.tables[verdict]


def _zero_counts():
    return {'flows': 0, 'late': 0, 'whitelisted': 0, 'evicted': 0}
