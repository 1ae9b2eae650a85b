"""TLS hellos: the ClientHello and ServerHello at the start of a payload, read as far as
their bytes go, and the fingerprints of their software (JA3, JA3S, JA4).

The hellos are read by hand, not by dpkt.ssl: dpkt refuses a hello cut short, and argus
keeps only the first 480 bytes of each direction, less than a browser's ClientHello
(with post-quantum key shares about 1,800 bytes). A hello cut short keeps what its bytes
hold and says so (truncated); its fingerprints are not made, since the missing extensions
would change them. Nothing here raises on malformed bytes: a payload is hostile data.

The fields of each message are declared in tables (HELLO_FIELDS, EXTENSIONS); the
fingerprints follow their published definitions:
- JA3 (Salesforce): MD5 of "version,ciphers,extensions,groups,point_formats", decimal
  values joined by '-', GREASE values left out; JA3S: MD5 of "version,cipher,extensions".
- JA4 (FoxIO, technical_details/JA4.md): protocol 't', version (the highest of
  supported_versions, else the hello's), 'd' with SNI or 'i', the counts of ciphers and
  extensions (2 digits, at most 99), the first and last characters of the first ALPN,
  then the first 12 hex digits of the SHA-256 of the sorted cipher list and of the sorted
  extension list (SNI and ALPN left out) with the signature algorithms in their order.
  GREASE values are left out everywhere. (JA4S is under another licence: not made.)
"""
import hashlib

# RFC 8701: 0x0a0a, 0x1a1a, ..., 0xfafa, reserved so that peers learn to ignore them.
GREASE = frozenset(0x0a0a + 0x1010 * step for step in range(16))
HANDSHAKE = 22
# handshake message type -> the hello it is
HELLO_KINDS = {1: 'ClientHello', 2: 'ServerHello'}
VERSIONS = {0x0304: 'TLS 1.3', 0x0303: 'TLS 1.2', 0x0302: 'TLS 1.1', 0x0301: 'TLS 1.0',
            0x0300: 'SSL 3.0', 0x0002: 'SSL 2.0', 0xfeff: 'DTLS 1.0', 0xfefd: 'DTLS 1.2',
            0xfefc: 'DTLS 1.3'}
JA4_VERSIONS = {0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3',
                0x0002: 's2', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3'}
JA4_NONE = '000000000000'   # JA4's hash of an empty list
ALPHANUMERIC = frozenset(b'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')
# The random of a ServerHello that is a HelloRetryRequest (RFC 8446, 4.1.3).
RETRY_RANDOM = bytes.fromhex('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c')
SERVER_NAME, ALPN, SUPPORTED_VERSIONS = 0x0000, 0x0010, 0x002b


class Short(Exception):
    """The bytes ended inside a field. partial: what the field held up to there."""

    def __init__(self, partial=None):
        super().__init__('cut short')
        self.partial = partial


class Reader:
    """A cursor over bytes; reading past their end raises Short."""

    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, size):
        piece = self.data[self.offset:self.offset + size]
        self.offset += size
        if len(piece) < size:
            raise Short(piece)
        return piece

    def number(self, size):
        try:
            return int.from_bytes(self.take(size), 'big')
        except Short:
            raise Short() from None     # part of a number is nothing worth keeping

    def vector(self, length_size):
        """Bytes preceded by their length."""
        return self.take(self.number(length_size))


def _number(size):
    return lambda reader: reader.number(size)


def _fixed(size):
    return lambda reader: reader.take(size)


def _vector(length_size):
    return lambda reader: reader.vector(length_size)


def _numbers(length_size, size):
    """A list of numbers of size bytes preceded by its length in bytes; cut short, the
    numbers read whole go with the Short."""
    def read(reader):
        try:
            body = reader.vector(length_size)
        except Short as short:
            raise Short(_split(short.partial or b'', size)) from None
        return _split(body, size)
    return read


def _split(body, size):
    return [int.from_bytes(body[start:start + size], 'big')
            for start in range(0, len(body) - size + 1, size)]


def _extensions(reader):
    """[(type, data, whole)] of the extension block; cut short, those read go with the Short."""
    if reader.offset == len(reader.data):
        return []       # hellos of TLS 1.0 and older may end before an extension block
    try:
        block, cut = reader.vector(2), False
    except Short as short:
        block, cut = short.partial or b'', True
    items, inner = [], Reader(block)
    while inner.offset < len(inner.data):
        try:
            kind = inner.number(2)
        except Short:
            raise Short(items) from None
        try:
            items.append((kind, inner.vector(2), True))
        except Short as short:
            items.append((kind, short.partial or b'', False))
            raise Short(items) from None
    if cut:
        raise Short(items)
    return items


# hello -> its fields in order: (attribute, reader)
HELLO_FIELDS = {
    'ClientHello': (('version', _number(2)), ('random', _fixed(32)),
                    ('session_id', _vector(1)), ('ciphers', _numbers(2, 2)),
                    ('compressions', _numbers(1, 1)), ('extensions', _extensions)),
    'ServerHello': (('version', _number(2)), ('random', _fixed(32)),
                    ('session_id', _vector(1)), ('cipher', _number(2)),
                    ('compression', _number(1)), ('extensions', _extensions)),
}


def _server_name(data):
    """The first host name of a server_name extension."""
    names = Reader(Reader(data).vector(2))
    while names.offset < len(names.data):
        kind, name = names.number(1), names.vector(2)
        if kind == 0:
            return name
    return None


def _protocols(data):
    listed, names = Reader(Reader(data).vector(2)), []
    while listed.offset < len(listed.data):
        names.append(listed.vector(1))
    return names


def _list_of(length_size, size):
    read = _numbers(length_size, size)
    return lambda data: read(Reader(data))


# hello -> extension type -> (attribute, reader of the extension's data)
EXTENSIONS = {
    'ClientHello': {SERVER_NAME: ('sni', _server_name), ALPN: ('alpn', _protocols),
                    0x000a: ('groups', _list_of(2, 2)), 0x000b: ('point_formats', _list_of(1, 1)),
                    0x000d: ('signature_algorithms', _list_of(2, 2)),
                    SUPPORTED_VERSIONS: ('supported_versions', _list_of(1, 2))},
    'ServerHello': {ALPN: ('alpn', _protocols),
                    SUPPORTED_VERSIONS: ('supported_versions',
                                         lambda data: [Reader(data).number(2)])},
}


class Hello:
    """A ClientHello or ServerHello as far as its bytes go.

    Attributes: kind ('ClientHello' or 'ServerHello'), record_version, size (the message's
    length as it declares it), held (how many of those bytes the payload holds),
    truncated (its bytes end before it does), malformed (a
    length inside it points past its end), version (the hello's own), random, session_id,
    ciphers and compressions (ClientHello) or cipher and compression (ServerHello),
    extensions ([(type, data, whole)] in order), and from the extensions read whole: sni
    (bytes), alpn (list of bytes), groups, point_formats, signature_algorithms,
    supported_versions (lists of numbers). What the bytes do not hold is None.
    """

    def __init__(self, kind, record_version, size):
        self.kind, self.record_version, self.size = kind, record_version, size
        self.held, self.truncated, self.malformed = 0, False, False
        self.version = self.random = self.session_id = self.cipher = None
        self.compression = self.compressions = None
        self.ciphers, self.extensions = None, []
        self.sni = self.alpn = self.groups = self.point_formats = None
        self.signature_algorithms = self.supported_versions = None

    @property
    def extension_types(self):
        return [kind for kind, *_ in self.extensions]

    @property
    def best_version(self):
        """The version the hello stands for: supported_versions (its highest, GREASE
        left out) wins over the hello's own field."""
        offered = [version for version in self.supported_versions or () if version not in GREASE]
        return max(offered) if offered else self.version

    @property
    def retry(self):
        """True for a TLS 1.3 HelloRetryRequest (a ServerHello with a fixed random)."""
        return self.kind == 'ServerHello' and self.random == RETRY_RANDOM


def parse_hello(data):
    """The Hello at the start of data (TLS records), or None when data does not start
    with a handshake record holding a ClientHello or ServerHello."""
    found = _handshake_message(data)
    if found is None:
        return None
    record_version, message = found
    hello = Hello(HELLO_KINDS[message[0]], record_version, int.from_bytes(message[1:4], 'big'))
    body = message[4:4 + hello.size]
    hello.held = len(body)
    hello.truncated = hello.held < hello.size
    try:
        _read_fields(hello, Reader(body))
    except Short:
        hello.malformed = not hello.truncated   # a length inside points past the end
    _read_extensions(hello)
    return hello


def _read_fields(hello, reader):
    for name, read in HELLO_FIELDS[hello.kind]:
        try:
            setattr(hello, name, read(reader))
        except Short as short:
            if isinstance(short.partial, list):     # the ciphers or extensions read whole
                setattr(hello, name, short.partial)
            raise


def _handshake_message(data):
    """(record version, the handshake bytes of the records that start data, joined until
    they hold the first message), or None when that message is no hello."""
    if len(data) < 10 or data[0] != HANDSHAKE or data[1] != 3 or data[2] > 4:
        return None
    record_version, pieces, offset, needed = int.from_bytes(data[1:3], 'big'), [], 0, None
    while offset + 5 <= len(data) and data[offset] == HANDSHAKE and data[offset + 1] == 3:
        length = int.from_bytes(data[offset + 3:offset + 5], 'big')
        pieces.append(data[offset + 5:offset + 5 + length])
        offset += 5 + length
        joined = b''.join(pieces)
        needed = 4 + int.from_bytes(joined[1:4], 'big') if len(joined) >= 4 else None
        if needed is not None and len(joined) >= needed:
            break
    message = b''.join(pieces)
    return (record_version, message) if message[:1] and message[0] in HELLO_KINDS else None


def _read_extensions(hello):
    readers = EXTENSIONS[hello.kind]
    for kind, data, whole in hello.extensions or ():
        if whole and kind in readers:
            name, read = readers[kind]
            try:
                setattr(hello, name, read(data))
            except Short:       # malformed: an inner length past the extension's end
                pass


# ---- fingerprints -----------------------------------------------------------

def _dashed(numbers):
    return '-'.join(str(number) for number in numbers if number not in GREASE)


def whole(hello):
    """True when the hello was read to its end: only then are its fingerprints made."""
    return not (hello.truncated or hello.malformed)


def ja3_text(hello):
    """The JA3 string of a whole ClientHello, or the JA3S string of a whole ServerHello;
    None when the hello is truncated or malformed."""
    if not whole(hello):
        return None
    extensions = _dashed(hello.extension_types)
    if hello.kind == 'ServerHello':
        return f'{hello.version},{hello.cipher},{extensions}'
    return ','.join((str(hello.version), _dashed(hello.ciphers), extensions,
                     _dashed(hello.groups or ()), _dashed(hello.point_formats or ())))


def ja3(hello):
    """The MD5 (hex) of ja3_text, or None when the hello is not whole."""
    text = ja3_text(hello)
    return None if text is None else hashlib.md5(text.encode()).hexdigest()


def ja4(hello, protocol='t'):
    """The JA4 fingerprint of a whole ClientHello (protocol: 't' TLS over TCP, 'q' QUIC,
    'd' DTLS), or None for a ServerHello or a hello that is not whole."""
    if hello.kind != 'ClientHello' or not whole(hello):
        return None
    ciphers = [cipher for cipher in hello.ciphers if cipher not in GREASE]
    types = [kind for kind in hello.extension_types if kind not in GREASE]
    head = (f'{protocol}{JA4_VERSIONS.get(hello.best_version, "00")}'
            f'{"d" if SERVER_NAME in types else "i"}{min(len(ciphers), 99):02d}'
            f'{min(len(types), 99):02d}{ja4_alpn(hello.alpn)}')
    return f'{head}_{_hash12(sorted(ciphers))}_{_extension_hash(hello, types)}'


def _extension_hash(hello, types):
    listed = sorted(kind for kind in types if kind not in (SERVER_NAME, ALPN))
    if not listed:
        return JA4_NONE
    algorithms = [value for value in hello.signature_algorithms or () if value not in GREASE]
    text = _hex_list(listed) + (f'_{_hex_list(algorithms)}' if algorithms else '')
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _hash12(numbers):
    if not numbers:
        return JA4_NONE
    return hashlib.sha256(_hex_list(numbers).encode()).hexdigest()[:12]


def _hex_list(numbers):
    return ','.join(f'{number:04x}' for number in numbers)


def ja4_alpn(protocols):
    """JA4's two ALPN characters: the first and last of the first protocol when both are
    alphanumeric, else the first and last hex digits of its bytes; '00' without one."""
    first = protocols[0] if protocols else b''
    if not first:
        return '00'
    if first[0] in ALPHANUMERIC and first[-1] in ALPHANUMERIC:
        return chr(first[0]) + chr(first[-1])
    digits = first.hex()
    return digits[0] + digits[-1]
