"""A real PostgreSQL server for the tests of stf on RelStorage.

Started once per test process (each pytest-xdist worker has its own) on a
temporary data directory and a loopback port, as its own user: `postgres`
when the tests run as root (PostgreSQL refuses to run as root), else the
user running the tests; stopped at the end. Each test gets a database of
its own on it (`relstorage` fixture). The tests skip, saying why, when the
server's programs or RelStorage are not installed (`make postgres`).
"""
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest

from tests.conftest import free_port

ROLE = 'stf'
_databases = count()


def server_programs():
    """The folder of initdb and pg_ctl (the newest PostgreSQL installed), or None."""
    found = sorted(Path('/usr/lib/postgresql').glob('*/bin/pg_ctl'),
                   key=lambda path: int(path.parent.parent.name))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which('pg_ctl')
    return Path(pg_ctl).parent if pg_ctl else None


def as_server_user():
    """The command prefix that runs a program as the server's user."""
    if os.geteuid() != 0:
        return []
    return ['runuser', '-u', 'postgres', '--']


@dataclass
class PostgresServer:
    """A running server: programs (folder), folder (its data and socket),
    port. dsn(name): a libpq DSN of database name as the role ROLE."""
    programs: Path
    folder: Path
    port: int
    options: str = ''  # more of postgres's -c settings

    @property
    def data(self):
        return self.folder / 'data'

    def run(self, program, *args, check=True, input=None):
        path = program if program == 'sh' else str(self.programs / program)
        return subprocess.run([*as_server_user(), path, *args], input=input,
                              capture_output=True, text=True, check=check, timeout=60)

    def start(self):
        options = (f'-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 '
                   '-c fsync=off -c synchronous_commit=off -c full_page_writes=off '
                   + self.options)
        self.run('pg_ctl', '-D', str(self.data), '-o', options, '-l',
                 str(self.folder / 'server.log'), '-w', '-t', '60', 'start')

    def stop(self, mode='fast'):
        self.run('pg_ctl', '-D', str(self.data), '-m', mode, '-w', 'stop', check=False)

    def restart(self):
        self.stop()
        self.start()

    def dsn(self, name):
        return f"dbname='{name}' user='{ROLE}' host='127.0.0.1' port='{self.port}'"

    def create_database(self):
        """A new empty database (its name)."""
        name = f'stf_test_{os.getpid()}_{next(_databases)}'
        self.run('createdb', '-h', '127.0.0.1', '-p', str(self.port), '-U', ROLE, name)
        return name


def start_server(hba=None, certificate=None):
    """A new server: every role trusted, or the lines of hba as pg_hba.conf;
    TLS on with certificate ((certificate file, key file)) when given."""
    programs = server_programs()
    if programs is None:
        pytest.skip('PostgreSQL is not installed: `make postgres` installs it')
    pytest.importorskip('relstorage', reason='RelStorage is not installed: `make postgres`')
    folder = Path(tempfile.mkdtemp(prefix='stf-pg-'))
    server = PostgresServer(programs, folder, free_port())
    if certificate is not None:
        for source, name in zip(certificate, ('server.crt', 'server.key')):
            shutil.copy(source, folder / name)
            (folder / name).chmod(0o600)  # PostgreSQL refuses a key others may read
        server.options = (f"-c ssl=on -c ssl_cert_file={folder / 'server.crt'} "
                          f"-c ssl_key_file={folder / 'server.key'}")
    if os.geteuid() == 0:
        for path in (folder, *folder.iterdir()):
            shutil.chown(path, 'postgres')
    server.run('initdb', '-D', str(server.data), '-A', 'trust', '-U', ROLE, '-E', 'UTF8',
               '--no-sync')
    if hba is not None:
        server.run('sh', '-c', f'cat > {server.data / "pg_hba.conf"}', input=''.join(
            f'{line}\n' for line in hba))
    server.start()
    return server


@pytest.fixture(scope='session')
def postgres():
    """The test process's PostgreSQL server (started on first use)."""
    server = start_server()
    yield server
    server.stop('immediate')
    shutil.rmtree(server.folder, ignore_errors=True)


def relstorage_conf(path, dsn, create_schema=True):
    """A ZConfig file at path naming a RelStorage on dsn."""
    path.write_text('%import relstorage\n<zodb>\n  <relstorage>\n'
                    f"    create-schema {'true' if create_schema else 'false'}\n"
                    f'    <postgresql>\n      dsn {dsn}\n    </postgresql>\n'
                    '  </relstorage>\n</zodb>\n')
    return path


@pytest.fixture
def relstorage(postgres, tmp_path):
    """(ZConfig file, DSN) of a new database of its own on the test server."""
    dsn = postgres.dsn(postgres.create_database())
    return relstorage_conf(tmp_path / 'relstorage.conf', dsn), dsn


def wait_until(condition, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
