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

    def record(attempt):
        asked.append(attempt)
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
    assert database.RETRIES == 20
    assert app.database.conflicts == 20
    assert pauses == list(range(19))  # a pause between attempts, longer each time
    assert [note.text for note in app.notes.values()] == ['kept']


def test_the_pause_doubles_up_to_a_second():
    random.seed(7)
    longest = [max(database.retry_pause(attempt) for _ in range(2000)) for attempt in range(20)]
    bounds = [min(1.0, 0.004 * 2 ** attempt) for attempt in range(20)]
    assert all(0 <= pause <= bound for pause, bound in zip(longest, bounds))
    assert all(pause > 0.95 * bound for pause, bound in zip(longest, bounds))
    # Past a deadlock check of PostgreSQL's (1 s by default): the pauses of the
    # 20 attempts can add up to 13 s, 6.5 s on average.
    assert round(sum(bounds), 2) == 13.02


def lock_error():
    """RelStorage's conflict over rows another commit holds."""
    interfaces = pytest.importorskip('relstorage.adapters.interfaces',
                                     reason='RelStorage is not installed: `make postgres`')
    return interfaces.UnableToLockRowsToReadCurrentError()


def test_held_rows_do_not_count_among_the_retries(monkeypatch):
    from ZODB.POSException import ConflictError
    monkeypatch.setattr(database, 'retry_pause', lambda attempt: 0)
    retry, held = database.Retrying(database.RETRIES), lock_error()
    for _ in range(database.RETRIES - 1):
        assert retry.pause_after(ConflictError()) == 0
        assert retry.pause_after(held) == 0
    with pytest.raises(UserError) as raised:
        retry.pause_after(ConflictError())
    assert str(raised.value) == ('another analyst changed the same data 20 times while this '
                                 'command ran; nothing was changed, run it again')
    assert retry.attempts == 39


def test_the_patience_starts_at_the_first_held_row(monkeypatch):
    """A command that worked longer than the patience before meeting a held
    row still waits for it."""
    monkeypatch.setattr(database, 'LOCK_PATIENCE', 0.3)
    monkeypatch.setattr(database, 'retry_pause', lambda attempt: 0)
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
