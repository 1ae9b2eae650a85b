"""A command that meets conflicts runs again, pausing longer each time, and
gives up with one line after RETRIES attempts, having changed nothing."""
import random

import pytest

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
