"""How fast the IPS reads flows through stdin, against Python's csv reading
the same file in the same run, and how much memory it needs.

    python bench/bench_ips.py [flows] [--engine] [--no-memory]   (default 1,000,000)
    python bench/bench_ips.py --verdicts     (the README's table, on ../shared/data)

1. Speed: bench/gen_binetflow.py writes a realistic capture of `flows` flows
   (reused from /tmp when it exists); `cat FILE | ./stf-ips -` (the shipped
   detector, 300 s windows, output to /dev/null) is timed against csv.reader
   merely splitting the same file. Goals: at least 200,000 flows/s and at most
   5x the csv time.
2. Memory: files whose flows fall on 100,000 and on 1,000,000 distinct tuples
   (a thousand sources, each tuple to its own destination, over an hour so
   several windows close and no tuple goes idle). Goals: peak < 200 MB and
   < 1 GB.
3. Start-up: from starting ./stf-ips on a two-flow file to its first line
   (the first window closed, so the first flow was read and judged). Goal < 1 s.
4. Alert latency on live input: one flow stamped now goes into stf-ips'
   stdin (--window 2 --lateness 0 --print-all); how long after the window's
   end its line comes out. Goal < 1 s.

Each measurement runs in a child process of its own that runs the pipeline
and reports resource.getrusage(RUSAGE_CHILDREN).ru_maxrss: the peak resident
memory of the largest process of that pipeline alone. Without ./stf-ips the
Engine is driven directly in the child (the same reader, detector and output).
"""
import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))

import gen_binetflow  # noqa: E402

CLI = ROOT / 'stf-ips'
PYTHON = ROOT / '.venv' / 'bin' / 'python'
US = 1_000_000
T0 = 1_312_969_613 * US  # 2011/08/10 09:46:53 UTC
SOURCES = 1000


# -- inputs -------------------------------------------------------------------
def capture_file(flows):
    path = Path(f'/tmp/stf-bench-ips-{flows}.binetflow')
    if not path.exists():
        with open(path, 'w', buffering=1 << 20) as out:
            gen_binetflow.generate(flows, out)
    return path


def tuples_file(tuples, flows, span_seconds=3600):
    """flows flows on `tuples` distinct tuples, round robin, over span_seconds."""
    path = Path(f'/tmp/stf-bench-ips-tuples-{tuples}-{flows}.binetflow')
    if path.exists():
        return path
    step = span_seconds * US // flows
    with open(path, 'w', buffering=1 << 20) as out:
        out.write(gen_binetflow.HEADER)
        lines = []
        for number in range(flows):
            tuple_number = number % tuples
            start = T0 + number * step
            seconds, micro = divmod(start, US)
            stamp = time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(seconds))
            src = f'10.0.{tuple_number % SOURCES // 250}.{tuple_number % 250 + 1}'
            dst = (f'{20 + (tuple_number >> 16)}.{(tuple_number >> 8) & 255}.'
                   f'{tuple_number & 255}.1')
            size = 400 + number % 900
            lines.append(f'{stamp}.{micro:06d},{(number % 50) / 10:.6f},tcp,{src},'
                         f'{1024 + number % 60000},   ->,{dst},443,FSPA_FSPA,0,0,8,{size},'
                         f'{size // 3},4,flow=Background-TCP-Established\n')
            if len(lines) >= 20_000:
                out.write(''.join(lines))
                lines.clear()
        out.write(''.join(lines))
    return path


# -- measurements, each in a child process ------------------------------------
def measure(kind, path, home):
    """(seconds, peak MB, alerts line count) of one measurement in a fresh child."""
    result = subprocess.run([sys.executable, __file__, '--child', kind, str(path), str(home)],
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(f'{kind} on {path} failed:\n{result.stderr}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(kind, path, home):
    began = time.perf_counter()
    if kind == 'csv':
        with open(path, newline='', buffering=1 << 20) as stream:
            for _ in csv.reader(stream):
                pass
        alerts = 0
        own = True
    elif kind == 'cli':
        alerts_path = Path(home) / 'alerts.jsonl'
        alerts_path.unlink(missing_ok=True)
        # STF_HOME is a fresh folder: the config is created there with its defaults
        command = f'cat {path} | {CLI} - --alerts {alerts_path} > /dev/null'
        subprocess.run(command, shell=True, check=True,
                       env=dict(os.environ, STF_HOME=str(home)))
        alerts = len(alerts_path.read_text().splitlines())
        own = False
    else:
        alerts = run_engine(path, home)
        own = True
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF if own else resource.RUSAGE_CHILDREN)
    print(json.dumps({'seconds': seconds, 'peak_mb': usage.ru_maxrss / 1024,
                      'alerts': alerts}))


def run_engine(path, home):
    """Engine driven directly, reading `cat FILE` as the CLI reads stdin."""
    from stf.core.detect.detector import Detector
    from stf.core.flows.flowfile import iter_stream_blocks
    from stf.ips.alerts import AlertOutput
    from stf.ips.config import Settings
    from stf.ips.engine import Engine
    alerts_path = Path(home) / 'alerts.jsonl'
    alerts_path.unlink(missing_ok=True)
    with open(os.devnull, 'w') as null:
        output = AlertOutput(null, alerts_path=alerts_path, detector_name='shipped')
        engine = Engine(Detector.default(), Settings(), output)
        with subprocess.Popen(['cat', str(path)], stdout=subprocess.PIPE) as cat:
            for block in iter_stream_blocks(cat.stdout):
                engine.feed(block)
        engine.flush()
        output.close()
    return len(alerts_path.read_text().splitlines())


# -- start-up and alert latency ---------------------------------------------------
def flow_line(start_seconds, src='10.0.0.1'):
    seconds, fraction = divmod(start_seconds, 1)
    stamp = time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(seconds))
    return (f'{stamp}.{int(fraction * US):06d},0.1,udp,{src},5000,   ->,1.1.1.1,53,CON,0,0,2,90,1,'
            '60,x\n')


def startup_seconds(home, runs=5):
    """Median seconds from starting ./stf-ips to its first line."""
    path = Path(home) / 'two-flows.binetflow'
    path.write_text(gen_binetflow.HEADER + flow_line(T0 / US) + flow_line(T0 / US + 400))
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        child = subprocess.Popen([str(CLI), str(path), '--print-all'], stdout=subprocess.PIPE,
                                 env=dict(os.environ, STF_HOME=str(home)))
        child.stdout.readline()
        times.append(time.perf_counter() - began)
        child.wait()
    return statistics.median(times)


def alert_latency_seconds(home, runs=3, window=2.0):
    """Median seconds between a live window's end and its line."""
    times = []
    for _ in range(runs):
        child = subprocess.Popen([str(CLI), '-', '--window', str(window), '--lateness', '0',
                                  '--print-all'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=dict(os.environ, STF_HOME=str(home)))
        time.sleep(1.0)   # started and waiting for its input
        start = time.time()
        child.stdin.write((gen_binetflow.HEADER + flow_line(start)).encode())
        child.stdin.flush()
        for line in child.stdout:      # the created-config note may come first
            if b'10.0.0.1' in line:
                break
        times.append(time.time() - (start + window))
        child.stdin.close()
        child.wait()
    return statistics.median(times)


# -- verdicts on the shared labeled captures ---------------------------------------
SHARED = ROOT.parent / 'shared' / 'data'
VERDICT_HOSTS = (('zeek/njrat-labeled.conn.log', '192.168.1.115'),
                 ('binetflow/test5-mixed.binetflow', '10.0.2.15'),
                 ('zeek/normal40-labeled.conn.log', '147.32.81.167'),
                 ('zeek/normal42-labeled.conn.log', '147.32.83.234'))


def verdicts(home):
    """For each capture's host: (windows judged malicious, windows with its flows)."""
    for name, host in VERDICT_HOSTS:
        result = subprocess.run([str(CLI), str(SHARED / name), '--print-all'],
                                capture_output=True, text=True, check=True,
                                env=dict(os.environ, STF_HOME=str(home)))
        lines = [line.split() for line in result.stdout.splitlines() if ' UTC  ' in line]
        mine = [fields for fields in lines if fields[3] == host]
        bad = sum(fields[4] == 'malicious' for fields in mine)
        print(f'{name:36} {host:15} malicious in {bad} of {len(mine)} windows')


# -- report -------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('flows', nargs='?', type=int, default=1_000_000)
    parser.add_argument('--child', nargs=3, metavar=('KIND', 'FILE', 'HOME'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--engine', action='store_true',
                        help='drive the Engine directly even when ./stf-ips exists')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the distinct-tuple memory runs')
    parser.add_argument('--verdicts', action='store_true',
                        help="the per-host verdicts of the README's table instead")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    if args.verdicts:
        with tempfile.TemporaryDirectory(prefix='stf-bench-ips-') as home:
            verdicts(home)
        return 0
    kind = 'cli' if CLI.exists() and not args.engine else 'engine'
    with tempfile.TemporaryDirectory(prefix='stf-bench-ips-') as home:
        path = capture_file(args.flows)
        csv_run = measure('csv', path, home)
        ips = measure(kind, path, home)
        rate = args.flows / ips['seconds']
        print(f'{args.flows:,} flows ({path.stat().st_size / 1e6:.0f} MB), '
              f'{"cat FILE | ./stf-ips -" if kind == "cli" else "Engine fed by cat FILE"}')
        print(f'csv.reader         {csv_run["seconds"]:.2f} s  '
              f'{args.flows / csv_run["seconds"]:,.0f} flows/s')
        print(f'stf-ips            {ips["seconds"]:.2f} s  {rate:,.0f} flows/s  '
              f'({ips["alerts"]} alerts)  goal >= 200,000')
        print(f'ratio              {ips["seconds"] / csv_run["seconds"]:.2f}  goal <= 5')
        print(f'peak memory        {ips["peak_mb"]:.0f} MB')
        if kind == 'cli':
            print(f'start-up           {startup_seconds(home):.2f} s to the first line  '
                  'goal < 1 s')
            print(f'alert latency      {alert_latency_seconds(home):.2f} s after the window\'s '
                  'end on live input  goal < 1 s')
        if not args.no_memory:
            for tuples, flows, goal in ((100_000, 1_000_000, 200), (1_000_000, 2_000_000, 1024)):
                run = measure(kind, tuples_file(tuples, flows), home)
                print(f'{tuples:>9,} tuples   {flows:,} flows  {run["seconds"]:.2f} s  '
                      f'peak {run["peak_mb"]:.0f} MB  goal < {goal} MB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
