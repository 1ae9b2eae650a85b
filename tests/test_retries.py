"""A command that meets conflicts runs again, pausing longer each time, and
gives up with one line after RETRIES attempts, having changed nothing."""
import random
import time

import pytest

from stf.core.errors import UserError

from stf.db import database
from tests.conftest import commit_root_elsewhere, error, ok


@pytest.fixture
def pauses(monkeypatch):
    """The pauses the retries asked for, in order (not slept)."""
    asked = []

    def record(attempt, cap=database.RETRY_PAUSE_CAP):
        asked.append((attempt, cap))
        return 0
    monkeypatch.setattr(database, 'retry_pause', record)
    return asked


def conflict_always(app, monkeypatch):
    """Every commit of app meets a real conflict: just before it, another
    connection commits a new revision of the root, which it read as current."""
    db = app.database
    commit = db.tm.commit

    def commit_after_another(*arguments):
        db.conn.readCurrent(db.conn.root())
        commit_root_elsewhere(db.db)
        return commit(*arguments)
    monkeypatch.setattr(db.tm, 'commit', commit_after_another)


def test_a_command_always_in_conflict_gives_up_after_the_retries(app, monkeypatch, pauses):
    ok(app, 'notes -c --text kept')
    conflict_always(app, monkeypatch)
    assert error(app, 'notes -c --text lost') == (
        f'another analyst changed the same data {database.RETRIES} times while this '
        'command ran; nothing was changed, run it again')
    assert database.RETRIES == 30
    assert app.database.conflicts == 30
    # a pause between attempts, longer each time up to a quarter of a second
    assert pauses == [(attempt, 0.25) for attempt in range(29)]
    assert [note.text for note in app.notes.values()] == ['kept']


@pytest.mark.parametrize('cap, total', [(0.25, 6.25), (1.0, 23.02)])
def test_the_pause_doubles_up_to_its_cap(cap, total):
    """Changed data: up to 0.25 s, the 30 tries' pauses 6.3 s at most (3.1 s on
    average); held rows: up to 1 s, past PostgreSQL's deadlock check."""
    random.seed(7)
    longest = [max(database.retry_pause(attempt, cap) for _ in range(2000))
               for attempt in range(30)]
    bounds = [min(cap, 0.004 * 2 ** attempt) for attempt in range(30)]
    assert all(0 <= pause <= bound for pause, bound in zip(longest, bounds))
    assert all(pause > 0.95 * bound for pause, bound in zip(longest, bounds))
    assert round(sum(bounds), 2) == total


def lock_error():
    """RelStorage's conflict over rows another commit holds."""
    interfaces = pytest.importorskip('relstorage.adapters.interfaces',
                                     reason='RelStorage is not installed: `make postgres`')
    return interfaces.UnableToLockRowsToReadCurrentError()


def test_held_rows_do_not_count_among_the_retries(monkeypatch):
    from ZODB.POSException import ConflictError
    monkeypatch.setattr(database, 'retry_pause', lambda attempt, cap=None: 0)
    retry, held = database.Retrying(database.RETRIES), lock_error()
    for _ in range(database.RETRIES - 1):
        assert retry.pause_after(ConflictError()) == 0
        assert retry.pause_after(held) == 0
    with pytest.raises(UserError) as raised:
        retry.pause_after(ConflictError())
    assert str(raised.value) == ('another analyst changed the same data 30 times while this '
                                 'command ran; nothing was changed, run it again')
    assert retry.attempts == 59


def test_the_patience_starts_at_the_first_held_row(monkeypatch):
    """A command that worked longer than the patience before meeting a held
    row still waits for it."""
    monkeypatch.setattr(database, 'LOCK_PATIENCE', 0.3)
    monkeypatch.setattr(database, 'retry_pause', lambda attempt, cap=None: 0)
    retry, held = database.Retrying(database.RETRIES), lock_error()
    time.sleep(0.4)  # the command's own work
    assert retry.pause_after(held) == 0
    time.sleep(0.1)
    assert retry.pause_after(held) == 0
    time.sleep(0.3)
    with pytest.raises(UserError) as raised:
        retry.pause_after(held)
    assert str(raised.value) == ("another analyst's commit held the same data for 0.3 s while "
                                 'this command ran; nothing was changed, run it again')
