"""Plugins: found in <stf home>/plugins/, the folder stf.conf names, installed
packages (entry points) and stf/plugins/shipped/; each imported alone (a
broken one fails in one line, the rest load); never replacing a built-in;
their commands in help and completion, run in a transaction, keeping data in
their own storage (docs/plugins.md, examples/plugins/tally.py)."""
import os
import pkgutil
import shutil
import subprocess
import sys

import pytest
import transaction

from tests.conftest import ROOT, error, ok
from tests.test_completion import completions

TEMPLATE = ROOT / 'examples' / 'plugins' / 'tally.py'
FLOWS = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes\n'
         '2020/01/01 10:00:00.0,1,tcp,1.1.1.1,1,->,2.2.2.2,80,C,0,0,1,90\n')  # 148 bytes


def start(tmp_path):
    """An App on tmp_path/db/stf.db, with the plugins of the test's stf home."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    return App(config.load(), database.Database(storages.open_file_storage(
        tmp_path / 'db' / 'stf.db')))


def install(stf_home, source, name=None):
    folder = stf_home / 'plugins'
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or source.name)
    shutil.copy(source, target)
    return target


def write_plugin(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def outside_rows(app):
    """plugins -l rows of the plugins not shipped with stf."""
    (table,) = ok(app, 'plugins -l')
    return [row for row in table.rows if row[2] != 'shipped']


def stored(path):
    """A fresh read of the FileStorage at path: (root as a dict, closer)."""
    from stf.db import storages
    db = storages.open_file_storage(path)
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    return connection.root(), db.close


@pytest.fixture
def tally(stf_home, tmp_path):
    """An App with the template plugin installed and dataset 0 'lab' (one
    flow file of 148 bytes)."""
    install(stf_home, TEMPLATE)
    app = start(tmp_path)
    flows = tmp_path / 'f.binetflow'
    flows.write_text(FLOWS)
    ok(app, f'datasets -c {flows} --name lab')
    yield app
    app.close()


def test_the_template_joins_help_and_completion(tally, stf_home):
    command = tally.registry.get('tally')
    assert command.name == 'tally'
    assert command.actions[0].apply.__module__ == 'stf_plugin_tally'
    commands, _ = ok(tally, 'help')
    assert commands.rows[-2] == ('tally', '', "count a dataset's files and bytes, and keep "
                                 'the count')
    assert '-c, --create' in ok(tally, 'help tally')[0].text
    assert completions(tally, 'tal') == {'tally'}
    assert completions(tally, 'tally -') == {'-h', '--help', '-l', '--list', '-c', '--create',
                                             '-i', '--id', '--sort', '--json', '--csv',
                                             '--tsv', '--output', '--force'}
    assert completions(tally, 'tally -c -i ') == {'0'}
    assert outside_rows(tally) == [
        ('tally', 'tally', f'file {stf_home}/plugins/tally.py', '1.0', 'loaded')]


def test_the_template_counts_in_a_transaction_and_keeps_it(tally, tmp_path):
    assert ok(tally, 'tally -c')[0].text == "dataset 0 'lab': 1 file, 0 missing, 148 bytes; " \
                                            'counted 1 time'
    (tmp_path / 'f.binetflow').unlink()
    assert ok(tally, 'tally -c -i 0')[0].text == ("dataset 0 'lab': 1 file, 1 missing, "
                                                  '0 bytes; counted 2 times')
    (table,) = ok(tally, 'tally -l')
    assert [row[:6] for row in table.rows] == [(0, 'lab', 1, 1, 0, 2)]
    # each count is a transaction of the database's history, with its command
    assert [item.command for item in tally.database.transactions(2)] == ['tally -c -i 0',
                                                                         'tally -c']
    tally.close()
    root, close = stored(tmp_path / 'db' / 'stf.db')
    try:
        kept = root['plugins']['tally'][0]
        assert (type(kept).__module__, type(kept).__name__) == ('stf_plugin_tally', 'Tally')
        assert (kept.dataset_id, kept.times, kept.files, kept.missing, kept.bytes) == (
            0, 2, 1, 1, 0)
    finally:
        close()


def test_the_template_says_what_is_wrong_in_one_line(tally):
    ok(tally, 'datasets -u')
    assert error(tally, 'tally -c') == ("no dataset is selected; select one with 'datasets -s "
                                        "ID' (list them with 'datasets -l')")
    assert error(tally, 'tally -c -i 7') == ("tally: there is no dataset 7; list them with "
                                             "'datasets -l'")
    assert 'plugins' not in tally.root  # nothing was counted: no storage was made
    assert ok(tally, 'tally -l')[0].rows == []


FAILING = '''
from stf.plugins import api


def keep_then_fail(app, args):
    api.storage(app, 'failing')['written'] = 1
    raise api.UserError('failing: refused after writing')


def keep_without_database(app, args):
    api.storage(app, 'failing')['written'] = 1


COMMANDS = [
    api.Command('failing', 'writes its storage, then fails',
                actions=(api.Action(('-c', '--create'), 'write, then fail',
                                    apply=keep_then_fail),)),
    api.Command('offline', 'runs without the database', run=keep_without_database,
                uses_database=False)]
'''


def test_a_command_that_fails_takes_its_storage_back(stf_home, tmp_path):
    write_plugin(stf_home / 'plugins', 'failing.py', FAILING)
    app = start(tmp_path)
    try:
        assert error(app, 'failing -c') == 'failing: refused after writing'
        assert error(app, 'offline') == ("the storage 'failing' is out of reach: this command "
                                         'runs without the database (uses_database=False)')
        assert 'plugins' not in app.root
    finally:
        app.close()
    root, close = stored(tmp_path / 'db' / 'stf.db')
    try:
        assert 'plugins' not in root
    finally:
        close()


def test_a_class_whose_plugin_is_not_loaded_is_refused_in_one_line(tally, stf_home, tmp_path,
                                                                    monkeypatch):
    from stf.db import classes
    ok(tally, 'tally -c')
    tree_oid = tally.root['plugins']['tally']._p_oid
    tally.close()
    # Another analyst without the tally plugin, whose own plugin reads its storage.
    (stf_home / 'plugins' / 'tally.py').unlink()
    write_plugin(stf_home / 'plugins', 'peek.py', PEEK)
    monkeypatch.delitem(classes.ALLOWED, 'stf_plugin_tally')
    app = start(tmp_path)
    try:
        assert app.registry.get('tally') is None
        assert error(app, 'peek -l') == (
            f'object 0x{int.from_bytes(tree_oid, "big"):04x} names the class '
            'stf_plugin_tally.Tally, which stf does not store; the database may have been '
            'tampered with; nothing was run')
    finally:
        app.close()


PEEK = '''
from stf.plugins import api


def peek(app, args):
    return [api.Table(['key', 'value'], [(key, repr(value)) for key, value in
                                          api.storage(app, 'tally').items()])]


COMMANDS = [api.Command('peek', "list the tally plugin's storage",
                        actions=(api.Action(('-l', '--list'), 'list', apply=peek),))]
'''


BROKEN = {
    'syntax.py': 'def counting(:\n',
    'missing.py': 'import no_such_module_of_stf\n',
    'silent.py': 'VERSION = "0.1"\n',
    'strings.py': 'COMMANDS = ["tally"]\n',
    'my-plugin.py': 'COMMANDS = []\n',
    'exits.py': 'import sys\nsys.exit(3)\n',
}


def test_broken_plugins_fail_alone_in_one_line(stf_home, tmp_path):
    for name, text in BROKEN.items():
        write_plugin(stf_home / 'plugins', name, text)
    install(stf_home, TEMPLATE)
    app = start(tmp_path)
    try:
        home = stf_home / 'plugins'
        assert [(name, commands, source, version, status) for name, commands, source,
                version, status in outside_rows(app)] == [
            ('exits', '-', f'file {home}/exits.py', '-', 'failed: SystemExit: 3'),
            ('missing', '-', f'file {home}/missing.py', '-',
             "failed: ModuleNotFoundError: No module named 'no_such_module_of_stf'"),
            ('my-plugin', '-', f'file {home}/my-plugin.py', '-',
             "failed: 'my-plugin.py' is not a Python module name (letters, digits and _); "
             'rename the file'),
            ('silent', '-', f'file {home}/silent.py', '0.1',
             'failed: it declares no COMMANDS (a list of api.Command)'),
            ('strings', '-', f'file {home}/strings.py', '-',
             "failed: COMMANDS holds 'tally', which is not an api.Command"),
            ('syntax', '-', f'file {home}/syntax.py', '-',
             "failed: SyntaxError: invalid syntax (syntax.py, line 1)"),
            ('tally', 'tally', f'file {home}/tally.py', '1.0', 'loaded')]
        assert app.registry.get('tally') is not None
        assert 'stf_plugin_syntax' not in sys.modules
        # the traceback of what each raised is in the log
        logged = (stf_home / 'stf.log').read_text()
        assert f'plugin syntax (file {home}/syntax.py) failed to load:\nTraceback' in logged
    finally:
        app.close()


def test_batch_runs_name_each_plugin_that_did_not_load_on_stderr(stf_home, tmp_path):
    write_plugin(stf_home / 'plugins', 'missing.py', BROKEN['missing.py'])
    install(stf_home, TEMPLATE)
    run = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db',
                          str(tmp_path / 'db' / 'stf.db'), '-c', 'tally -l --json'],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, STF_HOME=str(stf_home)))
    assert run.stderr.splitlines() == [
        f"warning: plugin 'missing' (file {stf_home}/plugins/missing.py) failed: "
        "ModuleNotFoundError: No module named 'no_such_module_of_stf'"]
    assert (run.returncode, run.stdout) == (0, '[]\n')


TAKING = '''
from stf.plugins import api

COMMANDS = [api.Command('mine', 'mine', run=lambda app, args: []),
            api.Command('{name}', 'takes a name', run=lambda app, args: [],
                        aliases={aliases})]
'''


def test_a_plugin_cannot_replace_a_built_in_or_an_earlier_plugin(stf_home, tmp_path):
    home = stf_home / 'plugins'
    write_plugin(home, 'a_takes_datasets.py', TAKING.format(name='datasets', aliases=()))
    write_plugin(home, 'b_takes_quit.py', TAKING.format(name='leave', aliases=('quit',)))
    write_plugin(home, 'c_twice.py', TAKING.format(name='mine', aliases=()))
    install(stf_home, TEMPLATE)
    install(stf_home, TEMPLATE, 'z_tally_again.py')
    app = start(tmp_path)
    try:
        assert [(row[0], row[1], row[4]) for row in outside_rows(app)] == [
            ('a_takes_datasets', 'mine, datasets',
             "refused: 'datasets' is already a built-in command; a plugin cannot replace it"),
            ('b_takes_quit', 'mine, leave',
             "refused: 'quit' is already a built-in command; a plugin cannot replace it"),
            ('c_twice', 'mine, mine', "refused: 'mine' is declared twice in its COMMANDS"),
            ('tally', 'tally', 'loaded'),
            ('z_tally_again', 'tally',
             "refused: 'tally' is already a command of plugin 'tally'; a plugin cannot "
             'replace it')]
        # a plugin loads whole or not at all: 'mine' of a refused one is not there
        assert app.registry.get('mine') is None
        assert app.registry.get('datasets').actions[0].apply.__module__ == 'stf.commands.datasets'
    finally:
        app.close()


def test_a_plugins_folder_that_is_not_there_is_said_in_one_line(stf_home, tmp_path, stf_conf):
    folder = tmp_path / 'no such folder'
    stf_conf.write_text(stf_conf.read_text() + f'plugins_folder = {folder}\n')
    app = start(tmp_path)
    try:
        assert outside_rows(app) == [
            ('no such folder', '-', f'folder {folder}', '-', 'failed: cannot read the folder: '
             'No such file or directory; fix plugins_folder in stf.conf')]
        assert error(app, 'plugins') == "plugins: say what to do, e.g. 'plugins -l'; see " \
                                        "'plugins -h'"
    finally:
        app.close()


def test_two_plugins_of_one_name_load_once(stf_home, tmp_path, stf_conf):
    folder = tmp_path / 'team-plugins'
    install(stf_home, TEMPLATE)
    shutil.copy(TEMPLATE, write_plugin(folder, 'tally.py', ''))
    stf_conf.write_text(stf_conf.read_text() + f'plugins_folder = {folder}\n')
    app = start(tmp_path)
    try:
        assert outside_rows(app)[1] == (
            'tally', '-', f'folder {folder}/tally.py', '-',
            f"refused: a plugin named 'tally' came earlier (file {stf_home}/plugins/tally.py)")
    finally:
        app.close()


def test_plugins_folder_of_stf_conf(stf_home, tmp_path, stf_conf):
    from stf.console import config
    assert config.load().plugins_folder is None  # empty by default
    folder = tmp_path / 'team plugins'
    shutil.copy(TEMPLATE, write_plugin(folder, 'tally.py', ''))
    stf_conf.write_text(stf_conf.read_text() + f'plugins_folder = {folder}\n')
    app = start(tmp_path)
    try:
        (table,) = ok(app, 'plugins -l')
        assert [row for row in table.rows if row[2] != 'shipped'] == [
            ('tally', 'tally', f'folder {folder}/tally.py', '1.0', 'loaded')]
        assert table.footer.endswith(f'loaded; .py files are read from {stf_home}/plugins and '
                                     f'{folder} as stf starts')
        assert ok(app, 'tally -l')[0].rows == []
    finally:
        app.close()


HELLO = '''
from stf.plugins import api


def hello(app, args):
    return [api.ok('hello from a package')]


COMMANDS = [api.Command('hello', 'says hello',
                        actions=(api.Action(('-l', '--list'), 'say it', apply=hello),))]


class Greetings:
    COMMANDS = [api.Command('greet', 'greets', run=lambda app, args: [api.ok('greetings')])]
    VERSION = '2.0-object'
'''


def test_an_installed_package_declares_plugins_with_entry_points(tmp_path, monkeypatch):
    site = tmp_path / 'site'
    info = site / 'stf_hello-2.0.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: stf-hello\nVersion: 2.0\n')
    (info / 'entry_points.txt').write_text(
        '[stf.plugins]\nhello = stf_hello_plugin\ngreet = stf_hello_plugin:Greetings\n'
        'absent = stf_hello_absent\n')
    (site / 'stf_hello_plugin.py').write_text(HELLO)
    monkeypatch.syspath_prepend(str(site))
    app = start(tmp_path)
    try:
        assert outside_rows(app) == [
            ('absent', '-', 'package stf-hello==2.0', '2.0',
             "failed: ModuleNotFoundError: No module named 'stf_hello_absent'"),
            ('greet', 'greet', 'package stf-hello==2.0', '2.0-object', 'loaded'),
            ('hello', 'hello', 'package stf-hello==2.0', '2.0', 'loaded')]
        assert ok(app, 'hello -l')[0].text == 'hello from a package'
        assert ok(app, 'greet')[0].text == 'greetings'
    finally:
        app.close()


def test_every_shipped_plugin_loads(app):
    import stf.plugins.shipped as package
    shipped = sorted(info.name for info in pkgutil.iter_modules(package.__path__))
    assert [(record.name, record.source, record.status) for record in app.plugins
            if record.source == 'shipped'] == [(name, 'shipped', 'loaded') for name in shipped]


def test_shipped_plugins_are_the_modules_of_the_shipped_package(tmp_path, monkeypatch):
    from stf.plugins import loader
    package = tmp_path / 'shipped_here'
    write_plugin(package, '__init__.py', '')
    write_plugin(package, 'hello.py', HELLO.replace("'hello'", "'shipped-hello'") +
                 "VERSION = '1.0'\n")
    write_plugin(package, '_private.py', 'raise RuntimeError("never imported")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(loader, 'SHIPPED_PACKAGE', 'shipped_here')
    app = start(tmp_path)
    try:
        assert [(record.name, record.commands, record.source, record.version, record.status)
                for record in app.plugins] == [
            ('hello', ['shipped-hello'], 'shipped', '1.0', 'loaded')]
        assert ok(app, 'shipped-hello -l')[0].text == 'hello from a package'
    finally:
        app.close()


def test_allow_takes_classes_of_a_module_top(tally):
    from stf.plugins import api

    class Inner(api.Persistent):
        pass
    with pytest.raises(TypeError, match='must be defined at the top of a module'):
        api.allow(Inner)
    with pytest.raises(TypeError, match='allow takes a class'):
        api.allow('Tally')


def test_a_terminal_shows_the_warnings_and_completes_the_plugin(stf_home, tmp_path):
    pexpect = pytest.importorskip('pexpect')
    write_plugin(stf_home / 'plugins', 'missing.py', BROKEN['missing.py'])
    install(stf_home, TEMPLATE)
    env = dict(os.environ, STF_HOME=str(stf_home), TERM='xterm', NO_COLOR='1')
    child = pexpect.spawn(sys.executable, [str(ROOT / 'stf.py'), '--db',
                                           str(tmp_path / 'db' / 'stf.db')],
                          env=env, encoding='utf-8', timeout=20, dimensions=(40, 200))
    try:
        child.expect(r"warning: plugin 'missing' \(file .*missing\.py\) failed: "
                     "ModuleNotFoundError: No module named 'no_such_module_of_stf'")
        child.expect('stf >')
        child.send('tall')
        child.expect('keep the count')  # the completion menu offers the plugin's command
        child.send('\t')
        child.send(' -c\r')
        # only the completed name can have run it
        child.expect("no dataset is selected; select one with 'datasets -s ID'")
        child.send('exit\r')
        child.expect(pexpect.EOF)
    finally:
        child.close()


def serving(path, port, home, errors):
    """`stf.py --db path --serve` with the stf home `home`, once it listens;
    its stderr written to the file errors."""
    from tests.test_zeo import stf_server
    with open(errors, 'w') as stderr:
        return stf_server(path, port, None, home=home, stderr=stderr)


def seen(analyst, shown):
    """Begin analyst's transaction once shown(root) is true: the other
    analyst's commit reached it (ZEO tells its clients a moment later)."""
    import time
    connection, manager = analyst
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        manager.begin()
        if shown(connection.root()):
            return
        time.sleep(0.02)
    raise AssertionError('the other commit did not reach the analyst within 30 s')


def test_a_server_loads_the_plugins_and_resolves_conflicts_on_their_classes(tmp_path):
    """Two analysts add a tally at once to the same BTree: the server
    resolves the conflict by reading the bucket, which names the plugin's
    class, so the server must have loaded the plugin (stf.py --serve does)."""
    import ZODB
    from ZEO.ClientStorage import ClientStorage
    from stf.plugins import loader
    from tests.conftest import free_port
    server_home = tmp_path / 'server-home'
    install(server_home, TEMPLATE)
    write_plugin(server_home / 'plugins', 'missing.py', BROKEN['missing.py'])
    tally = loader.file_plugin(install(tmp_path / 'client-home', TEMPLATE))  # allowed here too
    port, errors = free_port(), tmp_path / 'server-errors'
    server = serving(tmp_path / 'served.fs', port, server_home, errors)
    databases = [ZODB.DB(ClientStorage(('127.0.0.1', port), wait_timeout=30))
                 for _ in range(2)]
    try:
        first, second = [(database.open(manager), manager) for database, manager in
                         zip(databases, (transaction.TransactionManager(),
                                         transaction.TransactionManager()))]
        trees = first[0].root()['plugins'] = tally.api.OOBTree()
        trees['tally'] = tally.api.OOBTree()
        first[1].commit()
        seen(second, lambda root: 'plugins' in root)
        for number, (connection, manager) in enumerate((first, second)):
            connection.root()['plugins']['tally'][number] = tally.Tally(number)
        first[1].commit()
        second[1].commit()  # a conflict on the tree, resolved by the server
        seen(first, lambda root: len(root['plugins']['tally']) == 2)
        assert [(key, type(value).__name__, value.dataset_id) for key, value in
                first[0].root()['plugins']['tally'].items()] == [(0, 'Tally', 0),
                                                                 (1, 'Tally', 1)]
    finally:
        for database in databases:
            database.close()
        server.terminate()
        server.wait(timeout=30)
    # (ZEO's own log lines follow)
    assert [line for line in errors.read_text().splitlines() if line.startswith('stf')] == [
        f"stf: warning: plugin 'missing' (file {server_home}/plugins/missing.py) failed: "
        "ModuleNotFoundError: No module named 'no_such_module_of_stf'"]


def test_a_version_is_text_in_json(app):
    import json
    (text,) = ok(app, 'plugins -l --json')
    (shipped,) = [row for row in json.loads(text.text) if row['name'] == 'dns']
    assert shipped['version'] == '1.0'      # not the number 1.0 (1.10 would become 1.1)
