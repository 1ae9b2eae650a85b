"""Per-IP verdicts of a time window, shared by experiments and the IPS.

At a window's end every tuple that got a flow in it has been judged (a
Judgement: probability, confidence, malicious at the detector's threshold).
A rule turns the judged tuples of one source IP into one verdict for the IP
in that window; every window starts afresh.

- 'evidence' (the default): each tuple judged malicious adds

      probability x confidence x activity x port weight

  to its IP's evidence, and the IP is malicious when its evidence reaches
  EVIDENCE_THRESHOLD. The detector judges a tuple's whole state; the two
  factors after it say what the window itself adds (SlotFacts):
  * activity = min(1, flows per minute in the window / FULL_RATE): a slow
    tuple re-judged on one new flow per window (update checks, NTP, push
    notifications) repeats the judgement of its previous window, and its one
    flow is no new behaviour; a tuple busy in the window (a C&C channel, a
    burst of DNS queries, a brute force) counts fully. The rate is the
    window's new flows over its length, so a longer window asks for more flows.
  * port weight by port class: a tuple to a broadcast or multicast address or
    a local discovery port (DHCP, NetBIOS, mDNS, LLMNR, SSDP) is a host's own
    chatter on its LAN, not a conversation with a remote party, and adds
    nothing; every other tuple counts fully.
- 'any': the original stf's: any tuple judged malicious.
- 'majority': the original IPS's: more tuples judged malicious than normal.

Everything is computed on arrays (one row per judged tuple, `group` its IP's
index), so an experiment decides all windows of a capture at once; `decide`
does the same for a list of Judged tuples, as the IPS has them.
"""
import functools
import ipaddress
from dataclasses import dataclass

import numpy as np

from stf.core.errors import UserError
from stf.core.flows import connid

RULES = ('evidence', 'any', 'majority')
DEFAULT_RULE = 'evidence'
# The evidence an IP needs in a window: chosen by leave-one-capture-out
# cross-validation on the labeled captures (docs/experiments.md,
# bench/bench_experiment.py --cv).
EVIDENCE_THRESHOLD = 0.8
# Flows per minute from which a tuple's activity in a window counts fully.
FULL_RATE = 1.0

# Ports of a host's own configuration and discovery on its LAN.
LOCAL_PORTS = frozenset({'67', '68', '137', '138', '546', '547', '1900', '3702', '5353',
                         '5355'})
PORT_WEIGHTS = {'local': 0.0, 'service': 1.0, 'other': 1.0, 'portless': 1.0}
# Everyday client services (name, time, web, mail, push notifications).
SERVICE_PORTS = frozenset({'53', '123', '80', '443', '8080', '8443', '853', '25', '110', '143',
                           '465', '587', '993', '995', '1883', '8883', '5222', '5223', '5228'})
PORTLESS_PROTOCOLS = frozenset({'icmp', 'ipv6-icmp', 'icmp6', 'arp', 'rarp', 'igmp', 'llc'})


def port_class(tuple_id):
    """'local' (broadcast, multicast, LAN discovery), 'service' (everyday
    client services), 'portless' (ICMP, ARP, ...) or 'other'."""
    try:
        conn = connid.parse(tuple_id)
    except UserError:
        return 'other'
    return _class_of(conn)


def source_and_weight(tuple_id):
    """(source IP, port weight) of a tuple id, parsed once."""
    try:
        conn = connid.parse(tuple_id)
    except UserError:
        return tuple_id.split('-', 1)[0], PORT_WEIGHTS['other']
    return conn.src, PORT_WEIGHTS[_class_of(conn)]


def _class_of(conn):
    if conn.dport in LOCAL_PORTS or _is_group_address(conn.dst):
        return 'local'
    if conn.proto.lower() in PORTLESS_PROTOCOLS or not conn.dport:
        return 'portless'
    return 'service' if conn.dport in SERVICE_PORTS else 'other'


@functools.lru_cache(maxsize=1 << 16)   # the IPS asks for each new tuple
def _is_group_address(text):
    """Broadcast (255.255.255.255, x.x.x.255) or multicast."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if address.version == 4 and (address.packed[-1] == 255 or address.is_multicast):
        return True
    return address.is_multicast


@dataclass(frozen=True)
class SlotFacts:
    """What a window adds to a tuple, besides its state: new_flows (its flows
    in the window), slot_seconds (the window's length) and port_class."""
    new_flows: int = 1
    slot_seconds: float = 300.0
    port_class: str = 'other'


def activity(new_flows, slot_seconds):
    """min(1, new flows per minute / FULL_RATE) of each tuple."""
    rate = np.asarray(new_flows, float) * 60.0 / np.asarray(slot_seconds, float)
    return np.minimum(1.0, rate / FULL_RATE)


def slot_weight(new_flows, slot_seconds, port_classes):
    """activity x port weight of each judged tuple (see the module docstring)."""
    return slot_weights(new_flows, slot_seconds,
                        np.array([PORT_WEIGHTS[name] for name in port_classes], float))


def slot_weights(new_flows, slot_seconds, port_weights):
    """slot_weight from each tuple's port weight (port_weight)."""
    return activity(new_flows, slot_seconds) * np.asarray(port_weights, float)


def port_weight(tuple_id):
    """The weight of a tuple's port class."""
    return PORT_WEIGHTS[port_class(tuple_id)]


@dataclass
class Verdicts:
    """Per group (IP): malicious (bool), evidence (float: the 'evidence'
    rule's sum, whatever the rule), malicious_tuples and normal_tuples
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
    score = np.asarray(probability, float) * np.asarray(confidence, float) * \
        np.asarray(weight, float) * malicious
    evidence = np.bincount(group, weights=score, minlength=size)
    if rule == 'evidence':
        limit = EVIDENCE_THRESHOLD if threshold is None else threshold
        # sums of products in another order may differ in the last bit
        flagged = evidence >= limit - 1e-9
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
                          [fact.slot_seconds for fact in facts],
                          [fact.port_class for fact in facts])
    verdicts = group_verdicts(
        rule, [index[item.ip] for item in judged], len(ips),
        [item.judgement.malicious for item in judged],
        [item.judgement.probability for item in judged],
        [item.judgement.confidence for item in judged], weights, threshold)
    return {ip: (bool(verdicts.malicious[number]), float(verdicts.evidence[number]))
            for number, ip in enumerate(ips)}
