"""Start-up: arguments, logging, the database, then console or batch."""
import argparse
import sys

from stf.console import config as config_module
from stf.core.errors import UserError
from stf.db.errors import ClientDisconnected


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog='stf.py', description='stf: a research console for network-security analysts. '
        'Reads commands from a terminal, or one per line from a pipe (batch mode).')
    parser.add_argument('--db', metavar='PATH',
                        help='use the FileStorage at PATH instead of the configured database')
    parser.add_argument('--conf', metavar='FILE', help='configuration file '
                        '(default: $STF_CONF, else confs/stf.conf)')
    parser.add_argument('-c', '--command', action='append', metavar='LINE',
                        help='run this command and exit (may be repeated)')
    parser.add_argument('--zeo', metavar='HOST:PORT',
                        help='use the database of the ZEO server at HOST:PORT (or a unix socket)')
    parser.add_argument('--relstorage', metavar='DSN',
                        help="use RelStorage on the PostgreSQL database of DSN (e.g. 'dbname=stf "
                             "host=db.example.org sslmode=verify-full'), history-preserving; "
                             'confs/relstorage.conf shows the other settings')
    parser.add_argument('--create-tables', action='store_true',
                        help="create stf's tables in a new RelStorage database (--relstorage "
                             'or the configured one)')
    parser.add_argument('--serve', nargs='?', const='127.0.0.1:8100', metavar='HOST:PORT',
                        help="serve the configured database (or --db PATH) to other analysts "
                             'with ZEO, on loopback port 8100 unless told otherwise')
    tls = parser.add_argument_group(
        'TLS with client certificates for --zeo and --serve (see docs/zeo-tls.md)')
    tls.add_argument('--tls-cert', metavar='PEM', help="this side's certificate")
    tls.add_argument('--tls-key', metavar='PEM', help='the private key of --tls-cert')
    tls.add_argument('--tls-ca', metavar='PEM',
                     help='the CA certificate that signed the server and client certificates')
    parser.add_argument('--stop-on-error', action='store_true',
                        help='batch mode: stop at the first command that fails')
    parser.add_argument('--dataset', type=int, metavar='ID',
                        help='start with this dataset selected (a terminal starts with the '
                             'one that was current when it last ran on this database, a '
                             'batch run with none)')
    return parser.parse_args(argv)


# Options that cannot go together, and what to do instead.
EXCLUSIVE_OPTIONS = [
    (('db', 'zeo'), '--db PATH and --zeo HOST:PORT both name the database; give one'),
    (('db', 'relstorage'), '--db PATH and --relstorage DSN both name the database; give one'),
    (('zeo', 'relstorage'), '--zeo HOST:PORT and --relstorage DSN both name the database; '
                            'give one'),
    (('serve', 'relstorage'), '--serve serves a file; analysts share a RelStorage database '
                              'by each starting stf with --relstorage DSN'),
    (('db', 'create_tables'), '--create-tables is for a RelStorage database; a --db file '
                              'needs none'),
    (('zeo', 'create_tables'), '--create-tables is for a RelStorage database; the ZEO server '
                               'makes its own'),
    (('serve', 'zeo'), '--serve runs a server for a file (the configured one or --db PATH); '
                       'connect to a server with --zeo in another stf'),
    (('serve', 'command'), '--serve only serves; run commands in another stf with --zeo '
                           'HOST:PORT'),
    (('serve', 'stop_on_error'), '--serve only serves; --stop-on-error is for batch runs'),
    (('serve', 'dataset'), '--serve only serves; --dataset is for the console and batch runs'),
]


# Options whose empty value (an unset variable in a script) would open
# another database than the one meant: refused.
NOT_EMPTY = [
    ('conf', '--conf needs the path of a configuration file (confs/stf.conf is the default)'),
    ('db', '--db needs the path of a database file'),
    ('zeo', '--zeo needs the HOST:PORT of a ZEO server'),
    ('relstorage', "--relstorage needs a PostgreSQL DSN, e.g. 'dbname=stf user=analyst "
                   "host=db.example.org sslmode=verify-full'"),
]


def check_combinations(args):
    for name, message in NOT_EMPTY:
        value = getattr(args, name)
        if value is not None and not value.strip():
            raise UserError(message)
    for names, message in EXCLUSIVE_OPTIONS:
        if all(given(getattr(args, name)) for name in names):
            raise UserError(message)


def given(value):
    """An option given on the command line (--dataset 0 too)."""
    return value is not None and value is not False


def open_database(config, args, terminal=False):
    """The database the options name; a terminal is asked whether to create
    the missing tables of a RelStorage database (batch runs are told how)."""
    from stf.db.postgres import TablesMissing
    try:
        return _open_database(config, args)
    except TablesMissing as missing:
        if not (terminal and ask_yes_no(missing.question)):
            raise
    args.create_tables = True
    return _open_database(config, args)


def ask_yes_no(question):
    """A y/N question before the console starts (its own asker)."""
    from prompt_toolkit import PromptSession
    from stf.console.repl import asker
    try:
        answer = asker(PromptSession())(f'{question} [y/N]', '')
    except KeyboardInterrupt:
        return False
    return answer.strip().lower() in ('y', 'yes')


def _open_database(config, args):
    from stf.db import storages
    from stf.db.database import Database
    if args.relstorage:
        return Database(storages.open_relstorage(args.relstorage, args.create_tables),
                        opened_from='--relstorage')
    if args.zeo:
        return Database(storages.open_zeo(args.zeo, tls=tls_files(args)),
                        opened_from=f'--zeo {args.zeo}')
    tls_files(args)
    if args.db:
        return Database(storages.open_file_storage(args.db), opened_from=f'--db {args.db}')
    plain_file = storages.shared_file(config.zodb_conf, config_module.ROOT)
    if plain_file:
        # The configured local file is shared by every stf started on it.
        from stf.db.localshare import SharedFile
        shared = SharedFile(*plain_file)
        return Database(shared.db, shared=shared, opened_from=str(config.zodb_conf))
    return Database(storages.open_config(config.zodb_conf, config_module.ROOT,
                                         args.create_tables),
                    opened_from=str(config.zodb_conf))


def banner(app):
    import stf
    from stf.db.errors import ServerAway
    kind, location = app.database.describe()
    contents = ('The server is away: commands that need the database say so until it is '
                'back (the console reconnects). ')
    if app.structures_ready:
        try:
            contents = f'{app.database.read(lambda: database_contents(app))}. '
        except ServerAway:
            pass
    return (f'stf {stf.__version__}, a research console for network-security analysts\n'
            f'database: {kind} {location}\n'
            f"{contents}Type 'help' for the commands.")


def database_contents(app):
    datasets = app.datasets.values()
    files = sum(len(dataset.files) for dataset in datasets)
    return (f'{counted(len(datasets), "dataset")}, {counted(files, "file")}, '
            f'{counted(len(app.notes), "note")}')


def went_away(where):
    """The one line for a database server that went away as stf started."""
    return (f'the database server {where} went away while stf was starting; no command was '
            'run; start stf again once the server is back')


def serve(config, args):
    from stf.db import server
    prepared = server.prepare(args.db or configured_path(config), args.serve,
                              tls=tls_files(args))
    # A server reads the classes its plugins keep in the database (resolving
    # conflicts) only when it loaded them, as the consoles did.
    for line in plugin_warnings(load_plugins(config)):
        print(f'stf: warning: {line}', file=sys.stderr, flush=True)
    print(f'stf: {prepared.announcement}', flush=True)
    if prepared.warning:
        print(f'stf: warning: {prepared.warning}', file=sys.stderr, flush=True)
    try:
        prepared.run()
    except KeyboardInterrupt:
        pass
    return 0


def load_plugins(config):
    from stf.commands import build_registry
    from stf.plugins import loader
    return loader.load(build_registry(), config_module.stf_home(), config.plugins_folder)


def plugin_warnings(records):
    return [record.warning() for record in records if not record.loaded]


def tls_files(args):
    """(certificate, key, CA) from --tls-cert, --tls-key and --tls-ca, or None."""
    files = (args.tls_cert, args.tls_key, args.tls_ca)
    if not any(files):
        return None
    if not (args.zeo or args.serve):
        raise UserError('--tls-cert, --tls-key and --tls-ca go with --zeo HOST:PORT or '
                        '--serve; a local database file needs no TLS')
    if not all(files):
        missing = ', '.join(option for option, value in
                            zip(('--tls-cert', '--tls-key', '--tls-ca'), files) if not value)
        raise UserError(f'TLS needs --tls-cert, --tls-key and --tls-ca together; {missing} '
                        'missing (see docs/zeo-tls.md)')
    return files


def configured_path(config):
    """The FileStorage path of the configured database, to serve."""
    from stf.db import storages
    path = storages.served_file(config.zodb_conf, config_module.ROOT)
    if path is None:
        raise UserError(f'{config.zodb_conf} describes no FileStorage to serve; '
                        'give one with --db PATH')
    return path


def counted(number, noun):
    return f'{number:,} {noun}' + ('' if number == 1 else 's')


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        check_combinations(args)
        config = config_module.load(args.conf)
        if args.serve:
            return serve(config, args)
        database = open_database(config, args, terminal=is_terminal(args))
    except UserError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except ClientDisconnected:
        # The server went away between answering and giving its database.
        where = args.zeo or f'of {config.zodb_conf}'
        print(f'error: {went_away(where)}', file=sys.stderr)
        return 1
    from stf.console.app import App
    try:
        try:
            app = App(config, database)
        except UserError as error:  # a root that names a class stf does not store
            print(f'error: {error}', file=sys.stderr)
            return 2
        return run(app, args)
    finally:
        database.close()


def is_terminal(args):
    """True for the console (a terminal, no -c commands); else a batch run."""
    return not args.command and sys.stdin.isatty() and sys.stdout.isatty()


def run(app, args):
    from stf.console import remembered
    from stf.console.batch import run_batch
    from stf.console.render import Renderer
    console = is_terminal(args)
    if not console and not app.structures_ready:
        # A script's commands all need the database (or come after one that
        # does): one line rather than one failure per command.
        print(f'error: {went_away(app.database.server_location())}', file=sys.stderr)
        return 1
    try:
        said = remembered.start(app, args.dataset, console)
    except UserError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    warnings = [f'warning: {line}' for line in plugin_warnings(app.plugins)]
    if console:
        said = [*warnings, *said]
    else:
        for line in warnings:
            print(line, file=sys.stderr)
    if args.command:
        renderer = Renderer(sys.stdout, sys.stderr, terminal=False)
        return run_batch(app, args.command, renderer, args.stop_on_error)
    if console:
        from stf.console.repl import run_console
        return run_console(app, '\n'.join([banner(app), *said]))
    renderer = Renderer(sys.stdout, sys.stderr, terminal=False)
    return run_batch(app, sys.stdin, renderer, args.stop_on_error)
