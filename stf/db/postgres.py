"""RelStorage on PostgreSQL: the database checked before RelStorage opens it,
and what `database -i` says of it.

RelStorage's own errors at start-up are long tracebacks, or misleading (an
empty database is "history-free"); here one connection of our own checks the
DSN, the server, the role, the database, stf's tables and the role's rights
on them first, and each problem is one line saying what to do. A password is
never shown: places are written `dbname@host:port as role`.
"""
import os
import re
from dataclasses import dataclass

from stf.core.errors import UserError

# Seconds to wait for the server to answer before saying it does not.
CONNECT_TIMEOUT = 10

# The table every RelStorage schema has, and the one only a history-preserving
# schema has.
STATE_TABLE = 'object_state'
HISTORY_TABLE = 'transaction'

# What a role needs on stf's tables (and on the object-id sequence).
TABLE_RIGHTS = ('SELECT', 'INSERT', 'UPDATE', 'DELETE')

EXAMPLE_DSN = "'dbname=stf user=analyst host=db.example.org sslmode=verify-full'"


class TablesMissing(UserError):
    """The database has no stf tables yet: they can be created (question:
    the y/N question a terminal asks)."""

    def __init__(self, place, how):
        self.question = f'{place.database()} has no stf tables yet; create them now?'
        super().__init__(f'{place.database()} has no stf tables yet; create them with {how}')


@dataclass
class Place:
    """Where a DSN leads, with libpq's defaults for what it leaves out (ca:
    the CA file that checks the server's certificate)."""
    dbname: str
    host: str
    port: str
    role: str
    ca: str = '~/.postgresql/root.crt'

    def server(self):
        return f'PostgreSQL at {self.host}:{self.port}'

    def database(self):
        return f'database {self.dbname} on {self.host}:{self.port}'

    def __str__(self):
        return f'PostgreSQL {self.dbname}@{self.host}:{self.port} as {self.role}'


def place_of(dsn):
    """The Place of a DSN; one line for a DSN libpq cannot read."""
    from psycopg2.extensions import parse_dsn
    try:
        params = parse_dsn(dsn)
    except Exception as error:  # psycopg2.ProgrammingError: libpq's reason
        reason = ' '.join(str(error).split()).removeprefix('invalid dsn: ')
        raise UserError(f'the PostgreSQL DSN is malformed ({reason}); write key=value '
                        f'pairs, e.g. {EXAMPLE_DSN}') from None
    role = params.get('user') or os.environ.get('PGUSER') or _login()
    return Place(dbname=params.get('dbname') or os.environ.get('PGDATABASE') or role,
                 host=params.get('host') or os.environ.get('PGHOST') or 'localhost',
                 port=params.get('port') or os.environ.get('PGPORT') or '5432', role=role,
                 ca=params.get('sslrootcert') or os.environ.get('PGSSLROOTCERT')
                 or Place.ca)


def _login():
    import getpass
    return getpass.getuser()


# A password file that is not there (libpq warns of /dev/null: not a file).
NO_FILE = '/nonexistent/stf-no-password-file'
# libpq's words when the server asked for a password none gave.
NO_PASSWORD = r'no password supplied|fe_sendauth'

# psycopg2's errors -> the one line to say: (SQLSTATE or None, pattern of its
# message or None, line). Connection errors come with no SQLSTATE, only
# libpq's message. {server}, {database}, {role}, {dbname}, {host}: the Place;
# {name}: what the pattern found.
PG_ERRORS = [
    (None, r'role "(?P<name>[^"]*)" does not exist',
     "{server} has no role {name}; fix user= in the DSN, or create the role "
     "(createuser {name})"),
    (None, r'database "(?P<name>[^"]*)" does not exist',
     '{server} has no database {name}; fix dbname= in the DSN, or create it '
     '(createdb -O {role} {name})'),
    (None, r'password authentication failed for user "(?P<name>[^"]*)"',
     '{server} refused the password of role {name}; fix it in ~/.pgpass (or password= '
     'in the DSN)'),
    (None, NO_PASSWORD,
     '{server} asks role {role} for a password; put it in ~/.pgpass (mode 600)'),
    # Tried over TLS too (sslmode=prefer tries both): the line is missing.
    # (PostgreSQL 13 and older say "SSL on".)
    (None, r'no pg_hba\.conf entry.*SSL (encryption|on)',
     '{server} does not let role {role} connect to {dbname} from this machine; check '
     'dbname= and user= in the DSN, or its administrator adds a pg_hba.conf line for it'),
    (None, r'no pg_hba\.conf entry',
     '{server} does not let role {role} connect to {dbname} without TLS from this machine; '
     'put sslmode=verify-full in the DSN (and check dbname= and user=), or its '
     'administrator adds a pg_hba.conf line for it'),
    (None, r'could not translate host name',
     'the host {host} of the DSN is not known; fix host= in the DSN'),
    (None, r'does not match host name',
     "the TLS certificate of {server} is not for {host}; write in host= the name its "
     'certificate gives'),
    (None, r'root certificate file "(?P<name>[^"]*)" does not exist',
     "checking the server's certificate needs the CA certificate that signed it, and {name} "
     'does not exist: give its path with sslrootcert= in the DSN'),
    # OpenSSL's words for another CA's certificate, and for an expired one.
    (None, r'certificate verify failed',
     "the TLS certificate of {server} does not check with the CA in {ca}: signed by another "
     'CA (give its file with sslrootcert= in the DSN), or out of date (its administrator '
     'renews it)'),
    (None, r'server does not support SSL',
     '{server} does not offer TLS, which the DSN requires (sslmode=); its administrator '
     'turns ssl on'),
    (None, r'Connection refused|No such file or directory|could not connect',
     'no PostgreSQL server answers at {host}:{port}; start it, or fix host= and port= '
     'in the DSN'),
    (None, r'timeout expired',
     f'{{server}} did not answer within {CONNECT_TIMEOUT} s; check host= and port= in '
     'the DSN, and that a firewall lets you through'),
    ('42501', None,
     "role {role} may not read/write stf's tables in database {dbname}; their owner runs "
     "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; "
     "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    (None, r'Schema mismatch: a history-preserving adapter',
     '{database} holds a history-free stf database; open it through a ZConfig file '
     'with keep-history false (confs/relstorage.conf)'),
    (None, r'Schema mismatch: a history-free adapter',
     '{database} holds a history-preserving stf database; set keep-history true in '
     'its ZConfig file'),
]


def one_line(error, place):
    """The line for a psycopg2 or RelStorage error, or None when none says it."""
    message = str(error)
    code = getattr(error, 'pgcode', None)
    for pgcode, pattern, line in PG_ERRORS:
        found = re.search(pattern, message) if pattern else None
        if (pgcode and pgcode == code) or found:
            names = found.groupdict() if found else {}
            return line.format(server=place.server(), database=place.database(),
                               dbname=place.dbname, host=place.host, port=place.port,
                               role=place.role, ca=place.ca, **names)
    return None


def as_user_error(error, place):
    """UserError with the line for error, else with psycopg2's own first line."""
    line = one_line(error, place)
    if line is None:
        text = ' '.join(str(error).split()) or type(error).__name__
        line = f'cannot open {place}: {text}'
    return UserError(line)


def check(dsn, keep_history, create_tables, how_to_create):
    """Connect once and check the database RelStorage is to open; its Place.

    Raises UserError (one line): malformed DSN, no server, no role, no
    database, tables missing (TablesMissing, unless create_tables), tables
    of the other history mode, rights missing."""
    place = place_of(dsn)
    open_file = open_password_file(dsn)
    import psycopg2
    from psycopg2.extensions import make_dsn
    try:
        # libpq would ignore that file, writing a warning of its own: this
        # connection does not read it, and is told why when a password lacks.
        connection = psycopg2.connect(
            dsn if open_file is None else make_dsn(dsn, passfile=NO_FILE),
            connect_timeout=CONNECT_TIMEOUT)
    except psycopg2.Error as error:
        if open_file is not None and re.search(NO_PASSWORD, str(error)):
            raise UserError(f'{open_file} may be read by others, so PostgreSQL\'s library '
                            f'ignores the passwords in it: chmod 600 {open_file}') from None
        raise as_user_error(error, place) from None
    try:
        with connection.cursor() as cursor:
            _check_tables(cursor, place, keep_history, create_tables, how_to_create)
    except psycopg2.Error as error:
        raise as_user_error(error, place) from None
    finally:
        connection.close()
    return place


def open_password_file(dsn):
    """The password file libpq would read for dsn when others may read it
    (libpq then ignores it), else None."""
    from psycopg2.extensions import parse_dsn
    params = parse_dsn(dsn)
    if 'password' in params or os.environ.get('PGPASSWORD'):
        return None
    path = os.path.expanduser(params.get('passfile') or os.environ.get('PGPASSFILE')
                              or '~/.pgpass')
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return path if mode & 0o077 else None


def _check_tables(cursor, place, keep_history, create_tables, how_to_create):
    cursor.execute('SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL',
                   (STATE_TABLE, f'"{HISTORY_TABLE}"'))
    has_state, has_history = cursor.fetchone()
    if not has_state:
        if not create_tables:
            raise TablesMissing(place, how_to_create)
        cursor.execute("SELECT current_schema(), "
                       "has_schema_privilege(coalesce(current_schema(), 'public'), 'CREATE')")
        schema, may_create = cursor.fetchone()
        if not (schema and may_create):
            raise UserError(f"role {place.role} may not create stf's tables in {place.database()}"
                            '; create them once as the database\'s owner (its user= in the DSN '
                            'with --create-tables), or the owner runs GRANT CREATE ON SCHEMA '
                            f"{schema or 'public'} TO {place.role}")
        return
    if has_history != keep_history:
        mode = 'history-preserving' if keep_history else 'history-free'
        raise UserError(one_line(UserError(f'Schema mismatch: a {mode} adapter'), place))
    if not _has_rights(cursor):
        raise UserError(one_line(_Refused(), place))


class _Refused(Exception):
    pgcode = '42501'  # insufficient_privilege


def _has_rights(cursor):
    """True when the role may read and write every table and sequence of
    stf's schema (the one object_state is in)."""
    rights = ' AND '.join(f"has_table_privilege(c.oid, '{right}')" for right in TABLE_RIGHTS)
    cursor.execute(
        'SELECT bool_and(CASE WHEN c.relkind = %s '
        "THEN has_sequence_privilege(c.oid, 'USAGE') AND has_sequence_privilege(c.oid, 'UPDATE') "
        f'ELSE {rights} END) '
        'FROM pg_class c WHERE c.relnamespace = '
        '(SELECT relnamespace FROM pg_class WHERE oid = to_regclass(%s)) '
        "AND c.relkind IN ('r', 'S')", ('S', STATE_TABLE))
    return bool(cursor.fetchone()[0])


def open_storage(dsn, keep_history=True, create_tables=False, how_to_create=''):
    """A RelStorage on the PostgreSQL database of dsn, checked first."""
    require_relstorage()
    place = check(dsn, keep_history, create_tables, how_to_create)
    from relstorage.adapters.postgresql import PostgreSQLAdapter
    from relstorage.options import Options
    from relstorage.storage import RelStorage
    options = Options(keep_history=keep_history, create_schema=create_tables)
    try:
        return RelStorage(PostgreSQLAdapter(dsn=dsn, options=options), name=str(place),
                          options=options)
    except Exception as error:
        raise as_user_error(error, place) from None


def require_relstorage():
    # Every connection of this stf (RelStorage's, the commit watcher's) gives
    # up on a server that does not answer, rather than hang on it.
    os.environ.setdefault('PGCONNECT_TIMEOUT', str(CONNECT_TIMEOUT))
    try:
        import psycopg2  # noqa: F401
        import relstorage  # noqa: F401
    except ImportError as error:
        raise UserError(f'RelStorage is not installed ({error.name} missing); '
                        '`make postgres` installs it') from None


# -- a RelStorage's insides, read here only: a RelStorage upgrade that
# renames them breaks this one room

def is_relstorage(storage):
    return type(storage).__name__ == 'RelStorage' and hasattr(storage, '_adapter')


def dsn_of(storage):
    """The DSN a RelStorage connects with, or None (another database kind)."""
    return getattr(storage._adapter, '_dsn', None)


def keeps_history(storage):
    return bool(storage._adapter.keep_history)


def query(storage, sql):
    """The rows of sql, on a connection of its own to the RelStorage's database."""
    def rows(_connection, cursor):
        cursor.execute(sql)
        return cursor.fetchall()
    return storage._adapter.connmanager.open_and_call(rows)


def own_backends(db, others=()):
    """The server process ids of this stf's connections to the database of
    db (a ZODB.DB on a RelStorage): those of the storage, of each ZODB
    connection's instance of it and of the instances in others."""
    instances = [db.storage, *others]
    instances += [connection._storage for connection in list(db.pool.all)]
    for pool in getattr(db.historical_pool, 'pools', {}).values():
        instances += [connection._storage for connection in list(pool.all)]
    connections = []
    for storage in instances:
        connections.append(getattr(storage._load_connection, 'connection', None))
        store_pool = storage._store_connection_pool
        connections += [getattr(store, 'connection', None)
                        for store in getattr(store_pool, '_connections', ())]
    return {connection.info.backend_pid for connection in connections
            if connection is not None and not connection.closed}


# -- what `database -i` and the toolbar say

def location(storage):
    """'PostgreSQL dbname@host:port as role' of a RelStorage (never a password)."""
    dsn = dsn_of(storage)
    if dsn is None:
        return type(storage._adapter).__name__
    try:
        return str(place_of(dsn))
    except UserError:
        return 'PostgreSQL'


def object_count(storage):
    """The exact number of objects (RelStorage's own count is PostgreSQL's
    estimate, 0 until the tables are analyzed)."""
    table = 'current_object' if keeps_history(storage) else 'object_state'
    return query(storage, f'SELECT count(*) FROM {table}')[0][0]


def revision_count(storage):
    """Stored revisions of objects: every one kept (history-preserving), or
    one for each object."""
    return query(storage, 'SELECT count(*) FROM object_state')[0][0]


# A team whose analysts write at once meets deadlocks between commits, each
# held until the server's deadlock check (deadlock_timeout) ends it.
TEAM_DEADLOCK_TIMEOUT = '100ms'


def details(storage):
    """(name, value) pairs of `database -i` for a RelStorage."""
    mode = ('preserving (undo and history)' if keeps_history(storage)
            else 'free (no undo, no history)')
    ((deadlock, tls, protocol),) = query(
        storage, "SELECT current_setting('deadlock_timeout'), ssl, version FROM pg_stat_ssl "
                 'WHERE pid = pg_backend_pid()')
    deadlocks = f'ended after {deadlock} (deadlock_timeout)'
    if deadlock != TEAM_DEADLOCK_TIMEOUT:
        deadlocks += (f'; {TEAM_DEADLOCK_TIMEOUT} suits analysts who write at once '
                      '(README, "A team on PostgreSQL")')
    return [('history', mode), ('TLS', tls_said(tls, protocol, dsn_of(storage))),
            ('deadlocks', deadlocks)]


def tls_said(in_use, protocol, dsn):
    """What `database -i` says of the connection's TLS."""
    from psycopg2.extensions import parse_dsn
    params = parse_dsn(dsn or '')
    if not in_use:
        host = params.get('host') or os.environ.get('PGHOST') or ''
        if not host or host.startswith('/'):
            return 'no (a local socket, which TLS does not apply to)'
        return 'no (sslmode=verify-full in the DSN asks for it)'
    mode = params.get('sslmode') or os.environ.get('PGSSLMODE') or 'prefer'
    ca = params.get('sslrootcert') or os.environ.get('PGSSLROOTCERT') or Place.ca
    # With a CA file to find, libpq checks as verify-ca does.
    checks = 'verify-ca' if mode == 'require' and os.path.exists(os.path.expanduser(ca)) else mode
    return f'{protocol}, {TLS_CHECKS.get(checks, TLS_CHECKS[None])} (sslmode={mode})'


# What libpq checks of the server's certificate, by sslmode.
TLS_CHECKS = {
    'verify-full': "the server's certificate checked",
    'verify-ca': "the server's certificate checked against the CA, not its name",
    None: "the server's certificate not checked",
}

