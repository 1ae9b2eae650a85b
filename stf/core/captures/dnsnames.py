"""The names that DNS answers gave an address: the context of a connection to an IP.

DnsNames reads DNS responses (a flow's dstUdata from port 53, or the packets a DNS
server sent) and keeps, for every address of an A or AAAA answer, the names that led
to it: the record's own name, and the names whose CNAME chain in the same response
ends there (www.example.com -> CNAME cdn.example.net -> A 1.2.3.4 gives 1.2.3.4 both).
It is stf's one reader of the DNS wire format: read_message gives a whole message
(questions, rcode, answers with their TTLs), which the DNS statistics (dnsstats) read.

The responses are read by hand, not by dpkt's DNS class, for two reasons: argus runs the
payloads of a direction's first packets together (two answers of one socket, A then
AAAA, are one field), so a message's end must be found to read the next; and a group
holds hundreds of thousands of DNS flows, where building dpkt's objects for every record
is the cost. A response cut short (argus keeps 480 bytes) gives the answers before the
cut. Names are compared in lower case (resolvers echo the 0x20-mixed case of queries).
Nothing here raises on malformed bytes.
"""
import ipaddress
import struct
from typing import NamedTuple

HEADER = struct.Struct('>HHHHHH')
RECORD = struct.Struct('>HHIH')     # type, class, TTL, data length
QUESTION = struct.Struct('>HH')     # type, class
RESPONSE, RCODE = 0x8000, 0x000f
CLASS_IN, CLASS_MASK = 1, 0x7fff    # mDNS sets the top bit (cache flush)
CNAME = 5
# record type -> (its name, the length of its data)
ADDRESS_TYPES = {1: ('A', 4), 28: ('AAAA', 16)}
MAX_NAME = 255
MAX_POINTERS = 32                   # a compression loop ends here
MAX_CHAIN = 16


class NameSeen(NamedTuple):
    """A name answered for an address: kind ('A', 'AAAA' or 'CNAME': a name whose CNAME
    chain led to the address), first_us (the earliest time it was answered), answers."""
    name: bytes
    kind: str
    first_us: int
    answers: int


class DnsNames:
    """Address -> the names DNS answers gave it.

    Attributes: responses (DNS responses read), payloads (payloads given to add).
    """

    def __init__(self):
        self._seen = {}     # packed address -> {(name, kind): [first_us, answers]}
        self.responses = 0
        self.payloads = 0

    def add(self, moment_us, data, udp=True):
        """Read the DNS responses in one payload (udp=False: DNS over TCP, each message
        after its 2-byte length) seen at moment_us."""
        self.payloads += 1
        for message in messages(data, udp):
            answers = addresses_answered(message)
            if answers is None:
                continue
            self.responses += 1
            for packed, name, kind in answers:
                found = self._seen.setdefault(packed, {}).setdefault((name, kind),
                                                                     [moment_us, 0])
                found[0] = min(found[0], moment_us)
                found[1] += 1

    def names(self, address):
        """[NameSeen] of an address (text, IPv4 or IPv6), earliest first; [] when no
        answer gave it or it is no address."""
        found = self._seen.get(packed(address), {})
        return sorted((NameSeen(name, kind, first, answers)
                       for (name, kind), (first, answers) in found.items()),
                      key=lambda seen: (seen.first_us, seen.name, seen.kind))

    def __len__(self):
        return len(self._seen)


def packed(address):
    """The packed form of an IPv4 or IPv6 address in text, or None when it is none."""
    try:
        return ipaddress.ip_address(str(address).strip()).packed
    except ValueError:
        return None


class Record(NamedTuple):
    """An answer record of class IN: name, kind (its type number), ttl (seconds),
    value (the packed address of an A or AAAA record, the target of a CNAME, else
    None)."""
    name: bytes
    kind: int
    ttl: int
    value: object


class Message(NamedTuple):
    """One DNS message: ident, response (True for a response), rcode, questions
    [(name, type number)], answers [Record] (those of class IN in the answer section),
    size (its bytes, or None when it does not read to its end: cut short or malformed;
    the questions and answers before the cut are kept)."""
    ident: int
    response: bool
    rcode: int
    questions: list
    answers: list
    size: object


def messages(data, udp=True):
    """Each DNS message in data: run together (udp=True, as argus joins a direction's
    payloads) until one does not read to its end, or each after its 2-byte length
    (udp=False: DNS over TCP)."""
    return (_run_together if udp else _length_prefixed)(data)


def _run_together(data):
    offset = 0
    while len(data) - offset >= HEADER.size:
        message = read_message(data[offset:])
        yield message
        if message.size is None:
            return
        offset += message.size


def _length_prefixed(data):
    offset = 0
    while len(data) - offset >= 2 + HEADER.size:
        size = int.from_bytes(data[offset:offset + 2], 'big')
        message = read_message(data[offset + 2:offset + 2 + size])
        if message is not None:
            yield message
        offset += 2 + size


def read_message(message):
    """The Message at the start of message, or None when it is shorter than a header."""
    try:
        ident, flags, questions, answered, authority, additional = HEADER.unpack_from(message)
    except struct.error:
        return None
    asked, records, offset, size = [], [], HEADER.size, None
    try:
        for _ in range(questions):
            name, offset = read_name(message, offset)
            asked.append((name, QUESTION.unpack_from(message, offset)[0]))
            offset += QUESTION.size
        for number in range(answered + authority + additional):
            record, offset = _record(message, offset, number < answered)
            records += [record] * (record is not None)
        size = offset if offset <= len(message) else None
    except (IndexError, ValueError, struct.error):
        pass
    return Message(ident, bool(flags & RESPONSE), flags & RCODE, asked, records, size)


def addresses_answered(message):
    """The (packed address, name, kind) answers of a response without error (see
    _answers); None for a query or a response with an error."""
    if not message.response or message.rcode:
        return None
    return _answers(message.answers)


def _record(message, offset, wanted):
    """(the Record at offset, or None when not wanted or not of class IN; the offset
    after the record)."""
    start = skip_name(message, offset)
    kind, klass, ttl, size = RECORD.unpack_from(message, start)
    data, end = start + RECORD.size, start + RECORD.size + size
    if end > len(message):
        raise ValueError('record cut short')
    if not wanted or klass & CLASS_MASK != CLASS_IN:
        return None, end
    value = None
    if kind in ADDRESS_TYPES and ADDRESS_TYPES[kind][1] == size:
        value = message[data:end]
    elif kind == CNAME:
        value = read_name(message, data)[0]
    return Record(read_name(message, offset)[0], kind, ttl, value), end


def _answers(records):
    """(packed address, name, kind) for each address record: its own name, and the
    names whose CNAME chain ends at that name."""
    aliases = {}    # name -> the names that are a CNAME of it
    for record in records:
        if record.kind == CNAME and record.value is not None:
            aliases.setdefault(record.value, []).append(record.name)
    found = []
    for record in records:
        if record.kind in ADDRESS_TYPES and record.value is not None:
            found.append((record.value, record.name, ADDRESS_TYPES[record.kind][0]))
            found += [(record.value, alias, 'CNAME')
                      for alias in _aliases(record.name, aliases)]
    return found


def _aliases(name, aliases):
    """The names whose CNAME chain reaches name (a loop or a long chain ends it)."""
    found, level = [], [name]
    for _ in range(MAX_CHAIN):
        level = [alias for target in level for alias in aliases.get(target, ())
                 if alias != name and alias not in found]
        if not level:
            break
        found += level
    return found


def skip_name(message, offset):
    """The offset after the (possibly compressed) name at offset."""
    while True:
        length = message[offset]
        if length == 0:
            return offset + 1
        if length & 0xc0 == 0xc0:
            return offset + 2
        if length & 0xc0:
            raise ValueError('unknown label type')
        offset += 1 + length


def read_name(message, offset):
    """(the name at offset in lower case, as bytes without the final dot; the offset
    after it), following compression pointers."""
    labels, end, total = [], None, 0
    for _ in range(MAX_POINTERS):
        while True:
            length = message[offset]
            if length == 0 or length & 0xc0:
                break
            label = message[offset + 1:offset + 1 + length]
            total += 1 + len(label)
            if len(label) < length or total > MAX_NAME:
                raise ValueError('name cut short or too long')
            labels.append(label.lower())
            offset += 1 + length
        if length == 0:
            return b'.'.join(labels), (offset + 1 if end is None else end)
        if length & 0xc0 != 0xc0:
            raise ValueError('unknown label type')
        end = offset + 2 if end is None else end
        offset = ((length & 0x3f) << 8) | message[offset + 1]
    raise ValueError('compression loop')
