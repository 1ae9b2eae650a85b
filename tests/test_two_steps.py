"""Commands in two steps: what talks to the outside world (questions, the
editor, argus and ra, reading, writing and moving files) happens once,
before the transaction; a conflict runs only the transaction again, and the
command gives what a run without the conflict gives."""
import re
import shutil

import pytest

from tests.conftest import ok, write_pcap
from tests.test_argus import needs_tools
from tests.test_connections_models import HEADER, flow_line

BEACON = '10.0.0.1-10.0.0.2-80-tcp'
DATED = re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d')
SNAPSHOT = ('datasets -l', 'datasets -f', 'connections -l', 'models -l', 'labels -l',
            'notes -l')


def make_world(folder):
    """The files one analyst works on: a capture, flows, models, labels."""
    folder.mkdir(parents=True)
    write_pcap(folder / 'capture.pcap', [0, 1, 2, 30, 31])
    lines = [flow_line(second) for second in (0, 60, 120, 180)]
    lines += [flow_line(30, dst='8.8.8.8', dport='53', label='flow=From-Normal-V1-DNS')]
    (folder / 'flows.binetflow').write_text(HEADER + ''.join(lines))
    (folder / 'models.letters.tsv').write_text(
        'tuple_id\tflows\tlabel\tstate\n10.9.9.9-10.8.8.8-80-tcp\t2\tFrom-Botnet-TCP-HTTP-X-1'
        '\t88*\n')
    (folder / 'labels.csv').write_text(f'group,connection,label\n0-1,{BEACON},'
                                       'From-Botnet-TCP-HTTP-Imported-1\n')
    (folder / 'moved').mkdir()
    return folder


class Analyst:
    """An App on its own database and world, answering questions and
    writing in the editor as told, counting how often it was asked."""

    def __init__(self, folder):
        from stf.console import config
        from stf.console.app import App
        from stf.db.database import Database
        from stf.db.storages import open_file_storage
        self.world = make_world(folder / 'world')
        self.app = App(config.load(), Database(open_file_storage(folder / 'db' / 'stf.db')))
        self.asked = []

    def run(self, line):
        return self.app.execute(line.replace('WORLD', str(self.world)))

    def interactive(self, answers=None, text='typed in the editor\n'):
        def answer(question, *rest, **options):
            """ask(question, default) or choose(question, choices, default)."""
            self.asked.append(question)
            default = 'y' if question.endswith('[y/N]') else rest[-1]
            return (answers or {}).get(question.split(' (')[0].split(' [')[0], default)
        self.app.interactive = True
        self.app.ask = answer
        self.app.choose = answer
        self.app.editor = lambda old: self.asked.append('editor') or text

    def texts(self, reply):
        return [DATED.sub('DATE', item.text.replace(str(self.world), 'WORLD'))
                for item in reply.items if hasattr(item, 'text')]

    def snapshot(self):
        return [DATED.sub('DATE', repr(getattr(item, 'rows', item)).replace(str(self.world),
                                                                             'WORLD'))
                for line in SNAPSHOT for item in self.app.execute(line).items]


SETUP = {
    'flows': ['datasets -c WORLD/flows.binetflow --name flows'],
    'models': ['datasets -c WORLD/flows.binetflow --name flows', 'connections -g',
               'models -g'],
    'trimmed': ['datasets -c WORLD/flows.binetflow --name flows', 'connections -g',
                'connections -t 0 -a 2'],
    'capture': ['datasets -c WORLD/capture.pcap --name capture'],
    'note': ['datasets -c WORLD/flows.binetflow --name flows',
             'notes -c --text "first words"'],
}

# (setup, command line, interactive answers or None for batch)
CASES = [
    ([], 'datasets -c WORLD/flows.binetflow', {'Name of the dataset': 'asked'}),
    ([], 'datasets -c WORLD/models.letters.tsv --name imported', None),
    (SETUP['flows'], 'datasets -a WORLD/models.letters.tsv', None),
    (SETUP['flows'], 'datasets -d 0', {}),
    (SETUP['flows'], 'datasets -n 0', {}),
    (SETUP['flows'], 'datasets -n 0 --text "batch words"', None),
    (SETUP['capture'], 'datasets -F 0', None),
    (SETUP['flows'], 'datasets -o 0 WORLD/moved', None),
    (SETUP['flows'], 'connections -g', None),
    (SETUP['trimmed'], 'models -g', None),
    (SETUP['models'], f'models -n 0-1 -i {BEACON} --text "beacons"', None),
    (SETUP['models'], f'models -n 0-1 -i {BEACON}', {}),
    (SETUP['note'], 'notes -e 0 --text "second words"', None),
    (SETUP['note'], 'notes -c', {}),
    (SETUP['models'], f'labels -a -c {BEACON} -g 0-1',
     {'Decision': 'Botnet', 'Details': 'Beacon'}),
    (SETUP['models'], 'labels --import WORLD/labels.csv', None),
    (SETUP['note'], 'database -d notes', {}),
]


@pytest.fixture(autouse=True)
def no_lanes(monkeypatch):
    """Ids here come as if alone: after a conflict an analyst takes ids from
    a lane of its own (tested in test_store), which would number them apart."""
    from stf.models import store
    monkeypatch.setattr(store, 'contended', lambda: None)


@pytest.mark.parametrize('setup, line, answers', CASES, ids=[case[1] for case in CASES])
def test_a_conflict_gives_what_a_run_without_gives(tmp_path, conflict_once, setup, line,
                                                   answers):
    alone, racing = Analyst(tmp_path / 'alone'), Analyst(tmp_path / 'racing')
    try:
        for analyst in (alone, racing):
            for step in setup:
                assert analyst.run(step).ok, step
            if answers is not None:
                analyst.interactive(answers)
        expected = alone.texts(alone.run(line))
        conflict_once(racing.app)
        got = racing.texts(racing.run(line))
        assert racing.app.database.conflicts == 1  # the conflict did happen
        assert got == expected
        assert racing.asked == alone.asked  # asked once, as without the conflict
        assert racing.snapshot() == alone.snapshot()
        if line.startswith('datasets -o'):
            assert sorted(path.name for path in (racing.world / 'moved').iterdir()) == [
                'flows.binetflow']
    finally:
        alone.app.close()
        racing.app.close()


@needs_tools
def test_generating_flows_after_a_conflict_records_them(tmp_path, conflict_once):
    """argus and ra run once; the transaction run again only records their
    files (it used to find its own output in the way)."""
    analyst = Analyst(tmp_path)
    try:
        ok(analyst.app, f'datasets -c {analyst.world}/capture.pcap --name capture')
        conflict_once(analyst.app)
        assert analyst.texts(analyst.run('datasets -g')) == [
            'capture.biargus generated and added as file 1',
            'capture.binetflow generated and added as file 2']
        assert analyst.app.database.conflicts == 1
        assert [item.name for item in analyst.app.current().files.values()] == [
            'capture.pcap', 'capture.biargus', 'capture.binetflow']
    finally:
        analyst.app.close()


def test_a_note_edit_is_refused_only_when_that_note_changed(tmp_path, conflict_once):
    """A retried --text edit is saved when the conflict was on something else,
    and refused when another analyst changed that very note."""
    analyst = Analyst(tmp_path)
    app = analyst.app
    try:
        for step in SETUP['models']:
            assert analyst.run(step).ok, step
        ok(app, f'models -n 0-1 -i {BEACON} --text "mine"')
        conflict_once(app)
        assert analyst.texts(analyst.run(f'models -n 0-1 -i {BEACON} --text "mine, again"')) \
            == [f'note 0 of model {BEACON} (group 0-1) saved']
        assert app.notes.get(0).text == 'mine, again'

        def theirs_meanwhile(old):
            change_note_elsewhere(app, 0, 'theirs')
            return 'mine, third'
        analyst.interactive()
        app.editor = theirs_meanwhile
        assert analyst.texts(analyst.run(f'models -n 0-1 -i {BEACON}'))[0] == (
            "note 0 was changed by another analyst while you edited it; nothing was saved: "
            "see theirs with 'notes -s 0' and edit again")
        app.database.refresh()
        assert app.notes.get(0).text == 'theirs'
    finally:
        app.close()


def change_note_elsewhere(app, note_id, text):
    import transaction
    manager = transaction.TransactionManager()
    other = app.database.db.open(transaction_manager=manager)
    try:
        other.root()['notes'].get(note_id).set_text(text)
        manager.commit()
    finally:
        other.close()


def test_moved_files_are_recorded_after_a_conflict(tmp_path, conflict_once):
    analyst = Analyst(tmp_path)
    try:
        ok(analyst.app, f'datasets -c {analyst.world}/flows.binetflow --name flows')
        conflict_once(analyst.app)
        assert analyst.texts(analyst.run('datasets -o 0 WORLD/moved')) == [
            "dataset 0 'flows' now lives in WORLD/moved: 1 files moved, 0 found there"]
        (item,) = analyst.app.current().files.values()
        assert item.path == str(analyst.world / 'moved' / 'flows.binetflow')
        assert not (analyst.world / 'flows.binetflow').exists()
    finally:
        analyst.app.close()


def test_a_copy_is_not_a_move(tmp_path):
    """(Sanity of the world: moving needs the file where the dataset says.)"""
    analyst = Analyst(tmp_path)
    try:
        ok(analyst.app, f'datasets -c {analyst.world}/flows.binetflow --name flows')
        shutil.copy(analyst.world / 'flows.binetflow', analyst.world / 'moved')
        assert analyst.texts(analyst.run('datasets -o 0 WORLD/moved')) == [
            f"{analyst.world}/moved/flows.binetflow exists already; nothing was moved"
            .replace(str(analyst.world), 'WORLD')]
    finally:
        analyst.app.close()


def interrupted_once(monkeypatch, owner, name):
    """Ctrl-C (a real SIGINT) the first time owner.name runs: inside the
    command's transaction, before it is saved."""
    import os
    import signal
    original = getattr(owner, name)
    calls = []

    def interrupting(*arguments, **options):
        if not calls:
            calls.append(1)
            os.kill(os.getpid(), signal.SIGINT)
        return original(*arguments, **options)
    monkeypatch.setattr(owner, name, interrupting)


def test_files_moved_for_a_command_not_saved_go_back(tmp_path, monkeypatch):
    from stf.models.datasets import DatasetFile
    analyst = Analyst(tmp_path)
    try:
        ok(analyst.app, f'datasets -c {analyst.world}/flows.binetflow --name flows')
        interrupted_once(monkeypatch, DatasetFile, 'refresh_stat')
        assert analyst.texts(analyst.run('datasets -o 0 WORLD/moved')) == [
            'datasets: interrupted; nothing was changed']
        assert (analyst.world / 'flows.binetflow').exists()
        assert list((analyst.world / 'moved').iterdir()) == []
        monkeypatch.undo()
        assert analyst.texts(analyst.run('datasets -o 0 WORLD/moved')) == [
            "dataset 0 'flows' now lives in WORLD/moved: 1 files moved, 0 found there"]
    finally:
        analyst.app.close()


@needs_tools
def test_flows_made_for_a_command_not_saved_are_removed(tmp_path, monkeypatch):
    from stf.commands import datasets
    analyst = Analyst(tmp_path)
    try:
        ok(analyst.app, f'datasets -c {analyst.world}/capture.pcap --name capture')
        interrupted_once(monkeypatch, datasets, 'record_output')
        assert analyst.texts(analyst.run('datasets -g')) == [
            'datasets: interrupted; nothing was changed']
        assert sorted(path.name for path in analyst.world.iterdir()
                      if path.name.startswith('capture.')) == ['capture.pcap']
        monkeypatch.undo()
        assert analyst.texts(analyst.run('datasets -g')) == [
            'capture.biargus generated and added as file 1',
            'capture.binetflow generated and added as file 2']
    finally:
        analyst.app.close()
