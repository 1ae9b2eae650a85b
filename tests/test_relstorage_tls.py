"""A team's PostgreSQL as the README sets it up: a role with a password
(scram-sha-256, from ~/.pgpass), connections over TLS only (hostssl), the
server's certificate checked (sslmode=verify-full). A real server with real
certificates made with openssl; each way a start-up fails is one line."""
import os
import subprocess
import sys

import pytest

from stf.core.errors import UserError
from stf.db import storages
from tests.conftest import ROOT
from tests.pgserver import ROLE, postgres, start_server  # noqa: F401 (fixture)
from tests.test_zeo_tls import make_ca, make_cert

PASSWORD = 'correct horse'
# A certificate for the name localhost only: 127.0.0.1 is not in it.
PG_SERVER_EXT = ('basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n')
HBA = ('local all all trust',
       f'host all {ROLE} 127.0.0.1/32 trust',  # the tests' own set-up
       'hostssl all analyst 127.0.0.1/32 scram-sha-256',
       'hostssl all analyst ::1/128 scram-sha-256')


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp('pg-tls')
    make_ca(folder, 'ca')
    make_ca(folder, 'other')
    make_cert(folder, 'ca', 'pgserver', PG_SERVER_EXT)
    return folder


@pytest.fixture(scope='module')
def secured(certs):
    """The server, with role analyst (a password) owning database team."""
    server = start_server(HBA, (certs / 'pgserver.pem', certs / 'pgserver.key'))
    server.run('psql', '-h', '127.0.0.1', '-p', str(server.port), '-U', ROLE, '-XAtq', '-d',
               'postgres', '-c', f"CREATE ROLE analyst LOGIN PASSWORD '{PASSWORD}'", '-c',
               'CREATE DATABASE team OWNER analyst')
    yield server
    server.stop('immediate')


@pytest.fixture
def pgpass(tmp_path, monkeypatch):
    """pgpass(password): ~/.pgpass gives it for every server (mode 600)."""
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('PGPASSWORD', raising=False)
    monkeypatch.delenv('PGPASSFILE', raising=False)

    def give(password):
        path = tmp_path / '.pgpass'
        path.write_text(f'*:*:*:analyst:{password}\n')
        path.chmod(0o600)
        return path
    return give


def dsn(server, certs, host='localhost', sslmode='verify-full', ca='ca'):
    return (f"dbname=team user=analyst host={host} port={server.port} sslmode={sslmode} "
            f"sslrootcert={certs / f'{ca}.pem'}")


def refusal(dsn):
    with pytest.raises(UserError) as raised:
        storages.open_relstorage(dsn, create_tables=True).close()
    return str(raised.value)


def test_over_tls_with_a_password_from_pgpass(secured, certs, pgpass, tmp_path):
    pgpass(PASSWORD)
    env = {**os.environ, 'STF_HOME': str(tmp_path / 'home')}
    done = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--relstorage',
                           dsn(secured, certs), '--create-tables', '-c', 'notes -c --text hello',
                           '-c', 'database -i'], capture_output=True, text=True, env=env,
                          timeout=120)
    assert (done.returncode, done.stderr) == (0, '')
    lines = done.stdout.splitlines()
    assert f'  location    : PostgreSQL team@localhost:{secured.port} as analyst' in lines
    assert '  TLS         : TLSv1.3, the server\'s certificate checked (sslmode=verify-full)' \
        in lines
    assert PASSWORD not in done.stdout


def test_a_wrong_password(secured, certs, pgpass):
    pgpass('wrong')
    assert refusal(dsn(secured, certs)) == (
        f'PostgreSQL at localhost:{secured.port} refused the password of role analyst; fix it '
        'in ~/.pgpass (or password= in the DSN)')


def test_no_password(secured, certs, pgpass):
    assert refusal(dsn(secured, certs)) == (
        f'PostgreSQL at localhost:{secured.port} asks role analyst for a password; put it in '
        '~/.pgpass (mode 600)')


def test_without_tls_the_dsn_is_to_ask_for_it(secured, certs, pgpass):
    pgpass(PASSWORD)
    assert refusal(dsn(secured, certs, sslmode='disable')) == (
        f'PostgreSQL at localhost:{secured.port} does not let role analyst connect to team '
        'without TLS from this machine; put sslmode=verify-full in the DSN (and check dbname= '
        "and user=), or its administrator adds a pg_hba.conf line for it")


def test_a_role_no_line_lets_in(secured, certs, pgpass):
    """Over TLS, as a role pg_hba.conf names nowhere: a typo in user=."""
    pgpass(PASSWORD)
    typo = dsn(secured, certs).replace('user=analyst', 'user=anlyst')
    line = (f'PostgreSQL at localhost:{secured.port} does not let role anlyst connect to team '
            'from this machine; check dbname= and user= in the DSN, or its administrator adds '
            'a pg_hba.conf line for it')
    assert refusal(typo) == line
    # sslmode=prefer tries with TLS, then without: the same line
    assert refusal(typo.replace('sslmode=verify-full', 'sslmode=prefer')) == line


def test_a_certificate_another_ca_signed(secured, certs, pgpass):
    pgpass(PASSWORD)
    assert refusal(dsn(secured, certs, ca='other')) == (
        f'the TLS certificate of PostgreSQL at localhost:{secured.port} does not check with the '
        f"CA in {certs / 'other.pem'}: signed by another CA (give its file with sslrootcert= in "
        'the DSN), or out of date (its administrator renews it)')


def test_a_certificate_for_another_name(secured, certs, pgpass):
    pgpass(PASSWORD)
    assert refusal(dsn(secured, certs, host='127.0.0.1')) == (
        f'the TLS certificate of PostgreSQL at 127.0.0.1:{secured.port} is not for 127.0.0.1; '
        'write in host= the name its certificate gives')


def test_verify_full_without_a_ca_file(secured, certs, pgpass, tmp_path):
    pgpass(PASSWORD)  # HOME has no ~/.postgresql/root.crt, libpq's default
    no_ca = (f'dbname=team user=analyst host=localhost port={secured.port} '
             'sslmode=verify-full')
    assert refusal(no_ca) == (
        "checking the server's certificate needs the CA certificate that signed it, and "
        f"{tmp_path / '.postgresql' / 'root.crt'} does not exist: give its path with "
        'sslrootcert= in the DSN')
    assert refusal(dsn(secured, certs, ca='nope', sslmode='verify-ca')) == (
        "checking the server's certificate needs the CA certificate that signed it, and "
        f"{certs / 'nope.pem'} does not exist: give its path with sslrootcert= in the DSN")


def test_a_password_file_others_may_read(secured, certs, pgpass, capfd):
    path = pgpass(PASSWORD)
    path.chmod(0o644)
    assert refusal(dsn(secured, certs)) == (
        f"{path} may be read by others, so PostgreSQL's library ignores the passwords in it: "
        f'chmod 600 {path}')
    assert capfd.readouterr().err == ''  # not libpq's warning besides


def test_an_open_password_file_named_in_the_dsn(secured, certs, pgpass, tmp_path):
    pgpass(PASSWORD)  # ~/.pgpass is fine, the one the DSN names is not
    named = tmp_path / 'team.pgpass'
    named.write_text(f'*:*:*:analyst:{PASSWORD}\n')
    named.chmod(0o640)
    assert refusal(f'{dsn(secured, certs)} passfile={named}') == (
        f"{named} may be read by others, so PostgreSQL's library ignores the passwords in it: "
        f'chmod 600 {named}')
    named.chmod(0o600)
    storages.open_relstorage(f'{dsn(secured, certs)} passfile={named}',
                             create_tables=True).close()


def test_an_open_password_file_is_no_matter_where_no_password_is_asked(postgres, pgpass):  # noqa: F811
    """A server that trusts the role asks for no password: the file's mode
    does not matter, the database opens."""
    pgpass('unused').chmod(0o644)
    name = postgres.create_database()
    storages.open_relstorage(f'dbname={name} user={ROLE} host=127.0.0.1 port={postgres.port}',
                             create_tables=True).close()


def tls_row(dsn):
    """What `database -i` says of TLS on the database of dsn."""
    from stf.db.postgres import details
    db = storages.open_relstorage(dsn, create_tables=True)
    try:
        return dict(details(db.storage))['TLS']
    finally:
        db.close()


def test_verify_ca_is_said_to_leave_the_name_unchecked(secured, certs, pgpass):
    pgpass(PASSWORD)
    assert tls_row(dsn(secured, certs, host='127.0.0.1', sslmode='verify-ca')) == (
        "TLSv1.3, the server's certificate checked against the CA, not its name "
        '(sslmode=verify-ca)')


def test_require_with_a_ca_file_checks_as_verify_ca(secured, certs, pgpass, tmp_path):
    """libpq checks the certificate under sslmode=require when it finds a CA
    file (~/.postgresql/root.crt): said so; without one, not checked."""
    pgpass(PASSWORD)
    plain = f'dbname=team user=analyst host=localhost port={secured.port} sslmode=require'
    assert tls_row(plain) == "TLSv1.3, the server's certificate not checked (sslmode=require)"
    (tmp_path / '.postgresql').mkdir()
    (tmp_path / '.postgresql' / 'root.crt').write_bytes((certs / 'ca.pem').read_bytes())
    assert tls_row(plain) == ("TLSv1.3, the server's certificate checked against the CA, not "
                              'its name (sslmode=require)')


def test_a_local_socket_is_said_to_need_no_tls(postgres):  # noqa: F811
    name = postgres.create_database()
    assert tls_row(f'dbname={name} user={ROLE} host={postgres.folder} '
                   f'port={postgres.port}') == 'no (a local socket, which TLS does not apply to)'


def test_a_server_without_tls(postgres):  # noqa: F811
    assert refusal(f'dbname=x user={ROLE} host=127.0.0.1 port={postgres.port} '
                   'sslmode=require') == (
        f'PostgreSQL at 127.0.0.1:{postgres.port} does not offer TLS, which the DSN requires '
        '(sslmode=); its administrator turns ssl on')
