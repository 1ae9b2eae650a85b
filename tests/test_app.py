"""Dispatch, transactions, errors and the database command."""
import os

from stf.commands.registry import Command
from stf.core.errors import UserError
from stf.commands.results import Text
from tests.conftest import error, ok


def test_help_lists_every_registered_command(app):
    table, _ = ok(app, "help")
    names = [row[0] for row in table.rows]
    assert names == ['help', 'info', 'clear', 'exit', 'database', 'datasets', 'connections',
                     'models', 'visualize', 'labels', 'notes', 'detectors', 'experiments',
                     'markov_models', 'distances', 'search', 'history', 'undo', 'plugins', 'dns',
                     '!CMD']
    # Each line fits the table (its last column is not wrapped).
    from stf.console.render import LAST_COLUMN_RULE, table_text
    assert max(len(row[2]) for row in table.rows) <= LAST_COLUMN_RULE
    lines = table_text(table).splitlines()
    assert {len(line) for line in lines[:-1]} == {len(lines[0])}


def test_dash_h_is_help_not_an_error(app):
    (text,) = ok(app, 'datasets -h')
    assert isinstance(text, Text)
    assert text.text.startswith('usage: datasets')
    assert ok(app, 'help datasets')[0].text == text.text


def test_unknown_command_and_flag(app):
    assert error(app, 'bogus -x') == "unknown command 'bogus'; type 'help' for the list of commands"
    assert error(app, 'datasets -x') == ("datasets: unrecognized arguments: -x; "
                                         "see 'datasets -h'")
    assert error(app, 'datasets') == (
        "datasets: say what to do, e.g. 'datasets -l'; see 'datasets -h'")
    assert error(app, 'datasets -s abc') == ("datasets: argument -s/--select: invalid int value: "
                                             "'abc'; see 'datasets -h'")
    assert error(app, 'datasets -c "open') == ('cannot split the input: No closing quotation; '
                                               'close the quotes')


def test_database_info_and_list(app, tmp_path):
    (fields,) = ok(app, 'database -i')
    pairs = dict(fields.pairs)
    assert pairs['storage'] == 'FileStorage'
    assert pairs['location'] == str(tmp_path / 'db' / 'stf.db')
    (table,) = ok(app, 'database -l')
    assert table.rows == [('connections', 'ConnectionGroups', 0), ('datasets', 'Datasets', 0),
                          ('detectors', 'Detectors', 0), ('distances', 'Distances', 0),
                          ('experiments', 'Experiments', 0), ('labels', 'Labels', 0),
                          ('markov_models', 'MarkovModels', 0), ('models', 'ModelGroups', 0),
                          ('notes', 'Notes', 0)]


def test_database_delete_structure(app):
    app.datasets.new('x', '/tmp')
    app.database.tm.commit()
    assert error(app, 'database -d datasets') == (
        "this would delete 'datasets', the 1 items in it; nothing was changed: add --yes to "
        'confirm (batch mode cannot ask)')
    assert len(app.datasets) == 1
    assert ok(app, 'database -d datasets --yes')[0].text == (
        "deleted everything in 'datasets'; it starts empty")
    assert len(app.datasets) == 0
    assert error(app, 'database -d nothing') == (
        "no top-level structure 'nothing'; existing: connections, datasets, detectors, "
        'distances, experiments, labels, markov_models, models, notes')


def register(app, name, handler):
    app.registry.add(Command(name, 'test command', run=handler))


def test_failed_command_changes_nothing(app):
    def half_done(app_, args):
        app_.datasets.new('half', '/tmp')
        raise UserError('went wrong halfway')
    register(app, 'halfway', half_done)
    assert error(app, 'halfway') == 'went wrong halfway'
    assert len(app.datasets) == 0


def test_ctrl_c_aborts_the_command(app):
    def interrupted(app_, args):
        app_.datasets.new('half', '/tmp')
        raise KeyboardInterrupt
    register(app, 'long', interrupted)
    assert error(app, 'long') == 'long: interrupted; nothing was changed'
    assert len(app.datasets) == 0


def test_unexpected_error_is_logged_and_console_goes_on(app, stf_home):
    def broken(app_, args):
        return {}['missing']
    register(app, 'broken', broken)
    text = error(app, 'broken')
    assert text.startswith("broken: unexpected error KeyError: 'missing' (details in ")
    log = (stf_home / 'stf.log').read_text()
    assert 'Traceback' in log and "KeyError: 'missing'" in log
    assert ok(app, 'datasets -l')[0].rows == []


def test_commit_per_command_survives_reopen(tmp_path):
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    path = tmp_path / 'db' / 'stf.db'
    first = App(config.load(), database.Database(storages.open_file_storage(path)))
    first.datasets.new('kept', '/tmp')
    first.database.tm.commit()
    first.close()
    second = App(config.load(), database.Database(storages.open_file_storage(path)))
    assert [item.name for item in second.datasets.values()] == ['kept']
    second.close()


def test_second_opener_gets_one_clear_line(app, tmp_path):
    from stf.db import storages
    import pytest
    with pytest.raises(UserError) as raised:
        storages.open_file_storage(tmp_path / 'db' / 'stf.db')
    # This test's own process holds it (the app fixture).
    assert str(raised.value).startswith(
        f"the database {tmp_path / 'db' / 'stf.db'} is open in ")
    assert str(raised.value).endswith(
        f'(process {os.getpid()}): close it, or open another file with --db')


def test_pack_drops_old_revisions(app):
    for number in range(20):
        app.datasets.new(f'd{number}', '/tmp')
        app.database.tm.commit()
    for number in range(20):
        app.datasets.remove(number)
        app.database.tm.commit()
    before = app.database.db.storage.getSize()
    message, undo_warning = ok(app, 'database -p')
    after = app.database.db.storage.getSize()
    assert after < before
    assert message.text == f'packed: {before:,} bytes -> {after:,} bytes'
    assert undo_warning.text.startswith('undo cannot go back before this pack')


def test_revert_sees_commits_of_another_connection(app):
    import transaction
    other_tm = transaction.TransactionManager()
    other = app.database.db.open(transaction_manager=other_tm)
    other.root()['datasets'].new('from elsewhere', '/tmp')
    other_tm.commit()
    other.close()
    assert ok(app, 'database -r')[0].text.startswith('reverted to the stored state')
    assert [item.name for item in app.datasets.values()] == ['from elsewhere']
    # Completion ids follow: the commit was seen.
    assert app.completion['dataset_id'] == {'0': 'from elsewhere'}


def test_shipped_configuration_creates_its_database_folder(tmp_path):
    from stf.console import config
    from stf.db import database, storages
    shipped = config.ROOT / 'confs' / 'zodb.conf'
    db = database.Database(storages.open_config(shipped, tmp_path / 'fresh'))
    assert (tmp_path / 'fresh' / 'database' / 'stf.db').is_file()
    assert db.describe() == ('FileStorage', str(tmp_path / 'fresh' / 'database' / 'stf.db'))
    db.close()


def test_configured_paths_expand_the_home_folder(tmp_path, monkeypatch):
    from stf.console import config
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    conf = tmp_path / 'stf.conf'
    conf.write_text('[stf]\nzodb_conf = ~/confs/zodb.conf\nargus_conf = confs/argus.conf\n')
    loaded = config.load(conf)
    assert (loaded.zodb_conf, loaded.argus_conf) == (
        tmp_path / 'home' / 'confs' / 'zodb.conf', config.ROOT / 'confs' / 'argus.conf')


def test_ctrl_c_while_saving_is_held_until_saved(app, monkeypatch):
    """Ctrl-C that comes once saving has begun waits for the save: the
    command is saved in full, and says so."""
    import os
    import signal
    commit = app.database.tm.commit

    def interrupted_commit(*arguments):
        os.kill(os.getpid(), signal.SIGINT)  # the analyst's Ctrl-C, as the save begins
        return commit(*arguments)
    monkeypatch.setattr(app.database.tm, 'commit', interrupted_commit)
    reply = app.execute('notes -c --text "kept"')
    assert reply.ok
    assert [(item.text, item.level) for item in reply.items] == [
        ('note 0 saved (free-standing)', 'ok'),
        ('Ctrl-C came while this command was being saved: it was saved in full', 'warning')]
    app.database.refresh()
    assert app.notes.get(0).text == 'kept'
    monkeypatch.undo()
    assert [item.text for item in app.execute('notes -c --text "next"').items] == [
        'note 1 saved (free-standing)']


def test_ctrl_c_before_saving_changes_nothing(app, monkeypatch):
    import os
    import signal
    notes = type(app.notes)
    new = notes.new

    def interrupted_new(self, *arguments, **options):
        note = new(self, *arguments, **options)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the change, before the save
        return note
    monkeypatch.setattr(notes, 'new', interrupted_new)
    assert error(app, 'notes -c --text "dropped"') == 'notes: interrupted; nothing was changed'
    monkeypatch.undo()
    app.database.refresh()
    assert len(app.notes) == 0


def test_flag_letters_mean_the_same_in_every_command(app):
    """A letter of FLAG_MEANINGS stands for the same long option everywhere
    (or for the older meaning a command keeps, listed in KEPT_MEANINGS)."""
    from stf.commands.registry import FLAG_MEANINGS, KEPT_MEANINGS
    meanings = {letter: names for letter, names, _ in FLAG_MEANINGS}
    found = {}
    for command in app.registry.commands:
        for flag in command.flags():
            letter = flag.flags[0]
            if letter in meanings:
                long = next((name for name in flag.flags if name.startswith('--')), letter)
                found[(command.name, letter)] = long
    breaking = {key: long for key, long in found.items()
                if long not in meanings[key[1]] and KEPT_MEANINGS.get(key) != long}
    assert breaking == {}
    assert set(KEPT_MEANINGS) <= set(found)  # no stale exception
    assert found[('models', '-o')] == '--output' and found[('datasets', '--yes')] == '--yes'


def test_help_shows_the_flag_letters(app):
    (commands, letters) = ok(app, 'help')
    assert letters.title == 'flag letters'
    assert letters.rows[0] == ('-l', '--list', 'list')
    assert ('--yes', '--yes', 'confirm without being asked') in letters.rows
    assert letters.footer.startswith('older meanings kept: database -c --commit, ')
