"""Reading the database's ZConfig file (confs/zodb.conf or a ZEO client file)
with ZConfig's own parser, without its schema: what stf needs to know before
ZODB opens it (the FileStorage paths, to share the file between local
consoles and create its folder; the ZEO client settings, to check them).

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


def read(text, root, where='the database configuration'):
    """The sections of ZConfig text, $ROOT standing for root; one-line
    UserError for a file ZConfig cannot read."""
    import ZConfig
    from ZConfig.cfgparser import ZConfigParser
    from ZConfig.schemaless import Context, Resource
    context = Context()
    try:
        parser = ZConfigParser(Resource(io.StringIO(text), str(where)), context,
                               {'root': str(root)})
        parser.parse(context.top)
    except ZConfig.ConfigurationError as error:
        raise UserError(f'{where} is not a valid ZConfig file: {" ".join(str(error).split())}; '
                        'compare it with confs/zodb.conf') from None
    except NotImplementedError as error:  # %include
        raise UserError(f'{where}: {error}; write the sections in the file itself') from None
    return _convert(context.top)


def _convert(section):
    values = {}
    for key, found in section.items():
        values.setdefault(key.lower(), []).extend(found)
    return Section(section.type or '', section.name or '', values,
                   [_convert(inner) for inner in section.sections])


def filestorage_paths(top):
    """The path of every <filestorage> section, in file order."""
    return [section.first('path') for section in top.walk()
            if section.type == 'filestorage' and section.first('path')]


def client_settings(top):
    """The first <clientstorage> section as {key: value} (several values of
    one key joined by a space, e.g. several servers) with its <ssl> section
    as 'ssl' (or None); None when there is no ZEO client."""
    client = next((section for section in top.walk() if section.type == 'clientstorage'), None)
    if client is None:
        return None
    settings = {key: ' '.join(values) for key, values in client.values.items()}
    ssl_section = next((inner for inner in client.sections if inner.type == 'ssl'), None)
    settings['ssl'] = ({key: ' '.join(values) for key, values in ssl_section.values.items()}
                       if ssl_section else None)
    return settings
