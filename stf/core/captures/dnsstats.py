"""DNS statistics of a dataset: who asked for which names, what the answers were, and
which names were looked up just before a host connected to an address.

The messages come from a capture's packets to and from port 53 (read_capture), or from
a flow file's srcUdata/dstUdata of its DNS flows (read_flows: argus runs a direction's
first payloads together and keeps about 480 bytes, so a flow may hold several messages,
the last one cut short). Both are read by dnsnames, stf's one reader of the DNS wire
format. A query's client is the host that sent it, a response's the host it went to.

The work is bounded: at most MAX_MESSAGES messages are counted (DnsStats.cut says when
more were left out). Names are bytes in lower case, addresses text; nothing here
raises on malformed bytes.
"""
import bisect
import ipaddress
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from stf.core.captures import dnsnames, payload

MAX_MESSAGES = 200_000
DNS_PORT = 53
NXDOMAIN = 3
BATCH = 10_000          # flow lines decoded at a time: bounded memory
SHOWN_BEFORE = 3        # names given for each connection (names_before)


@dataclass
class NameCount:
    """What was seen of one name: queries (asking for it), clients (who asked),
    responses (answering it), nxdomain (of those responses), first_us and last_us
    (its first and last query or response)."""
    queries: int = 0
    clients: set = field(default_factory=set)
    responses: int = 0
    nxdomain: int = 0
    first_us: int = None
    last_us: int = None

    def seen(self, moment_us):
        self.first_us = moment_us if self.first_us is None else min(self.first_us, moment_us)
        self.last_us = moment_us if self.last_us is None else max(self.last_us, moment_us)


@dataclass
class ClientCount:
    """What one client did: queries, names (the distinct names it asked for),
    responses (it received), nxdomain (of those)."""
    queries: int = 0
    names: set = field(default_factory=set)
    responses: int = 0
    nxdomain: int = 0

    @property
    def ratio(self):
        """NXDOMAIN responses per response (a DGA's failed look-ups), None without any."""
        return self.nxdomain / self.responses if self.responses else None


class Connection(NamedTuple):
    """A connection from source to destination (text addresses) that began at first_us."""
    source: str
    destination: str
    first_us: int


class Before(NamedTuple):
    """A connection and the names answered for its destination before it began:
    [(name, answered_us, client)], the latest first; client: the host the answer went
    to, the connection's source when any answer went to it."""
    connection: Connection
    names: list


class DnsStats:
    """DNS messages counted.

    Attributes: names (name -> NameCount), clients (address -> ClientCount), rcodes
    (rcode -> responses), qtypes (question type -> queries), ttls (the TTL of every
    answer record), ips_of (name -> its answered addresses, packed), names_of (packed
    address -> the names answered for it, CNAMEs whose chain led there included),
    messages, queries, responses, payloads (payloads given to add), cut (True when
    messages past the limit were left out).
    """

    def __init__(self, limit=None):
        self.limit = MAX_MESSAGES if limit is None else limit
        self.names, self.clients = {}, {}
        self.rcodes, self.qtypes = Counter(), Counter()
        self.ttls, self.ips_of, self.names_of = [], {}, {}
        self.messages = self.queries = self.responses = self.payloads = 0
        self.cut = False
        # (client, packed address) and (None, packed address) -> {name: [(answered_us,
        # not asked, client)]}: the answers to one client, and to any; 'not asked' puts
        # the name a query asked for before the CNAMEs its answer went through
        self._answered = {}
        self._sorted = True

    def add(self, moment_us, sender, receiver, data, udp=True):
        """Count the DNS messages of one payload that sender sent to receiver (text
        addresses) at moment_us; udp=False: DNS over TCP (each after its length)."""
        self.payloads += 1
        for message in dnsnames.messages(data, udp):
            if self.messages >= self.limit:
                self.cut = True
                return
            self.messages += 1
            if message.response:
                self._response(moment_us, receiver, message)
            else:
                self._query(moment_us, sender, message)

    def _query(self, moment_us, client, message):
        self.queries += 1
        counts = self.clients.setdefault(client, ClientCount())
        counts.queries += 1
        for name, kind in message.questions:
            self.qtypes[kind] += 1
            found = self.names.setdefault(name, NameCount())
            found.queries += 1
            found.clients.add(client)
            found.seen(moment_us)
            counts.names.add(name)

    def _response(self, moment_us, client, message):
        self.responses += 1
        self.rcodes[message.rcode] += 1
        counts = self.clients.setdefault(client, ClientCount())
        counts.responses += 1
        counts.nxdomain += message.rcode == NXDOMAIN
        for name, _ in message.questions:
            found = self.names.setdefault(name, NameCount())
            found.responses += 1
            found.nxdomain += message.rcode == NXDOMAIN
            found.seen(moment_us)
        self.ttls += [record.ttl for record in message.answers]
        asked = {name for name, _ in message.questions}
        for packed, name, _ in dnsnames.addresses_answered(message) or ():
            self.ips_of.setdefault(name, set()).add(packed)
            self.names_of.setdefault(packed, set()).add(name)
            for key in ((client, packed), (None, packed)):
                self._answered.setdefault(key, {}).setdefault(name, []).append(
                    (moment_us, name not in asked, client))
        self._sorted = False

    def answered_before(self, connection, most=SHOWN_BEFORE):
        """Before: the names answered for the connection's destination at or before
        its start, the answers to its source if any, else those to any client; at
        most `most` names (None: all)."""
        packed = dnsnames.packed(connection.destination)
        self._sort()
        for client in (connection.source, None):
            found = _latest(self._answered.get((client, packed), {}), connection.first_us)
            if found:
                return Before(connection, found[:most])
        return Before(connection, [])

    def _sort(self):
        # Flows come in file order, not quite in time order: sorted once when asked.
        if not self._sorted:
            for names in self._answered.values():
                for answers in names.values():
                    answers.sort()
            self._sorted = True


def _latest(names, moment_us):
    """[(name, answered_us, client)], the latest answer of each name at or before
    moment_us, the latest first; at the same time the name asked for first, then the
    others in their order."""
    found = []
    for name, answers in names.items():
        at = bisect.bisect_right(answers, moment_us, key=lambda answer: answer[0])
        if at:
            found.append((name, *answers[at - 1]))
    found.sort(key=lambda seen: (-seen[1], seen[2], seen[0]))
    return [(name, moment, client) for name, moment, _, client in found]


def names_before(stats, connections, most=SHOWN_BEFORE):
    """[Before] of each Connection, in order of their start."""
    return [stats.answered_before(connection, most)
            for connection in sorted(connections, key=lambda item: (item.first_us, item))]


# ---- the names themselves ------------------------------------------------------------

def entropy(name):
    """The Shannon entropy of the characters of a name (bits per character; 0.0 for
    an empty one): random names of a DGA score high."""
    total = len(name)
    return -sum(count / total * math.log2(count / total)
                for count in Counter(name).values()) if total else 0.0


def rcode_name(rcode):
    return payload.DNS_RCODES.get(rcode, f'RCODE{rcode}')


def type_name(kind):
    return payload.DNS_TYPES.get(kind, f'TYPE{kind}')


def address_text(packed):
    return str(ipaddress.ip_address(packed))


def address_order(packed):
    """Packed addresses in order of version, then address: IPv4 (4 bytes) first."""
    return len(packed), packed


# ---- reading --------------------------------------------------------------------------

class DnsFlow(NamedTuple):
    """A flow of a DNS connection: offset (of its line in the flow file), start_us,
    client and server (text addresses), udp (False for DNS over TCP)."""
    offset: int
    start_us: int
    client: str
    server: str
    udp: bool


def first_flows(connections, most):
    """([DnsFlow] of the first `most` flows in file order, the count of all flows) of
    DNS connections given as (offsets, starts: int arrays of their flows, client,
    server, udp)."""
    total = sum(len(offsets) for offsets, *_ in connections)
    if not total:
        return [], 0
    offsets = np.concatenate([offsets for offsets, *_ in connections])
    starts = np.concatenate([starts for _, starts, *_ in connections])
    owner = np.repeat(np.arange(len(connections)), [len(offsets) for offsets, *_ in connections])
    chosen = np.argsort(offsets, kind='stable')[:most]
    return [DnsFlow(offset, start, *connections[number][2:])
            for offset, start, number in zip(offsets[chosen].tolist(), starts[chosen].tolist(),
                                             owner[chosen].tolist())], total


def read_flows(path, fmt, flows, stats, progress=None):
    """Count the DNS messages in the srcUdata (client to server) and dstUdata (server
    to client) of flows (DnsFlow, in file order) of the flow file at path (fmt: its
    flowfile.FlowFormat). Returns the flows read; they stop when stats is full."""
    done = 0
    for first in range(0, len(flows), BATCH):
        chosen = flows[first:first + BATCH]
        pairs = payload.flow_payloads(path, fmt, [flow.offset for flow in chosen])
        for flow, (asked, answered) in zip(chosen, pairs):
            stats.add(flow.start_us, flow.client, flow.server, asked, flow.udp)
            stats.add(flow.start_us, flow.server, flow.client, answered, flow.udp)
            if stats.cut:
                return done
            done += 1
        if progress:
            progress(done, len(flows))
    return done


def read_capture(path, stats, connections=False):
    """Count the DNS messages of a pcap or pcapng capture (TCP and UDP port 53; TCP
    segments are not reassembled). With connections, also return the capture's
    [Connection]: the first packet between two addresses (not DNS) gives its source
    and start; else []. Reading stops when stats is full."""
    firsts = {}
    for packet in payload.transport_packets(path, None if connections else DNS_PORT):
        if DNS_PORT in (packet.sport, packet.dport):
            if packet.data:
                stats.add(packet.moment_us, address_text(packet.src),
                          address_text(packet.dst), packet.data, packet.proto == 'udp')
            if stats.cut:
                break
        elif connections:
            firsts.setdefault(frozenset((packet.src, packet.dst)), packet)
    return [Connection(address_text(packet.src), address_text(packet.dst), packet.moment_us)
            for packet in firsts.values()]
