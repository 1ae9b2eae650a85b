"""stf.core.captures.argus: real argus and ra runs (no mocks) on a small pcap written
here and on the captures in ../shared/data when present."""
import csv
import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import dpkt
import pytest

from stf.core.captures import argus
from stf.core.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
ARGUS_CONF = ROOT / 'confs' / 'argus.conf'
RA_CONF = ROOT / 'confs' / 'ra.conf'
DATA = Path(__file__).resolve().parent.parent.parent / 'shared' / 'data'
CAPTURES = ('malicious-ssh-bruteforce.pcap', 'test12-icmp-portscan.pcap',
            'test7-malicious.pcap', 'test8-malicious.pcap')
WEIRD = "we ird 'q\" ;x:y"

HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
          'TotPkts,TotBytes,SrcBytes,SrcPkts,srcUdata,dstUdata')
SMALL_FLOWS = [
    '2020/09/13 12:26:40.000000,0.080000,tcp,10.0.0.1,40000,   ->,10.0.0.2,80,FSPA_FSPA,'
    '0,0,8,474,288,5,s[24]=R0VUIC8gSFRUUC8xLjANCg0K,d[32]=SFRUUC8xLjAgMjAwIE9LDQoNCmhlbGxv',
    '2020/09/13 12:26:41.000000,0.500000,udp,10.0.0.1,50000,  <->,10.0.0.53,9999,CON,'
    '0,0,2,96,47,1,s[8]=cXVlcnk=,d[12]=YW5zd2VyIQ==',
]

needs_tools = pytest.mark.skipif(
    not (argus.find_tool('argus') and argus.find_tool('ra')),
    reason='argus and ra are not installed (make setup installs them)')


# --- a small capture: one HTTP exchange and one UDP request/answer -------------

def frame(src, dst, proto, payload):
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64,
                    data=payload)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b'\x02\0\0\0\0\x01', dst=b'\x02\0\0\0\0\x02',
                                        type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def tcp(src, dst, sport, dport, flags, seq, ack, data=b''):
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                           win=65535, data=data)
    return frame(src, dst, dpkt.ip.IP_PROTO_TCP, segment)


def udp(src, dst, sport, dport, data):
    datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    datagram.ulen = len(datagram)
    return frame(src, dst, dpkt.ip.IP_PROTO_UDP, datagram)


def small_packets():
    c, s, t = '10.0.0.1', '10.0.0.2', 1600000000
    syn, ack, psh, fin = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN
    return [
        (t + 0.00, tcp(c, s, 40000, 80, syn, 100, 0)),
        (t + 0.01, tcp(s, c, 80, 40000, syn | ack, 500, 101)),
        (t + 0.02, tcp(c, s, 40000, 80, ack, 101, 501)),
        (t + 0.03, tcp(c, s, 40000, 80, psh | ack, 101, 501, b'GET / HTTP/1.0\r\n\r\n')),
        (t + 0.05, tcp(s, c, 80, 40000, psh | ack, 501, 119,
                       b'HTTP/1.0 200 OK\r\n\r\nhello')),
        (t + 0.06, tcp(c, s, 40000, 80, fin | ack, 119, 525)),
        (t + 0.07, tcp(s, c, 80, 40000, fin | ack, 525, 120)),
        (t + 0.08, tcp(c, s, 40000, 80, ack, 120, 526)),
        (t + 1.00, udp(c, '10.0.0.53', 50000, 9999, b'query')),
        (t + 1.50, udp('10.0.0.53', c, 9999, 50000, b'answer!')),
    ]


def write_pcap(path, packets, linktype=dpkt.pcap.DLT_EN10MB):
    with open(path, 'wb') as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=65535, linktype=linktype)
        for ts, data in packets:
            writer.writepkt(data, ts=ts)


@pytest.fixture
def weird(tmp_path):
    folder = tmp_path / WEIRD
    folder.mkdir()
    return folder


@pytest.fixture
def small_pcap(weird):
    path = weird / "cap ture;'\".pcap"
    write_pcap(path, small_packets())
    return path


def flow_lines(path):
    """The lines of a binetflow file without argus' own (man) records."""
    lines = path.read_text().splitlines()
    return lines[:1] + [line for line in lines[1:] if line.split(',')[2] != 'man']


# --- generation on the small capture -------------------------------------------

@needs_tools
def test_small_capture_in_a_weird_folder(small_pcap, weird):
    biargus = weird / "out put;'\".biargus"
    binetflow = weird / "out put;'\".binetflow"
    assert argus.generate_biargus(small_pcap, biargus, ARGUS_CONF) == biargus
    assert argus.generate_binetflow(biargus, binetflow, RA_CONF) == binetflow
    assert flow_lines(binetflow) == [HEADER] + SMALL_FLOWS
    assert sorted(p.name for p in weird.iterdir()) == sorted(
        [small_pcap.name, biargus.name, binetflow.name])


@needs_tools
def test_output_replaces_an_existing_file(small_pcap, weird):
    biargus, binetflow = weird / 'a.biargus', weird / 'a.binetflow'
    biargus.write_bytes(b'old')
    binetflow.write_text('old\n')
    argus.generate_biargus(small_pcap, biargus, ARGUS_CONF)
    argus.generate_binetflow(biargus, binetflow, RA_CONF)
    assert flow_lines(binetflow) == [HEADER] + SMALL_FLOWS


@needs_tools
def test_a_file_name_is_never_given_to_a_shell(small_pcap, weird):
    # ra -r NAME.gz runs "gzip -dc NAME" through a shell; stf feeds ra on stdin.
    biargus = weird / 'x;touch PWNED;.gz'
    argus.generate_biargus(small_pcap, biargus, ARGUS_CONF)
    argus.generate_binetflow(biargus, weird / 'x.binetflow', RA_CONF)
    assert flow_lines(weird / 'x.binetflow') == [HEADER] + SMALL_FLOWS
    assert not (weird / 'PWNED').exists() and not Path('PWNED').exists()


# --- failures: one line, no file left ------------------------------------------

@needs_tools
def test_not_a_capture(weird):
    bad = weird / 'notes.pcap'
    bad.write_text('not a capture\n')
    with pytest.raises(UserError) as caught:
        argus.generate_biargus(bad, weird / 'notes.biargus', ARGUS_CONF)
    assert str(caught.value) == (
        f'argus failed on {bad}: ArgusOpenInputPacketFile: pcap_open_offline: '
        '-, unknown packet file format; check that it is a pcap or pcapng capture')
    assert [p.name for p in weird.iterdir()] == ['notes.pcap']


@needs_tools
def test_unsupported_link_type(weird):
    pcap = weird / 'user0.pcap'
    write_pcap(pcap, [(1.0, b'x' * 60)], linktype=147)
    with pytest.raises(UserError) as caught:
        argus.generate_biargus(pcap, weird / 'user0.biargus', ARGUS_CONF)
    assert str(caught.value) == (
        f'argus failed on {pcap}: ArgusOpenInputPacketFile(-) unsupported device type 147; '
        'check that it is a pcap or pcapng capture')
    assert [p.name for p in weird.iterdir()] == ['user0.pcap']


@needs_tools
def test_not_an_argus_file(small_pcap, weird):
    with pytest.raises(UserError) as caught:
        argus.generate_binetflow(small_pcap, weird / 'x.binetflow', RA_CONF)
    assert str(caught.value) == (
        f'ra failed on {small_pcap}: exit status 1, no message; '
        'check that it is an argus (biargus) file')
    assert [p.name for p in weird.iterdir()] == [small_pcap.name]


@needs_tools
def test_ra_crash_is_reported_with_its_signal(small_pcap, weird):
    # The reason RA_FIELD_DELIMITER is quoted in confs/ra.conf.
    biargus = argus.generate_biargus(small_pcap, weird / 'x.biargus', ARGUS_CONF)
    unquoted = weird / 'ra.conf'
    unquoted.write_text(RA_CONF.read_text().replace("RA_FIELD_DELIMITER=','",
                                                    'RA_FIELD_DELIMITER=,'))
    with pytest.raises(UserError) as caught:
        argus.generate_binetflow(biargus, weird / 'x.binetflow', unquoted)
    assert str(caught.value) == (
        f'ra failed on {biargus}: killed by SIGSEGV; check that it is an argus (biargus) file')
    assert not (weird / 'x.binetflow').exists()


@needs_tools
def test_missing_input(weird):
    missing = weird / 'missing.pcap'
    with pytest.raises(UserError) as caught:
        argus.generate_biargus(missing, weird / 'x.biargus', ARGUS_CONF)
    assert str(caught.value) == (f'cannot read {missing}: No such file or directory; '
                                 'check the path and its permissions')
    assert list(weird.iterdir()) == []


@needs_tools
def test_missing_output_folder(small_pcap, weird):
    with pytest.raises(UserError) as caught:
        argus.generate_biargus(small_pcap, weird / 'no' / 'x.biargus', ARGUS_CONF)
    assert str(caught.value) == (f'cannot write in {weird / "no"}: No such file or directory; '
                                 'check the path and its permissions')


@pytest.mark.parametrize('function, tool', [(argus.generate_biargus, 'argus'),
                                            (argus.generate_binetflow, 'ra')])
def test_missing_configuration(small_pcap, weird, function, tool):
    # argus would silently run with its defaults on a -F file that does not exist.
    conf = weird / 'none.conf'
    with pytest.raises(UserError) as caught:
        function(small_pcap, weird / 'out', conf)
    assert str(caught.value) == (f'{tool} configuration {conf} not found; '
                                 f'give an existing file ({tool}_conf in stf.conf)')


@pytest.mark.parametrize('function, tool, package', [
    (argus.generate_biargus, 'argus', 'argus-server'),
    (argus.generate_binetflow, 'ra', 'argus-client')])
def test_missing_tool(small_pcap, weird, tmp_path, monkeypatch, function, tool, package):
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setenv('PATH', str(empty))
    monkeypatch.setattr(argus, 'EXTRA_DIRS', ())
    conf = ARGUS_CONF if tool == 'argus' else RA_CONF
    with pytest.raises(UserError) as caught:
        function(small_pcap, weird / 'out', conf)
    sudo = '' if os.geteuid() == 0 else 'sudo '
    assert str(caught.value) == (f'{tool} is not installed; install it with: '
                                 f'{sudo}apt-get install {package}')
    assert [p.name for p in weird.iterdir()] == [small_pcap.name]
    assert argus.tool_status() == {'argus': None, 'ra': None, 'capinfos': None}


def test_tool_status_finds_sbin_outside_path(tmp_path, monkeypatch):
    # A normal Debian user's PATH has no /usr/sbin, where argus is installed.
    monkeypatch.setenv('PATH', str(tmp_path))
    status = argus.tool_status()
    assert list(status) == ['argus', 'ra', 'capinfos']
    for tool, path in status.items():
        assert path is None or (Path(path).name == tool and os.access(path, os.X_OK))
    installed = [Path(d) / 'argus' for d in argus.EXTRA_DIRS if (Path(d) / 'argus').is_file()]
    assert status['argus'] == (str(installed[0]) if installed else None)


# --- Ctrl-C: the child is killed and the partial file removed -------------------

def argus_children():
    """Pids of the argus processes started by this process."""
    pids = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            name, rest = stat.read_text().split('(', 1)[1].rsplit(')', 1)
        except OSError:
            continue
        if name == 'argus' and int(rest.split()[1]) == os.getpid():
            pids.append(int(stat.parent.name))
    return pids


@needs_tools
def test_ctrl_c_kills_argus_and_leaves_no_file(weird, tmp_path):
    # argus reads a pipe that never ends, so it is still running when Ctrl-C comes.
    fifo = weird / 'live;pcap'
    os.mkfifo(fifo)
    done, seen = threading.Event(), []

    def feed():
        with open(fifo, 'wb') as pipe:
            write_pcap_to(pipe, small_packets()[:3])
            deadline = time.monotonic() + 10
            while not argus_children() and time.monotonic() < deadline:
                time.sleep(0.02)
            seen.extend(argus_children())
            os.kill(os.getpid(), signal.SIGINT)
            done.wait(10)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            argus.generate_biargus(fifo, weird / 'live.biargus', ARGUS_CONF)
    finally:
        done.set()
        feeder.join()
    assert len(seen) == 1
    assert argus_children() == []
    with pytest.raises(ProcessLookupError):
        os.kill(seen[0], 0)
    assert [p.name for p in weird.iterdir()] == ['live;pcap']


def test_ctrl_c_while_a_child_starts_comes_after_it():
    # Popen loses its child if interrupted while waiting for the exec.
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with argus._sigint_held():
            signal.raise_signal(signal.SIGINT)
            steps.append('started')
    assert steps == ['started']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def write_pcap_to(handle, packets):
    writer = dpkt.pcap.Writer(handle, snaplen=65535)
    for ts, data in packets:
        writer.writepkt(data, ts=ts)
    handle.flush()


# --- the real captures of ../shared/data ---------------------------------------

def connection_counts(binetflow):
    """{SrcAddr-DstAddr-Dport-Proto: flows}, fields trimmed, man records skipped."""
    with open(binetflow, newline='') as handle:
        rows = csv.DictReader(handle)
        assert ','.join(rows.fieldnames) == HEADER
        counts = Counter()
        for row in rows:
            field = {key: value.strip() for key, value in row.items()}
            if field['Proto'] != 'man':
                counts['-'.join(field[k] for k in ('SrcAddr', 'DstAddr', 'Dport', 'Proto'))] += 1
    return counts


def expected_counts(name):
    lines = (DATA / 'expected' / f'{name}.letters.tsv').read_text().splitlines()
    return Counter({tuple_id: int(flows)
                    for tuple_id, flows, _ in (line.split('\t') for line in lines)})


@needs_tools
@pytest.mark.parametrize('name', CAPTURES)
def test_real_capture_gives_the_expected_connections(name, tmp_path):
    pcap = DATA / 'pcap' / name
    if not pcap.is_file():
        pytest.skip(f'{pcap} is absent (test data lives in ../shared/data)')
    biargus = argus.generate_biargus(pcap, tmp_path / f'{name}.biargus', ARGUS_CONF)
    binetflow = argus.generate_binetflow(biargus, tmp_path / f'{name}.binetflow', RA_CONF)
    assert connection_counts(binetflow) == expected_counts(name)
