"""Several analysts on one database through a real ZEO server on loopback."""
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, error, free_port, ok

ZEO = pytest.importorskip('ZEO')


@pytest.fixture
def server(tmp_path):
    address, stop = ZEO.server(path=str(tmp_path / 'shared.fs'))
    yield address, stop
    stop()


def client(address, wait_timeout=10):
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    db = storages.open_zeo(f'{address[0]}:{address[1]}', wait_timeout=wait_timeout)
    return App(config.load(), database.Database(db))


def test_analysts_see_each_others_commits(server, tmp_path):
    first, second = client(server[0]), client(server[0])
    try:
        flows = tmp_path / 'f.binetflow'
        flows.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,'
                         'dTos,TotPkts,TotBytes\n'
                         '2020/01/01 10:00:00.0,1,tcp,1.1.1.1,1,->,2.2.2.2,80,C,0,0,1,90\n')
        ok(first, f'datasets -c {flows} --name shared')
        (table,) = ok(second, 'datasets -l')
        assert [row[1] for row in table.rows] == ['shared']
        assert second.completion['dataset_id'] == {'0': 'shared'}
        # Completion follows the others' commits without a command of its own
        # (a console reads them in a thread apart: no keystroke waits).
        for interactive, name in ((False, 'newer'), (True, 'newest')):
            second.interactive = interactive
            ok(first, f'datasets -c {flows} --name {name}')
            deadline = time.monotonic() + 10
            while name not in second.completion['dataset_id'].values():
                assert time.monotonic() < deadline, second.completion['dataset_id']
                time.sleep(0.05)
        assert second.completion['dataset_id'] == {'0': 'shared', '1': 'newer', '2': 'newest'}
        assert second.database._apart is not None
        second.interactive = False
        assert second.database.describe() == ('ClientStorage', f'{server[0][0]}:{server[0][1]}')
        # A dataset selected by one analyst and deleted by the other is named.
        ok(first, 'datasets -s 0')
        ok(second, 'datasets -d 0')
        ok(second, 'datasets -d 1')
        ok(second, 'datasets -d 2')
        assert error(first, 'datasets -f') == (
            "the selected dataset 0 was deleted meanwhile (by another analyst?); select one "
            "with 'datasets -s ID' (list them with 'datasets -l')")
        assert error(first, 'datasets -f') == (
            "no dataset is selected; select one with 'datasets -s ID' (list them with "
            "'datasets -l')")
    finally:
        first.close()
        second.close()


def test_same_note_edited_at_once_one_wins(server, monkeypatch):
    first, second = client(server[0]), client(server[0])
    try:
        ok(first, 'notes -c --text "start"')
        def editor_while_the_other_saves(text):
            ok(first, 'notes -e 0 --text "first analyst"')
            return 'second analyst'
        monkeypatch.setattr(second, 'editor', editor_while_the_other_saves)
        second.interactive = True
        reply = second.execute('notes -e 0')
        assert [item.text for item in reply.items] == [
            "note 0 was changed by another analyst while you edited it; nothing was saved: "
            "see theirs with 'notes -s 0' and edit again",
            f'your text is kept in {draft_path()}']
        assert draft_path().read_text() == 'second analyst'
        assert ok(second, 'notes -s 0')[1].text == 'first analyst'
    finally:
        first.close()
        second.close()


def draft_path():
    """The one draft kept in stf's home."""
    from stf.console import config
    (path,) = (config.stf_home() / 'drafts').iterdir()
    return path


def test_text_of_a_new_note_is_kept_when_the_server_is_away(killable_server, monkeypatch):
    start, port, path = killable_server
    server = start()
    app = client(('127.0.0.1', port), wait_timeout=2)
    def editor_while_the_server_dies(text):
        server.kill()
        server.wait()
        return 'words typed while the server died'
    monkeypatch.setattr(app, 'editor', editor_while_the_server_dies)
    app.interactive = True
    try:
        reply = app.execute('notes -c')
        assert [item.text for item in reply.items] == [
            f'notes: the database server 127.0.0.1:{port} is not reachable; nothing was changed '
            '(the console goes on and reconnects when the server is back)',
            f'your text is kept in {draft_path()}']
        assert draft_path().read_text() == 'words typed while the server died'
    finally:
        app.close()


def write_flows(path, connections, flows_per_connection=1):
    """A binetflow with distinct connections (one source address each)."""
    lines = ['StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
             'TotPkts,TotBytes,SrcBytes\n']
    for round_ in range(flows_per_connection):
        for k in range(connections):
            second = round_ * 60 + k // 1000
            lines.append(f'2020/01/01 10:{second // 60 % 60:02d}:{second % 60:02d}.{k % 1000:03d},'
                         f'0.5,tcp,10.{k // 62500}.{k // 250 % 250}.{k % 250 + 1},{40000 + round_},'
                         f'->,147.32.80.9,80,FSPA_FSPA,0,0,8,{900 + k % 500},{300 + k % 200}\n')
    path.write_text(''.join(lines))


def test_four_analysts_add_at_the_same_time(server, tmp_path):
    """4 stf processes in batch mode, 100 commands each at once (datasets,
    labels and notes): all 400 things are there, with unique ids."""
    host, port = server[0]
    flows = tmp_path / 'shared.binetflow'
    write_flows(flows, 200)
    app = client(server[0])
    try:
        ok(app, f'datasets -c {flows} --name shared')
        ok(app, 'connections -g')
        ok(app, 'models -g')
        conns = list(app.root['models'].get('0-1').states.keys())
    finally:
        app.close()

    def script(n):
        for i in range(100):
            if i % 3 == 0:
                yield f'notes -c --text "analyst {n} note {i}"'
            elif i % 3 == 1:
                yield (f'labels -a -c {conns[n * 50 + i // 3]} -g 0-1 '
                       f'--name From-Botnet-TCP-HTTP-A{n}-{i}')
            else:
                yield f'datasets -c {flows} --name "analyst {n} dataset {i}"'
    children = [subprocess.Popen(
        [sys.executable, str(ROOT / 'stf.py'), '--zeo', f'{host}:{port}'],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, STF_HOME=str(tmp_path / f'home{n}'))) for n in range(4)]
    for n, child in enumerate(children):
        child.stdin.write('\n'.join(script(n)) + '\n')
        child.stdin.close()
    for child in children:
        assert child.wait(timeout=300) == 0, child.stderr.read()
    app = client(server[0])
    try:
        group = app.root['models'].get('0-1')
        labels = app.root['labels']
        free_notes = sorted(note.text for note in app.notes.values() if note.owner is None)
        assert free_notes == sorted(f'analyst {n} note {i}' for n in range(4)
                                    for i in range(0, 100, 3))
        names = sorted(labels.names().values())
        assert names == sorted(f'From-Botnet-TCP-HTTP-A{n}-{i}' for n in range(4)
                               for i in range(1, 100, 3))
        for n in range(4):
            for i in range(1, 100, 3):
                conn = conns[n * 50 + i // 3]
                assert labels.get(group.labels[conn]).name == f'From-Botnet-TCP-HTTP-A{n}-{i}'
        datasets = sorted(dataset.name for dataset in app.datasets.values())
        assert datasets == sorted(['shared'] + [f'analyst {n} dataset {i}' for n in range(4)
                                                for i in range(2, 100, 3)])
        for store, count in ((app.notes, 34 * 4 + 33 * 4), (labels, 33 * 4),
                             (app.datasets, 1 + 33 * 4)):
            ids = [item.id for item in store.values()]
            assert len(ids) == len(set(ids)) == count  # unique; racing writers may skip some
            assert list(store.items.keys()) == sorted(ids)
    finally:
        app.close()


def stf_server(path, port, tmp_path, home=None, stderr=subprocess.DEVNULL):
    """`stf.py --db path --serve 127.0.0.1:port` as a process, once it listens
    (its stf home: home, else tmp_path/server-home)."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / 'stf.py'), '--db', str(path), '--serve', f'127.0.0.1:{port}'],
        stdout=subprocess.DEVNULL, stderr=stderr,
        env=dict(os.environ, STF_HOME=str(home or tmp_path / 'server-home')))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return server
        except OSError:
            assert server.poll() is None, 'the server did not start'
            time.sleep(0.05)
    server.kill()
    raise AssertionError('the server did not listen within 30 s')


def fstest(path):
    return subprocess.run([sys.executable, '-m', 'ZODB.scripts.fstest', str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def killable_server(tmp_path):
    """(start(), port, database path): start() runs a new server process on
    the same port and file; every server started is killed at the end."""
    port, path, started = free_port(), tmp_path / 'shared.fs', []

    def start():
        started.append(stf_server(path, port, tmp_path))
        return started[-1]
    yield start, port, path
    for server in started:
        server.kill()
        server.wait()


def test_server_away_and_back(killable_server, monkeypatch):
    monkeypatch.setenv('COLUMNS', '200')      # the toolbar whole (it fits the terminal)
    start, port, path = killable_server
    server = start()
    app = client(('127.0.0.1', port))
    from stf.console.repl import toolbar
    view = toolbar(app)
    try:
        ok(app, 'notes -c --text before')
        assert view() == (f' dataset: -   database: ClientStorage 127.0.0.1:{port}   '
                          'help: help, Ctrl-D exits ')
        server.kill()
        server.wait()
        began = time.monotonic()
        assert error(app, 'notes -c --text during') == (
            f'notes: the database server 127.0.0.1:{port} is not reachable; nothing was '
            'changed (the console goes on and reconnects when the server is back)')
        assert time.monotonic() - began < 15
        # ZEO's own thread marks the connection lost; a request that timed out
        # first (a loaded machine) is told before that thread has run.
        deadline = time.monotonic() + 10
        while app.database.reachable() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not app.database.reachable()
        assert view() == (f' dataset: -   database: ClientStorage 127.0.0.1:{port} (server away)'
                          '   help: help, Ctrl-D exits ')
        # What needs no database works meanwhile.
        ok(app, 'help')
        info = dict(ok(app, 'info')[0].pairs)
        assert info['database'] == f'ClientStorage 127.0.0.1:{port}'
        assert fstest(path).returncode == 0
        start()
        ok(app, 'notes -c --text after')
        assert app.database.reachable()
        assert sorted(note.text for note in app.notes.values()) == ['after', 'before']
    finally:
        app.close()


@pytest.mark.parametrize('delay', [0.1, 0.7, 2.0])
def test_server_killed_during_a_long_import(killable_server, tmp_path, delay):
    """kill -9 while a client imports; restart: the file passes fstest, the
    import is whole or absent, and the client goes on with its next commands."""
    start, port, path = killable_server
    flows = tmp_path / 'big.binetflow'
    write_flows(flows, 20000, flows_per_connection=10)
    server = start()
    client_process = subprocess.Popen(
        [sys.executable, str(ROOT / 'stf.py'), '--zeo', f'127.0.0.1:{port}'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, STF_HOME=str(tmp_path / 'client-home')))
    client_process.stdin.write(f'datasets -c {flows} --name big\nconnections -g\nmodels -g\n'
                               'notes -c --text "after the restart"\n')
    client_process.stdin.close()
    client_process.stdin = None  # written: communicate() only reads
    assert client_process.stdout.readline().startswith("dataset 0 'big' created")
    time.sleep(delay)  # inside `connections -g` (reading, grouping, saving) or later
    server.kill()
    server.wait()
    check = fstest(path)
    assert check.returncode == 0, check.stdout + check.stderr
    server = start()
    output, errors = client_process.communicate(timeout=120)
    print(output, errors)
    assert 'note 0 saved' in output, errors  # the client went on
    assert 'Traceback' not in errors
    server.kill()
    server.wait()
    check = fstest(path)
    assert check.returncode == 0, check.stdout + check.stderr
    server = start()
    app = client(('127.0.0.1', port))
    try:
        groups = app.root['connections'].values()
        models = app.root['models'].values()
        if groups:  # saved whole
            (group,) = groups
            assert (group.connection_count, group.flow_count, len(group.index)) == (
                20000, 200000, 20000)
        else:
            assert 'connections: the database server' in errors
        for model_group in models:
            assert len(model_group) == len(model_group.states) == 20000
        assert [note.text for note in app.notes.values() if note.owner is None] == [
            'after the restart']
    finally:
        app.close()


@pytest.mark.parametrize('through', ['--zeo', 'client file'])
def test_nothing_listening_is_one_line_at_once(tmp_path, through):
    port = free_port()
    if through == '--zeo':
        options = ['--zeo', f'127.0.0.1:{port}']
    else:
        client = tmp_path / 'client.conf'
        client.write_text(f'%import ZEO\n<zodb>\n  <clientstorage>\n    server 127.0.0.1:{port}'
                          '\n    wait-timeout 30\n  </clientstorage>\n</zodb>\n')
        (tmp_path / 'stf.conf').write_text(f'[stf]\nzodb_conf = {client}\n')
        options = ['--conf', str(tmp_path / 'stf.conf')]
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), *options, '-c', 'info'],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))
    assert (result.returncode, result.stderr) == (2, (
        f'error: cannot reach the ZEO server at 127.0.0.1:{port}: nothing accepts connections '
        f"there (Connection refused); start it with 'python stf.py --serve 127.0.0.1:{port}' "
        "(or 'runzeo -C confs/zeo.conf'), or check the address\n"))
    # Without waiting for the client's wait-timeout.
    assert time.monotonic() - started < 8


def test_shipped_plain_server_and_client_confs(tmp_path):
    """`runzeo -C confs/zeo.conf` (run from its folder) and clients configured
    with confs/zeo-client.conf as zodb_conf in stf.conf, as the README says."""
    port = free_port()
    served = tmp_path / 'served'
    (served / 'database').mkdir(parents=True)
    server_conf = (ROOT / 'confs' / 'zeo.conf').read_text()
    assert 'address 127.0.0.1:8100' in server_conf  # loopback unless configured otherwise
    (served / 'zeo.conf').write_text(server_conf.replace('127.0.0.1:8100', f'127.0.0.1:{port}'))
    server = subprocess.Popen([sys.executable, '-m', 'ZEO.runzeo', '-C', 'zeo.conf'],
                              cwd=served, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        client_conf = tmp_path / 'client.conf'
        client_conf.write_text((ROOT / 'confs' / 'zeo-client.conf').read_text().replace(
            '127.0.0.1:8100', f'127.0.0.1:{port}'))
        stf_conf = tmp_path / 'stf.conf'
        stf_conf.write_text(f'[stf]\nzodb_conf = {client_conf}\n')

        def analyst(name, line):
            return subprocess.run(
                [sys.executable, str(ROOT / 'stf.py'), '--conf', str(stf_conf), '-c', line],
                capture_output=True, text=True, timeout=60,
                env=dict(os.environ, STF_HOME=str(tmp_path / name)))
        assert analyst('alice', 'notes -c --text "from alice"').returncode == 0
        listed = analyst('bob', 'notes -l')
        assert listed.returncode == 0, listed.stderr
        assert 'from alice' in listed.stdout
        info = analyst('bob', 'database -i')
        assert f'127.0.0.1:{port}' in info.stdout and 'ClientStorage' in info.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (served / 'database' / 'stf.db').stat().st_size > 0


def test_new_ids_after_a_server_restart_do_not_collide(killable_server):
    """A client keeps new object ids fetched from the server in advance; a
    server restarted from the file hands the same ids out again. The client
    must forget them when it reconnects, or two objects share an id."""
    start, port, path = killable_server
    server = start()
    address = ('127.0.0.1', port)
    first = client(address)
    try:
        ok(first, 'notes -c --text "first, before"')
        server.kill()
        server.wait()
        start()
        second = client(address)
        try:
            for i in range(5):
                ok(second, f'notes -c --text "second {i}"')
        finally:
            second.close()
        ok(first, 'notes -c --text "first, after"')
    finally:
        first.close()
    fresh = client(address)
    try:
        assert sorted(note.text for note in fresh.notes.values()) == [
            'first, after', 'first, before'] + [f'second {i}' for i in range(5)]
    finally:
        fresh.close()


def test_client_settings_ignore_a_commented_example():
    """confs/zodb.conf ships a commented <clientstorage> example: a file
    storage configuration with it is not a ZEO client."""
    from stf.db import zconf
    from stf.console.config import ROOT as stf_root
    commented = ('<zodb>\n  <filestorage>\n    path $ROOT/stf.db\n  </filestorage>\n</zodb>\n'
                 '# %import ZEO\n# <clientstorage>\n#   server 127.0.0.1:8100\n'
                 '# </clientstorage>\n')
    assert zconf.client_settings(zconf.read(commented, stf_root)) is None
    live = commented.replace('# ', '')
    assert zconf.client_settings(zconf.read(live, stf_root)) == {'server': '127.0.0.1:8100',
                                                                 'ssl': None}


def serve_once(tmp_path, *args):
    return subprocess.run([sys.executable, str(ROOT / 'stf.py'), *args], capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, STF_HOME=str(tmp_path / 'other-home')))


def test_serve_refuses_a_held_file_and_a_taken_address_in_one_line(killable_server, tmp_path):
    start, port, path = killable_server
    server = start()
    held = serve_once(tmp_path, '--db', str(path), '--serve', f'127.0.0.1:{free_port()}')
    assert (held.returncode, held.stdout, held.stderr) == (2, '', (
        f'error: the database {path} is served by stf.py --serve 127.0.0.1:{port} (process '
        f'{server.pid}): connect to it with --zeo 127.0.0.1:{port}\n'))
    other = tmp_path / 'other.fs'
    taken = serve_once(tmp_path, '--db', str(other), '--serve', f'127.0.0.1:{port}')
    assert (taken.returncode, taken.stdout, taken.stderr) == (2, '', (
        f'error: cannot listen on 127.0.0.1:{port} (Address already in use); choose another '
        'address with --serve HOST:PORT\n'))
    assert not other.exists()
    socket_path = tmp_path / 'zeo.sock'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(socket_path))
        listener.listen()
        in_use = serve_once(tmp_path, '--db', str(other), '--serve', str(socket_path))
    assert (in_use.returncode, in_use.stderr) == (2, (
        f'error: a server already listens on {socket_path}; stop it or choose another socket '
        'with --serve PATH\n'))


def test_serving_other_machines_without_tls_warns(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / 'stf.py'), '--db', str(tmp_path / 'open.fs'),
         '--serve', f'0.0.0.0:{port}'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, STF_HOME=str(tmp_path / 'server-home')))
    try:
        assert server.stdout.readline() == (
            f'stf: serving {tmp_path / "open.fs"} on 0.0.0.0:{port} (Ctrl-C stops)\n')
        assert server.stderr.readline() == (
            f'stf: warning: 0.0.0.0:{port} is reachable from other machines and this server has '
            'no TLS: anyone who reaches it can read and change the database; serve other '
            'machines with TLS (docs/zeo-tls.md)\n')
        # One line per log record.
        assert ' INFO ZEO.runzeo ' in server.stderr.readline()
    finally:
        server.kill()
        server.wait()
    from stf.db.server import loopback_only
    assert [loopback_only(host) for host in ('127.0.0.1', 'localhost', '::1', '0.0.0.0')] == [
        True, True, True, False]


def test_server_back_with_an_older_database_is_named(killable_server, tmp_path):
    start, port, path = killable_server
    server = start()
    app = client(('127.0.0.1', port))
    try:
        ok(app, 'notes -c --text "on the first file"')
        server.kill()
        server.wait()
        other = stf_server(tmp_path / 'other.fs', port, tmp_path)
        try:
            deadline = time.monotonic() + 20
            while app.database.server_behind() is False and time.monotonic() < deadline:
                time.sleep(0.1)
            assert error(app, 'notes -l') == (
                f'notes: the database server 127.0.0.1:{port} now serves an older or another '
                'database than this console was using (restarted from another file or a '
                'backup?), so this console cannot go on with it; nothing was changed; start stf '
                'again to work on that database')
            from stf.console.repl import toolbar
            assert '(older database on the server)' in toolbar(app)()
        finally:
            other.kill()
            other.wait()
    finally:
        app.close()


@pytest.mark.parametrize('options, message', [
    (['--db', 'x.fs', '--zeo', '127.0.0.1:8100'],
     '--db PATH and --zeo HOST:PORT both name the database; give one'),
    (['--serve', '--zeo', '127.0.0.1:8100'],
     '--serve runs a server for a file (the configured one or --db PATH); connect to a server '
     'with --zeo in another stf'),
    (['--serve', '127.0.0.1:8100', '-c', 'info'],
     '--serve only serves; run commands in another stf with --zeo HOST:PORT'),
    (['--db', 'x.fs', '--serve', '127.0.0.1:99999'],
     "'127.0.0.1:99999' is not a ZEO server address; write HOST:PORT (e.g. 127.0.0.1:8100) or "
     'the path of a unix socket'),
])
def test_options_that_do_not_go_together_are_one_line(options, message, capsys, tmp_path,
                                                      monkeypatch):
    from stf.console.main import main
    monkeypatch.chdir(tmp_path)
    assert main(options) == 2
    assert capsys.readouterr() == ('', f'error: {message}\n')
    assert list(tmp_path.iterdir()) == []


def test_another_kind_of_server_is_not_taken_for_a_tls_one():
    import http.server
    import threading
    from stf.db import zeotls
    web = http.server.HTTPServer(('127.0.0.1', 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    try:
        port = web.server_address[1]
        verdict = zeotls.probe(f'127.0.0.1:{port}', ('127.0.0.1', port))
    finally:
        web.shutdown()
        web.server_close()
    assert verdict == zeotls.Verdict(None, 'the server there says nothing to a ZEO client and '
                                           'does not speak TLS: it is probably not a ZEO server; '
                                           'check the address')


def test_stopped_server_is_told_not_waited_for(killable_server, monkeypatch):
    """A server process stopped (or a network that drops everything) keeps
    the connection up but never answers: the command still ends."""
    import signal
    from stf.db import zeohooks
    monkeypatch.setattr(zeohooks, 'SILENCE_SECONDS', 2)
    monkeypatch.setattr(zeohooks, 'UNANSWERED_SECONDS', 2)
    start, port, path = killable_server
    server = start()
    app = client(('127.0.0.1', port))
    try:
        ok(app, 'notes -c --text before')
        os.kill(server.pid, signal.SIGSTOP)
        try:
            assert error(app, 'notes -c --text "while stopped"') == (
                f'notes: the database server 127.0.0.1:{port} is not reachable; nothing was '
                'changed (the console goes on and reconnects when the server is back)')
            assert not app.database.reachable()
        finally:
            os.kill(server.pid, signal.SIGCONT)
        ok(app, 'notes -c --text after')
        assert sorted(note.text for note in app.notes.values()) == ['after', 'before']
    finally:
        app.close()


def test_loads_failed_while_the_server_is_away_log_one_line():
    import logging
    from ZEO.Exceptions import ClientDisconnected
    from stf.console.app import shorten_server_away
    try:
        raise ClientDisconnected('timed out waiting for connection')
    except ClientDisconnected:
        record = logging.LogRecord('ZODB.Connection', logging.ERROR, __file__, 1,
                                   "Couldn't load state for %s %s", ('IOBTree', '0x0c'),
                                   sys.exc_info())
    assert shorten_server_away(record) is True
    assert logging.Formatter('%(levelname)s %(message)s').format(record) == (
        "ERROR Couldn't load state for IOBTree 0x0c: timed out waiting for connection")


def test_reconnections_are_paced_when_connections_close_at_once(killable_server):
    """What takes the server's place may accept and hang up at once (a
    server refusing our certificate does): the client does not hammer it."""
    import threading
    start, port, path = killable_server
    server = start()
    app = client(('127.0.0.1', port))
    accepted = []
    try:
        ok(app, 'notes -c --text before')
        server.kill()
        server.wait()
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(('127.0.0.1', port))
            listener.listen(64)
            listener.settimeout(0.2)
            began = time.monotonic()

            def hang_up_at_once():
                while time.monotonic() - began < 3:
                    try:
                        connection, _ = listener.accept()
                    except OSError:
                        continue
                    accepted.append(time.monotonic())
                    connection.close()
            thread = threading.Thread(target=hang_up_at_once)
            thread.start()
            thread.join()
    finally:
        app.close()
    # One reconnection round a second at most (ZEO alone: hundreds).
    assert 1 <= len(accepted) <= 5, len(accepted)


def test_client_file_with_several_servers_connects_to_the_one_up(server, tmp_path):
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    from stf.db import zconf
    from stf.db.storages import single_server
    down, up = free_port(), server[0][1]
    conf = tmp_path / 'client.conf'
    conf.write_text(f'%import ZEO\n<zodb>\n  <clientstorage>\n    server 127.0.0.1:{down}\n'
                    f'    server 127.0.0.1:{up}\n    wait-timeout 10\n  </clientstorage>\n'
                    '</zodb>\n')
    settings = zconf.client_settings(zconf.read(conf.read_text(), ROOT))
    assert settings['server'] == f'127.0.0.1:{down} 127.0.0.1:{up}'
    assert single_server(settings) is None
    assert single_server({'server': '8100'}) is None
    assert single_server({'server': '127.0.0.1:8100'}) == ('127.0.0.1:8100', ('127.0.0.1', 8100))
    app = App(config.load(), database.Database(storages.open_config(conf, ROOT)))
    try:
        ok(app, 'notes -c --text "through the second server"')
    finally:
        app.close()
