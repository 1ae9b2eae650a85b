"""The label grammar: Direction-Decision-Proto3-Proto4-Details-N.

Declared as a table of parts with their valid values, so that checking,
completion and the questions of the labeling wizard all read one place.
"""
import re
from dataclasses import dataclass

from stf.core.errors import UserError

# part -> valid values (None: free text, checked by DETAILS)
PARTS = (
    ('direction', ('From', 'To')),
    ('decision', ('Botnet', 'Malware', 'Attack', 'Normal', 'Background')),
    ('proto3', ('TCP', 'UDP', 'ICMP', 'IGMP', 'ARP', 'IPV6-ICMP')),
    ('proto4', ('HTTP', 'HTTPS', 'FTP', 'SSH', 'DNS', 'SMTP', 'P2P', 'Multicast', 'Unknown',
                'None')),
)
VALUES = dict(PARTS)
DETAILS = re.compile(r'[^\s-]{0,30}\Z')
MALICIOUS = frozenset({'Botnet', 'Malware', 'Attack'})
NORMAL = frozenset({'Normal'})

# A connection's protocol and port -> the default answers of the wizard.
PROTO3_OF = {'tcp': 'TCP', 'udp': 'UDP', 'icmp': 'ICMP', 'igmp': 'IGMP', 'arp': 'ARP',
             'ipv6-icmp': 'IPV6-ICMP', 'icmp6': 'IPV6-ICMP',
             # layer-2 protocols have no place of their own in the grammar
             'llc': 'ARP', 'rarp': 'ARP'}
PROTO4_OF_PORT = {'80': 'HTTP', '8080': 'HTTP', '443': 'HTTPS', '21': 'FTP', '22': 'SSH',
                  '53': 'DNS', '25': 'SMTP', '587': 'SMTP', '465': 'SMTP'}


@dataclass(frozen=True)
class LabelName:
    direction: str
    decision: str
    proto3: str
    proto4: str
    details: str
    number: int

    @property
    def description(self):
        """The name without its counter: labels sharing it differ by N only."""
        return '-'.join((self.direction, self.decision, self.proto3, self.proto4,
                         self.details))

    def __str__(self):
        return f'{self.description}-{self.number}'

    @property
    def verdict(self):
        if self.decision in MALICIOUS:
            return 'malicious'
        return 'normal' if self.decision in NORMAL else 'background'


def check(part, value):
    """value if valid for part, else a UserError listing the valid values."""
    if part == 'details':
        if not DETAILS.match(value):
            raise UserError(f"label details '{value}' must be at most 30 characters "
                            "without '-' or spaces")
        return value
    if value not in VALUES[part]:
        raise UserError(f"'{value}' is not a valid {part}; valid: {', '.join(VALUES[part])}")
    return value


def make(direction, decision, proto3, proto4, details='', number=1):
    parts = dict(direction=direction, decision=decision, proto3=proto3, proto4=proto4,
                 details=details or '')
    return LabelName(**{part: check(part, value) for part, value in parts.items()},
                     number=number)


def parse(name):
    """A LabelName from a full name; UserError naming what is wrong."""
    words = name.split('-')
    if len(words) >= 3 and '-'.join(words[2:4]) == 'IPV6-ICMP':
        words[2:4] = ['IPV6-ICMP']  # the one value with a '-' inside
    if len(words) != 6:
        raise UserError(f"label '{name}' does not follow Direction-Decision-Proto3-Proto4-"
                        'Details-N (e.g. From-Botnet-TCP-HTTP-CC12-1)')
    *parts, number = words
    if not number.isdigit():
        raise UserError(f"label '{name}' must end with its number N, e.g. -1")
    return make(*parts, number=int(number))


def verdict_of_words(name):
    """The verdict of a name outside the grammar, from its decision word."""
    words = set(name.split('-'))
    if words & MALICIOUS:
        return 'malicious'
    return 'normal' if words & NORMAL else 'background'


def guess(conn_id):
    """Default (proto3, proto4) for a connection id 'src-dst-dport-proto'."""
    head, proto = conn_id.rsplit('-', 1)
    proto = proto.lower()
    if proto == 'icmp' and head.lower().endswith('-ipv6'):
        head, proto = head[:-5], 'ipv6-icmp'  # the protocol name holds a '-'
    dport = head.rsplit('-', 1)[-1] if '-' in head else ''
    proto3 = PROTO3_OF.get(proto, 'TCP')
    if proto3 not in ('TCP', 'UDP'):
        return proto3, 'None'
    return proto3, PROTO4_OF_PORT.get(dport, 'Unknown')
