"""Opening the database: a FileStorage file, the database a ZConfig file
describes (a FileStorage, a ZEO client, a RelStorage), a ZEO server's
address, or a PostgreSQL DSN (RelStorage).

A ZEO client gets stf's hooks (stf.db.zeohooks) and checks: its TLS files are
checked and its server probed before connecting, so that a refused
certificate or a server that is not there is one clear line.
"""
import errno
import os
import random
import time
from pathlib import Path

import zc.lockfile
import ZODB.FileStorage
from ZODB.FileStorage.FileStorage import TempFormatter
from ZODB.POSException import ConflictError

from stf.core.errors import UserError
from stf.db import postgres, zconf, zeohooks
from stf.db.classes import GuardedDB, RefusedClass
from stf.db.errors import ClientDisconnected
from stf.db.holders import held_message, lock_holder

# Analysts starting at once on a new database all create its root.
ROOT_RETRIES = 10

# Objects a connection keeps in memory (ZODB's default is 400): labels,
# notes and model buckets read by one command stay for the next.
CACHE_OBJECTS = 20000


def database_of(storage, cache_size=None):
    """A ZODB.DB on storage that reads only the classes stf stores
    (stf.db.classes). Analysts starting at once on a new database all
    create its root: the losers of that race try again."""
    cache_size = cache_size or CACHE_OBJECTS
    try:
        for attempt in range(ROOT_RETRIES):
            try:
                return GuardedDB(storage, cache_size=cache_size)
            except ConflictError:
                time.sleep(random.uniform(0, 0.05))
        return GuardedDB(storage, cache_size=cache_size)
    except RefusedClass:  # the root names a class stf does not store
        storage.close()
        raise


# Writes refused for want of room: the disk is full, the analyst's quota is
# used up, or the file reached the size limit of the process (ulimit -f).
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def no_room(error, where):
    """The one line for an OSError that left the database (where: its path,
    or 'the database of the server ...') without room to grow; None for any
    other error."""
    number = error_number(error)
    if number not in NO_ROOM:
        return None
    if number == errno.EFBIG:
        return (f'{where} cannot grow: it reached the largest file size stf may write '
                '(ulimit -f); nothing was changed; raise the limit and try again')
    full = ('is full' if number == errno.ENOSPC else
            'has no room left in your quota')
    return f'the disk holding {where} {full}; nothing was changed; free some space and try again'


def error_number(error):
    """The errno of an OSError, here or on a ZEO server (which reports it
    to the client as ServerException('builtins.OSError', (errno, text)))."""
    if isinstance(error, OSError):
        return error.errno
    try:
        from ZEO.Exceptions import ServerException
    except ImportError:  # without ZEO only local files open
        return None
    if isinstance(error, ServerException) and len(error.args) == 2:
        name, arguments = error.args
        if name == 'builtins.OSError' and arguments and isinstance(arguments[0], int):
            return arguments[0]
    return None


class FileStorage(ZODB.FileStorage.FileStorage):
    """ZODB's FileStorage, usable again after a write that found no room.

    FileStorage writes through buffered files: a write the disk refused stays
    in the buffer, and every later seek, abort or close tries it again and
    fails too (tracebacks at abort and at exit, and bytes written past the
    end of the database once room comes back). Here such a buffer is thrown
    away and the database file cut back to its last transaction."""

    def tpc_vote(self, transaction):
        try:
            return super().tpc_vote(transaction)
        except OSError as error:
            if error.errno in NO_ROOM:
                self._drop_unwritten()
                self._file.truncate(self._pos)  # what the failed vote wrote
            raise

    def _clear_temp(self):
        try:
            super()._clear_temp()
        except OSError as error:  # a store that found no room left its data in the buffer
            if error.errno not in NO_ROOM:
                raise
            self._drop_unwritten()
            super()._clear_temp()

    def _drop_unwritten(self):
        """Open the database and its temporary file afresh; what their
        buffers held goes to /dev/null as they close."""
        for old in (self._file, self._tfile):
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, old.fileno())
            finally:
                os.close(null)
            old.close()
        self._file = open(self._file_name, 'r+b')
        self._tfile = open(self._file_name + '.tmp', 'w+b')
        self._tfmt = TempFormatter(self._tfile)


def open_file_storage(path):
    """Open (creating if needed) the FileStorage at path."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise UserError(f'{path} is a folder; give the path of a database file, '
                        f'e.g. {path / "stf.db"}')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = FileStorage(str(path))
    except PermissionError as error:
        raise UserError(f'cannot open database {path}: permission denied '
                        f'({error.filename}); choose another path with --db') from None
    except zc.lockfile.LockError:
        raise UserError(held_message(path, lock_holder(path))) from None
    except OSError as error:
        if no_room(error, path):
            raise UserError(no_room(error, path)) from None
        raise
    return database_of(storage)


def read_config(conf_path, root_dir):
    """The sections of the ZConfig file at conf_path ($ROOT is root_dir)."""
    conf_path = Path(conf_path)
    try:
        text = conf_path.read_text(encoding='utf-8-sig')  # a byte order mark is no text
    except OSError as error:
        raise UserError(f'cannot read database configuration {conf_path}: '
                        f'{error.strerror}; fix zodb_conf in stf.conf') from None
    except UnicodeDecodeError as error:
        raise UserError(f'database configuration {conf_path} is not UTF-8 text (byte '
                        f'{error.start}); fix zodb_conf in stf.conf') from None
    return text, zconf.read(text, root_dir, conf_path)


def shared_file(conf_path, root_dir):
    """(path, cache size) of the plain FileStorage the ZConfig file describes,
    which local consoles share, or None (a ZEO client, another storage, a
    FileStorage with options)."""
    _, top = read_config(conf_path, root_dir)
    path = zconf.shared_file(top)
    return (Path(path).expanduser(), zconf.cache_size(top)) if path else None


def served_file(conf_path, root_dir):
    """The path of the FileStorage of the ZConfig file's database, or None."""
    _, top = read_config(conf_path, root_dir)
    path = zconf.served_file(top)
    return Path(path).expanduser() if path else None


# How an analyst has stf create the tables of a new RelStorage database.
CREATE_TABLES_OPTION = '--create-tables'


def open_relstorage(dsn, create_tables=False):
    """A history-preserving RelStorage on the PostgreSQL database of dsn
    (its tables created only when asked)."""
    shown = 'DSN' if 'password' in dsn else f"'{dsn}'"  # a password is never shown
    how = f'stf.py --relstorage {shown} {CREATE_TABLES_OPTION}'
    return database_of(postgres.open_storage(dsn, keep_history=True,
                                             create_tables=create_tables, how_to_create=how))


def check_relstorage(top, conf_path, create_tables):
    """A configured RelStorage on PostgreSQL checked before ZODB opens it:
    the Place of its database, or None for no RelStorage."""
    if not zconf.has_relstorage(top):
        return None
    postgres.require_relstorage()
    settings = zconf.relstorage_settings(top)
    if settings is None:
        return None
    how = (f'stf.py {CREATE_TABLES_OPTION} (and the options you gave), or create-schema '
           f'true in {conf_path}')
    return postgres.check(settings.dsn, settings.keep_history,
                          create_tables or settings.create_schema, how)


def open_config(conf_path, root_dir, create_tables=False):
    """Open the database a ZConfig file describes ($ROOT: stf's folder, so
    that the shipped configuration works from any working directory).
    create_tables: a RelStorage creates its tables if they are missing."""
    conf_path = Path(conf_path)
    text, top = read_config(conf_path, root_dir)
    place = check_relstorage(top, conf_path, create_tables)
    client = zconf.client_settings(top)
    if client is not None:
        zeohooks.check_classes()
    tls = client and client_tls(client, conf_path)
    server = client and single_server(client)
    if server:
        from stf.db import zeotls
        refused = zeotls.refusal(*server, tls, conf_path)
        if refused:
            raise UserError(refused)
    config = load_config(text, top, root_dir, conf_path, create_tables)
    # Clients are found in what ZODB reads: also through %include, which the
    # first reading skips, and inside other storages.
    shares = zconf.opens_a_client(config)
    if shares:
        zeohooks.check_classes()
    db = _open_configured(config, conf_path, server, tls, place)
    if shares:
        _harden(db, conf_path, zconf.wait_timeout(config))
    return db


def load_config(text, top, root_dir, conf_path, create_tables):
    """The configuration read from text (top: its sections), the folders of
    its storages made; a RelStorage creates its tables when create_tables."""
    make_storage_folders(top)
    config = zconf.load(text, root_dir, conf_path)
    if create_tables:
        zconf.create_relstorage_tables(config)
    return config


def cannot_open(error, conf_path, place=None):
    """The one line for an error that opening conf_path's database met
    (place: the PostgreSQL database checked before, if any)."""
    if place is not None:
        return postgres.as_user_error(error, place)
    text = ' '.join(str(error).split())
    return UserError(f'cannot open the database of {conf_path}: {type(error).__name__}: {text}')


def _harden(db, conf_path, wait_timeout):
    """stf's hooks on the configured ZEO client, which must be the database's
    own storage (one inside another cannot be hooked: it is refused)."""
    if not zeohooks.is_client(db.storage):
        db.close()
        raise UserError(f'{conf_path}: a ZEO client inside another storage cannot be shared '
                        'safely by stf; put the <clientstorage> directly in <zodb>')
    try:
        zeohooks.install(db.storage, wait_timeout)
    except zeohooks.HooksMissing:
        db.close()
        raise


def _open_configured(config, conf_path, server, tls, place=None):
    try:
        return _databases_from_config(config.database, conf_path)
    except UserError:  # already one line (a refused class, a class-factory line)
        raise
    except zc.lockfile.LockError:
        raise UserError(f'the database in {conf_path} is open in another program: an stf '
                        "(close it), or a server ('stf.py --serve' or runzeo: connect to it "
                        'with --zeo and the address it listens on); or use --db '
                        'PATH') from None
    except ClientDisconnected as error:
        if not server:
            raise UserError(f'the ZEO server of {conf_path} is not reachable ({error}); '
                            'start it, or fix the server lines') from None
        from stf.db import zeotls
        raise UserError(zeotls.unreachable(*server, error, tls, conf_path)) from None
    except Exception as error:
        raise cannot_open(error, conf_path, place) from None


def _databases_from_config(factories, conf_path):
    """ZODB.config.databaseFromConfig: every <zodb> section opened (in one
    multi-database when there are several), the first returned; each one as
    stf's GuardedDB."""
    opened = {}
    return [_database_of_section(factory, opened, conf_path) for factory in factories][0]


# The settings of a <zodb> section, by ZODB.DB's names (ZODB.config's own reading).
DB_SETTINGS = {'pool_size': 'pool_size', 'cache_size': 'cache_size',
               'cache_size_bytes': 'cache_size_bytes',
               'historical_pool_size': 'historical_pool_size',
               'historical_cache_size': 'historical_cache_size',
               'historical_cache_size_bytes': 'historical_cache_size_bytes',
               'historical_timeout': 'historical_timeout', 'pool_timeout': 'pool_timeout',
               'allow_implicit_cross_references': 'xrefs',
               'large_record_size': 'large_record_size'}


def _database_of_section(factory, databases, conf_path):
    """ZODB.config.ZODBDatabase.open, making a GuardedDB."""
    section = factory.config
    if getattr(section, 'class_factory', None) is not None:
        raise UserError(f'{conf_path}: stf decides which classes a database may name; remove '
                        'the class-factory line')
    storage = section.storage.open()
    options = {name: getattr(section, setting) for setting, name in DB_SETTINGS.items()
               if getattr(section, setting, None) is not None}
    try:
        return GuardedDB(storage, database_name=section.database_name or factory.name or '',
                         databases=databases, **options)
    except BaseException:
        storage.close()
        raise


def make_storage_folders(top):
    """Create the folder of each configured FileStorage path (first run):
    ZConfig refuses a path whose folder does not exist."""
    for path in zconf.filestorage_paths(top):
        try:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported properly when the database is opened


def single_server(client):
    """(text, address) of a client file's one server, or None when it names
    several (ZEO tries each) or one in a form only ZConfig reads ('8100')."""
    servers = client.get('server', '').split()
    if len(servers) != 1:
        return None
    try:
        return servers[0], zeo_address(servers[0])
    except UserError:
        return None


def client_tls(client, conf_path):
    """The checked (certificate, key, CA) of a client file's <ssl> section, or None."""
    from stf.db import zeotls
    ssl_settings = client.get('ssl')
    if ssl_settings is None:
        return None
    options = zeotls.config_options(conf_path)
    files = [ssl_settings.get(name) for name in ('certificate', 'key', 'authenticate')]
    for (role, _), path in zip(options.items(), files):
        if not path:
            raise UserError(f'{conf_path}: the <ssl> section gives no {role}; add '
                            f'{options[role].split(" in ")[0]} (see docs/zeo-tls.md)')
    for (role, _), path in zip(options.items(), files):
        _check_config_path(path, options[role])
    tls = zeotls.TLSFiles(*files)
    zeotls.check_files(*tls, options=options)
    return tls


def _check_config_path(path, setting):
    """ZConfig takes paths as written: no '~', and relative to the folder stf
    was started from."""
    if path.startswith('~'):
        raise UserError(f"{setting} starts with '~', which is not expanded there; write the "
                        f'full path ({os.path.expanduser(path)})')
    if not os.path.isabs(path) and not os.path.exists(path):
        raise UserError(f'{setting}: {path} is not in {os.getcwd()}, the folder relative paths '
                        'start from; write the full path')


def zeo_address(text):
    """'HOST:PORT' -> (host, port); anything with a '/' is a unix socket path."""
    if '/' in text:
        return text
    host, _, port = text.rpartition(':')
    if not port.isdigit() or not host or not 0 < int(port) < 65536:
        raise UserError(f"'{text}' is not a ZEO server address; write HOST:PORT "
                        '(e.g. 127.0.0.1:8100) or the path of a unix socket')
    return host.strip('[]'), int(port)


def open_zeo(text, wait_timeout=10, tls=None):
    """A client of the ZEO server at text; sees others' commits at every command.

    tls: (certificate, key, CA) PEM files to connect with TLS (docs/zeo-tls.md);
    they are checked before connecting.
    """
    import ZEO.ClientStorage
    from stf.db import zeotls
    zeohooks.check_classes()
    address = zeo_address(text)
    options = {}
    if tls:
        tls = zeotls.TLSFiles(*tls)
        zeotls.tcp_only(address)
        options = dict(ssl=zeotls.client_context(*tls), ssl_server_hostname=address[0])
    refused = zeotls.refusal(text, address, tls)
    if refused:
        raise UserError(refused)
    try:
        storage = ZEO.ClientStorage.ClientStorage(address, wait_timeout=wait_timeout,
                                                  server_sync=True, **options)
    except Exception as error:
        # A refused TLS handshake shows only as a timeout: the message says why.
        raise UserError(zeotls.unreachable(text, address, error, tls)) from None
    zeohooks.install(storage, wait_timeout)
    try:
        return database_of(storage)
    except ClientDisconnected:
        storage.close()  # its server went away as it started: nothing left reconnecting
        raise
