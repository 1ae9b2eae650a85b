"""How fast flowfile.iter_blocks reads a binetflow (a tuple per flow), against
csv.reader merely splitting it.

    python bench/bench_flowread.py [lines]     (default 1,000,000)

Writes /tmp/stf-bench-<lines>.binetflow once (reused when it exists), then times
both readers over it, best of three, and prints the ratio. The goal is a ratio of
at most 2: parsing times and numbers must not cost much more than splitting.
The same file piped through cat into iter_stream_blocks (as the IPS reads ra's
output) is timed too, with its ratio to csv.reader.
"""
import csv
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stf.core.flows.flowfile import iter_blocks, iter_stream_blocks  # noqa: E402

HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
          'TotPkts,TotBytes,SrcBytes,SrcPkts,Label')
# (proto, dir, state, ports): a mix like a real capture's
KINDS = (('tcp', '   ->', 'SRPA_SPA', (80, 443, 22, 445, 8080)),
         ('udp', '  <->', 'CON', (53, 123, 137, 1900)),
         ('icmp', '   ->', 'ECO', ('0x0008', '0x7208')))
LABELS = ('flow=Background-UDP-Established', 'flow=From-Botnet-V42-TCP-CC6-Plain-HTTP',
          'flow=From-Normal-V42-Grill', '')


def generate(path, lines, seed=1):
    """Write a binetflow of `lines` flows, in time order, to path."""
    rng = random.Random(seed)
    hosts = [f'10.0.{i // 250}.{i % 250 + 1}' for i in range(500)]
    servers = [f'{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.'
               f'{rng.randrange(1, 255)}' for _ in range(5000)]
    start = 1_554_394_980_000_000
    with open(path, 'w', buffering=1 << 20) as out:
        out.write(HEADER + '\n')
        for _ in range(lines):
            start += rng.randrange(0, 20_000)
            out.write(flow_line(rng, start, hosts, servers))


def flow_line(rng, start_us, hosts, servers):
    seconds, micro = divmod(start_us, 1_000_000)
    stamp = time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(seconds))
    proto, direction, state, ports = rng.choice(KINDS)
    packets = rng.randrange(1, 60)
    size = packets * rng.randrange(60, 1500)
    return (f'{stamp}.{micro:06d},{rng.randrange(0, 90_000_000) / 1e6:.6f},{proto},'
            f'{rng.choice(hosts)},{rng.randrange(1024, 65536)},{direction},'
            f'{rng.choice(servers)},{rng.choice(ports)},{state},0,0,{packets},{size},'
            f'{size // 3},{packets // 2},{rng.choice(LABELS)}\n')


def time_csv(path):
    with open(path, newline='', buffering=1 << 20) as stream:
        for _ in csv.reader(stream):
            pass


def time_iter_flows(path):
    for block in iter_blocks(path):
        for _ in zip(*block):  # one tuple per flow, as csv gives one list per row
            pass


def time_stream(path):
    with subprocess.Popen(['cat', str(path)], stdout=subprocess.PIPE) as cat:
        for block in iter_stream_blocks(cat.stdout):
            for _ in zip(*block):
                pass


def best_of(function, path, runs=3):
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        function(path)
        times.append(time.perf_counter() - began)
    return min(times)


def main():
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    path = Path(f'/tmp/stf-bench-{lines}.binetflow')
    if not path.exists():
        generate(path, lines)
    reference = best_of(time_csv, path)
    ours = best_of(time_iter_flows, path)
    stream = best_of(time_stream, path)
    print(f'{lines:,} flows, {path.stat().st_size / 1e6:.0f} MB')
    print(f'csv.reader         {reference:.3f} s')
    print(f'iter_flows         {ours:.3f} s')
    print(f'ratio              {ours / reference:.2f}')
    print(f'cat | stream       {stream:.3f} s')
    print(f'stream ratio       {stream / reference:.2f}')


if __name__ == '__main__':
    main()
