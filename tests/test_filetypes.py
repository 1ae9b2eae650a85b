"""detect_type decides from content, and refuses with one line naming the path."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stf.core.captures import filetypes
from stf.core.errors import UserError
from stf.core.captures.filetypes import ACCEPTED_TYPES, detect_type

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / 'shared' / 'data'
# The first 16 bytes argus 3.0.8.2 writes (checked against a real run below).
ARGUS_START = bytes.fromhex('83100020 00000000 e5712dcb 00000000')
ZEEK_HEADER = ('#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n'
               '#unset_field\t-\n#path\t{path}\n#open\t2020-01-01-00-00-00\n'
               '#fields\t{fields}\n')
CONN_FIELDS = 'ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration'
ARGUS_LINE = ('2016/01/08 10:52:51.985777,0.680763,tcp,1.1.1.1,56363,   ->,2.2.2.2,'
              '443,SPA_SPA,0,0,56,25265,\n')


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def pcap_header(magic, order):
    return struct.pack(order + 'IHHiIII', magic, 2, 4, 0, 0, 65535, 1)


def pe_head():
    """The smallest header detect_type accepts: 'MZ', e_lfanew, 'PE\\0\\0'."""
    head = bytearray(128)
    head[:2] = b'MZ'
    struct.pack_into('<I', head, 0x3C, 64)
    head[64:68] = b'PE\0\0'
    return bytes(head)


CONTENTS = {
    'pcap-le-usec': (pcap_header(0xA1B2C3D4, '<'), 'pcap'),
    'pcap-be-usec': (pcap_header(0xA1B2C3D4, '>'), 'pcap'),
    'pcap-le-nsec': (pcap_header(0xA1B23C4D, '<'), 'pcap'),
    'pcap-be-nsec': (pcap_header(0xA1B23C4D, '>'), 'pcap'),
    'pcapng-le': (struct.pack('<III', 0x0A0D0D0A, 28, 0x1A2B3C4D) + bytes(16), 'pcapng'),
    'pcapng-be': (struct.pack('>III', 0x0A0D0D0A, 28, 0x1A2B3C4D) + bytes(16), 'pcapng'),
    'biargus': (ARGUS_START + bytes(112), 'biargus'),
    'pe': (pe_head(), 'pe'),
    'letters': ('tuple_id\tflows\tlabel\tstate\n1.1.1.1-2.2.2.2-80-tcp\t3\t\t88*\n', 'letters'),
    'letters-crlf': ('tuple_id\tflows\tlabel\tstate\r\n', 'letters'),
    'zeek': (ZEEK_HEADER.format(path='conn', fields=CONN_FIELDS), 'zeek'),
    'binetflow-comma': ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport\n', 'binetflow'),
    'binetflow-tab': ('StartTime\tDur\tProto\tSrcAddr\n', 'binetflow'),
    'binetflow-spaces': (' StartTime , Dur,Proto\n', 'binetflow'),
    'binetflow-bom': ('\ufeffStartTime,Dur,Proto\n', 'binetflow'),
    'headerless-date': (ARGUS_LINE, 'binetflow'),
    'headerless-no-fraction': (ARGUS_LINE.replace('.985777', ''), 'binetflow'),
    'headerless-epoch': (ARGUS_LINE.replace('2016/01/08 10:52:51.985777', '1452250371.985777'),
                         'binetflow'),
    'headerless-epoch-integer': (ARGUS_LINE.replace('2016/01/08 10:52:51.985777', '1452250371'),
                                 'binetflow'),
    'headerless-tab': (ARGUS_LINE.replace(',', '\t'), 'binetflow'),
}


@pytest.mark.parametrize('name', sorted(CONTENTS))
def test_detects_each_type_from_content(tmp_path, name):
    content, kind = CONTENTS[name]
    # The name says nothing: every fixture is called data.txt.
    assert detect_type(write(tmp_path, 'data.txt', content)) == kind


def test_every_detected_kind_is_an_accepted_type():
    assert {kind for _, kind in CONTENTS.values()} == set(ACCEPTED_TYPES)
    assert {kind for kind, _ in filetypes.DETECTORS} == set(ACCEPTED_TYPES)


def test_name_does_not_decide(tmp_path):
    assert detect_type(write(tmp_path, 'capture.pcap', ARGUS_LINE)) == 'binetflow'
    assert detect_type(write(tmp_path, 'flows.binetflow', pe_head())) == 'pe'


UNKNOWN = {
    'random bytes': bytes(range(256)) * 8,
    'non-UTF-8 text': b'caf\xe9 \xff\xfe r\xe9sum\xe9\n' * 10,
    'plain text': 'hello, world\n',
    'headerless with 12 fields': ','.join(ARGUS_LINE.split(',')[:12]) + '\n',
    'date in the wrong form': ARGUS_LINE.replace('2016/01/08', '08-01-2016'),
    'letters header with a fifth column': 'tuple_id\tflows\tlabel\tstate\textra\n',
    'MZ without PE signature': b'MZ' + bytes(126),
    'PE signature past the head': b'MZ' + bytes(58) + struct.pack('<I', 100_000) + bytes(64),
    'pcapng without byte-order mark': struct.pack('<III', 0x0A0D0D0A, 28, 0x12345678) + bytes(16),
    'pcap magic only': b'\xd4\xc3\xb2\xa1',
}


@pytest.mark.parametrize('name', sorted(UNKNOWN))
def test_refuses_unknown_content_listing_accepted_types(tmp_path, name):
    path = write(tmp_path, 'sample.bin', UNKNOWN[name])
    with pytest.raises(UserError) as caught:
        detect_type(path)
    assert str(caught.value) == (
        f'{path} is not a file type stf reads; accepted: pcap capture, pcapng capture, '
        'argus binary flows, binetflow (argus text flows), Zeek conn.log, letters TSV, '
        'Windows PE executable')


def test_zeek_log_that_is_not_conn_log_is_named(tmp_path):
    path = write(tmp_path, 'dns.log',
                 ZEEK_HEADER.format(path='dns', fields='ts\tuid\tquery\tqtype'))
    with pytest.raises(UserError, match=r'dns.log is a Zeek log but not a conn.log'):
        detect_type(path)


@pytest.mark.parametrize('make, message', [
    (lambda tmp: tmp / 'missing.pcap', 'missing.pcap: no such file; check the path'),
    (lambda tmp: tmp / 'missing' / 'x.pcap', 'x.pcap: no such file; check the path'),
    (lambda tmp: tmp, ' is a folder; give a file inside it'),
    (lambda tmp: write(tmp, 'empty.pcap', b''),
     'empty.pcap is empty (0 bytes); give a file with data in it'),
])
def test_path_errors_are_one_line_naming_the_path(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(UserError) as caught:
        detect_type(path)
    text = str(caught.value)
    assert text.startswith(str(path)) and text.endswith(message)
    assert '\n' not in text


def test_a_pipe_is_refused(tmp_path):
    path = tmp_path / 'fifo'
    os.mkfifo(path)
    with pytest.raises(UserError, match='is not a regular file'):
        detect_type(path)


UNREADABLE_CHECK = '''
import sys
sys.path.insert(0, sys.argv[1])
from stf.core.errors import UserError
from stf.core.captures.filetypes import detect_type
try:
    detect_type(sys.argv[2])
except UserError as error:
    print('USERERROR', error)
'''


def test_permission_denied(tmp_path):
    if os.geteuid() != 0:
        path = write(tmp_path, 'secret.pcap', pcap_header(0xA1B2C3D4, '<'))
        path.chmod(0)
        with pytest.raises(UserError) as caught:
            detect_type(path)
        assert str(caught.value) == f"{path}: permission denied; check the file's permissions"
        return
    # Root reads any file, so the check runs as 'nobody' on a root-only file.
    setpriv = shutil.which('setpriv')
    if setpriv is None:
        pytest.skip('running as root without setpriv: cannot test an unreadable file')
    folder = Path(tempfile.mkdtemp(prefix='stf-perm-'))
    try:
        folder.chmod(0o755)
        path = write(folder, 'secret.pcap', pcap_header(0xA1B2C3D4, '<'))
        path.chmod(0)
        done = subprocess.run([setpriv, '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                               sys.executable, '-c', UNREADABLE_CHECK, str(ROOT), str(path)],
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder)
    if 'USERERROR' not in done.stdout:
        pytest.skip(f'could not run the check as nobody: {done.stderr.strip()[-200:]}')
    assert done.stdout.strip() == (
        f"USERERROR {path}: permission denied; check the file's permissions")


# -- real files

SHARED_TYPES = {
    'pcap/test7-malicious.pcap': 'pcap',
    'pcap/test8-malicious.pcap': 'pcap',
    'pcap/malicious-ssh-bruteforce.pcap': 'pcap',
    'pcap/test12-icmp-portscan.pcap': 'pcap',
    'binetflow/test2-malicious.binetflow': 'binetflow',
    'binetflow/test5-mixed.binetflow': 'binetflow',
    'binetflow/headerless-test7.binetflow': 'binetflow',
    'binetflow/edges-epoch.binetflow': 'binetflow',
    'zeek/njrat-labeled.conn.log': 'zeek',
    'zeek/malicious-003.conn.log': 'zeek',
    'letters/train.tsv': 'letters',
}


@pytest.fixture
def shared_data():
    if not SHARED.is_dir():
        pytest.skip(f'the shared test data folder {SHARED} is absent')
    return SHARED


@pytest.mark.parametrize('name', sorted(SHARED_TYPES))
def test_real_files(shared_data, name):
    assert detect_type(shared_data / name) == SHARED_TYPES[name]


def test_expected_letters_files_are_not_an_input_type(shared_data):
    # Three columns and no header: the test oracle, not something to load.
    with pytest.raises(UserError, match='is not a file type stf reads'):
        detect_type(shared_data / 'expected' / 'test7-malicious.pcap.letters.tsv')


def test_real_biargus_file_starts_with_the_argus_magic(shared_data, tmp_path):
    argus = shutil.which('argus')
    if argus is None:
        pytest.skip('argus is not installed (Debian package argus-server)')
    path = tmp_path / 'capture.biargus'
    subprocess.run([argus, '-r', str(shared_data / 'pcap' / 'test8-malicious.pcap'),
                    '-w', str(path)], check=True, capture_output=True, timeout=60)
    assert path.read_bytes()[:16] == ARGUS_START
    assert detect_type(path) == 'biargus'


def test_the_capture_formats_numbers_have_one_home():
    """Magics, block types and link types of pcap and pcapng are written in
    stf/core/captures/pcapformat.py only."""
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / 'stf'
    spellings = (r"b'\xa1\xb2", r"b'\xd4\xc3", r"b'\x0a\x0d\x0d\x0a", r"b'\n\r\r\n",
                 'LINKTYPES = {', '0x0A0D0D0A', r"b'\x1a\x2b")
    found = {(path.name, spelling) for path in root.rglob('*.py')
             if path.name != 'pcapformat.py' for spelling in spellings
             if spelling in path.read_text()}
    assert found == set()
