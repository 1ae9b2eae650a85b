import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / 'shared' / 'data'

# pytest-xdist's workers are given COLUMNS=80 and LINES=24; a console the
# tests start in a pseudo-terminal would take them over the terminal's own
# size. Tests that need a width say so (monkeypatch.setenv).
for _size in ('COLUMNS', 'LINES'):
    os.environ.pop(_size, None)


@pytest.fixture(autouse=True)
def stf_home(tmp_path, monkeypatch):
    """Every test gets its own ~/.stf."""
    home = tmp_path / 'stf-home'
    monkeypatch.setenv('STF_HOME', str(home))
    return home


@pytest.fixture(autouse=True)
def stf_conf(tmp_path_factory, monkeypatch):
    """Every test (and every stf it starts) gets a configuration of its own,
    with its database in a folder of its own: none reads confs/stf.conf."""
    folder = tmp_path_factory.mktemp('conf')
    zodb = folder / 'test-zodb.conf'
    zodb.write_text(f'<zodb>\n  <filestorage>\n    path {folder}/configured/stf.db\n'
                    '  </filestorage>\n</zodb>\n')
    conf = folder / 'test-stf.conf'
    conf.write_text(f'[stf]\nzodb_conf = {zodb}\nargus_conf = {ROOT}/confs/argus.conf\n'
                    f'ra_conf = {ROOT}/confs/ra.conf\nbin_seconds = 300\npager = less\n')
    monkeypatch.setenv('STF_CONF', str(conf))
    return conf


@pytest.fixture(autouse=True)
def no_contention(monkeypatch):
    """Every test starts as an analyst who has not raced anyone (ids consecutive)."""
    from stf.models import store
    monkeypatch.setattr(store, '_lane', None)
    monkeypatch.setattr(store, '_contended_until', 0.0)


@pytest.fixture
def editor(tmp_path, monkeypatch):
    """editor(text): $EDITOR becomes a script that writes text (a printf format)
    into the file it is given."""
    def use(text):
        script = tmp_path / 'editor.sh'
        script.write_text(f'#!/bin/sh\nprintf "{text}" > "$1"\n')
        script.chmod(0o755)
        monkeypatch.setenv('EDITOR', str(script))
        monkeypatch.delenv('VISUAL', raising=False)
    return use


@pytest.fixture
def shared():
    if not SHARED.is_dir():
        pytest.skip(f'the shared test data folder {SHARED} is absent')
    return SHARED


@pytest.fixture
def app(tmp_path):
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    db = database.Database(storages.open_file_storage(tmp_path / 'db' / 'stf.db'))
    application = App(config.load(), db)
    yield application
    application.close()


@pytest.fixture
def conflict_once(monkeypatch):
    """conflict_once(app): the next command's transaction meets a real
    conflict once: just before it commits, another connection commits a
    change to the root, which the transaction had read as current (ZODB's
    readCurrent), so ZODB refuses the commit and the command runs again."""
    def arm(app):
        database = app.database
        commit = database.tm.commit
        armed = [True]

        def commit_after_another(*arguments):
            if armed:
                armed.clear()
                database.conn.readCurrent(database.conn.root())
                commit_root_elsewhere(database.db)
            return commit(*arguments)
        monkeypatch.setattr(database.tm, 'commit', commit_after_another)
        return armed
    return arm


def commit_root_elsewhere(db):
    import transaction
    manager = transaction.TransactionManager()
    other = db.open(transaction_manager=manager)
    try:
        root = other.root()
        root['datasets'] = root['datasets']  # a new revision, the same content
        manager.commit()
    finally:
        other.close()


@pytest.fixture
def models(app, tmp_path):
    """An App with dataset 0 'lab', its group of connections 0 and of models
    0-1: a beacon 10.0.0.1-10.0.0.2-80-tcp, a DNS and a web connection."""
    from tests.test_connections_models import HEADER, flow_line
    lines = [flow_line(second) for second in (0, 10, 20)]
    lines.append(flow_line(5, dst='8.8.8.8', dport='53', label='flow=Background').replace(
        ',tcp,', ',udp,'))
    lines.append(flow_line(7, src='10.0.0.9', dport='443', label='flow=From-Normal-V1-Web'))
    path = tmp_path / 'labels.binetflow'
    path.write_text(HEADER + ''.join(lines))
    ok(app, f'datasets -c {path} --name lab')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    return app


def run(app, line):
    """Run one command line; return the reply."""
    return app.execute(line)


def ok(app, line):
    reply = app.execute(line)
    assert reply.ok, [getattr(item, 'text', item) for item in reply.items]
    return reply.items


def models_of(app, path, text, name):
    """Write a flow file and make its dataset, connections and models (group 0-1)."""
    path.write_text(text)
    ok(app, f'datasets -c {path} --name {name}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    return app


def error(app, line):
    reply = app.execute(line)
    assert not reply.ok, reply.items
    (message,) = [item for item in reply.items if getattr(item, 'level', '') == 'error']
    return message.text


def write_pcap(path, times, payload=b'x' * 20, nano=False):
    """A small Ethernet/IPv4/UDP pcap with one packet at each time (seconds)."""
    import dpkt
    with open(path, 'wb') as handle:
        writer = dpkt.pcap.Writer(handle, nano=nano)
        for number, moment in enumerate(times):
            udp = dpkt.udp.UDP(sport=40000 + number % 3, dport=53, data=payload)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([10, 0, 0, 2]),
                            p=dpkt.ip.IP_PROTO_UDP, data=udp)
            ip.len = len(ip)
            frame = dpkt.ethernet.Ethernet(src=b'\x02' * 6, dst=b'\x04' * 6, data=ip)
            writer.writepkt(bytes(frame), ts=moment)
    return path


FREE_PORTS = (20000, 32000)


def worker_ports():
    """This test process's share of FREE_PORTS: pytest-xdist's workers each
    take their own slice, so that one worker never starts a server on the
    port of a server another worker's test just stopped (its client would
    reconnect to the wrong server)."""
    low, high = FREE_PORTS
    count = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT') or 1)
    number = int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)
    share = (high - low) // count
    return low + number * share, low + (number + 1) * share - 1


def free_port():
    """A free loopback port below the kernel's ephemeral range (32768 up on
    Linux): a client reconnecting to a stopped server's port there can never
    connect to itself (TCP self-connect), nor meet a port another program was
    given by the kernel. Drawn by the system's random source: tests that seed
    Python's `random` (property tests) would give every worker the same ports."""
    import random
    import socket
    low, high = worker_ports()
    draw = random.SystemRandom()
    for _ in range(200):
        port = draw.randint(low, high)
        with socket.socket() as probe:
            try:
                probe.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    raise RuntimeError(f'no free port between {low} and {high}')
