"""The label grammar: Direction-Decision-Proto3-Proto4-Details-N.

Declared as a table of parts with their valid values, so that checking,
completion and the questions of the labeling wizard all read one place.
"""
import re
from dataclasses import dataclass

from stf.core.errors import UserError
from stf.core.flows import connid

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

# Every word that says what a label or a ground-truth label decides -> (the
# decision in stf's grammar, the verdict). One table for stf's labels, argus
# Label fields (flow=From-Botnet-V42-..., flow=Normal-..., flow=Background-...)
# and Zeek's label column (Malicious, Benign, Background).
DECISION_WORDS = {
    'Botnet': ('Botnet', 'malicious'), 'Malware': ('Malware', 'malicious'),
    'Attack': ('Attack', 'malicious'), 'Malicious': ('Malware', 'malicious'),
    'Normal': ('Normal', 'normal'), 'Benign': ('Normal', 'normal'),
    'Background': ('Background', 'background'),
}
VERDICTS = ('malicious', 'normal', 'background')
WORD = re.compile(r'[A-Za-z]+')

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
        return DECISION_WORDS[self.decision][1]


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


def decision_of(text):
    """(decision, verdict) of any label text from its first decision word
    ('flow=From-Botnet-V42-TCP-CC', 'Malicious-CC', 'From-Normal-UDP-DNS--1'),
    or None when it has none."""
    return next((DECISION_WORDS[word] for word in WORD.findall(text)
                 if word in DECISION_WORDS), None)


# What a label without a decision word is taken for: unknown, as Background is.
UNDECIDED = ('Background', 'background')


def verdict_of(text):
    """The verdict of any label text (see decision_of); 'background' when
    it has no decision word."""
    return (decision_of(text) or UNDECIDED)[1]


# The protocols whose connections a label's Proto3 must agree with; a label
# may name any Proto3 for other protocols (layer 2, GRE, ESP, ...).
PROTOCOLS_CHECKED = ('tcp', 'udp', 'icmp', 'igmp', 'arp', 'ipv6-icmp')


def contradiction(name, conn_id):
    """The connection's protocol when the label name's Proto3 contradicts it,
    else None (also for names outside the grammar and ids that are not
    connection ids)."""
    try:
        proto3 = parse(name).proto3
    except UserError:
        return None
    return proto3_contradiction(proto3, conn_id)


def proto3_contradiction(proto3, conn_id):
    """The connection's protocol when a label's Proto3 contradicts it, else
    None (also for ids that are not connection ids): the wizard asks again
    at once instead of failing after its last question."""
    try:
        proto = connid.parse(conn_id).proto.lower()
    except UserError:
        return None
    if proto in PROTOCOLS_CHECKED and PROTO3_OF[proto] != proto3:
        return proto
    return None


def guess(conn_id):
    """Default (proto3, proto4) for a connection id 'src-dst-dport-proto'."""
    try:
        conn = connid.parse(conn_id)
    except UserError:
        return 'TCP', 'Unknown'  # a name from elsewhere: the wizard asks anyway
    proto3 = PROTO3_OF.get(conn.proto.lower(), 'TCP')
    if proto3 not in ('TCP', 'UDP'):
        return proto3, 'None'
    return proto3, PROTO4_OF_PORT.get(conn.dport, 'Unknown')
