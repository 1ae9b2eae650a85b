"""Reading the database's ZConfig file (confs/zodb.conf or a ZEO client file)
with ZConfig's own parser.

Before ZODB opens it, the file is read without a schema for what stf must
know first: whether it is a plain FileStorage that local consoles can share,
the folders to create, and a ZEO client's settings to check (its TLS files
before ZEO's own reading turns them into a context). Then `load` reads it
with ZODB's schema, as ZODB itself would, for opening.

ZConfig's rules hold: section types and keys in any case (`<FileStorage>`,
`<filestorage main>`), comments on their own lines only, `%define` and
`$NAME` substitution; `$ROOT` stands for stf's folder.
"""
import io
from dataclasses import dataclass, field

from stf.core.errors import UserError


@dataclass
class Section:
    """One section: type (lower case), name, values (key in lower case -> list
    of values as written), sections (the sections inside)."""
    type: str
    name: str = ''
    values: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)

    def walk(self):
        yield self
        for section in self.sections:
            yield from section.walk()

    def first(self, key, default=None):
        return self.values.get(key, [default])[0]


# Section types that open a ZEO client (ZEO's own, and ZODB's older one).
CLIENT_TYPES = ('clientstorage', 'zeoclient')


def read(text, root, where='the database configuration'):
    """The sections of ZConfig text, $ROOT standing for root; one-line
    UserError for a file ZConfig cannot read."""
    from ZConfig.schemaless import Context
    context = Context()
    try:
        _parse(text, root, where, context, context.top)
    except NotImplementedError:
        # %include: only ZODB's own reading (load) follows it; nothing here
        # is shared or checked beforehand, and ZODB opens it as written.
        return Section('')
    return _convert(context.top)


def load(text, root, where='the database configuration'):
    """The text read with ZODB's schema: its `database` list holds the
    factories of its <zodb> sections (ZODB.config.databaseFromConfig opens them)."""
    import ZConfig.loader
    import ZODB.config
    loader = ZConfig.loader.ConfigLoader(ZODB.config.getDbSchema())
    matcher = loader.createSchemaMatcher()
    _parse(text, root, where, loader, matcher)
    return _checked(matcher.finish, where)


def _parse(text, root, where, context, top):
    from ZConfig.cfgparser import ZConfigParser
    from ZConfig.loader import Resource
    parser = ZConfigParser(Resource(io.StringIO(text), str(where)), context, {'root': str(root)})
    _checked(lambda: parser.parse(top), where)


def _checked(work, where):
    import ZConfig
    try:
        return work()
    except ZConfig.ConfigurationError as error:
        raise UserError(f'{where} is not a valid ZConfig file: {" ".join(str(error).split())}; '
                        'compare it with confs/zodb.conf') from None


def _convert(section):
    values = {}
    for key, found in section.items():
        values.setdefault(key.lower(), []).extend(found)
    return Section(section.type or '', section.name or '', values,
                   [_convert(inner) for inner in section.sections])


def opens_a_client(config):
    """True when the database that `load` read opens a ZEO client anywhere
    (ZEO's <clientstorage> or ZODB's <zeoclient>, inside another storage too)."""
    return any(_is_client_factory(factory) for factory in _factories(config.database[0]))


def wait_timeout(config):
    """The wait-timeout of the database's own ZEO client (ZEO's default, 30 s,
    for ZODB's <zeoclient>, which has none)."""
    storage = config.database[0].config.storage
    return float(getattr(storage.config, 'wait_timeout', None) or 30)


def _factories(factory):
    """factory and every storage factory inside it (a DemoStorage's base...)."""
    yield factory
    for value in vars(factory.config).values():
        for inner in value if isinstance(value, (list, tuple)) else [value]:
            if hasattr(inner, 'open') and hasattr(inner, 'config'):
                yield from _factories(inner)


def _is_client_factory(factory):
    import ZODB.config
    try:
        from ZEO.zconfig import ClientStorageConfig
    except ImportError:
        ClientStorageConfig = ZODB.config.ZEOClient
    return isinstance(factory, (ZODB.config.ZEOClient, ClientStorageConfig))


def first_database(top):
    """The first <zodb> section (the database ZODB opens), or None."""
    return next((section for section in top.walk() if section.type == 'zodb'), None)


def shared_file(top):
    """The path of the FileStorage that local consoles may share: when the
    first <zodb> holds one <filestorage> that gives nothing but its path.
    None otherwise (read-only, a DemoStorage around it, other options): ZODB
    then opens the file as written, for one stf at a time."""
    storage = _storage_of(first_database(top))
    if storage is None or storage.type != 'filestorage' or set(storage.values) != {'path'}:
        return None
    return storage.first('path')


def served_file(top):
    """The path of the first <zodb>'s FileStorage, whatever its options, or None."""
    storage = _storage_of(first_database(top))
    return storage.first('path') if storage is not None and storage.type == 'filestorage' \
        else None


def _storage_of(zodb):
    if zodb is None or len(zodb.sections) != 1:
        return None
    return zodb.sections[0]


def cache_size(top):
    """The first <zodb>'s cache-size (objects per connection), or None."""
    zodb = first_database(top)
    size = zodb.first('cache-size') if zodb is not None else None
    try:
        return int(size) if size is not None else None
    except ValueError:
        return None  # ZODB's own reading says what is wrong with it


def has_client(top):
    """True when any section opens a ZEO client."""
    return any(section.type in CLIENT_TYPES for section in top.walk())


def filestorage_paths(top):
    """The path of every <filestorage> section, in file order."""
    return [section.first('path') for section in top.walk()
            if section.type == 'filestorage' and section.first('path')]


def client_settings(top):
    """The first <clientstorage> section as {key: value} (several values of
    one key joined by a space, e.g. several servers) with its <ssl> section
    as 'ssl' (or None); None when there is no ZEO client."""
    client = next((section for section in top.walk() if section.type in CLIENT_TYPES), None)
    if client is None:
        return None
    settings = {key: ' '.join(values) for key, values in client.values.items()}
    ssl_section = next((inner for inner in client.sections if inner.type == 'ssl'), None)
    settings['ssl'] = ({key: ' '.join(values) for key, values in ssl_section.values.items()}
                       if ssl_section else None)
    return settings


# ZConfig's booleans (ZConfig.datatypes.asBoolean).
TRUE_WORDS = {'true', 'yes', 'on', '1'}


@dataclass
class RelStorageSettings:
    """What stf checks of a <relstorage> on PostgreSQL before opening it."""
    dsn: str
    keep_history: bool
    create_schema: bool


def relstorage_settings(top):
    """The first <relstorage> section's PostgreSQL settings (RelStorage's
    defaults: keep-history and create-schema true), or None."""
    storage = next((section for section in top.walk() if section.type == 'relstorage'), None)
    if storage is None:
        return None
    adapter = next((inner for inner in storage.sections if inner.type == 'postgresql'), None)
    dsn = adapter.first('dsn', '') if adapter is not None else None
    if dsn is None:
        return None  # another database: RelStorage says what it thinks of it

    def flag(key):
        return storage.first(key, 'true').strip().lower() in TRUE_WORDS
    return RelStorageSettings(dsn, flag('keep-history'), flag('create-schema'))


def has_relstorage(top):
    return any(section.type == 'relstorage' for section in top.walk())


def create_relstorage_tables(config):
    """Have the RelStorage of the database that `load` read create its tables."""
    storage = config.database[0].config.storage
    if hasattr(storage.config, 'create_schema'):
        storage.config.create_schema = True
