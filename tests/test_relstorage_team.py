"""A team on RelStorage with PostgreSQL (a real server, tests/pgserver.py):
consoles in this process working on one database, conflicts retried,
completion following another analyst's commits, eight batch stf at once, and
the server restarted under a console."""
import contextlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import ROOT, error, ok
from tests.pgserver import postgres, relstorage, wait_until  # noqa: F401 (fixtures)
from tests.test_connections_models import HEADER, flow_line

CC = '10.0.0.1-10.0.0.2-80-tcp'
BOTNET = 'From-Botnet-TCP-HTTP-CC-1'
ANALYSTS = 8
LABELS_EACH = 6


def analyst(conf):
    """An App (a console without its terminal) on the RelStorage of conf."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    return App(config.load(), database.Database(storages.open_config(conf, ROOT)))


@pytest.fixture
def team(relstorage):  # noqa: F811
    """Two analysts on one new database."""
    first, second = analyst(relstorage[0]), analyst(relstorage[0])
    yield first, second
    first.close()
    second.close()


def flows(path, servers=1):
    """A flow file: 3 flows from 10.0.0.1 to port 80 of each of servers
    hosts (10.0.0.2, 10.0.0.3, ...): one connection each."""
    path.write_text(HEADER + ''.join(flow_line(moment, dst=f'10.0.0.{2 + server}')
                                     for server in range(servers) for moment in (0, 10, 20)))
    return path


def history(app):
    return ok(app, 'history -n 50')[0].rows


def counts(app):
    """(datasets, groups of connections, groups of models, labels, notes), as
    the database holds them now (read in a transaction of their own)."""
    def read():
        root = app.root
        return (len(root['datasets']), len(root['connections']), len(root['models']),
                len(root['labels']), len(root['notes']))
    return app.database.read(read)


def test_two_analysts_datasets_models_labels_notes_and_undo(team, tmp_path):
    first, second = team
    path = flows(tmp_path / 'lab.binetflow')
    ok(first, f'datasets -c {path} --name lab')
    ok(first, 'connections -g')
    ok(first, 'models -g')
    (table,) = ok(second, 'models -L 0-1')
    assert [row[2] for row in table.rows] == [CC]
    assert ok(second, f'labels -a -c {CC} -g 0-1 --name {BOTNET}')[-1].text == (
        f'1 connection of group 0-1 labeled {BOTNET} (label 0)')
    ok(first, 'notes -c --to label:0 --text "calls home every 10 s"')
    assert counts(second) == (1, 1, 1, 1, 2)  # the label's note on the model, and ours
    assert [row[3] for row in history(second)[:5]] == [
        "notes -c --to label:0 --text 'calls home every 10 s'",
        f'labels -a -c {CC} -g 0-1 --name {BOTNET}', 'models -g', 'connections -g',
        f'datasets -c {path} --name lab']
    # One analyst undoes the other's note, then the label under it.
    note, label = (row[0] for row in history(second)[:2])
    assert ok(second, f'undo {note}')[0].text == (
        f"undone: {note} notes -c --to label:0 --text 'calls home every 10 s'")
    ok(second, f'undo {label}')
    assert ok(first, 'labels -l')[0].rows == []
    assert counts(first) == (1, 1, 1, 0, 0)
    assert first.root['models'].get('0-1').labels.get(CC) is None
    assert history(first)[0][3] == f'undo {label}: labels -a -c {CC} -g 0-1 --name {BOTNET}'


def test_conflict_is_retried_and_both_are_saved(team, monkeypatch):
    """The second analyst's note meets the first's, committed just before it:
    the second runs again on the new data and both notes are there."""
    first, second = team
    commit, armed = second.database.tm.commit, [True]

    def first_commits_before(*arguments):
        if armed:
            armed.clear()
            ok(first, 'notes -c --text "first analyst"')
        return commit(*arguments)
    monkeypatch.setattr(second.database.tm, 'commit', first_commits_before)
    (saved,) = ok(second, 'notes -c --text "second analyst"')
    assert second.database.conflicts == 1
    texts = first.database.read(lambda: {note.text: note.id for note in first.notes.values()})
    assert sorted(texts) == ['first analyst', 'second analyst']
    # after a conflict new ids come from the analyst's own lane (stf.models.store)
    assert saved.text == f"note {texts['second analyst']} saved (free-standing)"


@contextlib.contextmanager
def root_row_held(app, dsn, monkeypatch):
    """While in it, another commit holds the lock of the root's row, which
    every commit of app reads as current (as BTrees read the nodes above the
    bucket they write): RelStorage fails those commits at once. Yields the
    holder's connection (its rollback frees the row)."""
    import psycopg2
    db, commit = app.database, app.database.tm.commit

    def reading_the_root_as_current(*arguments):
        db.conn.readCurrent(db.conn.root())
        return commit(*arguments)
    monkeypatch.setattr(db.tm, 'commit', reading_the_root_as_current)
    holder = psycopg2.connect(dsn)
    try:
        holder.cursor().execute('SELECT pg_advisory_xact_lock(0)')  # the root's row
        yield holder
    finally:
        holder.close()


def hold_the_root_row(team, relstorage, monkeypatch, seconds):  # noqa: F811
    """The first analyst writes a note while the root's row is held for
    seconds: (seconds waited, the note's line, the notes' ids by text)."""
    first, _ = team
    ok(first, 'notes -c --text before')
    with root_row_held(first, relstorage[1], monkeypatch) as holder:
        release = threading.Timer(seconds, holder.rollback)
        release.start()
        began = time.monotonic()
        (saved,) = ok(first, 'notes -c --text during')
        waited = time.monotonic() - began
        release.join()
    texts = first.database.read(lambda: {note.text: note.id for note in first.notes.values()})
    return waited, saved.text, texts


def test_a_row_held_past_the_deadlock_check_is_waited_for(team, relstorage,  # noqa: F811
                                                          monkeypatch):
    """Held 1.5 s, longer than PostgreSQL's deadlock check (1 s): the pauses
    between tries grow past it and the command is saved."""
    waited, said, texts = hold_the_root_row(team, relstorage, monkeypatch, 1.5)
    assert waited > 1.4 and team[0].database.conflicts >= 5
    assert sorted(texts) == ['before', 'during']
    assert said == f"note {texts['during']} saved (free-standing)"


def test_a_held_row_is_waited_for_past_the_count_of_retries(team, relstorage,  # noqa: F811
                                                           monkeypatch):
    """The row is freed only at the pause after RETRIES + 2 failed tries: a
    conflict over a held row is tried again past the count of retries."""
    from stf.db import database
    first, _ = team
    ok(first, 'notes -c --text before')
    with root_row_held(first, relstorage[1], monkeypatch) as holder:
        pauses = []

        def pause(attempt, cap=None):
            pauses.append(attempt)
            if len(pauses) == database.RETRIES + 2:
                holder.rollback()
            return 0.01
        monkeypatch.setattr(database, 'retry_pause', pause)
        (saved,) = ok(first, 'notes -c --text during')
    assert len(pauses) == database.RETRIES + 2 == first.database.conflicts
    texts = first.database.read(lambda: {note.text: note.id for note in first.notes.values()})
    assert sorted(texts) == ['before', 'during']
    assert saved.text == f"note {texts['during']} saved (free-standing)"


def test_a_row_held_longer_than_the_patience_is_one_line(team, relstorage,  # noqa: F811
                                                         monkeypatch):
    from stf.db import database
    monkeypatch.setattr(database, 'LOCK_PATIENCE', 1)
    first, _ = team
    ok(first, 'notes -c --text before')
    with root_row_held(first, relstorage[1], monkeypatch):
        assert error(first, 'notes -c --text during') == (
            "another analyst's commit held the same data for 1 s while this command ran; "
            'nothing was changed, run it again')
    assert first.database.read(lambda: [note.text for note in first.notes.values()]) == [
        'before']


def test_completion_follows_another_analysts_commit_within_6_seconds(team, tmp_path):
    first, second = team
    first.interactive = True
    assert first.completion['dataset_id'] == {}
    assert first.completion['dataset_id'] == {}  # the console now watches for commits
    time.sleep(0.5)  # the watcher has polled once: the other's commit is newer
    ok(second, f"datasets -c {flows(tmp_path / 'new.binetflow')} --name newcomer")
    start = time.monotonic()
    # Only completion is asked (a keystroke), no command runs in the first console.
    while first.completion['dataset_id'] != {'0': 'newcomer'}:
        assert time.monotonic() - start < 6, first.completion['dataset_id']
        time.sleep(0.1)
    assert time.monotonic() - start > 1  # seen by the watcher's poll 5 s later, not at once
    assert first.database._watcher is not None and second.database._watcher is None


def batch(conf, tmp_path, number, lines):
    """A batch stf (a process of its own) running lines on the database of conf."""
    settings = tmp_path / f'stf-{number}.conf'
    settings.write_text(f'[stf]\nzodb_conf = {conf}\n')
    command = [sys.executable, str(ROOT / 'stf.py'), '--conf', str(settings)]
    for line in lines:
        command += ['-c', line]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def team_lines(number):
    """Analyst number's commands: LABELS_EACH labels of connections of its own
    in the one group of models, a note after each."""
    for label in range(LABELS_EACH):
        server = 2 + number * LABELS_EACH + label
        yield (f'labels -a -c 10.0.0.1-10.0.0.{server}-80-tcp -g 0-1 --direction From '
               f'--decision Botnet --proto3 TCP --proto4 HTTP --details Analyst{number}x{label}')
        yield f'notes -c --text "analyst {number}, note {label}"'


def test_eight_analysts_at_once_label_and_write_notes(relstorage, tmp_path):  # noqa: F811
    """Eight processes write into the same trees (the group's labels and model
    notes, the labels and the notes) at once: the commits lock each other's
    rows, deadlock now and then, and are retried until every one is saved."""
    conf = relstorage[0]
    setup = analyst(conf)
    try:
        path = flows(tmp_path / 'team.binetflow', ANALYSTS * LABELS_EACH)
        ok(setup, f'datasets -c {path} --name team')
        ok(setup, 'connections -g')
        ok(setup, 'models -g')
    finally:
        setup.close()
    runs = [batch(conf, tmp_path, number, team_lines(number)) for number in range(ANALYSTS)]
    with ThreadPoolExecutor(ANALYSTS) as pool:
        done = list(pool.map(lambda run: run.communicate(timeout=240), runs))
    assert [(run.returncode, err) for run, (_, err) in zip(runs, done)] == [(0, '')] * ANALYSTS
    after = analyst(conf)
    try:
        model_notes = free_notes = ANALYSTS * LABELS_EACH
        assert counts(after) == (1, 1, 1, ANALYSTS * LABELS_EACH, model_notes + free_notes)
        labels = after.root['models'].get('0-1').labels
        assert {connection: after.root['labels'].get(labels.get(connection)).name
                for connection in labels.keys()} == {
            f'10.0.0.1-10.0.0.{2 + number * LABELS_EACH + label}-80-tcp':
                f'From-Botnet-TCP-HTTP-Analyst{number}x{label}-1'
            for number in range(ANALYSTS) for label in range(LABELS_EACH)}
        assert sorted(note.text for note in after.notes.values()
                      if note.text.startswith('analyst ')) == sorted(
            f'analyst {number}, note {label}'
            for number in range(ANALYSTS) for label in range(LABELS_EACH))
        group_notes = after.root['models'].get('0-1').notes
        assert len({group_notes.get(connection) for connection in labels.keys()}) == model_notes
    finally:
        after.close()


def test_server_restarted_under_a_console(postgres, relstorage, stf_home):  # noqa: F811
    first = analyst(relstorage[0])
    try:
        ok(first, 'notes -c --text "before"')
        postgres.restart()
        ok(first, 'notes -c --text "after a restart"')  # the lost connection is made again
        postgres.stop()
        place = (f"PostgreSQL {relstorage[1].split(chr(39))[1]}@127.0.0.1:{postgres.port} "
                 "as stf")
        away = (f'notes: the database server {place} is not reachable; nothing was changed '
                '(the console goes on and reconnects when the server is back)')
        assert error(first, 'notes -c --text "during"') == away
        assert error(first, 'notes -l') == away
        postgres.start()
        ok(first, 'notes -c --text "back"')
        assert [note.text for note in first.notes.values()] == ['before', 'after a restart',
                                                                'back']
    finally:
        if postgres.run('pg_ctl', '-D', str(postgres.data), 'status', check=False).returncode:
            postgres.start()  # an assertion failed while it was down: the next tests need it
        first.close()
    log = (stf_home / 'stf.log').read_text()
    assert 'Traceback' not in log and 'Connection refused' in log
    second = analyst(relstorage[0])
    try:
        assert len(second.notes) == 3
    finally:
        second.close()


def test_the_toolbar_shows_postgresql_away_and_back(postgres, relstorage,  # noqa: F811
                                                    monkeypatch):
    """No command typed: the commit watcher's polls tell the toolbar that
    the server stopped answering, then that it answers again."""
    from stf.console.repl import toolbar
    from stf.db import commitwatch
    monkeypatch.setattr(commitwatch, 'POLL_SECONDS', 0.2)
    monkeypatch.setenv('COLUMNS', '200')
    first = analyst(relstorage[0])
    view = toolbar(first)
    place = f"PostgreSQL {relstorage[1].split(chr(39))[1]}@127.0.0.1:{postgres.port} as stf"
    here = f' dataset: -   database: RelStorage {place}'
    try:
        first.database.others_committed()  # completion asks this: the watcher starts
        assert view() == f'{here}   help: help, Ctrl-D exits '
        postgres.stop()
        try:
            assert wait_until(lambda: '(server away)' in view())
            assert view() == f'{here} (server away)   help: help, Ctrl-D exits '
        finally:
            postgres.start()
        assert wait_until(lambda: '(server away)' not in view())
        ok(first, 'notes -c --text back')
    finally:
        first.close()


def test_which_errors_of_postgresql_mean_the_server_lost():
    psycopg2 = pytest.importorskip('psycopg2', reason='psycopg2 is not installed: `make postgres`')
    from psycopg2 import extensions
    from stf.db.errors import server_lost
    assert server_lost(psycopg2.OperationalError('server closed the connection unexpectedly'))
    assert server_lost(psycopg2.InterfaceError('connection already closed'))
    assert not server_lost(extensions.TransactionRollbackError('deadlock detected'))
    assert not server_lost(extensions.QueryCanceledError('canceling statement due to timeout'))
    assert not server_lost(psycopg2.ProgrammingError('permission denied for table object_state'))
    assert not server_lost(ValueError('connection'))


def test_pack_on_postgresql_counts_revisions(team):
    """A pack drops old revisions; PostgreSQL's files keep their size, so the
    line counts revisions, not bytes."""
    from stf.db.postgres import revision_count
    first, _ = team
    ok(first, 'notes -c --text draft')
    for text in ('second', 'third', 'final'):
        ok(first, f'notes -e 0 --text {text}')
    storage = first.database.db.storage
    before = revision_count(storage)
    message, undo_warning = ok(first, 'database -p')
    after = revision_count(storage)
    # the note's three older texts, the notes' tree before the note was in it,
    # the root before stf's structures were added to it
    assert before - after == 5
    assert message.text == (f'packed: {before} stored revisions -> {after} stored revisions '
                            '(PostgreSQL reuses the room freed after its next VACUUM; its files '
                            'keep their size)')
    assert undo_warning.text.startswith('undo cannot go back before this pack')
    assert [note.text for note in first.notes.values()] == ['final']
