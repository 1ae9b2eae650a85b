"""Several analysts on one database through a real ZEO server on loopback."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, error, ok

ZEO = pytest.importorskip('ZEO')


@pytest.fixture
def server(tmp_path):
    address, stop = ZEO.server(path=str(tmp_path / 'shared.fs'))
    yield address, stop
    stop()


def client(address, wait_timeout=10):
    from stf.core import config, database
    from stf.core.app import App
    db = database.open_zeo(f'{address[0]}:{address[1]}', wait_timeout=wait_timeout)
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
        assert second.database.describe() == ('ClientStorage', f'{server[0][0]}:{server[0][1]}')
    finally:
        first.close()
        second.close()


def test_same_note_edited_at_once_one_wins(server, monkeypatch):
    first, second = client(server[0]), client(server[0])
    try:
        ok(first, 'notes -c --text "start"')
        from stf.commands import common

        def editor_while_the_other_saves(text):
            ok(first, 'notes -e 0 --text "first analyst"')
            return 'second analyst'
        monkeypatch.setattr(common, 'edit_text', editor_while_the_other_saves)
        second.interactive = True
        assert error(second, 'notes -e 0') == (
            "note 0 was changed by another analyst while you edited it; nothing was saved: "
            "see theirs with 'notes -s 0' and edit again")
        assert ok(second, 'notes -s 0')[1].text == 'first analyst'
    finally:
        first.close()
        second.close()


def test_four_analysts_add_at_the_same_time(server, tmp_path):
    """4 stf processes in batch mode, 100 notes each, at once: all 400 are there,
    with unique ids."""
    host, port = server[0]
    script = ''.join(f'notes -c --text "analyst {{n}} note {i}"\n' for i in range(100))
    children = [subprocess.Popen(
        [sys.executable, str(ROOT / 'stf.py'), '--zeo', f'{host}:{port}'],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, STF_HOME=str(tmp_path / f'home{n}'))) for n in range(4)]
    for n, child in enumerate(children):
        child.stdin.write(script.replace('{n}', str(n)))
        child.stdin.close()
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read()
    app = client(server[0])
    try:
        texts = sorted(note.text for note in app.notes.values())
        assert texts == sorted(f'analyst {n} note {i}' for n in range(4) for i in range(100))
        ids = [note.id for note in app.notes.values()]
        assert len(set(ids)) == 400 and min(ids) == 0  # unique; racing writers may skip some
    finally:
        app.close()


def test_unreachable_server_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--zeo', '127.0.0.1:1',
                             '-c', 'info'], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))
    assert result.returncode == 2
    assert result.stderr.startswith('error: cannot reach the ZEO server at 127.0.0.1:1 ')
    assert len(result.stderr.splitlines()) == 1
