"""Signed detector updates (stf.ips.updates, stf.core.signing) against a real
HTTP server on 127.0.0.1, and the watcher that restarts a killed detector."""
import calendar
import http.server
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from stf.core import signing
from stf.core.detect.detector import Detector
from stf.core.errors import UserError
from stf.ips import config, updates
from tests.conftest import ROOT
from tests.test_ips import PROGRAM, WAIT, flow_line, stf_ips, write_flows

PYTHON = str(ROOT / '.venv' / 'bin' / 'python')


# ---- fixtures ---------------------------------------------------------------------

@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp('keys')
    private, public = signing.make_keys(folder / 'good')
    other, _ = signing.make_keys(folder / 'other')
    return private, public, other


def eager_detector(folder, key, name='eager', threshold=0.0):
    """The shipped detector with another threshold (0: every tuple is
    malicious; above 1: none is), saved and signed: an update whose effect
    shows."""
    detector = Detector.default()
    detector.name = name
    detector.thresholds = dict(detector.thresholds, default=threshold)
    detector.save(folder)
    signing.sign(folder, key)
    return folder


class Server:
    """http.server on 127.0.0.1 serving a folder; `hang` paths never answer,
    `short` paths announce more bytes than they send."""

    def __init__(self, root):
        self.root = Path(root)
        self.hang, self.short, self.trickle = set(), set(), set()
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(outer.root), **kwargs)

            def do_GET(self):
                if self.path in outer.hang:
                    time.sleep(5)
                    return
                if self.path in outer.trickle:     # a byte every 0.2 s, for ever
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(100):
                            self.wfile.write(b'x')
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        pass
                    return
                if self.path in outer.short:
                    data = (outer.root / self.path.lstrip('/')).read_bytes()
                    self.send_response(200)
                    self.send_header('Content-Length', str(len(data) + 100))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    served = Server(tmp_path / 'www')
    served.root.mkdir()
    yield served
    served.close()


def settings(public, **values):
    return config.Settings(public_key=str(public), **values)


def tar_of(folder, path, rename=None, extra=(), leave=()):
    """A .tar.gz of folder's files but leave (names through rename), plus extra
    members given as (TarInfo, bytes)."""
    with tarfile.open(path, 'w:gz') as tar:
        for item in sorted(Path(folder).iterdir()):
            if item.name not in leave:
                tar.add(item, arcname=(rename or (lambda name: f'eager/{name}'))(item.name))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


# ---- signing ------------------------------------------------------------------------

def test_keys_sign_a_manifest_and_only_the_pinned_key_verifies(keys, tmp_path):
    private, public, other = keys
    folder = eager_detector(tmp_path / 'eager', private)
    signing.verify(folder, public)
    assert oct(private.stat().st_mode & 0o777) == '0o600'
    with pytest.raises(UserError) as refused:
        signing.verify(folder, other.with_name(signing.PUBLIC_NAME))
    assert str(refused.value) == (
        f"{folder / 'manifest.sig'} is not a signature of manifest.json by the key "
        f"{other.with_name(signing.PUBLIC_NAME)}; refused")
    with pytest.raises(UserError, match='is not an Ed25519 public key'):
        signing.verify(folder, private)
    with pytest.raises(UserError, match='keys are never overwritten'):
        signing.make_keys(public.parent)


def test_the_sign_and_keygen_commands(tmp_path):
    keydir = tmp_path / 'keys'
    made = subprocess.run([PYTHON, '-m', 'stf.detect', 'keygen', '--out', keydir],
                          capture_output=True, text=True, cwd=ROOT)
    assert made.returncode == 0 and (keydir / 'stf-detector.pub').is_file()
    folder = tmp_path / 'det'
    Detector.default().save(folder)
    signed = subprocess.run([PYTHON, '-m', 'stf.detect', 'sign', folder, '--key',
                             keydir / 'stf-detector.key'], capture_output=True, text=True,
                            cwd=ROOT)
    assert (signed.returncode, signed.stdout) == (0, f'signed {folder}: {folder}/manifest.sig\n')
    signing.verify(folder, keydir / 'stf-detector.pub')
    (folder / 'examples.json').write_text('{}')
    refused = subprocess.run([PYTHON, '-m', 'stf.detect', 'sign', folder, '--key',
                              keydir / 'stf-detector.key'], capture_output=True, text=True,
                             cwd=ROOT)
    assert refused.returncode == 1 and refused.stderr.count('\n') == 1
    assert 'its sha256 does not match manifest.json' in refused.stderr


# ---- updates ---------------------------------------------------------------------------

def test_a_signed_update_from_http_installs_and_changes_the_verdicts(keys, server, tmp_path):
    private, public, _ = keys
    eager_detector(server.root / 'strict', private, 'strict', threshold=2.0)
    home = tmp_path / 'home'
    home.mkdir()
    (home / 'ips.conf').write_text(f'[ips]\nupdate_url = {server.url}/strict\n'
                                   f'public_key = {public}\n')
    flows = write_flows(tmp_path / 'flows', [flow_line(second) for second in range(0, 50, 5)])
    before = stf_ips(flows, '--rule', 'any', home=home).stdout.decode()
    assert [line.split()[3:5] for line in before.splitlines()] == [['10.0.0.1', 'malicious']]
    result = stf_ips('--update-now', home=home)
    store = home / updates.STORE_NAME
    name = updates.current_name(store)
    assert (result.returncode, result.stdout.decode()) == (
        0, f'update from {server.url}/strict installed: {name} (previous kept for --rollback)\n')
    assert name.startswith('strict-')
    after = stf_ips(flows, '--rule', 'any', home=home).stdout.decode()
    assert after == ''                     # the strict detector finds nothing
    again = stf_ips('--update-now', home=home)
    assert again.returncode == 1 and 'nothing to apply' in again.stderr.decode()
    back = stf_ips('--rollback', home=home)
    assert (back.returncode, updates.current_name(store)) == (0, '')
    assert stf_ips(flows, '--rule', 'any', home=home).stdout.decode() == before
    assert stf_ips('--rollback', home=home).returncode == 0     # and forward again
    assert updates.current_name(store) == name


def test_an_archive_over_http_and_a_file_url_install(keys, server, tmp_path):
    private, public, _ = keys
    folder = eager_detector(tmp_path / 'eager', private)
    tar_of(folder, server.root / 'eager.tar.gz')
    store = tmp_path / 'store'
    line = updates.update(store, settings(public, update_url=f'{server.url}/eager.tar.gz'))
    assert line.startswith(f'update from {server.url}/eager.tar.gz installed: eager-')
    flat = tar_of(folder, tmp_path / 'flat.tar.gz', rename=lambda name: name)
    other = tmp_path / 'store2'
    updates.update(other, settings(public, update_url=flat.as_uri()))
    assert updates.current_name(other) == updates.current_name(store)
    assert Detector.load(updates.current_folder(other)).thresholds['default'] == 0.0


def bad_updates(keys, tmp_path, server):
    """(what, settings) of updates that must be refused, with the start of the line."""
    private, public, other_key = keys
    cases = []

    def folder(name, change=None, key=private):
        made = eager_detector(server.root / name, key)
        if change:
            change(made)
        return f'{server.url}/{name}'

    cases.append((folder('unsigned', lambda f: (f / 'manifest.sig').unlink()),
                  'the update is not signed'))
    cases.append((folder('otherkey', key=other_key), 'is not a signature of manifest.json'))
    cases.append((folder('changed', lambda f: (f / 'examples.json').write_text('{"a": 1}')),
                  'its sha256 does not match manifest.json'))
    cases.append((folder('missing', lambda f: (f / 'ngrams.json').unlink()),
                  'the server answered 404'))

    def listed(f):
        manifest = json.loads((f / 'manifest.json').read_text())
        manifest['files']['run.sh'] = '0' * 64
        (f / 'manifest.json').write_text(json.dumps(manifest))
    cases.append((folder('extra', listed), "lists files that are no part of a detector ('run.sh')"))
    made = eager_detector(tmp_path / 'good', private)
    server.short.add('/short/ngrams.json')
    folder('short')
    cases.append((f'{server.url}/short', 'truncated'))
    for name, member, start in (('dotdot', '../evil', 'points outside the update'),
                                ('absolute', '/tmp/evil', 'points outside the update')):
        info = tarfile.TarInfo(member)
        info.size = 4
        tar_of(made, server.root / f'{name}.tar.gz', extra=[(info, b'evil')])
        cases.append((f'{server.url}/{name}.tar.gz', start))
    link = tarfile.TarInfo('eager/detector.json')
    link.type, link.linkname = tarfile.SYMTYPE, '/etc/passwd'
    tar_of(made, server.root / 'link.tar.gz', leave={'detector.json'}, extra=[(link, None)])
    cases.append((f'{server.url}/link.tar.gz', "'eager/detector.json' is a link; refused"))
    extra = tmp_path / 'extra-dir'
    eager_detector(extra, private)
    (extra / 'notes.txt').write_text('hi')
    cases.append((str(extra), "'notes.txt' is no part of a signed detector"))
    (server.root / 'cut.tar.gz').write_bytes(
        tar_of(made, tmp_path / 'whole.tar.gz').read_bytes()[:300])
    cases.append((f'{server.url}/cut.tar.gz', 'not a readable .tar.gz'))
    server.hang.add('/hang/manifest.json')
    cases.append((f'{server.url}/hang', 'the server stopped answering'))
    with tarfile.open(server.root / 'two.tar.gz', 'w:gz') as tar:
        for folder in ('a', 'b'):
            for item in sorted(made.iterdir()):
                tar.add(item, arcname=f'{folder}/{item.name}')
    cases.append((f'{server.url}/two.tar.gz', 'holds more than one detector'))
    cases.append(('file://host/tmp/x', 'a file URL names a path on this host'))
    server.trickle.add('/slow.tar.gz')
    (server.root / 'slow.tar.gz').write_bytes(b'x' * 100)
    cases.append((f'{server.url}/slow.tar.gz', 'the update took longer than it may'))
    return cases


def test_bad_updates_are_refused_and_leave_the_running_set(keys, server, tmp_path):
    private, public, _ = keys
    store = tmp_path / 'store'
    good = eager_detector(tmp_path / 'first', private)
    updates.update(store, settings(public, update_dir=str(good)))
    running = updates.current_name(store)
    for source, wanted in bad_updates(keys, tmp_path, server):
        chosen = dict(update_url=source) if '://' in source else dict(update_dir=source)
        with pytest.raises(UserError) as refused:
            updates.update(store, settings(public, **chosen), timeout=1.0, deadline=1.0)
        assert wanted in str(refused.value), (source, str(refused.value))
        assert '\n' not in str(refused.value)
        assert updates.current_name(store) == running
        Detector.load(updates.current_folder(store))
        assert not any((store / 'staging').iterdir())
    assert not Path('/tmp/evil').exists()


def test_a_running_ips_takes_an_installed_update_at_a_window_boundary(keys, tmp_path):
    private, public, _ = keys
    home = tmp_path / 'home'
    config.ensure(home / 'ips.conf')
    child = subprocess.Popen([PROGRAM, '-', '--window', '2', '--lateness', '0', '--rule', 'any',
                              '--alerts', home / 'alerts.jsonl'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=dict(os.environ, STF_HOME=str(home)))
    try:
        # the alerts file is opened once the running set is loaded: the
        # update must come after that (a loaded machine starts slowly)
        began = time.monotonic()
        while not (home / 'alerts.jsonl').exists() and time.monotonic() - began < 30:
            time.sleep(0.05)
        updates.update(home / updates.STORE_NAME,
                       settings(public, update_dir=str(eager_detector(tmp_path / 'e', private))))
        # the IPS says when it has taken the update; the flow comes after
        taken = child.stdout.readline().decode()
        assert "detector 'eager'" in taken and 'it judges from the next window on' in taken
        now = time.time()
        stamp = time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime(now))
        from tests.test_flowfile import HEADER
        child.stdin.write((HEADER + '\n' + f'{stamp}.000000,0.1,udp,10.0.0.7,5000,   ->,'
                           '1.1.1.1,53,CON,0,0,2,90,60,x\n').encode())
        child.stdin.flush()
        assert child.stdout.readline().decode().split()[3:5] == ['10.0.0.7', 'malicious']
        (alert,) = map(json.loads, (home / 'alerts.jsonl').read_text().splitlines())
        assert alert['Analyzer']['Model'].endswith(' detector eager')
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(20)


# ---- the watcher --------------------------------------------------------------------------

def children_of(pid):
    try:
        return [int(item) for item in
                Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]
    except OSError:
        return []


def test_the_watcher_restarts_a_killed_detector_without_repeating_alerts(tmp_path):
    if not Path('/proc/self/task').is_dir():
        pytest.skip('finding the detector process needs /proc')
    import sys
    sys.path.insert(0, str(ROOT / 'bench'))
    import gen_binetflow
    flows = tmp_path / 'capture.binetflow'
    with open(flows, 'w') as out:
        gen_binetflow.generate(200_000, out)
    home = tmp_path / 'home'
    config.ensure(home / 'ips.conf')
    alerts = tmp_path / 'alerts.jsonl'
    watcher = subprocess.Popen([PROGRAM, flows, '--alerts', alerts], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ, STF_HOME=str(home)))
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and watcher.poll() is None:
        for pid in children_of(watcher.pid):
            try:
                command = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
            except OSError:      # it ended between the listing and now
                continue
            if b'--progress' in command:
                progress = Path(command[command.index(b'--progress') + 1].decode())
                if progress.exists():
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
        time.sleep(0.005)
    out, err = watcher.communicate(timeout=120)
    assert killed is not None, 'the detector ended before it could be killed'
    assert watcher.returncode == 0
    assert err.decode().splitlines() == [
        'stf-ips watcher: the detector process ended (killed by SIGKILL); started again '
        'after 1 s']
    lines = out.decode().splitlines()
    said = [line for line in lines if 'watcher:' in line or line.startswith('resumed ')]
    assert said[0] == ('watcher: the detector process ended (killed by SIGKILL); started again '
                       'after 1 s')
    assert said[1].startswith(f'resumed {flows} at line ')
    keys = [(item['StartTime'], item['Source'][0]['IP'])
            for item in map(json.loads, alerts.read_text().splitlines())]
    assert keys and len(keys) == len(set(keys))          # no alert twice
    whole_alerts = tmp_path / 'whole.jsonl'
    stf_ips(flows, '--no-watch', '--alerts', whole_alerts, home=home)
    whole = [(item['StartTime'], item['Source'][0]['IP'])
             for item in map(json.loads, whole_alerts.read_text().splitlines())]
    resumed = int(said[1].split()[-1])
    first_after = min(at for at, key in enumerate(keys) if key not in whole[:at + 1] or
                      key != whole[at]) if keys != whole else len(keys)
    assert keys[:first_after] == whole[:first_after] and first_after > 0
    assert resumed > 1


def test_stdin_and_no_watch_are_not_supervised_and_bad_input_is_not_restarted(tmp_path):
    missing = stf_ips(tmp_path / 'missing')
    assert (missing.returncode, missing.stderr.decode().count('\n')) == (2, 1)
    assert b'watcher' not in missing.stdout + missing.stderr


# ---- the service, and a live pipeline through the watcher ---------------------------------

def test_the_service_unit_is_valid_and_runs_the_watcher_with_argus(tmp_path):
    import configparser
    import shutil
    text = (ROOT / 'confs' / 'stf-ips.service').read_text()
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read_string(text)
    command = unit['Service']['ExecStart'].split()
    assert command[0] == '/opt/stf/stf-ips' and '--argus' in command
    assert '--no-watch' not in command and unit['Service']['Restart'] == 'on-failure'
    from stf.ips.__main__ import parser
    args = parser().parse_args(command[1:])
    assert (args.argus, args.config) == ('127.0.0.1:561', '/etc/stf-ips/ips.conf')
    analyze = shutil.which('systemd-analyze')
    if analyze is None:
        return
    local = tmp_path / 'stf-ips.service'
    local.write_text(text.replace('/opt/stf', str(ROOT)))
    checked = subprocess.run([analyze, 'verify', str(local)], capture_output=True, text=True)
    problems = [line for line in (checked.stdout + checked.stderr).splitlines()
                if 'stf-ips.service' in line]
    assert problems == []


def periodic_detector(folder):
    """A detector trained here: steady chains on a high UDP port are
    malicious, irregular web chains normal."""
    from stf.core.detect import TrainingRow
    rows = []
    for number in range(12):
        steady = '11' + '.a' * (5 + number) if number % 2 else '11' + '.b' * (4 + number)
        rows.append(TrainingRow(f'10.0.{number}.1-10.9.9.{number}-{20000 + number}-udp',
                                f'From-Botnet-UDP-CC-{number}', steady))
        rows.append(TrainingRow(f'10.1.{number}.1-2.2.2.{number}-443-tcp',
                                f'From-Normal-TCP-HTTPS-Web-{number}',
                                '88*Y*Y+Z*y' + '*Z,y' * (number % 4)))
    detector = Detector.train(rows, name='periodic')
    detector.save(folder)
    return folder



def test_live_argus_through_the_watcher_reports_periodic_traffic_across_an_argus_restart(
        tmp_path):
    from tests.conftest import free_port
    from tests.test_ips import ARGUS, RA, send_udp
    if not (ARGUS and RA):
        pytest.skip('argus and ra are not installed')
    port, target = free_port(), free_port()
    conf = tmp_path / 'argus.conf'
    conf.write_text((ROOT / 'confs' / 'argus.conf').read_text()
                    + '\nARGUS_FLOW_STATUS_INTERVAL=1\n')
    whitelist = tmp_path / 'whitelist'
    whitelist.write_text(f'port:{port}\n')
    models = periodic_detector(tmp_path / 'periodic')
    home = tmp_path / 'home'
    config.ensure(home / 'ips.conf')
    env = dict(os.environ, TZ='UTC', STF_HOME=str(home))

    def argus():
        server = subprocess.Popen([ARGUS, '-F', str(conf), '-i', 'lo', '-P', str(port),
                                   f'udp and port {target}'], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=env)
        time.sleep(1.0)
        if server.poll() is not None:
            pytest.skip('argus cannot capture on lo here: '
                        + server.stderr.read().decode(errors='replace').strip()[-200:])
        return server

    first = argus()
    ips = subprocess.Popen([PROGRAM, '--argus', f'127.0.0.1:{port}', '--window', '3',
                            '--lateness', '1', '--rule', 'any', '--models', models,
                            '--whitelist', whitelist], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
    second = None
    try:
        time.sleep(1.5)
        send_udp(target, 60)                 # 3 s, a datagram every 50 ms
        time.sleep(2.0)
        first.terminate()
        first.wait(WAIT)
        stopped = time.time()
        second = argus()                     # ra is started again by stf-ips
        time.sleep(3.0)
        send_udp(target, 60)
        time.sleep(5.0)
        ips.send_signal(signal.SIGTERM)
        out, err = ips.communicate(timeout=WAIT)
    finally:
        for child in (first, second, ips):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    lines = out.decode().splitlines()
    alerts = [line.split() for line in lines if ' UTC  ' in line]
    assert ips.returncode == 0, err.decode()
    assert any(line.startswith('ra ended (exit status') for line in lines)
    ends = [calendar.timegm(time.strptime(' '.join(fields[:2]), '%Y-%m-%d %H:%M:%S'))
            for fields in alerts if fields[3:5] == ['127.0.0.1', 'malicious']]
    # the traffic is reported from before argus stopped and after it came back
    assert [end for end in ends if end <= stopped] and [end for end in ends if end > stopped], \
        lines


def test_updates_are_due_on_their_schedule(keys, tmp_path):
    private, public, _ = keys
    store = tmp_path / 'store'
    folder = eager_detector(tmp_path / 'e', private)
    scheduled = settings(public, update_dir=str(folder), update_every_days=3.0)
    assert updates.due(store, scheduled) is True              # never asked yet
    assert updates.due(store, config.Settings()) is False     # no source
    updates.update(store, scheduled)
    now = time.time()
    assert updates.due(store, scheduled, now + 2 * 86400) is False
    assert updates.due(store, scheduled, now + 3 * 86400 + 1) is True
    assert updates.due(store, config.Settings(update_dir=str(folder), dont_update=True),
                       now + 30 * 86400) is False


def test_a_running_ips_updates_itself_when_due(keys, tmp_path):
    private, public, _ = keys
    home = tmp_path / 'home'
    home.mkdir()
    folder = eager_detector(tmp_path / 'e', private)
    (home / 'ips.conf').write_text(f'[ips]\nupdate_dir = {folder}\npublic_key = {public}\n')
    child = subprocess.Popen([PROGRAM, '-', '--window', '2', '--lateness', '0', '--rule', 'any'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=dict(os.environ, STF_HOME=str(home)))
    try:
        first = child.stdout.readline().decode()
        second = child.stdout.readline().decode()
        assert first.startswith(f'update from {folder} installed: eager-')
        assert "detector 'eager'" in second
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(20)


def test_rollback_checks_its_target_and_a_schedule_does_not_undo_it(keys, tmp_path):
    private, public, _ = keys
    store = tmp_path / 'store'
    first = eager_detector(tmp_path / 'first', private, 'first')
    second = eager_detector(tmp_path / 'second', private, 'second', threshold=0.5)
    updates.update(store, settings(public, update_dir=str(first)))
    one = updates.current_name(store)
    updates.update(store, settings(public, update_dir=str(second)))
    two = updates.current_name(store)
    (store / 'sets' / one / 'detector.json').write_text('{}')       # damaged since
    with pytest.raises(UserError) as refused:
        updates.rollback(store)
    assert str(refused.value).startswith(f'the previous detector {one} is damaged (')
    assert str(refused.value).endswith('); nothing was changed')
    assert updates.current_name(store) == two
    updates.update(store, settings(public, update_dir=str(first)))  # a good copy again
    assert updates.rollback(store).startswith(f'rolled back to {two}')
    with pytest.raises(updates.NothingToApply, match='which --rollback took back'):
        updates.update(store, settings(public, update_dir=str(first)), scheduled=True)
    assert updates.current_name(store) == two
    updates.update(store, settings(public, update_dir=str(first)))   # --update-now does
    assert updates.current_name(store) == one
    assert Detector.load(updates.current_folder(store)).name == 'first'   # the good copy
