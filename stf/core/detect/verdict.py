"""Per-IP verdicts of a time window, shared by experiments and the IPS.

At a window's end every tuple that got a flow in it has been judged (a
Judgement: probability, confidence, malicious at the detector's threshold).
A rule turns the judged tuples of one source IP into one verdict for the IP
in that window; every window starts afresh.

- 'evidence' (the default): each tuple judged malicious adds
  probability x confidence x slot weight to its IP's evidence; the IP is
  malicious when its evidence reaches the threshold. The slot weight says how
  much the window adds to what the tuple already showed (see SlotFacts).
- 'any': the original stf's: any tuple judged malicious.
- 'majority': the original IPS's: more tuples judged malicious than normal.

Everything is computed on arrays (one row per judged tuple, `group` its IP's
index), so an experiment decides all windows of a capture at once; `decide`
does the same for a list of Judged tuples, as the IPS has them.
"""
from dataclasses import dataclass

import numpy as np

from stf.core.errors import UserError
from stf.core.flows import connid

RULES = ('evidence', 'any', 'majority')
DEFAULT_RULE = 'evidence'
# The evidence an IP needs in a window; chosen by leave-one-capture-out
# cross-validation on the labeled captures (docs/experiments.md).
EVIDENCE_THRESHOLD = 1.0
# New flows in a window at which a tuple's judgement counts half (see novelty).
HALF_FLOWS = 2.0
# Flows per minute at which a tuple's rate no longer lowers its weight.
FULL_RATE = 1.0

# Destination ports every host talks to on its own: name service, time, web,
# mail, push notifications, local discovery. Periodic benign traffic lives
# there; a malicious judgement on them is weaker evidence than on a port the
# host's software would not use by itself.
EVERYDAY_PORTS = frozenset({
    '53', '123', '80', '443', '8080', '8443', '853', '67', '68', '137', '138', '5353', '5355',
    '1900', '25', '110', '143', '465', '587', '993', '995', '5222', '5223', '5228', '3478'})
PORT_CLASSES = ('everyday', 'other', 'portless')
PORTLESS_PROTOCOLS = frozenset({'icmp', 'ipv6-icmp', 'icmp6', 'arp', 'rarp', 'igmp', 'llc'})


def port_class(tuple_id):
    """'everyday', 'other' or 'portless' (ICMP, ARP, ...) of a connection id."""
    try:
        conn = connid.parse(tuple_id)
    except UserError:
        return 'other'
    if conn.proto.lower() in PORTLESS_PROTOCOLS or not conn.dport:
        return 'portless'
    return 'everyday' if conn.dport in EVERYDAY_PORTS else 'other'


@dataclass(frozen=True)
class SlotFacts:
    """What a window adds to a tuple, besides its state: new_flows (flows in
    the window), slot_seconds (the window's length) and port_class."""
    new_flows: int = 1
    slot_seconds: float = 300.0
    port_class: str = 'other'


def novelty(new_flows):
    """How much a window's judgement is new: a tuple re-judged on one new flow
    is mostly the judgement of its previous window again, and slow benign
    tuples (update checks, NTP) are judged that way window after window.
    n / (n + HALF_FLOWS): 1/3 for one flow, 1/2 for two, 5/6 for ten."""
    new_flows = np.asarray(new_flows, float)
    return new_flows / (new_flows + HALF_FLOWS)


def rate_weight(new_flows, slot_seconds):
    """min(1, flows per minute in the window / FULL_RATE)."""
    rate = np.asarray(new_flows, float) * 60.0 / slot_seconds
    return np.minimum(1.0, rate / FULL_RATE)


PORT_WEIGHTS = {'everyday': 0.5, 'other': 1.0, 'portless': 1.0}


def slot_weight(new_flows, slot_seconds, port_classes):
    """The weight of each judged tuple's evidence (see the module docstring)."""
    ports = np.array([PORT_WEIGHTS[name] for name in port_classes], float)
    return novelty(new_flows) * ports


@dataclass
class Verdicts:
    """Per group (IP): malicious (bool), evidence (float, the 'evidence'
    rule's sum; 0 under the others), malicious_tuples and normal_tuples
    (tuples judged malicious, and not)."""
    malicious: np.ndarray
    evidence: np.ndarray
    malicious_tuples: np.ndarray
    normal_tuples: np.ndarray


def check_rule(rule):
    if rule not in RULES:
        raise UserError(f"there is no verdict rule '{rule}'; choose one of {', '.join(RULES)}")
    return rule


def group_verdicts(rule, group, size, malicious, probability, confidence, weight,
                   threshold=None):
    """Verdicts of `size` groups from their judged tuples (one row each):
    group index, malicious (at the detector's threshold), probability,
    confidence, slot weight. threshold: the 'evidence' rule's (default
    EVIDENCE_THRESHOLD)."""
    check_rule(rule)
    group = np.asarray(group, np.int64)
    malicious = np.asarray(malicious, bool)
    bad = np.bincount(group, weights=malicious, minlength=size).astype(np.int64)
    good = np.bincount(group, minlength=size).astype(np.int64) - bad
    evidence = np.zeros(size)
    if rule == 'evidence':
        score = np.asarray(probability, float) * np.asarray(confidence, float) * \
            np.asarray(weight, float) * malicious
        evidence = np.bincount(group, weights=score, minlength=size)
        limit = EVIDENCE_THRESHOLD if threshold is None else threshold
        flagged = evidence >= limit - 1e-12
    elif rule == 'any':
        flagged = bad > 0
    else:
        flagged = bad > good
    return Verdicts(flagged, evidence, bad, good)


@dataclass(frozen=True)
class Judged:
    """One tuple judged at a window's end: its source IP, its Judgement
    (probability, confidence, malicious) and its SlotFacts."""
    ip: str
    judgement: object
    facts: SlotFacts = SlotFacts()


def decide(judged, rule=DEFAULT_RULE, threshold=None):
    """{ip: (malicious, evidence)} of one window's Judged tuples."""
    judged = list(judged)
    ips = list(dict.fromkeys(item.ip for item in judged))
    index = {ip: number for number, ip in enumerate(ips)}
    facts = [item.facts for item in judged]
    weights = slot_weight([fact.new_flows for fact in facts],
                          np.array([fact.slot_seconds for fact in facts], float),
                          [fact.port_class for fact in facts])
    verdicts = group_verdicts(
        rule, [index[item.ip] for item in judged], len(ips),
        [item.judgement.malicious for item in judged],
        [item.judgement.probability for item in judged],
        [item.judgement.confidence for item in judged], weights, threshold)
    return {ip: (bool(verdicts.malicious[number]), float(verdicts.evidence[number]))
            for number, ip in enumerate(ips)}
