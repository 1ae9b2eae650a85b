"""How `datasets -F` on a 1 M-packet pcap compares with capinfos.

    python bench/bench_pcap_scan.py [PCAP] [--packets N] [--repeat R]

Writes a synthetic pcap (Ethernet/IPv4, TCP and UDP, an IMIX-like size mix
from 60 to 1500 bytes, timestamps over about three hours) unless PCAP already
exists, then times `capinfos PCAP` (what a user would run: every figure and the
hashes) and a whole stf process running `datasets -F` on it in batch mode
(start-up, hashes, packet statistics, capinfos summary, rendering), with a
fresh database each run so nothing is cached. Target: ours/capinfos <= 1.5 and
peak memory < 200 MB.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stf.core.captures.filescan import CAPINFOS_FLAGS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = Path(tempfile.gettempdir()) / 'stf-bench-1M.pcap'
TARGET_RATIO, TARGET_MB = 1.5, 200
FRAME_POOL = 512   # distinct frames reused: building one per packet with dpkt takes minutes
# (share of packets, smallest, largest frame size): ACKs, mid-size, full segments
SIZE_MIX = ((0.58, 60, 100), (0.33, 500, 600), (0.09, 1400, 1500))
SPAN_SECONDS = 3 * 3600
START = 1_600_000_000


def main():
    args = parse_args()
    path = Path(args.pcap)
    if not path.exists():
        write_pcap(path, args.packets)
    warm_cache(path)
    print(f'{path}: {path.stat().st_size / 1e6:,.0f} MB')
    capinfos = shutil.which('capinfos')
    if capinfos is None:
        sys.exit('capinfos is not installed (Debian package wireshark-common)')
    runs = [measure(capinfos, path) for _ in range(args.repeat)]
    report(runs)
    quick = min(timed([capinfos, *CAPINFOS_FLAGS, str(path)])[0] for _ in range(args.repeat))
    print(f'capinfos as capinfos_summary runs it (no hashes): {quick:.2f} s')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pcap', nargs='?', default=str(DEFAULT_PATH))
    parser.add_argument('--packets', type=int, default=1_000_000)
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each; the best of each is compared')
    return parser.parse_args()


# -- the synthetic capture

def write_pcap(path, packets):
    import dpkt
    started = time.perf_counter()
    chance = random.Random(1)
    frames = [make_frame(chance) for _ in range(FRAME_POOL)]
    mean_gap = SPAN_SECONDS / packets
    moment = float(START)
    with open(path, 'wb') as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=65535)
        for _ in range(packets):
            moment += chance.expovariate(1 / mean_gap)
            writer.writepkt(frames[chance.randrange(FRAME_POOL)], ts=moment)
    print(f'wrote {packets:,} packets in {time.perf_counter() - started:.1f} s')


def make_frame(chance):
    import dpkt
    size = frame_size(chance)
    tcp = chance.random() < 0.7
    transport = (dpkt.tcp.TCP(sport=chance.randrange(1024, 65535), dport=443, flags=0x18)
                 if tcp else dpkt.udp.UDP(sport=chance.randrange(1024, 65535), dport=53))
    header = 14 + 20 + (20 if tcp else 8)
    transport.data = bytes(chance.getrandbits(8) for _ in range(max(0, size - header)))
    if not tcp:
        transport.ulen = len(transport)
    ip = dpkt.ip.IP(src=os.urandom(4), dst=os.urandom(4), data=transport,
                    p=dpkt.ip.IP_PROTO_TCP if tcp else dpkt.ip.IP_PROTO_UDP)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b'\x02' * 6, dst=b'\x04' * 6, data=ip))


def frame_size(chance):
    pick = chance.random()
    for share, smallest, largest in SIZE_MIX:
        if pick < share:
            return chance.randint(smallest, largest)
        pick -= share
    return SIZE_MIX[-1][2]


# -- measuring

def warm_cache(path):
    """Read the file once (after its fresh pages are written back) so that every
    timed run finds it in the page cache; the first run would pay for the disk."""
    os.sync()
    with open(path, 'rb', buffering=0) as handle:
        while handle.read(16 << 20):
            pass


def measure(capinfos, path):
    """(capinfos seconds, our seconds, our peak RSS in MB) for one run of each."""
    capinfos_seconds, _ = timed([capinfos, str(path)])
    with tempfile.TemporaryDirectory() as folder:
        stf = [sys.executable, str(ROOT / 'stf.py'), '--db', f'{folder}/stf.db']
        timed([*stf, '-c', f'datasets -c {path} --name bench'])  # set-up, not timed
        ours_seconds, peak_kb = timed([*stf, '-c', 'datasets -s 0', '-c', 'datasets -F 0'])
    return capinfos_seconds, ours_seconds, peak_kb / 1024


def timed(command):
    """Wall seconds and peak RSS (KB) of one child, from wait4 so that no other
    child's memory counts."""
    environment = {**os.environ, 'PYTHONPATH': str(ROOT),
                   'STF_HOME': tempfile.gettempdir() + '/stf-bench-home'}
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=environment)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f'{command[0]} failed with status {child.returncode}')
    return seconds, usage.ru_maxrss


def report(runs):
    for number, (capinfos, ours, peak) in enumerate(runs, 1):
        print(f'run {number}: capinfos {capinfos:.2f} s, stf datasets -F {ours:.2f} s, '
              f'peak {peak:.0f} MB')
    best_capinfos = min(run[0] for run in runs)
    best_ours = min(run[1] for run in runs)
    peak = max(run[2] for run in runs)
    ratio = best_ours / best_capinfos
    print(f'capinfos: {best_capinfos:.2f} s   stf datasets -F: {best_ours:.2f} s   '
          f'ratio ours/capinfos: {ratio:.2f} (target <= {TARGET_RATIO})   '
          f'peak memory: {peak:.0f} MB (target < {TARGET_MB})')
    if ratio > TARGET_RATIO or peak >= TARGET_MB:
        print('TARGET MISSED')


if __name__ == '__main__':
    main()
