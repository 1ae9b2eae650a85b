"""Flows the IPS never judges: a text file, one entry a line.

    147.32.84.165        a source address (IPv4 or IPv6)
    10.0.0.0/8           a source network (CIDR)
    dst:8.8.8.8          a destination address or network
    port:53              a destination port
    # a comment          (also after an entry); blank lines are ignored

Checking is fast: networks are kept per prefix length as sets of integers
(an address matches when its top bits are in the set of that length), and
each address seen is checked once and remembered.
"""
import ipaddress

from stf.core.errors import UserError

FORMS = 'an IP address, a network like 10.0.0.0/8, dst:ADDRESS[/BITS] or port:N'
# Remembered verdicts per address, cleared when this many are held.
CACHE_LIMIT = 1_000_000


class Networks:
    """A set of IPv4 and IPv6 networks; `contains(text)` for address texts."""

    def __init__(self, networks=()):
        # (version, prefix length) -> set of the networks' top bits
        self.prefixes = {}
        self.cache = {}
        for network in networks:
            self.add(network)

    def add(self, network):
        mapped = network.network_address.ipv4_mapped if network.version == 6 else None
        if mapped is not None and network.prefixlen >= 96:  # ::ffff:a.b.c.d/n is IPv4
            network = ipaddress.ip_network(f'{mapped}/{network.prefixlen - 96}')
        shift = network.max_prefixlen - network.prefixlen
        key = (network.version, network.prefixlen, shift)
        self.prefixes.setdefault(key, set()).add(int(network.network_address) >> shift)
        self.cache.clear()

    def __bool__(self):
        return bool(self.prefixes)

    def contains(self, text):
        known = self.cache.get(text)
        if known is None:
            known = self._lookup(text)
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = known
        return known

    def _lookup(self, text):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:  # a MAC address (ARP), an empty field: in no network
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        value = int(address)
        return any(value >> shift in tops
                   for (version, _, shift), tops in self.prefixes.items()
                   if version == address.version)


class Whitelist:
    """Sources, destinations and destination ports whose flows are skipped."""

    def __init__(self, sources=(), destinations=(), ports=()):
        self.sources = Networks(sources)
        self.destinations = Networks(destinations)
        self.ports = frozenset(str(port) for port in ports)
        self.active = bool(self.sources or self.destinations or self.ports)

    @classmethod
    def empty(cls):
        return cls()

    @classmethod
    def load(cls, path):
        """The whitelist in the file at path; a UserError naming the file and
        line of the first entry that is none of the forms."""
        try:
            with open(path, encoding='utf-8', errors='replace') as stream:
                lines = stream.read().splitlines()
        except OSError as error:
            raise UserError(f'cannot read the whitelist {path}: {error.strerror or error}') \
                from None
        sources, destinations, ports = [], [], []
        for number, line in enumerate(lines, 1):
            entry = line.split('#', 1)[0].strip()
            if not entry:
                continue
            kind, value = parse_entry(entry)
            if kind is None:
                shown = entry.encode('unicode_escape').decode('ascii')
                raise UserError(f"{path}, line {number}: '{shown}' is not {FORMS}; "
                                'correct or remove the line')
            {'src': sources, 'dst': destinations, 'port': ports}[kind].append(value)
        return cls(sources, destinations, ports)

    def skips(self, src, dst, dport):
        """True when the flow src -> dst:dport is whitelisted."""
        if not self.active:
            return False
        return (str(dport) in self.ports or self.sources.contains(src)
                or self.destinations.contains(dst))


def parse_entry(entry):
    """('src' | 'dst', network) or ('port', port text) of one entry, or (None, None)."""
    prefix, colon, rest = entry.partition(':')
    prefix = prefix.strip().lower()
    if colon and prefix == 'port':
        port = rest.strip()
        if port.isdigit() and int(port) <= 65535:
            return 'port', str(int(port))
        return None, None
    if colon and prefix in ('dst', 'src'):
        kind, text = prefix, rest.strip()
    else:  # a bare address (IPv6 ones hold ':' too) is a source
        kind, text = 'src', entry
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None, None
    return kind, network
