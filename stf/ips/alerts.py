"""What the IPS says: one console line per alert, the same lines in the log,
and one IDMEF v2 JSON object per malicious alert in the alerts file.

An alert is one source IP in one window: its evidence score (the verdict
rule's sum) and the tuples that drove it, highest score first. Names come
from the flows (addresses, labels): control characters in them are escaped so
a crafted flow cannot rewrite the analyst's terminal or split a log line.
"""
import datetime
import functools
import json
import math
import os
import socket
import sys
import uuid
from dataclasses import dataclass, field

from stf.core.detect.verdict import EVIDENCE_THRESHOLD
from stf.core.errors import UserError
from stf.core.flows import connid

IDMEF_VERSION = '2.D.V04'
# Tuples named in a console line; the rest are counted ('+N more').
LINE_TUPLES = 3
# Letters of a tuple's state in the IDMEF attachment: its last ones.
ATTACHED_LETTERS = 50
# The version of stf: the package face is always loaded before this module (a
# parent package is imported first), and the house plan keeps stf.ips from
# importing it by name.
STF_VERSION = sys.modules['stf'].__version__
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass
class TupleFinding:
    """One judged tuple: its id, its last letters, the closest label, its
    probability of being malicious (score) and the detector's confidence."""
    tuple: str
    letters: str
    label: str
    score: float
    confidence: float


@dataclass
class Alert:
    """The verdict on one source IP in one window."""
    window_start_us: int
    window_end_us: int
    ip: str
    malicious: bool
    score: float
    tuples: list = field(default_factory=list)


# -- text ---------------------------------------------------------------------
def printable(text):
    """text with control (non-printable) characters escaped as \\xNN / \\uNNNN."""
    text = str(text)
    if text.isprintable():
        return text
    return ''.join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char):
    code = ord(char)
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}' if code < 0x10000 \
        else f'\\U{code:08x}'


def utc_datetime(time_us):
    return EPOCH + datetime.timedelta(microseconds=int(time_us))


@functools.lru_cache(maxsize=1024)   # every alert of a window has the same times
def utc_text(time_us):
    """'2024-02-08 15:20:00 UTC'."""
    return utc_datetime(time_us).strftime('%Y-%m-%d %H:%M:%S UTC')


@functools.lru_cache(maxsize=1024)
def iso_time(time_us):
    """ISO 8601 in UTC ('2024-02-08T15:15:00Z'; microseconds when there are)."""
    moment = utc_datetime(time_us)
    spec = 'seconds' if moment.microsecond == 0 else 'microseconds'
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + 'Z'


def finding_text(finding):
    """'147.32.84.165-46.17.40.43-53-udp From-Botnet-UDP-DNS (0.98)'."""
    return f'{printable(finding.tuple)} {printable(finding.label or "-")} ({finding.score:.2f})'


def alert_line(alert):
    """'2024-02-08 15:20:00 UTC  147.32.84.165  malicious  score 2.41  3 tuples: ...':
    the window's end, the IP, the verdict, the evidence and the tuples that
    drove it (at most LINE_TUPLES named, the rest counted)."""
    count = len(alert.tuples)
    head = (f'{utc_text(alert.window_end_us)}  {printable(alert.ip)}  '
            f'{"malicious" if alert.malicious else "normal"}  score {alert.score:.2f}  '
            f'{count} tuple{"" if count == 1 else "s"}')
    if not count:
        return head
    named = ', '.join(finding_text(finding) for finding in alert.tuples[:LINE_TUPLES])
    more = f' +{count - LINE_TUPLES} more' if count > LINE_TUPLES else ''
    return f'{head}: {named}{more}'


def stats_line(window_start_us, window_end_us, counts, verbose):
    """One window's statistics; late, skipped and behind from verbose 2 on."""
    line = (f'{utc_text(window_end_us)}  window from {utc_text(window_start_us)[11:19]}  '
            f'flows {counts.get("flows", 0)}  tuples {counts.get("tuples", 0)}  '
            f'judged {counts.get("judged", 0)}  whitelisted {counts.get("whitelisted", 0)}  '
            f'evicted {counts.get("evicted", 0)}')
    if verbose >= 2:
        line += (f'  late {counts.get("late", 0)}  skipped {counts.get("skipped", 0)}  '
                 f'behind {float(counts.get("behind_seconds", 0)):.1f} s')
    return line


def tuple_line(tuple_id, letters, score, malicious):
    """One judged tuple (verbose 3): verdict, score, id and last letters."""
    return (f'  {"malicious" if malicious else "normal":9}  {score:.2f}  {printable(tuple_id)}  '
            f'{printable(letters[-ATTACHED_LETTERS:])}')


# -- IDMEF v2 -----------------------------------------------------------------
def confidence(alert):
    """The alert's Confidence, in 0..1: strength x support, rounded to 2 places.

    strength = 1 - exp(-evidence / EVIDENCE_THRESHOLD): 0.63 at the verdict
    threshold, 0.95 at three times it, so more evidence is surer but never
    certain. support = the tuples' detector confidences (how much their chains
    can say, short chains little) averaged with their scores as weights: a
    verdict carried by long, clearly malicious chains keeps its strength, one
    carried by a few letters is discounted. No tuples: 0.
    """
    total = sum(max(finding.score, 0.0) for finding in alert.tuples)
    if total <= 0:
        return 0.0
    support = sum(max(finding.score, 0.0) * finding.confidence
                  for finding in alert.tuples) / total
    strength = 1.0 - math.exp(-max(alert.score, 0.0) / EVIDENCE_THRESHOLD)
    return round(min(1.0, max(0.0, strength * support)), 2)


def targets(findings):
    """[{"IP": dst, "Port": [ports]}] of the tuples, in their order; ports that
    are not numbers (ICMP types, ARP) are left out, and so is an empty list."""
    ports = {}   # dst -> {port: None}: ordered, and a scan of many ports stays linear
    for target in map(_target, [finding.tuple for finding in findings]):
        if target is not None:
            ports.setdefault(target[0], {})[target[1]] = None
    return [{'IP': dst, 'Port': [port for port in numbers if port is not None]}
            if len(numbers) > (None in numbers) else {'IP': dst}
            for dst, numbers in ports.items()]


@functools.lru_cache(maxsize=1 << 16)   # a tuple is in the alerts of many windows
def _target(tuple_id):
    """(destination, port number or None) of a tuple id; None if not one."""
    try:
        conn = connid.parse(tuple_id)
    except UserError:
        return None
    return conn.dst, int(conn.dport) if conn.dport.isdigit() else None


_host_address = None


def host_address():
    """This host's address on its default route, or '127.0.0.1' (no packet is
    sent: connecting a UDP socket only picks the route)."""
    global _host_address
    if _host_address is None:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(('192.0.2.1', 9))
                _host_address = probe.getsockname()[0]
        except OSError:
            _host_address = '127.0.0.1'
    return _host_address


def description(alert):
    count = len(alert.tuples)
    closest = f'; closest: {alert.tuples[0].label}' if count and alert.tuples[0].label else ''
    return (f'{alert.ip} behaved like known malware from {utc_text(alert.window_start_us)} '
            f'to {utc_text(alert.window_end_us)}: evidence {alert.score:.2f} from {count} '
            f'tuple{"" if count == 1 else "s"}{closest}')


def idmef(alert, detector_name, alert_id=None, now_us=None, analyzer_ip=None):
    """The alert as an IDMEF v2 object (alert_id, now_us and analyzer_ip fixed
    for tests; by default a uuid4, the clock and this host's address)."""
    if now_us is None:
        now = datetime.datetime.now(datetime.timezone.utc)
        now_us = (now - EPOCH) // datetime.timedelta(microseconds=1)
    return {
        'Version': IDMEF_VERSION,
        'ID': str(alert_id or _new_id()),
        'CreateTime': iso_time(now_us),
        'StartTime': iso_time(alert.window_start_us),
        'Category': ['Intrusion.Botnet'],
        'Description': description(alert),
        'Confidence': confidence(alert),
        'Analyzer': {
            'Name': 'stf-ips',
            'Model': f'stf {STF_VERSION} detector {detector_name}',
            'Category': ['NIDS'],
            'Data': ['Flow'],
            'Method': ['Statistical'],
            'IP': analyzer_ip or host_address(),
        },
        'Source': [{'IP': alert.ip}],
        'Target': targets(alert.tuples),
        'Attachment': [{
            'Name': 'tuples',
            'ContentType': 'application/json',
            'Content': {'tuples': [
                {'tuple': finding.tuple, 'letters': finding.letters[-ATTACHED_LETTERS:],
                 'label': finding.label, 'score': round(float(finding.score), 4)}
                for finding in alert.tuples]},
        }],
    }


_ENCODER = json.JSONEncoder(check_circular=False)   # plain dicts and lists only
_random_ids = []


def _new_id():
    """A uuid4, from random bytes read 256 ids at a time (one system call)."""
    if not _random_ids:
        data = os.urandom(16 * 256)
        _random_ids.extend(data[at:at + 16] for at in range(0, len(data), 16))
    return uuid.UUID(bytes=_random_ids.pop(), version=4)


# -- output -------------------------------------------------------------------
# What the output keeps before writing it: a window's lines go out together,
# unless they are more than this.
HELD_BYTES = 1 << 20


class LineFile:
    """A file that gets whole lines only: the lines of a window are written
    in one system call at flush, so a process killed mid-run leaves no torn
    line; one left by an older crash (a last line without its newline) is
    cut off when the file is opened."""

    def __init__(self, path, what):
        try:
            self.descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            _cut_torn_line(self.descriptor)
        except OSError as error:
            raise UserError(f'cannot open the {what} {path}: {error.strerror or error}; '
                            'give a file in a folder you can write to') from None
        self.lines, self.held = [], 0

    def write(self, text):
        """Keep a line for the next flush (at once past HELD_BYTES: a window
        with a million tuples does not wait in memory; whole lines still)."""
        self.lines.append(text)
        self.held += len(text)
        if self.held > HELD_BYTES:
            self.flush()

    def flush(self):
        data = ''.join(self.lines).encode('utf-8', 'surrogateescape')
        self.lines, self.held = [], 0
        while data:
            data = data[os.write(self.descriptor, data):]

    def size(self):
        return os.lseek(self.descriptor, 0, os.SEEK_END)

    def cut(self, size):
        """Drop what was written after size bytes (by a run that died before
        it could say its window was done)."""
        if size < self.size():
            os.ftruncate(self.descriptor, size)

    def close(self):
        self.flush()
        os.close(self.descriptor)


def _read_at(descriptor, offset, size):
    """size bytes at offset (os.pread is not on every platform; appends go to
    the end whatever the position)."""
    os.lseek(descriptor, offset, os.SEEK_SET)
    return os.read(descriptor, size)


def _cut_torn_line(descriptor):
    size = os.lseek(descriptor, 0, os.SEEK_END)
    if not size or _read_at(descriptor, size - 1, 1) == b'\n':
        return
    tail = _read_at(descriptor, max(0, size - (1 << 22)), min(size, 1 << 22))
    keep = size - len(tail) + tail.rfind(b'\n') + 1 if b'\n' in tail else 0
    os.ftruncate(descriptor, keep)


class AlertOutput:
    """Where alerts and statistics go: the console (out), the log file (the
    same lines) and the alerts file (IDMEF, one JSON object a line, malicious
    alerts only). Everything is flushed at each window's end (a window's
    alerts come together) and after a note, so `tail -f` sees it then."""

    def __init__(self, out=sys.stdout, log_path=None, alerts_path=None, print_all=False,
                 verbose=0, detector_name=''):
        self.out = out
        self.console = []   # lines for out, written after the files at flush
        self.console_bytes = 0
        self.print_all = print_all
        self.verbose = verbose
        self.detector_name = detector_name
        self.log = LineFile(log_path, 'log file') if log_path else None
        try:
            self.alerts = LineFile(alerts_path, 'alerts file') if alerts_path else None
        except UserError:
            self.close()
            raise

    def line(self, text):
        """One line on the console and in the log."""
        if self.out is not None:
            self.console.append(text + '\n')
            self.console_bytes += len(text) + 1
            if self.console_bytes > HELD_BYTES:
                self.flush()
        if self.log is not None:
            self.log.write(text + '\n')

    def report(self, alert):
        if alert.malicious or self.print_all:
            self.line(alert_line(alert))
        if alert.malicious and self.alerts is not None:
            self.alerts.write(_ENCODER.encode(idmef(alert, self.detector_name)) + '\n')

    def window_stats(self, window_start_us, window_end_us, counts):
        if self.verbose >= 1:
            self.line(stats_line(window_start_us, window_end_us, counts, self.verbose))
        self.flush()

    def tuple_line(self, tuple_id, letters, score, malicious):
        if self.verbose >= 3:
            self.line(tuple_line(tuple_id, letters, score, malicious))

    def note(self, text):
        self.line(printable(text))
        self.flush()

    def flush(self):
        # the files first: what the console shows is in them already
        for stream in (self.alerts, self.log):
            if stream is not None:
                stream.flush()
        if self.out is not None and self.console:
            self.out.write(''.join(self.console))
            self.console, self.console_bytes = [], 0
            self.out.flush()

    def sizes(self):
        """{file: bytes written} of the log and alerts files, for a resume."""
        return {name: stream.size() for name, stream in
                (('log', self.log), ('alerts', self.alerts)) if stream is not None}

    def cut(self, sizes):
        """Go back to sizes (from sizes()): what came after them is written again."""
        for name, stream in (('log', self.log), ('alerts', self.alerts)):
            if stream is not None and name in sizes:
                stream.cut(sizes[name])

    def close(self):
        if self.out is not None and getattr(self, 'console', None):
            self.out.write(''.join(self.console))
            self.console = []
        for stream in (self.log, getattr(self, 'alerts', None)):
            if stream is not None:
                stream.close()
        self.log = self.alerts = None
