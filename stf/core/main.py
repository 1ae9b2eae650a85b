"""Start-up: arguments, logging, the database, then console or batch."""
import argparse
import sys

from stf.core import config as config_module
from stf.core.errors import UserError


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog='stf.py', description='stf: a research console for network-security analysts. '
        'Reads commands from a terminal, or one per line from a pipe (batch mode).')
    parser.add_argument('--db', metavar='PATH',
                        help='use the FileStorage at PATH instead of the configured database')
    parser.add_argument('--conf', metavar='FILE', help='configuration file '
                        '(default: confs/stf.conf)')
    parser.add_argument('-c', '--command', action='append', metavar='LINE',
                        help='run this command and exit (may be repeated)')
    parser.add_argument('--zeo', metavar='HOST:PORT',
                        help='use the database of the ZEO server at HOST:PORT (or a unix socket)')
    parser.add_argument('--serve', nargs='?', const='127.0.0.1:8100', metavar='HOST:PORT',
                        help="serve the configured database (or --db PATH) to other analysts "
                             'with ZEO, on loopback port 8100 unless told otherwise')
    parser.add_argument('--stop-on-error', action='store_true',
                        help='batch mode: stop at the first command that fails')
    return parser.parse_args(argv)


def open_database(config, args):
    from stf.core import database
    if args.zeo:
        return database.Database(database.open_zeo(args.zeo))
    if args.db:
        return database.Database(database.open_file_storage(args.db))
    return database.Database(database.open_config(config.zodb_conf, config_module.ROOT))


def banner(app):
    import stf
    kind, location = app.database.describe()
    datasets = app.datasets.values()
    files = sum(len(dataset.files) for dataset in datasets)
    return (f'stf {stf.__version__}, a research console for network-security analysts\n'
            f'database: {kind} {location}\n'
            f'{counted(len(datasets), "dataset")}, {counted(files, "file")}, '
            f'{counted(len(app.notes), "note")}. '
            "Type 'help' for the commands.")


def serve(config, args):
    from stf.core import database
    path = args.db or configured_path(config)
    try:
        database.serve(path, args.serve)
    except KeyboardInterrupt:
        pass
    return 0


def configured_path(config):
    """The FileStorage path of the configured database (for --serve)."""
    from stf.core import database
    text = config.zodb_conf.read_text()
    match = database.FILESTORAGE_PATH.search(text)
    if not match:
        raise UserError(f'{config.zodb_conf} describes no FileStorage to serve; '
                        'give one with --db PATH')
    return match.group(1).strip().replace('$ROOT', str(config_module.ROOT))


def counted(number, noun):
    return f'{number:,} {noun}' + ('' if number == 1 else 's')


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        config = config_module.load(args.conf)
        if args.serve:
            return serve(config, args)
        database = open_database(config, args)
    except UserError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    from stf.core.app import App
    try:
        app = App(config, database)
        return run(app, args)
    finally:
        database.close()


def run(app, args):
    from stf.core.batch import run_batch
    from stf.core.render import Renderer
    if args.command:
        renderer = Renderer(sys.stdout, sys.stderr, terminal=False)
        return run_batch(app, args.command, renderer, args.stop_on_error)
    if sys.stdin.isatty() and sys.stdout.isatty():
        from stf.core.console import run_console
        return run_console(app, banner(app))
    renderer = Renderer(sys.stdout, sys.stderr, terminal=False)
    return run_batch(app, sys.stdin, renderer, args.stop_on_error)
