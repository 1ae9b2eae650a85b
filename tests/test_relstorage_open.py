"""Opening stf's database in PostgreSQL (RelStorage): --relstorage DSN, a
configured <relstorage>, and each problem at start-up as one line, on a
real server (tests/pgserver.py)."""
import os
import subprocess
import sys

import pytest

from stf.console.main import check_combinations, parse_arguments
from stf.core.errors import UserError
from stf.db import storages
from tests.conftest import ROOT, free_port
from tests.pgserver import ROLE, postgres, relstorage, relstorage_conf  # noqa: F401


def stf(*args, python=()):
    """A batch stf: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, *python, str(ROOT / 'stf.py'), *args],
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def sql(server, database, statement):
    """psql's unaligned answer to statement, run as the tables' owner."""
    return server.run('psql', '-h', '127.0.0.1', '-p', str(server.port), '-U', ROLE, '-XAtq',
                      '-d', database, '-c', statement).stdout.strip()


def new_database(server):
    name = server.create_database()
    return name, server.dsn(name)


def with_tables(server):
    name, dsn = new_database(server)
    storages.open_relstorage(dsn, create_tables=True).close()
    return name, dsn


def refusal(dsn):
    """The one line stf says when it cannot open RelStorage on dsn."""
    with pytest.raises(UserError) as raised:
        storages.open_relstorage(dsn).close()
    return str(raised.value)


def test_tables_are_created_when_asked_then_database_i_says_where(postgres):  # noqa: F811
    name, dsn = new_database(postgres)
    assert stf('--relstorage', dsn, '-c', 'database -i') == (
        2, '', f'error: database {name} on 127.0.0.1:{postgres.port} has no stf tables yet; '
               f"create them with stf.py --relstorage '{dsn}' --create-tables\n")
    assert sql(postgres, name, "SELECT to_regclass('object_state') IS NULL") == 't'
    status, out, err = stf('--relstorage', dsn, '--create-tables', '-c', 'database -i')
    assert (status, err) == (0, '')
    objects = int(sql(postgres, name, 'SELECT count(*) FROM current_object'))
    assert objects > 0  # the root and stf's structures
    lines = out.splitlines()
    assert lines[:3] == ['database', '  storage     : RelStorage',
                         f'  location    : PostgreSQL {name}@127.0.0.1:{postgres.port} as stf']
    assert f'  objects     : {objects:,}' in lines
    assert '  history     : preserving (undo and history)' in lines
    assert '  TLS         : no (sslmode=verify-full in the DSN asks for it)' in lines
    assert ('  deadlocks   : ended after 1s (deadlock_timeout); 100ms suits analysts who write '
            'at once (README, "A team on PostgreSQL")') in lines
    sql(postgres, name, f"ALTER DATABASE {name} SET deadlock_timeout = '100ms'")
    status, out, err = stf('--relstorage', dsn, '-c', 'database -i')
    assert '  deadlocks   : ended after 100ms (deadlock_timeout)' in out.splitlines()


def test_a_malformed_dsn_is_one_line(postgres):  # noqa: F811
    assert refusal('dbname=stf port') == (
        'the PostgreSQL DSN is malformed (missing "=" after "port" in connection info '
        "string); write key=value pairs, e.g. 'dbname=stf user=analyst host=db.example.org "
        "sslmode=verify-full'")


def test_a_server_that_is_down_is_one_line(postgres):  # noqa: F811
    port = free_port()
    assert refusal(f'dbname=stf user=stf host=127.0.0.1 port={port}') == (
        f'no PostgreSQL server answers at 127.0.0.1:{port}; start it, or fix host= and port= '
        'in the DSN')


def test_a_database_or_role_that_does_not_exist_is_one_line(postgres):  # noqa: F811
    server = f'host=127.0.0.1 port={postgres.port}'
    assert refusal(f'dbname=nowhere user=stf {server}') == (
        f'PostgreSQL at 127.0.0.1:{postgres.port} has no database nowhere; fix dbname= in the '
        'DSN, or create it (createdb -O stf nowhere)')
    assert refusal(f'dbname=postgres user=nobody {server}') == (
        f'PostgreSQL at 127.0.0.1:{postgres.port} has no role nobody; fix user= in the DSN, '
        'or create the role (createuser nobody)')


def test_a_role_without_rights_is_told_the_grant(postgres):  # noqa: F811
    name, dsn = with_tables(postgres)
    role = f'analyst_{os.getpid()}'
    sql(postgres, name, f'CREATE ROLE {role} LOGIN')
    analyst = dsn.replace(f"user='{ROLE}'", f"user='{role}'")
    refused = (f"role {role} may not read/write stf's tables in database {name}; their owner "
               'runs GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO '
               f'{role}; GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}')
    assert refusal(analyst) == refused
    grants = refused.split('owner runs ')[1]
    sql(postgres, name, grants)
    sql(postgres, name, f'REVOKE INSERT ON object_state FROM {role}')
    assert refusal(analyst) == refused
    sql(postgres, name, grants)  # the line it gives is enough: the analyst writes
    status, out, err = stf('--relstorage', analyst, '-c', 'notes -c --text reviewed', '-c',
                           'history --json')
    assert (status, err) == (0, '') and '"command": "notes -c --text reviewed"' in out


def test_a_role_that_may_not_create_the_tables_is_told_how(postgres):  # noqa: F811
    name, dsn = new_database(postgres)
    role = f'reader_{os.getpid()}'
    sql(postgres, name, f'CREATE ROLE {role} LOGIN')
    sql(postgres, name, f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}')
    analyst = dsn.replace(f"user='{ROLE}'", f"user='{role}'")
    told = (f"role {role} may not create stf's tables in database {name} on 127.0.0.1:"
            f"{postgres.port}; create them once as the database's owner (its user= in the DSN "
            f'with --create-tables), or the owner runs GRANT CREATE ON SCHEMA public TO {role}')
    with pytest.raises(UserError) as raised:
        storages.open_relstorage(analyst, create_tables=True).close()
    assert str(raised.value) == told
    sql(postgres, name, told.split('owner runs ')[1])  # the line it gives is enough
    storages.open_relstorage(analyst, create_tables=True).close()
    assert sql(postgres, name, "SELECT to_regclass('object_state') IS NOT NULL") == 't'


def test_the_shipped_configuration_opens_with_its_dsn_changed(postgres, tmp_path):  # noqa: F811
    """confs/relstorage.conf as a team copies it: only the dsn line edited."""
    name, dsn = with_tables(postgres)
    shipped = (ROOT / 'confs' / 'relstorage.conf').read_text()
    (line,) = [line for line in shipped.splitlines() if line.strip().startswith('dsn ')]
    conf = tmp_path / 'relstorage.conf'
    conf.write_text(shipped.replace(line, f'      dsn {dsn}'))
    settings = tmp_path / 'stf.conf'
    settings.write_text(f'[stf]\nzodb_conf = {conf}\n')
    status, out, err = stf('--conf', str(settings), '-c', 'notes -c --text shipped', '-c',
                           'database -i')
    assert (status, err) == (0, '')
    assert f'  location    : PostgreSQL {name}@127.0.0.1:{postgres.port} as stf' in out.splitlines()
    assert '  history     : preserving (undo and history)' in out.splitlines()


def test_a_configured_relstorage_without_tables(postgres, tmp_path):  # noqa: F811
    name, dsn = new_database(postgres)
    conf = relstorage_conf(tmp_path / 'relstorage.conf', dsn, create_schema=False)
    settings = tmp_path / 'stf.conf'
    settings.write_text(f'[stf]\nzodb_conf = {conf}\n')
    assert stf('--conf', str(settings), '-c', 'database -i') == (
        2, '', f'error: database {name} on 127.0.0.1:{postgres.port} has no stf tables yet; '
               'create them with stf.py --create-tables (and the options you gave), or '
               f'create-schema true in {conf}\n')
    status, out, err = stf('--conf', str(settings), '--create-tables', '-c', 'database -i')
    assert (status, err) == (0, '')
    assert f'  location    : PostgreSQL {name}@127.0.0.1:{postgres.port} as stf' in out


def test_a_history_free_database_is_not_opened_history_preserving(postgres, tmp_path):  # noqa
    name, dsn = new_database(postgres)
    conf = relstorage_conf(tmp_path / 'free.conf', dsn)
    conf.write_text(conf.read_text().replace('create-schema', 'keep-history false\n    '
                                                               'create-schema'))
    settings = tmp_path / 'stf.conf'
    settings.write_text(f'[stf]\nzodb_conf = {conf}\n')
    status, out, err = stf('--conf', str(settings), '-c', 'database -i')
    assert (status, err) == (0, '')
    assert '  history     : free (no undo, no history)' in out.splitlines()
    assert refusal(dsn) == (
        f'database {name} on 127.0.0.1:{postgres.port} holds a history-free stf database; '
        'open it through a ZConfig file with keep-history false (confs/relstorage.conf)')


def test_without_relstorage_installed_make_postgres_is_named():
    # both hidden: without `make postgres` neither is there, with it both are
    hide = ['-c', "import sys, runpy; sys.modules['relstorage'] = None; "
                  "sys.modules['psycopg2'] = None; "
                  "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"]
    done = subprocess.run([sys.executable, *hide, str(ROOT / 'stf.py'), '--relstorage',
                           'dbname=stf', '-c', 'database -i'],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (
        2, '', 'error: RelStorage is not installed (psycopg2 missing); `make postgres` '
               'installs it\n')


def test_zeo_hooks_are_not_checked_for_relstorage(relstorage, monkeypatch):  # noqa: F811
    from stf.db import storages, zeohooks

    def refuse():
        raise AssertionError('the ZEO hooks were checked')
    monkeypatch.setattr(zeohooks, 'check_classes', refuse)
    conf, _ = relstorage
    db = storages.open_config(conf, ROOT)
    try:
        assert type(db.storage).__name__ == 'RelStorage'
        assert not zeohooks.is_client(db.storage)
    finally:
        db.close()


@pytest.mark.parametrize('options, line', [
    (['--db', 'x.db', '--relstorage', 'dbname=stf'],
     '--db PATH and --relstorage DSN both name the database; give one'),
    (['--zeo', '127.0.0.1:1', '--create-tables'],
     '--create-tables is for a RelStorage database; the ZEO server makes its own'),
    # an unset variable in a script must not open the configured database
    (['--relstorage', ''], "--relstorage needs a PostgreSQL DSN, e.g. 'dbname=stf "
                           "user=analyst host=db.example.org sslmode=verify-full'"),
    (['--relstorage', ' ', '-c', 'database -i'], "--relstorage needs a PostgreSQL DSN, e.g. "
     "'dbname=stf user=analyst host=db.example.org sslmode=verify-full'"),
    (['--db', ''], '--db needs the path of a database file'),
    (['--zeo', ''], '--zeo needs the HOST:PORT of a ZEO server'),
    (['--conf', ''], '--conf needs the path of a configuration file (confs/stf.conf is the '
                     'default)'),
])
def test_relstorage_goes_with_no_other_database_option(options, line):
    with pytest.raises(UserError) as raised:
        check_combinations(parse_arguments(options))
    assert str(raised.value) == line


def test_a_terminal_is_asked_to_create_the_tables(postgres, tmp_path):  # noqa: F811
    pexpect = pytest.importorskip('pexpect')
    name, dsn = new_database(postgres)
    env = dict(os.environ, TERM='xterm')
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--relstorage', dsn], env=env,
                          encoding='utf-8', timeout=30, dimensions=(40, 160))
    child.expect_exact(f'database {name} on 127.0.0.1:{postgres.port} has no stf tables yet; '
                       'create them now? [y/N]')
    child.send('y\r')
    child.expect_exact(f'database: RelStorage PostgreSQL {name}@127.0.0.1:{postgres.port} '
                       'as stf')
    child.expect('stf >')
    child.send('exit\r')
    child.expect(pexpect.EOF)
    assert sql(postgres, name, "SELECT to_regclass('object_state') IS NOT NULL") == 't'


def test_pg_hba_refusals_of_older_servers_read_the_same():
    """PostgreSQL 13 and older write "SSL on"/"SSL off" where 14 and later
    write "SSL encryption"/"no encryption" (libpq passes the server's text)."""
    from stf.db.postgres import Place, one_line
    place = Place('stf', 'db', '5432', 'analyst')
    entry = 'FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "analyst", database "stf", '
    over_tls = ('PostgreSQL at db:5432 does not let role analyst connect to stf from this '
                'machine; check dbname= and user= in the DSN, or its administrator adds a '
                'pg_hba.conf line for it')
    assert one_line(Exception(entry + 'SSL on\n' + entry + 'SSL off'), place) == over_tls
    assert one_line(Exception(entry + 'SSL encryption'), place) == over_tls
    assert one_line(Exception(entry + 'SSL off'), place).startswith(
        'PostgreSQL at db:5432 does not let role analyst connect to stf without TLS')
