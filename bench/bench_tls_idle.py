"""The memory of a ZEO server with TLS under connections that never finish
their handshake.

    python bench/bench_tls_idle.py [-n N] [--hello] [--server stf|zeo] [--keep]

Makes a CA and the server's and a client's certificates with openssl (as in
docs/zeo-tls.md) in a temporary folder, starts a server with TLS on loopback
for a fresh FileStorage there (--server stf: `stf.py --serve` with the --tls
options, the default; --server zeo: ZEO's own runzeo with an <ssl> section,
whose handshakes are not bounded), reads its resident memory (VmRSS in
/proc/PID/status) with no connection, then opens N TCP connections (default
3,000) that never send anything (--hello: that send a TLS client hello and
then nothing: each takes a handshake) and reads the server's memory every
0.1 s until HOLD_SECONDS after the last one opened; last, it counts the
connections the server has closed and checks that a client with a
certificate connects.

Reported: the RSS with no connection, the highest RSS read while the
connections were open and VmHWM (the kernel's high-water mark), the RSS at
the end, how long the client took to connect, and how many of the N
connections the server had closed. Target for stf's server: under 150 MB
with 3,000 idle connections (ZEO's own acceptor: about 1 GB). Exits 1 when
the target is missed or the client could not connect.
"""
import argparse
import os
import resource
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_MB = 150
# Read after the last connection is open: longer than stf's 10 s per
# handshake, so that its closing shows.
HOLD_SECONDS = 14
EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc']
SERVER_EXT = ('basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
              'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n')
CLIENT_EXT = ('basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
              'extendedKeyUsage=clientAuth\n')


def openssl(folder, *args):
    subprocess.run(['openssl', *args], cwd=folder, check=True, capture_output=True)


def make_certificates(folder):
    openssl(folder, 'req', '-x509', '-new', *EC, '-keyout', 'ca.key', '-out', 'ca.pem',
            '-days', '30', '-subj', '/CN=bench-ca', '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    for name, ext in (('server', SERVER_EXT), ('client', CLIENT_EXT)):
        (folder / f'{name}.ext').write_text(ext)
        openssl(folder, 'req', '-new', *EC, '-keyout', f'{name}.key', '-out', f'{name}.csr',
                '-subj', f'/CN={name}')
        openssl(folder, 'x509', '-req', '-in', f'{name}.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
                '-days', '30', '-extfile', f'{name}.ext', '-out', f'{name}.pem')


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_server(kind, folder, port):
    env = dict(os.environ, STF_HOME=str(folder / 'home'))
    if kind == 'stf':
        command = [sys.executable, str(ROOT / 'stf.py'), '--db', str(folder / 'bench.fs'),
                   '--serve', f'127.0.0.1:{port}', '--tls-cert', str(folder / 'server.pem'),
                   '--tls-key', str(folder / 'server.key'), '--tls-ca', str(folder / 'ca.pem')]
    else:
        conf = folder / 'zeo.conf'
        conf.write_text(f'<zeo>\n  address 127.0.0.1:{port}\n  <ssl>\n'
                        f'    certificate {folder}/server.pem\n    key {folder}/server.key\n'
                        f'    authenticate {folder}/ca.pem\n  </ssl>\n</zeo>\n'
                        f'<filestorage>\n  path {folder}/bench.fs\n</filestorage>\n')
        command = [sys.executable, '-m', 'ZEO.runzeo', '-C', str(conf)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                              stderr=open(folder / 'server.log', 'w'), env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return server
        except OSError:
            if server.poll() is not None:
                sys.exit(f'the server stopped: {(folder / "server.log").read_text()}')
            time.sleep(0.05)
    server.kill()
    sys.exit('the server did not listen within 30 s')


def memory_mb(pid):
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        name, _, value = line.partition(':')
        if name in ('VmRSS', 'VmHWM'):
            fields[name] = int(value.split()[0]) / 1024
    return fields['VmRSS'], fields['VmHWM']


def client_hello(folder):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(folder / 'ca.pem'))
    outgoing = ssl.MemoryBIO()
    hello = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname='127.0.0.1')
    try:
        hello.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def open_connections(port, count, first_bytes):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 100), hard))
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        if first_bytes:
            sock.sendall(first_bytes)
        sockets.append(sock)
    return sockets


def closed_by_server(sockets):
    """How many of the sockets the server has closed (what it sent read first)."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in sockets}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    return sum(at_end(by_fd[fd]) for fd, _ in poller.poll(0))


def at_end(sock):
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False
    except OSError:  # reset
        pass
    return True


class Sampler(threading.Thread):
    """Reads a process's RSS every 0.1 s: samples (seconds, MB)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.began = pid, [], time.monotonic()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.1):
            self.samples.append((time.monotonic() - self.began, memory_mb(self.pid)[0]))

    def near(self, second):
        return min(self.samples, key=lambda sample: abs(sample[0] - second))


def client_connects(folder, port):
    """Seconds a client with a certificate takes to connect and write, or None."""
    from stf.db import storages
    began = time.monotonic()
    tls = [str(folder / f'client.{end}') for end in ('pem', 'key')] + [str(folder / 'ca.pem')]
    try:
        db = storages.open_zeo(f'127.0.0.1:{port}', wait_timeout=30, tls=tls)
    except Exception as error:
        print(f'  the client did not connect: {error}')
        return None
    db.close()
    return time.monotonic() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-n', type=int, default=3000, help='connections (default 3,000)')
    parser.add_argument('--hello', action='store_true',
                        help='each connection sends a TLS client hello, then nothing')
    parser.add_argument('--server', choices=('stf', 'zeo'), default='stf')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
    args = parser.parse_args()
    if not shutil.which('openssl'):
        sys.exit('openssl is needed to make the certificates')
    folder = Path(tempfile.mkdtemp(prefix='bench-tls-idle-'))
    server = None
    try:
        make_certificates(folder)
        port = free_port()
        server = start_server(args.server, folder, port)
        time.sleep(1)
        before, _ = memory_mb(server.pid)
        first_bytes = client_hello(folder) if args.hello else b''
        sampler = Sampler(server.pid)
        sampler.start()
        sockets = open_connections(port, args.n, first_bytes)
        opened = time.monotonic() - sampler.began
        time.sleep(HOLD_SECONDS)
        sampler.stopped.set()
        closed = closed_by_server(sockets)
        waited = client_connects(folder, port)
        after, high = memory_mb(server.pid)
        peak = max(rss for _, rss in sampler.samples)
        kind = 'that send a TLS hello, then nothing' if args.hello else 'that send nothing'
        print(f'{args.server} server, {args.n:,} connections {kind} (opened in {opened:.1f} s)')
        print(f'  RSS with no connection      : {before:7.1f} MB')
        print(f'  RSS at most                 : {peak:7.1f} MB  (VmHWM {high:.1f} MB)')
        for second in (1, 5, 9, 12, opened + HOLD_SECONDS):
            near = sampler.near(second)
            print(f'  RSS {near[0]:4.1f} s after the first  : {near[1]:7.1f} MB')
        print(f'  RSS at the end              : {after:7.1f} MB')
        print(f'  closed by the server {HOLD_SECONDS} s after the last opened: '
              f'{closed:,} of {args.n:,}')
        if waited is not None:
            print(f'  then a client with a certificate connected in {waited:.2f} s')
        for sock in sockets:
            sock.close()
        met = high < TARGET_MB and waited is not None
        print(f'  target: peak under {TARGET_MB} MB and a client connects: '
              f'{"met" if met else "MISSED"}')
        return 0 if met else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.keep:
            print(f'kept {folder}')
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
