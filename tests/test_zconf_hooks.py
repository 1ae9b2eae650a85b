"""The database's ZConfig file read by ZConfig (any spelling of a section),
and ZEO's private parts that stf changes, checked before anything is shared."""
import pytest

from tests.conftest import ok

ZEO = pytest.importorskip('ZEO')

SPELLINGS = {
    'plain': '<filestorage>\n    path {path}\n  </filestorage>',
    'named': '<filestorage main>\n    path {path}\n  </filestorage>',
    'capitals': '<FileStorage>\n    PATH {path}\n  </FileStorage>',
}


def stf_conf(tmp_path, section_text):
    """An stf.conf naming a zodb.conf with section_text inside <zodb>."""
    zodb = tmp_path / 'zodb.conf'
    zodb.write_text('# the database\n%define HERE ' + str(tmp_path) + '\n<zodb>\n  '
                    + section_text + '\n  cache-size 1000\n</zodb>\n')
    conf = tmp_path / 'stf.conf'
    conf.write_text(f'[stf]\nzodb_conf = {zodb}\n')
    return conf


def opened(conf, *options):
    from stf.console import config, main
    from stf.console.app import App
    loaded = config.load(conf)
    return App(loaded, main.open_database(loaded, main.parse_arguments(list(options))))


@pytest.mark.parametrize('spelling', sorted(SPELLINGS))
def test_each_spelling_is_shared_by_local_consoles_and_its_folder_made(tmp_path, spelling):
    path = tmp_path / 'not' / 'yet' / 'stf.db'
    conf = stf_conf(tmp_path, SPELLINGS[spelling].format(path='$HERE/not/yet/stf.db'))
    first = opened(conf)
    second = opened(conf)
    try:
        assert path.parent.is_dir()
        assert first.database.shared.path == path
        assert second.database.describe() == (
            'FileStorage', f'{path} (shared by the stf on this machine)')
        ok(first, 'notes -c --text "from the first"')
        assert [row[3] for row in ok(second, 'notes -l')[0].rows] == ['from the first']
    finally:
        second.close()
        first.close()


def test_the_cache_size_of_the_file_is_used(tmp_path):
    conf = stf_conf(tmp_path, SPELLINGS['plain'].format(path=tmp_path / 'stf.db'))
    app = opened(conf)
    try:
        assert app.database.db.getCacheSize() == 1000
    finally:
        app.close()


@pytest.mark.parametrize('storage', [
    '<filestorage>\n    path {path}\n    read-only true\n  </filestorage>',
    '<demostorage>\n    <filestorage base>\n      path {path}\n    </filestorage>\n'
    '  </demostorage>',
])
def test_a_file_with_options_is_opened_as_written_not_shared(tmp_path, storage):
    from stf.console.config import ROOT
    from stf.db import zconf
    path = tmp_path / 'stf.db'
    opened(stf_conf(tmp_path, SPELLINGS['plain'].format(path=path))).close()  # make it
    conf = stf_conf(tmp_path, storage.format(path=path))
    assert zconf.shared_file(zconf.read((tmp_path / 'zodb.conf').read_text(), ROOT)) is None
    app = opened(conf)
    try:
        assert app.database.shared is None
        assert type(app.database.db.storage).__name__ in ('FileStorage', 'DemoStorage')
        if 'read-only' in storage:
            assert app.execute('notes -c --text "no"').ok is False
            assert app.database.db.storage.isReadOnly()
    finally:
        app.close()


def test_only_the_first_database_counts_and_only_its_own_storage(tmp_path):
    from stf.console.config import ROOT
    from stf.db import zconf
    two = ('<zodb first>\n  <mappingstorage/>\n</zodb>\n<zodb second>\n  <filestorage>\n'
           '    path /x/y.db\n  </filestorage>\n</zodb>\n')
    assert zconf.shared_file(zconf.read(two, ROOT)) is None
    plain = two.replace('<mappingstorage/>', '<filestorage>\n    path $ROOT/a.db\n  </filestorage>')
    assert zconf.shared_file(zconf.read(plain, ROOT)) == f'{ROOT}/a.db'


def test_a_configuration_that_is_not_text_is_one_line(tmp_path):
    from stf.console import config, main
    from stf.core.errors import UserError
    conf = stf_conf(tmp_path, '')
    (tmp_path / 'zodb.conf').write_bytes(b'<zodb>\n  \xff\n</zodb>\n')
    with pytest.raises(UserError) as raised:
        main.open_database(config.load(conf), main.parse_arguments([]))
    assert str(raised.value) == (f'database configuration {tmp_path}/zodb.conf is not UTF-8 '
                                 'text (byte 9); fix zodb_conf in stf.conf')


def test_zodbs_own_errors_name_the_right_line(tmp_path):
    from stf.console import config, main
    from stf.core.errors import UserError
    conf = stf_conf(tmp_path, '')
    zodb = tmp_path / 'zodb.conf'
    zodb.write_text('<zodb>\n  <nosuchstorage>\n  </nosuchstorage>\n</zodb>\n')
    with pytest.raises(UserError) as raised:
        main.open_database(config.load(conf), main.parse_arguments([]))
    assert str(raised.value) == (f"{zodb} is not a valid ZConfig file: unknown type name: "
                                 f"'nosuchstorage' (line 2 in {zodb}); compare it with "
                                 'confs/zodb.conf')


def test_root_stands_for_stfs_folder_and_serve_finds_the_file(tmp_path):
    from stf.console import config, main
    conf = stf_conf(tmp_path, SPELLINGS['named'].format(path='$ROOT/database/other.db'))
    assert main.configured_path(config.load(conf)) == config.ROOT / 'database' / 'other.db'


def test_a_commented_client_is_no_client_and_a_live_one_is(tmp_path):
    from stf.console.config import ROOT
    from stf.db import zconf
    text = ('%import ZEO\n<zodb>\n  <ClientStorage>\n    server 127.0.0.1:8100\n'
            '    server 127.0.0.1:8101\n    Wait-Timeout 10\n    <ssl>\n'
            '      certificate /a.pem\n    </ssl>\n  </ClientStorage>\n</zodb>\n')
    commented = ''.join(f'# {line}\n' for line in text.splitlines())
    assert zconf.client_settings(zconf.read(commented, ROOT)) is None
    assert zconf.client_settings(zconf.read(text, ROOT)) == {
        'server': '127.0.0.1:8100 127.0.0.1:8101', 'wait-timeout': '10',
        'ssl': {'certificate': '/a.pem'}}


@pytest.mark.parametrize('text, message', [
    ('<zodb>\n  <filestorage>\n    path /x.db\n', 'unclosed sections not allowed (line 3 in '),
    ('<zodb>\n  path $NOWHERE/x.db\n</zodb>\n', "no replacement for 'NOWHERE' (line 2 in "),
])
def test_a_broken_zconfig_file_is_one_line(tmp_path, text, message):
    from stf.console import config, main
    from stf.core.errors import UserError
    conf = stf_conf(tmp_path, '')
    zodb = tmp_path / 'zodb.conf'
    zodb.write_text(text)
    with pytest.raises(UserError) as raised:
        main.open_database(config.load(conf), main.parse_arguments([]))
    assert str(raised.value) == (f'{zodb} is not a valid ZConfig file: {message}{zodb}); '
                                 'compare it with confs/zodb.conf')


# -- ZEO's private parts

def missing_message(hooks):
    from stf.db import zeohooks
    return (f'ZEO {zeohooks.zeo_version()} lacks what stf needs for sharing a database '
            f'({hooks}; stf was checked with ZEO 6.2), so stf does not share with it: '
            'install ZEO 6.2 (make setup), or open a local file alone with --db PATH')


@pytest.fixture
def zeo_without_paced_reconnections(monkeypatch):
    """A ZEO whose client has no try_connecting (as another version might)."""
    import ZEO.asyncio.client
    monkeypatch.delattr(ZEO.asyncio.client.ClientIO, 'try_connecting')


def run_main(*arguments):
    from stf.console import main
    return main.main(list(arguments))


def test_zeo_version_is_the_one_checked_and_pinned():
    import re
    from stf.db import zeohooks
    from tests.conftest import ROOT
    assert zeohooks.zeo_version().startswith(zeohooks.CHECKED_WITH + '.') or (
        zeohooks.zeo_version() == zeohooks.CHECKED_WITH)
    major, minor = map(int, zeohooks.CHECKED_WITH.split('.'))
    pins = re.findall(r'(?m)^ZEO(.*)$', (ROOT / 'dependencies.txt').read_text())
    assert pins == [f'>={major}.{minor},<{major}.{minor + 1}']
    zeohooks.check_classes()  # this ZEO has every part


def test_without_a_hook_stf_does_not_share_but_db_works(zeo_without_paced_reconnections,
                                                        tmp_path, capsys):
    from tests.conftest import free_port
    message = f'error: {missing_message("paced reconnections")}\n'
    assert run_main('--zeo', f'127.0.0.1:{free_port()}', '-c', 'notes -l') == 2
    assert capsys.readouterr().err == message
    assert run_main('--serve', f'127.0.0.1:{free_port()}', '--db', str(tmp_path / 's.db')) == 2
    assert capsys.readouterr() == ('', message)
    conf = stf_conf(tmp_path, SPELLINGS['plain'].format(path=tmp_path / 'local.db'))
    assert run_main('--conf', str(conf), '-c', 'notes -l') == 2
    assert capsys.readouterr().err == message
    assert not (tmp_path / 'local.db').exists()
    assert run_main('--db', str(tmp_path / 'alone.db'), '-c', 'notes -c --text alone') == 0
    assert capsys.readouterr().out == 'note 0 saved (free-standing)\n'


def without_fetched_ids(storage):
    del storage._oids  # as a ZEO that keeps its fetched ids elsewhere


def without_addresses(storage):
    storage._server.client.addrs = []  # nothing to ask whether the server answers


@pytest.mark.parametrize('take_away, hook', [
    (without_fetched_ids, 'new object ids after reconnection'),
    (without_addresses, 'bounded waits'),
])
def test_a_client_whose_hook_cannot_be_installed_is_closed_and_refused(tmp_path, take_away,
                                                                      hook):
    import ZEO.ClientStorage
    from stf.db import zeohooks
    address, stop = ZEO.server(path=str(tmp_path / 'served.fs'))
    try:
        storage = ZEO.ClientStorage.ClientStorage(address, wait_timeout=5)
        take_away(storage)
        with pytest.raises(zeohooks.HooksMissing) as raised:
            zeohooks.install(storage, 5)
        assert str(raised.value) == missing_message(hook)
        assert not storage.is_connected()
    finally:
        stop()


def test_a_local_server_without_the_parts_of_the_hand_over_is_refused(tmp_path):
    from ZEO.StorageServer import StorageServer
    from ZODB.FileStorage import FileStorage
    from stf.db import zeohooks
    server = StorageServer(str(tmp_path / 'sock'), {'1': FileStorage(str(tmp_path / 'f.db'))})
    try:
        assert zeohooks.server_parts_missing(server) == []
        clients, server.zeo_storages_by_storage_id = server.zeo_storages_by_storage_id, None
        assert zeohooks.server_parts_missing(server) == ['hand-over of a local file']
        server.zeo_storages_by_storage_id = clients
    finally:
        server.close()


def assert_hooked(conf):
    """The client a configuration opens has stf's hooks."""
    from stf.console.config import ROOT
    from stf.db import storages
    db = storages.open_config(conf, ROOT)
    assert db.storage.notify_connected.__name__ == 'forget_and_notify'
    assert db.storage._server.io_call.__name__ == 'bounded_io_call'
    db.close()


@pytest.mark.parametrize('section', ['clientstorage', 'zeoclient'])
def test_both_kinds_of_client_section_get_the_hooks(tmp_path, section):
    address, stop = ZEO.server(path=str(tmp_path / 'served.fs'))
    conf = tmp_path / 'client.conf'
    wait = '    wait-timeout 5\n' if section == 'clientstorage' else ''  # ZODB's lacks it
    conf.write_text(f'%import ZEO\n<zodb>\n  <{section}>\n    server {address[0]}:{address[1]}\n'
                    f'{wait}  </{section}>\n</zodb>\n')
    try:
        assert_hooked(conf)
    finally:
        stop()


def test_a_client_inside_another_storage_is_refused(tmp_path):
    from stf.console.config import ROOT
    from stf.core.errors import UserError
    from stf.db import storages
    address, stop = ZEO.server(path=str(tmp_path / 'served.fs'))
    conf = tmp_path / 'client.conf'
    conf.write_text(f'%import ZEO\n<zodb>\n  <demostorage>\n    <clientstorage base>\n'
                    f'      server {address[0]}:{address[1]}\n      wait-timeout 5\n'
                    '    </clientstorage>\n  </demostorage>\n</zodb>\n')
    try:
        with pytest.raises(UserError) as raised:
            storages.open_config(conf, ROOT)
        assert str(raised.value) == (f'{conf}: a ZEO client inside another storage cannot be '
                                     'shared safely by stf; put the <clientstorage> directly '
                                     'in <zodb>')
    finally:
        stop()


def test_every_hook_is_in_place_on_a_client(tmp_path):
    from stf.db import storages
    address, stop = ZEO.server(path=str(tmp_path / 'served.fs'))
    try:
        db = storages.open_zeo(f'{address[0]}:{address[1]}', wait_timeout=5)
        storage = db.storage
        assert storage.notify_connected.__name__ == 'forget_and_notify'
        assert storage._server.io_call.__name__ == 'bounded_io_call'
        assert storage._server.client.try_connecting.__name__ == 'paced'
        from stf.db.database import Database
        database = Database(db)
        assert storage.invalidateTransaction.__name__ == 'note_commit'
        database.close()
    finally:
        stop()


def test_a_byte_order_mark_and_an_include_are_read(tmp_path):
    from stf.console.config import ROOT
    from stf.db import storages
    conf = tmp_path / 'zodb.conf'
    conf.write_bytes(b'\xef\xbb\xbf<zodb>\n  <filestorage>\n    path ' + str(tmp_path).encode()
                     + b'/bom.db\n  </filestorage>\n</zodb>\n')
    assert storages.shared_file(conf, ROOT) == (tmp_path / 'bom.db', None)
    (tmp_path / 'part.conf').write_text(f'<zodb>\n  <filestorage>\n    path {tmp_path}/inc.db\n'
                                        '  </filestorage>\n</zodb>\n')
    included = tmp_path / 'included.conf'
    included.write_text(f'%include {tmp_path}/part.conf\n')
    assert storages.shared_file(included, ROOT) is None  # opened as written, for one stf
    db = storages.open_config(included, ROOT)
    try:
        assert db.storage.getName() == f'{tmp_path}/inc.db'
    finally:
        db.close()


def test_an_included_client_gets_the_hooks(tmp_path):
    address, stop = ZEO.server(path=str(tmp_path / 'served.fs'))
    (tmp_path / 'client.conf').write_text(
        f'%import ZEO\n<zodb>\n  <clientstorage>\n    server {address[0]}:{address[1]}\n'
        '    wait-timeout 5\n  </clientstorage>\n</zodb>\n')
    conf = tmp_path / 'zodb.conf'
    conf.write_text(f'%include {tmp_path}/client.conf\n')
    try:
        assert_hooked(conf)
    finally:
        stop()


def test_serving_a_folder_is_one_line(tmp_path, capsys):
    assert run_main('--serve', '127.0.0.1:1', '--db', str(tmp_path)) == 2
    assert capsys.readouterr() == ('', f'error: {tmp_path} is a folder; give the path of a '
                                       f'database file, e.g. {tmp_path / "stf.db"}\n')
    assert not (tmp_path.parent / f'{tmp_path.name}.lock').exists()
