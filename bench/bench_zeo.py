"""Several analysts labeling at once through a real ZEO server: commits per second.

    python bench/bench_zeo.py [-n N] [--clients C] [--connections K] [--notes]
                              [--server thread|stf] [--keep]

Starts a ZEO server on loopback for a fresh FileStorage in a temporary folder
(--server thread: ZEO.server() inside this process, the default; --server stf:
`stf.py --db TMP/bench.fs --serve 127.0.0.1:PORT` as a subprocess), then:
  (a) prepares one dataset through one App on its own ZEO connection: a small
      binetflow file with K distinct connections (default 2,000, three flows
      each), `datasets -c FILE --name bench`, `connections -g`, `models -g`;
  (b) runs C clients (default 4) as separate processes (multiprocessing with
      'spawn'), each an App on its own ZEO connection doing N commands (default
      250), every one its own transaction:
        labels -a -c CONN_ID -g GROUP --name From-Botnet-TCP-HTTP-Cc{client}-{i}
      on a connection no other command touches (with --notes every second
      command is `notes -c --text "bench client {client} note {i}"` instead).
      All clients open their App first and start together; the wall time runs
      from that start to the last client's finish. Reported: commits per second
      over all clients, conflicts retried (the sum of each client's
      `app.database.conflicts` over its commands), failed commands, and the
      latency of one command;
  (c) checks from a fresh client that no update was lost: every label exists
      once and is attached to its connection (group's labels, the label's
      members, the model's note saying so), every note is there once, and the
      ids of labels and notes are unique.
Target: at least 200 commits/s in total, zero lost updates (and no failed
command). Exits 1 when a command failed, an update was lost, a failed command
left changes, ids are not unique or a client crashed; the speed verdict is only
printed.
"""
import argparse
import multiprocessing
import os
import queue
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
STF = ROOT / 'stf.py'
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_COMMITS_PER_SECOND = 200
FLOWS_PER_CONNECTION = 3
HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
          'TotPkts,TotBytes,SrcBytes,SrcPkts,Label\n')
START_TIMEOUT = 60  # seconds for every client to open its App
RUN_TIMEOUT = 300  # seconds for the clients' commands


# -- the flow file and the shared dataset

def write_flows(path, connections):
    """A binetflow with `connections` distinct connections (one source address
    each, to one web server), FLOWS_PER_CONNECTION flows each, in time order."""
    lines = [HEADER]
    for round_ in range(FLOWS_PER_CONNECTION):
        for k in range(connections):
            second = 60 * round_ + k // 100
            src = f'10.{k // 62500}.{k // 250 % 250}.{k % 250 + 1}'
            lines.append(f'2011/08/10 10:{second // 60:02d}:{second % 60:02d}.{k % 100:02d}0000,'
                         f'0.5,tcp,{src},{40000 + round_},->,147.32.80.9,80,FSPA_FSPA,0,0,'
                         f'8,{900 + k % 500},{300 + k % 200},4,flow=Background-TCP-Established\n')
    path.write_text(''.join(lines))


def client_app(address):
    """An App on its own connection to the ZEO server at 'HOST:PORT'."""
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    return App(config.load(), database.Database(storages.open_zeo(address)))


def messages(reply):
    return '; '.join(getattr(item, 'text', repr(item)) for item in reply.items)


def prepare(address, flow_path):
    """Load the dataset through one client; (model group id, connection ids)."""
    app = client_app(address)
    try:
        for line in (f'datasets -c {shlex.quote(str(flow_path))} --name bench',
                     'connections -g', 'models -g'):
            reply = app.execute(line)
            if not reply.ok:
                raise RuntimeError(f'{line}: {messages(reply)}')
        groups = app.root['models'].values()
        if len(groups) != 1:
            raise RuntimeError(f'expected one group of models, found {len(groups)}')
        return groups[0].id, list(groups[0].states.keys())
    finally:
        app.close()


# -- the clients

def commands(client, count, group_id, conns, with_notes):
    """(kind, line, expectation) of one client's commands; conns: its own."""
    for i in range(count):
        if with_notes and i % 2:
            text = f'bench client {client} note {i}'
            yield 'note', f'notes -c --text {shlex.quote(text)}', text
        else:
            name = f'From-Botnet-TCP-HTTP-Cc{client}-{i}'
            conn = conns[i]
            yield 'label', (f'labels -a -c {shlex.quote(conn)} -g {shlex.quote(group_id)} '
                            f'--name {name}'), (name, conn)


def client_process(client, address, home, group_id, conns, count, with_notes, barrier, results):
    """One analyst: open an App, wait for the others, run the commands."""
    try:
        os.environ['STF_HOME'] = home
        app = client_app(address)
        lines = [line for _, line, _ in commands(client, count, group_id, conns, with_notes)]
        conflicts_before = app.database.conflicts
        barrier.wait(START_TIMEOUT)
        began = time.perf_counter()
        latencies, failures = [], []
        for i, line in enumerate(lines):
            start = time.perf_counter()
            reply = app.execute(line)
            latencies.append(time.perf_counter() - start)
            if not reply.ok:
                failures.append((i, f'{line}: {messages(reply)}'))
        elapsed = time.perf_counter() - began
        results.put({'client': client, 'elapsed': elapsed, 'latencies': latencies,
                     'failures': failures,
                     'conflicts': app.database.conflicts - conflicts_before})
        app.close()
    except BaseException:
        results.put({'client': client, 'crash': traceback.format_exc()})
        try:
            barrier.abort()
        except Exception:
            pass


def run_clients(args, address, folder, group_id, conns):
    """Start the clients, release them together; (wall seconds, their results)."""
    context = multiprocessing.get_context('spawn')
    barrier = context.Barrier(args.clients + 1)
    results = context.Queue()
    processes = []
    for client in range(args.clients):
        own = conns[client * args.n:(client + 1) * args.n]
        process = context.Process(
            target=client_process, name=f'bench-client-{client}',
            args=(client, address, str(folder / f'home{client}'), group_id, own, args.n,
                  args.notes, barrier, results))
        process.start()
        processes.append(process)
    reports = []
    try:
        try:
            barrier.wait(START_TIMEOUT)
        except Exception:  # a client crashed or was too slow to start
            barrier.abort()
            reports = drain(results, processes, 5)
            raise RuntimeError('the clients did not all start:\n'
                               + '\n'.join(r.get('crash', '') for r in reports))
        began = time.perf_counter()
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(reports) < args.clients:
            try:
                reports.append(results.get(timeout=max(deadline - time.monotonic(), 0.1)))
            except queue.Empty:
                raise RuntimeError(f'{args.clients - len(reports)} clients did not finish '
                                   f'within {RUN_TIMEOUT} s') from None
        wall = time.perf_counter() - began
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    return wall, sorted(reports, key=lambda report: report['client'])


def drain(results, processes, timeout):
    reports, deadline = [], time.monotonic() + timeout
    while len(reports) < len(processes) and time.monotonic() < deadline:
        try:
            reports.append(results.get(timeout=0.2))
        except Exception:
            pass
    return reports


# -- checking that nothing was lost

class Findings:
    """What a fresh client finds wrong. lost: commands that reported success
    but whose change is missing; leftovers: changes of failed commands (which
    must change nothing); ids: stored ids and counters that do not add up."""

    def __init__(self):
        self.lost, self.leftovers, self.ids = [], [], []


def expectations(args, group_id, conns, failed):
    """What the commands of every client must have left: labels {name: conn}
    and note texts (Counter), of the commands that succeeded and of those that
    failed (the (client, command index) pairs in failed)."""
    labels = {True: {}, False: {}}
    notes = {True: Counter(), False: Counter()}
    for client in range(args.clients):
        own = conns[client * args.n:(client + 1) * args.n]
        for i, (kind, _, expectation) in enumerate(
                commands(client, args.n, group_id, own, args.notes)):
            done = (client, i) not in failed
            if kind == 'label':
                labels[done][expectation[0]] = expectation[1]
            else:
                notes[done][expectation] += 1
    return labels[True], labels[False], notes[True], notes[False]


def verify(args, address, group_id, conns, failed):
    """(Findings, labels expected, notes expected), read by a fresh client."""
    expected_labels, refused_labels, expected_notes, refused_notes = expectations(
        args, group_id, conns, failed)
    app = client_app(address)
    found = Findings()
    try:
        group = app.root['models'].get(group_id)
        check_labels(found, app, group, group_id, expected_labels, refused_labels)
        check_notes(found, app, expected_notes, refused_notes)
        model_notes = [group.notes.get(conn) for conn in expected_labels.values()]
        model_notes = [note_id for note_id in model_notes if note_id is not None]
        if len(set(model_notes)) != len(model_notes):
            found.ids.append('two labeled connections share one model note')
        wanted = len(expected_labels) + sum(expected_notes.values())
        if len(app.notes.items) != wanted:
            found.ids.append(f'{len(app.notes.items):,} notes stored, {wanted:,} expected')
        check_counters(found, app)
    finally:
        app.close()
    return found, len(expected_labels), sum(expected_notes.values())


def check_labels(found, app, group, group_id, expected, refused):
    notes = app.notes.items
    by_name = {}
    for key, label in app.root['labels'].items.items():
        if label.id != key:
            found.ids.append(f'label stored under {key} has id {label.id}')
        by_name.setdefault(label.name, []).append(label)
    for name, conn in expected.items():
        named = by_name.get(name, [])
        if len(named) != 1:
            found.lost.append(f'label {name}: {len(named)} labels of that name')
            continue
        label = named[0]
        if group.labels.get(conn) != label.id:
            found.lost.append(f'{conn}: labeled {group.labels.get(conn)}, not {label.id} ({name})')
        if conn not in label.members.get(group_id, ()):
            found.lost.append(f'label {name} does not list {conn}')
        note = notes.get(group.notes.get(conn))
        if note is None or f'labeled {name}' not in note.text:
            found.lost.append(f'{conn}: no model note saying it was labeled {name}')
    for name, conn in refused.items():
        if name in by_name or conn in group.labels or conn in group.notes:
            found.leftovers.append(f'{conn}: the failed command labeling it {name} left changes')
    extra = set(by_name) - set(expected) - set(refused)
    if extra:
        found.ids.append(f'{len(extra)} unexpected labels, e.g. {sorted(extra)[0]}')


def check_notes(found, app, expected, refused):
    free_texts = Counter()
    for key, note in app.notes.items.items():
        if note.id != key:
            found.ids.append(f'note stored under {key} has id {note.id}')
        if note.owner is None:
            free_texts[note.text] += 1
    for text, count in expected.items():
        if free_texts[text] < count:
            found.lost.append(f'note {text!r}: {free_texts[text]} found, {count} expected')
        elif free_texts[text] > count:
            found.ids.append(f'note {text!r}: {free_texts[text]} found, {count} expected')
    for text in refused:
        if free_texts[text] > expected[text]:
            found.leftovers.append(f'note {text!r}: saved although its command failed')


def check_counters(found, app):
    """Nothing is removed here: the counters (past ids removed) stay at 0."""
    for name, store in (('labels', app.root['labels']), ('notes', app.notes)):
        if store.counter():
            found.ids.append(f'the {name} counter is {store.counter()} with no id removed')


# -- the server

def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_server(kind, path, folder):
    """('HOST:PORT', stop()) of a ZEO server for the FileStorage at path."""
    if kind == 'thread':
        import ZEO
        (host, port), stop = ZEO.server(path=str(path))
        return f'{host}:{port}', stop
    address = f'127.0.0.1:{free_port()}'
    log = open(folder / 'server.log', 'w')
    server = subprocess.Popen([sys.executable, str(STF), '--db', str(path), '--serve', address],
                              stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, STF_HOME=str(folder / 'server-home')))

    def stop():
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(('127.0.0.1', int(address.rsplit(':', 1)[1])), 0.5).close()
            return address, stop
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop()
                raise RuntimeError('the ZEO server did not start:\n'
                                   + (folder / 'server.log').read_text())
            time.sleep(0.1)


# -- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-n', type=int, default=250, help='commands per client (default 250)')
    parser.add_argument('--clients', type=int, default=4, help='client processes (default 4)')
    parser.add_argument('--connections', type=int, default=2000,
                        help='distinct connections in the flow file (default 2,000)')
    parser.add_argument('--notes', action='store_true',
                        help='every second command creates a note instead of a label')
    parser.add_argument('--server', choices=('thread', 'stf'), default='thread',
                        help='ZEO.server() in this process (default) or stf.py --serve')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
    args = parser.parse_args(argv)
    if args.n < 1 or args.clients < 1:
        parser.error('-n and --clients must be at least 1')
    if args.clients * args.n > args.connections:
        parser.error(f'{args.clients} clients x {args.n} commands need at least '
                     f'{args.clients * args.n:,} connections (--connections)')

    folder = Path(tempfile.mkdtemp(prefix='stf-bench-zeo-'))
    os.environ['STF_HOME'] = str(folder / 'home')
    stop = None
    try:
        began = time.perf_counter()
        address, stop = start_server(args.server, folder / 'bench.fs', folder)
        flow_path = folder / 'bench.binetflow'
        write_flows(flow_path, args.connections)
        group_id, conns = prepare(address, flow_path)
        print(f'server          ZEO on {address} ({args.server}), {folder / "bench.fs"}')
        print(f'dataset         {len(conns):,} connections, group of models {group_id} '
              f'(prepared in {time.perf_counter() - began:.1f} s)')
        if len(conns) < args.clients * args.n:
            print(f'FAILED: only {len(conns):,} models for {args.clients * args.n:,} commands',
                  file=sys.stderr)
            return 1
        sys.stdout.flush()

        wall, reports = run_clients(args, address, folder, group_id, conns)
        crashes = [report for report in reports if 'crash' in report]
        for report in crashes:
            print(f"client {report['client']} crashed:\n{report['crash']}", file=sys.stderr)
        if crashes:
            return 1
        attempted = args.clients * args.n
        failed = {(report['client'], i): text for report in reports
                  for i, text in report['failures']}
        commits = attempted - len(failed)
        conflicts = sum(report['conflicts'] for report in reports)
        latencies = sorted(latency for report in reports for latency in report['latencies'])
        rate = commits / wall
        kinds = 'labels -a and notes -c alternating' if args.notes else 'labels -a'
        processes = 'process' if args.clients == 1 else 'processes'
        print(f'clients         {args.clients} {processes} x {args.n:,} commands ({kinds})')
        print(f'wall time       {wall:.2f} s (start to last finish; clients: '
              + ', '.join(f"{report['elapsed']:.2f}" for report in reports) + ' s)')
        print(f'commits         {commits:,}  ->  {rate:,.0f} commits/s in total, '
              f'{rate / args.clients:,.0f} per client')
        print(f'latency         median {statistics.median(latencies) * 1000:.1f} ms, '
              f'95th percentile {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.1f} ms, '
              f'max {latencies[-1] * 1000:.1f} ms')
        print(f'conflicts       {conflicts:,} retried (per client: '
              + ', '.join(str(report['conflicts']) for report in reports) + ')')
        print(f'failed          {len(failed):,} commands')
        for text in list(failed.values())[:5]:
            print(f'    {text}')
        if len(failed) > 5:
            print(f'    ... ({len(failed) - 5} more)')
        sys.stdout.flush()

        found, labels, notes = verify(args, address, group_id, conns, failed)
        lost, leftovers, ids = found.lost, found.leftovers, found.ids
        print(f'lost updates    {len(lost):,} (fresh client: {labels:,} labels and {notes:,} '
              f'free notes of successful commands checked)')
        for problem in lost[:10]:
            print(f'    {problem}')
        print(f'atomicity       {len(leftovers):,} failed commands left changes behind')
        for problem in leftovers[:10]:
            print(f'    {problem}')
        print('ids             ' + ('unique, counters unchanged' if not ids
                                     else f'{len(ids):,} problems'))
        for problem in ids[:10]:
            print(f'    {problem}')
        wrong = lost or leftovers or ids
        fast = rate >= TARGET_COMMITS_PER_SECOND
        reasons = [reason for reason, bad in (
            (f'{rate:,.0f} < {TARGET_COMMITS_PER_SECOND} commits/s', not fast),
            ('lost updates', lost), ('failed commands', failed),
            ('partial changes', leftovers), ('id problems', ids)) if bad]
        print(f'target          >= {TARGET_COMMITS_PER_SECOND} commits/s, no lost update, '
              'no failed command: ' + ('met' if not reasons else
                                      'NOT met (' + ', '.join(reasons) + ')'))
        print(f'total run       {time.perf_counter() - began:.1f} s')
        return 1 if wrong or failed else 0
    except RuntimeError as error:
        print(f'FAILED: {error}', file=sys.stderr)
        return 1
    finally:
        if stop is not None:
            stop()
        if args.keep:
            print(f'temporary folder kept: {folder}')
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
