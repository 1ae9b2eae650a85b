"""The numbers of the pcap and pcapng formats, in one place: file-type
detection, the streaming scan and the payload reader all read them here.
(See the pcap and pcapng specifications, and libpcap's link-type list.)"""

# pcap: a 24-byte file header (magic, version, ..., snaplen, link type at 20),
# then records of a 16-byte header (seconds, fraction, captured, original
# length) and the captured bytes.
PCAP_HEADER_BYTES = 24
PCAP_RECORD_HEADER_BYTES = 16
PCAP_LINKTYPE_OFFSET = 20
# magic -> (byte order, divisor from the fraction field to microseconds)
PCAP_MAGICS = {b'\xa1\xb2\xc3\xd4': ('>', 1), b'\xd4\xc3\xb2\xa1': ('<', 1),
               b'\xa1\xb2\x3c\x4d': ('>', 1000), b'\x4d\x3c\xb2\xa1': ('<', 1000)}

# pcapng: blocks of (type, total length, body, total length again).
PCAPNG_SECTION_MAGIC = b'\x0a\x0d\x0d\x0a'   # the section header block's type
PCAPNG_BYTE_ORDERS = {b'\x1a\x2b\x3c\x4d': '>', b'\x4d\x3c\x2b\x1a': '<'}
# block types: section header, interface description, (obsolete) packet,
# simple packet, enhanced packet
SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
# interface options: timestamp resolution and offset
OPT_TSRESOL, OPT_TSOFFSET = 9, 14

LINKTYPES = {
    0: 'NULL (BSD loopback)',
    1: 'EN10MB (Ethernet)',
    6: 'IEEE802_5 (Token Ring)',
    9: 'PPP',
    10: 'FDDI',
    12: 'RAW (raw IP)',
    14: 'RAW (raw IP, OpenBSD)',
    101: 'RAW (raw IP)',
    104: 'C_HDLC (Cisco HDLC)',
    105: 'IEEE802_11 (802.11 wireless)',
    108: 'LOOP (OpenBSD loopback)',
    113: 'LINUX_SLL (Linux cooked)',
    119: 'PRISM (802.11 with Prism header)',
    127: 'IEEE802_11_RADIOTAP (802.11 with radiotap)',
    192: 'PPI (802.11 with PPI header)',
    220: 'USB_LINUX_MMAPPED (Linux USB)',
    228: 'IPV4 (raw IPv4)',
    229: 'IPV6 (raw IPv6)',
    276: 'LINUX_SLL2 (Linux cooked v2)',
}
