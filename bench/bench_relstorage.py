"""Analysts on RelStorage (PostgreSQL) against ZEO: commits per second, and loading.

    python bench/bench_relstorage.py [-n N] [--clients 1,4,8] [--flows F]
                                     [--deadlock-timeouts 1s,100ms]
                                     [--zeo-server stf|thread] [--skip-load] [--keep]

Starts a PostgreSQL server as tests/pgserver.py does (initdb as user postgres when
run as root, a loopback port, its own socket folder), but with a real server's
durability settings: fsync, synchronous_commit and full_page_writes on (PostgreSQL's
defaults; the tests turn them off). The settings in force are printed. Then, in one run:
  (a) for every client count C (default 1, 4 and 8: one alone is the speed without
      contention) and each of ZEO and RelStorage, on a fresh database:
      bench/bench_zeo.py's run, C analysts (processes) doing N commands each
      (default 250), every one `labels -a` in its own transaction,
      released together; commits per second over all of them, conflicts retried,
      failed commands and, from a fresh client, lost updates (bench_zeo.verify).
      ZEO: a FileStorage served by `stf.py --serve` (--zeo-server stf, the default)
      or by ZEO.server() inside this process (thread). RelStorage: a ZConfig file
      naming a new PostgreSQL database (history kept, RelStorage's defaults),
      once for each deadlock_timeout given (default 1s, PostgreSQL's own, and
      100ms), set as a team's administrator would: ALTER DATABASE ... SET;
  (b) `datasets -c FILE --name bench`, `connections -g`, `models -g` in one batch
      stf on the same generated file (bench/bench_models.py's, default 1,000,000
      flows) against a FileStorage (--db), a ZEO server (--zeo) and RelStorage
      (--conf): wall time, the peak memory of the stf process (wait4's ru_maxrss),
      of the ZEO server process, and the proportional memory (PSS) of PostgreSQL's
      processes just after the load, and the size of the stored data.
Prints a table at the end. Exits 1 when a command failed, an update was lost, a
client crashed or a load failed.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
STF = ROOT / 'stf.py'
for folder in (ROOT, BENCH):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import bench_models  # noqa: E402
import bench_zeo  # noqa: E402
from tests import pgserver  # noqa: E402

LOAD_LINES = ('datasets -c {path} --name bench', 'connections -g', 'models -g')
# What the server runs with, shown so that the figures can be judged.
SHOWN_SETTINGS = ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes',
                  'wal_level', 'shared_buffers', 'max_connections', 'deadlock_timeout')


# -- the clients: bench_zeo's, on either database

def client_app(target):
    """An App on its own connection: target is a ZEO server's 'HOST:PORT' or
    the path of a ZConfig file (RelStorage)."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    if target.endswith('.conf'):
        db = storages.open_config(target, config.ROOT)
    else:
        db = storages.open_zeo(target)
    return App(config.load(), database.Database(db))


# bench_zeo's prepare, clients and checks open their Apps with its client_app;
# this one also opens RelStorage. The clients are spawned processes, which
# import this (main) module again, so they get it too.
bench_zeo.client_app = client_app


# -- PostgreSQL with a real server's settings

class DurableServer(pgserver.PostgresServer):
    """The tests' server, started with PostgreSQL's default durability."""

    def start(self):
        options = f'-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1'
        self.run('pg_ctl', '-D', str(self.data), '-o', options, '-l',
                 str(self.folder / 'server.log'), '-w', '-t', '60', 'start')

    def settings(self):
        query = ' '.join(f"SELECT '{name}', current_setting('{name}') UNION ALL"
                         for name in SHOWN_SETTINGS).removesuffix(' UNION ALL')
        return self.sql(query)

    def sql(self, query, database='postgres'):
        done = self.run('psql', '-h', '127.0.0.1', '-p', str(self.port), '-U', pgserver.ROLE,
                        '-d', database, '-At', '-F', '=', '-c', query)
        return done.stdout.strip()

    def new_database(self, folder, name, deadlock_timeout=None):
        """(ZConfig file, database name) of a new database; deadlock_timeout
        (e.g. '100ms') set on it for every session, when given."""
        database = self.create_database()
        if deadlock_timeout:
            self.sql(f"ALTER DATABASE {database} SET deadlock_timeout = '{deadlock_timeout}'")
        conf = pgserver.relstorage_conf(folder / f'{name}.conf', self.dsn(database))
        return str(conf), database

    def memory(self):
        """The proportional set size of the server's processes, in bytes."""
        pids = [pid for pid in os.listdir('/proc') if pid.isdigit() and self._ours(pid)]
        total = 0
        for pid in pids:
            try:
                for line in Path(f'/proc/{pid}/smaps_rollup').read_text().splitlines():
                    if line.startswith('Pss:'):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass  # a process that ended meanwhile
        return total

    def _ours(self, pid):
        try:
            command = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
            parent = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1]
        except OSError:
            return False
        return (str(self.data).encode() in command or parent == str(self.postmaster()))

    def postmaster(self):
        return int((self.data / 'postmaster.pid').read_text().split()[0])


def start_postgres():
    programs = pgserver.server_programs()
    if programs is None:
        raise RuntimeError('PostgreSQL is not installed: `make postgres` installs it')
    folder = Path(tempfile.mkdtemp(prefix='stf-bench-pg-'))
    if os.geteuid() == 0:
        shutil.chown(folder, 'postgres')
    server = DurableServer(programs, folder, bench_zeo.free_port())
    server.run('initdb', '-D', str(server.data), '-A', 'trust', '-U', pgserver.ROLE,
               '-E', 'UTF8')
    server.start()
    return server


# -- (a) analysts labeling at once

def concurrent(kind, clients, args, server, folder, deadlock_timeout=None):
    """One bench_zeo run of `clients` analysts on a fresh database: a row."""
    run = SimpleNamespace(clients=clients, n=args.n, notes=False)
    place = folder / f'{kind}-{clients}-{deadlock_timeout}'
    place.mkdir()
    stop = None
    try:
        if kind == 'ZEO':
            target, stop = bench_zeo.start_server(args.zeo_server, place / 'bench.fs', place)
        else:
            target, _ = server.new_database(place, 'relstorage', deadlock_timeout)
        flows = place / 'bench.binetflow'
        bench_zeo.write_flows(flows, clients * args.n)
        group_id, conns = bench_zeo.prepare(target, flows)
        wall, reports = bench_zeo.run_clients(run, target, place, group_id, conns)
        crashes = [report['crash'] for report in reports if 'crash' in report]
        if crashes:
            raise RuntimeError(f'{kind}, {clients} clients: a client crashed:\n{crashes[0]}')
        failed = {(report['client'], i): text for report in reports
                  for i, text in report['failures']}
        found, _, _ = bench_zeo.verify(run, target, group_id, conns, failed)
    finally:
        if stop is not None:
            stop()
    latencies = sorted(latency for report in reports for latency in report['latencies'])
    commits = clients * args.n - len(failed)
    if deadlock_timeout:
        kind = f'{kind} {deadlock_timeout}'
    return {'kind': kind, 'clients': clients, 'rate': commits / wall, 'commits': commits,
            'conflicts': sum(report['conflicts'] for report in reports),
            'failed': len(failed), 'lost': len(found.lost) + len(found.leftovers) + len(found.ids),
            'median_ms': latencies[len(latencies) // 2] * 1000, 'first_failure':
                next(iter(failed.values()), None), 'problems': found.lost + found.ids}


# -- (b) the 1M-flow load

def run_stf(options, lines, folder, name):
    """A batch stf with options and lines on stdin: (seconds, peak RSS bytes)."""
    stdin = folder / f'{name}.in'
    stdin.write_text(''.join(line + '\n' for line in lines))
    env = dict(os.environ, STF_HOME=str(folder / f'{name}-home'))
    began = time.perf_counter()
    with open(stdin) as given, open(folder / f'{name}.out', 'w') as out, \
            open(folder / f'{name}.err', 'w') as err:
        process = subprocess.Popen([sys.executable, str(STF), *options], stdin=given,
                                   stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - began
    errors = (folder / f'{name}.err').read_text()
    if process.returncode != 0 or errors.strip():
        raise RuntimeError(f'stf {" ".join(options)} ({name}) exit status '
                           f'{process.returncode}:\n{bench_models.indent(errors or "-")}')
    return elapsed, usage.ru_maxrss * 1024


def zeo_served(path, folder):
    """('HOST:PORT', stop() -> the server's peak RSS in bytes): stf.py --serve."""
    address = f'127.0.0.1:{bench_zeo.free_port()}'
    log = open(folder / 'server.log', 'w')
    server = subprocess.Popen([sys.executable, str(STF), '--db', str(path), '--serve', address],
                              stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, STF_HOME=str(folder / 'server-home')))

    def stop():
        peak = peak_of(server.pid)
        server.terminate()
        server.wait(30)
        log.close()
        return peak

    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(('127.0.0.1', int(address.rsplit(':', 1)[1])), 0.5).close()
            return address, stop
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop()
                raise RuntimeError('the ZEO server did not start:\n'
                                   + (folder / 'server.log').read_text()) from None
            time.sleep(0.1)


def peak_of(pid):
    """A running process's peak RSS (VmHWM) in bytes, or None."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) * 1024 for line in status.splitlines()
                 if line.startswith('VmHWM:')), None)


def load_file_storage(lines, folder):
    place = folder / 'load-fs'
    place.mkdir()
    elapsed, peak = run_stf(['--db', str(place / 'stf.db')], lines, place, 'load')
    return elapsed, peak, None, (place / 'stf.db').stat().st_size


def load_zeo(lines, folder):
    place = folder / 'load-zeo'
    place.mkdir()
    address, stop = zeo_served(place / 'stf.db', place)
    try:
        elapsed, peak = run_stf(['--zeo', address], lines, place, 'load')
    finally:
        server_peak = stop()
    return elapsed, peak, server_peak, (place / 'stf.db').stat().st_size


def load_relstorage(lines, folder, server):
    place = folder / 'load-rs'
    place.mkdir()
    conf, database = server.new_database(place, 'relstorage')
    settings = place / 'stf.conf'
    settings.write_text(f'[stf]\nzodb_conf = {conf}\n')
    # The schema first, outside the timing (the other two start from an existing file).
    run_stf(['--conf', str(settings)], ['database -i'], place, 'empty')
    empty = int(server.sql(f"SELECT pg_database_size('{database}')"))
    elapsed, peak = run_stf(['--conf', str(settings)], lines, place, 'load')
    server.sql('CHECKPOINT')
    size = int(server.sql(f"SELECT pg_database_size('{database}')")) - empty
    return elapsed, peak, server.memory(), size


def loads(args, server, folder):
    path, _ = bench_models.flow_file(args.flows)
    bench_models.warm(path)
    print(f'flow file       {path} ({path.stat().st_size / 1e6:,.1f} MB, {args.flows:,} flows)')
    lines = [line.format(path=path) for line in LOAD_LINES]
    rows = []
    for kind, load in (('FileStorage', load_file_storage), ('ZEO', load_zeo),
                       ('RelStorage', lambda lines, folder: load_relstorage(lines, folder,
                                                                             server))):
        elapsed, peak, server_memory, size = load(lines, folder)
        rows.append((kind, elapsed, peak, server_memory, size))
        print(f'load {kind:<11} {elapsed:6.2f} s', flush=True)
    return rows


# -- the report

def megabytes(size):
    return '-' if size is None else f'{size / 2**20:,.0f} MB'


def print_tables(args, runs, load_rows):
    print(f'\nanalysts labeling at once ({args.n} commands each, `labels -a`, '
          f'ZEO server: {args.zeo_server})')
    print('RelStorage TIME: a database with deadlock_timeout = TIME (PostgreSQL\'s default: 1s)')
    print(f'{"database":<16} {"analysts":>8} {"commits/s":>10} {"median ms":>10} '
          f'{"conflicts":>10} {"failed":>7} {"lost":>5}')
    for run in runs:
        print(f'{run["kind"]:<16} {run["clients"]:>8} {run["rate"]:>10,.0f} '
              f'{run["median_ms"]:>10.1f} {run["conflicts"]:>10,} {run["failed"]:>7,} '
              f'{run["lost"]:>5,}')
        if run['first_failure']:
            print(f'    first failure: {run["first_failure"]}')
        for problem in run['problems'][:3]:
            print(f'    {problem}')
    if load_rows:
        print(f'\nloading {args.flows:,} flows ({"; ".join(LOAD_LINES).format(path="FILE")})')
        print(f'{"database":<11} {"seconds":>8} {"stf peak":>9} {"server":>9} {"stored":>9}')
        for kind, elapsed, peak, server_memory, size in load_rows:
            print(f'{kind:<11} {elapsed:>8.2f} {megabytes(peak):>9} '
                  f'{megabytes(server_memory):>9} {megabytes(size):>9}')
        print('server: the ZEO server\'s peak RSS; PostgreSQL\'s processes\' PSS after the '
              'load. stored: the FileStorage file, or the growth of the PostgreSQL database')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-n', type=int, default=250, help='commands per analyst (default 250)')
    parser.add_argument('--clients', default='1,4,8',
                        help='analyst counts, comma separated (default 1,4,8)')
    parser.add_argument('--flows', type=int, default=1_000_000,
                        help='flows of the load (default 1,000,000)')
    parser.add_argument('--zeo-server', choices=('stf', 'thread'), default='stf',
                        help='stf.py --serve (default) or ZEO.server() in this process')
    parser.add_argument('--deadlock-timeouts', default='1s,100ms',
                        help="PostgreSQL's deadlock_timeout of each RelStorage run, comma "
                             "separated (default 1s,100ms; 1s is PostgreSQL's default)")
    parser.add_argument('--skip-load', action='store_true', help='no (b)')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
    args = parser.parse_args(argv)
    counts = [int(count) for count in args.clients.split(',')]

    folder = Path(tempfile.mkdtemp(prefix='stf-bench-rs-'))
    os.environ['STF_HOME'] = str(folder / 'home')
    server = None
    began = time.perf_counter()
    try:
        server = start_postgres()
        print(f'PostgreSQL      127.0.0.1:{server.port}, '
              + ', '.join(server.settings().splitlines()))
        print(f'cores           {os.cpu_count()}', flush=True)
        runs = []
        timeouts = [timeout.strip() for timeout in args.deadlock_timeouts.split(',')]
        for clients in counts:
            kinds = [('ZEO', None)] + [('RelStorage', timeout) for timeout in timeouts]
            for kind, timeout in kinds:
                runs.append(concurrent(kind, clients, args, server, folder,
                                       None if timeout == '1s' else timeout))
                print(f'{runs[-1]["kind"]:<16} {clients} analysts: '
                      f'{runs[-1]["rate"]:,.0f} commits/s', flush=True)
        load_rows = [] if args.skip_load else loads(args, server, folder)
        print_tables(args, runs, load_rows)
        print(f'this process:   peak {megabytes(peak_of_self())}; '
              f'total run {time.perf_counter() - began:.0f} s')
        bad = any(run['failed'] or run['lost'] for run in runs)
        return 1 if bad else 0
    except RuntimeError as error:
        print(f'FAILED: {error}', file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
        if args.keep:
            print(f'temporary folder kept: {folder}')
        else:
            shutil.rmtree(folder, ignore_errors=True)


def peak_of_self():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == '__main__':
    sys.exit(main())
