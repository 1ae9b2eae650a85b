"""database --copy-to: a database copied with its history into another
storage (FileStorage, RelStorage on a real PostgreSQL), compared after;
the refusals (not empty, itself, others connected, a commit meanwhile)."""
import pytest

from tests.conftest import ROOT, commit_root_elsewhere, error, ok
from tests.pgserver import postgres, relstorage, relstorage_conf, wait_until  # noqa: F401

CC = '10.0.0.1-10.0.0.2-80-tcp'


def file_conf(path, database):
    path.write_text(f'<zodb>\n  <filestorage>\n    path {database}\n  </filestorage>\n</zodb>\n')
    return path


def app_on(conf):
    from stf.console import config
    from stf.console.app import App
    from stf.db import database, storages
    return App(config.load(), database.Database(storages.open_config(conf, ROOT)))


def history_of(app):
    (table,) = ok(app, 'history')
    return [(row[0], row[3]) for row in table.rows]


@pytest.fixture
def labeled(models):
    """The models fixture with a label on the beacon and a note."""
    ok(models, f'labels -a -c {CC} -g 0-1 --direction From --decision Botnet --name '
       'From-Botnet-TCP-HTTP-CC12-1')
    ok(models, 'notes -c --text "seen in the lab"')
    return models


# 1 dataset, 1 file, 1 connection group, 1 part of flows, 1 model group, 3
# models, 1 label, 2 notes (the label's own and the one written)
OBJECTS = 11


def test_file_to_postgresql_and_back_keeps_everything(labeled, relstorage, tmp_path):  # noqa: F811
    pg_conf, _ = relstorage
    (line,) = ok(labeled, f'database --copy-to {pg_conf}')
    assert sum(1 for _ in labeled.database.db.storage.iterator()) == 7
    assert line.text == ('copied 7 transactions; every dataset, group, model, label and note '
                         f'is the same ({OBJECTS} objects)')
    original = history_of(labeled)
    on_postgresql = app_on(pg_conf)
    try:
        assert history_of(on_postgresql) == original
        back_conf = file_conf(tmp_path / 'back.conf', tmp_path / 'back' / 'stf.db')
        (line,) = ok(on_postgresql, f'database --copy-to {back_conf}')
        assert line.text == ('copied 7 transactions; every dataset, group, model, label and '
                             f'note is the same ({OBJECTS} objects)')
        # the copy takes new objects: its object ids go on after the copied ones
        ok(on_postgresql, 'notes -c --text "written on PostgreSQL"')
        assert [note.text for note in on_postgresql.root['notes'].values()][1:] == [
            'seen in the lab', 'written on PostgreSQL']
        assert len({note._p_oid for note in on_postgresql.root['notes'].values()}) == 3
    finally:
        on_postgresql.close()
    back = app_on(back_conf)
    try:
        assert history_of(back) == original
        assert original[0][1] == "notes -c --text 'seen in the lab'"
        (table,) = ok(back, 'notes -l')
        assert len(table.rows) == 2
        ok(back, f'undo {original[0][0]}')  # the copy's history can be undone
        (table,) = ok(back, 'notes -l')
        assert len(table.rows) == 1
        assert back.root['models'].get('0-1').states[CC] == labeled.root['models'].get(
            '0-1').states[CC]
    finally:
        back.close()


def test_a_history_free_postgresql_says_what_it_keeps(labeled, relstorage, tmp_path):  # noqa: F811
    """Into a history-free database the newest state of each object goes,
    with no history; copied back out, the copy says it had none to give."""
    pg_conf, _ = relstorage
    pg_conf.write_text(pg_conf.read_text().replace(
        'create-schema', 'keep-history false\n    create-schema'))
    (line,) = ok(labeled, f'database --copy-to {pg_conf}')
    assert line.text == (
        'copied 7 transactions into a database that keeps no history: only the newest state of '
        'each object is there, history and undo start empty; every dataset, group, model, '
        f'label and note is the same ({OBJECTS} objects)')
    free = app_on(pg_conf)
    try:
        assert history_of(free) == []
        back_conf = file_conf(tmp_path / 'back.conf', tmp_path / 'back' / 'stf.db')
        (line,) = ok(free, f'database --copy-to {back_conf}')
        # a transaction for each one that left the newest state of some object
        assert line.text == (
            'copied the newest state of every object (6 transactions; the open database keeps '
            'no history); every dataset, group, model, label and note is the same '
            f'({OBJECTS} objects)')
    finally:
        free.close()
    back = app_on(back_conf)
    try:
        (table,) = ok(back, 'notes -l')
        assert len(table.rows) == 2
        assert back.root['models'].get('0-1').states[CC] == labeled.root['models'].get(
            '0-1').states[CC]
    finally:
        back.close()


def test_an_empty_postgresql_database_gets_its_tables(labeled, postgres, tmp_path):  # noqa: F811
    """create-schema false, as in confs/relstorage.conf: the copy creates the
    tables of an empty database itself."""
    name = postgres.create_database()
    conf = relstorage_conf(tmp_path / 'pg.conf', postgres.dsn(name), create_schema=False)
    (line,) = ok(labeled, f'database --copy-to {conf}')
    assert line.text == ('copied 7 transactions; every dataset, group, model, label and note '
                         f'is the same ({OBJECTS} objects)')


def test_a_postgresql_destination_that_cannot_be_opened_is_one_line(labeled, postgres,  # noqa
                                                                    tmp_path):
    conf = relstorage_conf(tmp_path / 'pg.conf', postgres.dsn('nosuch'), create_schema=False)
    assert error(labeled, f'database --copy-to {conf}') == (
        f'PostgreSQL at 127.0.0.1:{postgres.port} has no database nosuch; fix dbname= in the '
        'DSN, or create it (createdb -O stf nosuch)')


def test_refuses_a_database_that_is_not_empty(labeled, tmp_path):
    conf = file_conf(tmp_path / 'copy.conf', tmp_path / 'copy.fs')
    ok(labeled, f'database --copy-to {conf}')
    size = (tmp_path / 'copy.fs').stat().st_size
    assert error(labeled, f'database --copy-to {conf}') == (
        f'the database {conf} names is not empty; stf copies only into an empty database and '
        'never overwrites one: give another')
    assert (tmp_path / 'copy.fs').stat().st_size == size


def test_refuses_the_open_database_itself(app, tmp_path):
    conf = file_conf(tmp_path / 'same.conf', tmp_path / 'db' / 'stf.db')
    assert error(app, f'database --copy-to {conf}') == (
        f"{conf} names the open database itself ({tmp_path / 'db' / 'stf.db'}); give the "
        'configuration of another, empty database')


def test_refuses_the_open_postgresql_database_itself(relstorage, tmp_path):  # noqa: F811
    conf, _ = relstorage
    again = tmp_path / 'again.conf'
    again.write_text(conf.read_text())
    app = app_on(conf)
    try:
        assert error(app, f'database --copy-to {again}') == (
            f'{again} names the open database itself; give the configuration of another, '
            'empty database')
    finally:
        app.close()


def test_refuses_a_configuration_that_is_not_a_file(app, tmp_path):
    assert error(app, f'database --copy-to {tmp_path}/none.conf') == (
        f'{tmp_path}/none.conf is not a file; give the ZConfig file of the database to copy '
        'into (e.g. confs/zodb.conf)')


def test_refuses_while_another_session_is_on_postgresql(postgres, relstorage,  # noqa: F811
                                                        tmp_path):
    import psycopg2
    conf, dsn = relstorage
    app = app_on(conf)
    target = file_conf(tmp_path / 'copy.conf', tmp_path / 'copy.fs')
    try:
        ok(app, 'notes -c --text "one"')
        other = psycopg2.connect(dsn)
        try:
            assert error(app, f'database --copy-to {target}') == (
                '1 other client connected to its PostgreSQL database; they could commit while '
                'it is copied: copy when only this stf is connected')
        finally:
            other.close()
        assert not (tmp_path / 'copy.fs').exists() or (tmp_path / 'copy.fs').stat().st_size < 10
        assert wait_until(lambda: app.execute(f'database --copy-to {target}').ok)
    finally:
        app.close()


def test_a_console_looking_for_others_commits_is_no_other_session(relstorage,  # noqa: F811
                                                                   tmp_path):
    """The commit watcher (started by completion) has a connection of its own:
    it is this stf's, not another writer."""
    app = app_on(relstorage[0])
    try:
        ok(app, 'notes -c --text "one"')
        app.database.others_committed()  # completion asks this: the watcher starts
        assert wait_until(lambda: app.database.own_storage_instances())
        (line,) = ok(app, f"database --copy-to {file_conf(tmp_path / 'c.conf', tmp_path / 'c.fs')}")
        assert line.text.startswith('copied ')
    finally:
        app.close()


def test_refuses_while_another_client_is_on_the_zeo_server(tmp_path):
    ZEO = pytest.importorskip('ZEO')
    from tests.test_zeo import client
    address, stop = ZEO.server(path=str(tmp_path / 'shared.fs'))
    first, second = client(address), client(address)
    target = file_conf(tmp_path / 'copy.conf', tmp_path / 'copy.fs')
    try:
        ok(first, 'notes -c --text "one"')
        assert error(first, f'database --copy-to {target}') == (
            '1 other client connected to its ZEO server; they could commit while it is '
            'copied: copy when only this stf is connected')
        assert not (tmp_path / 'copy.fs').exists()  # refused before it is made
        second.close()
        assert wait_until(lambda: first.execute(f'database --copy-to {target}').ok)
    finally:
        first.close()
        stop()


def test_a_commit_while_copying_makes_the_copy_incomplete(labeled, tmp_path):
    conf = file_conf(tmp_path / 'copy.conf', tmp_path / 'copy.fs')
    committed = []

    def progress(label, unit=None):
        def update(done, total):
            if done == 1 and not committed:
                committed.append(label)
                commit_root_elsewhere(labeled.database.db)
        return update
    labeled.progress = progress
    assert error(labeled, f'database --copy-to {conf}') == (
        f'someone committed to the open database while it was copied: the copy in {conf} is '
        'incomplete; empty it and copy again when no one else works on the database')
    assert committed == ['copying transactions']


def test_the_comparison_names_the_first_difference(labeled, tmp_path):
    import transaction
    from stf.core.errors import UserError
    from stf.db import copying, storages
    conf = file_conf(tmp_path / 'copy.conf', tmp_path / 'copy.fs')
    ok(labeled, f'database --copy-to {conf}')
    copy = storages.open_file_storage(tmp_path / 'copy.fs')
    manager = transaction.TransactionManager()
    connection = copy.open(transaction_manager=manager)
    connection.root()['notes'].get(1).set_text('changed in the copy')
    manager.commit()
    connection.close()
    try:
        with pytest.raises(UserError) as raised:
            copying.compare(labeled.root, copy.storage, conf)
    finally:
        copy.close()
    assert str(raised.value) == (f'the copy in {conf} differs from the open database: note 1 is '
                                 'not the same; empty it and copy again')
