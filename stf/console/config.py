"""Configuration: confs/stf.conf (INI) and where stf keeps its own files.

Relative paths in stf.conf are relative to stf's folder, so the shipped
configuration works from any working directory.
"""
import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from stf.core.errors import UserError

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CONF = ROOT / 'confs' / 'stf.conf'

# key -> (type, default); what stf.conf may say, declared once.
SETTINGS = {
    'zodb_conf': (Path, 'confs/zodb.conf'),
    'argus_conf': (Path, 'confs/argus.conf'),
    'ra_conf': (Path, 'confs/ra.conf'),
    'bin_seconds': (int, '300'),
    'pager': (str, 'less'),
    # a folder of plugins besides <stf home>/plugins/ (docs/plugins.md); empty: none
    'plugins_folder': (Path, ''),
}


def stf_home():
    """Folder for history, log and per-user state: $STF_HOME or ~/.stf."""
    home = Path(os.environ.get('STF_HOME') or Path.home() / '.stf')
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f'cannot create the stf folder {home}: {error.strerror}; '
                        'set STF_HOME to a writable folder') from None
    return home


@dataclass
class Config:
    """Attributes: one per SETTINGS key, paths made absolute; path (the file)."""
    path: Path
    zodb_conf: Path
    argus_conf: Path
    ra_conf: Path
    bin_seconds: int
    pager: str
    plugins_folder: Path = None


def load(path=None):
    """The configuration at path, else $STF_CONF, else confs/stf.conf."""
    path = Path(path or os.environ.get('STF_CONF') or DEFAULT_CONF)
    parser = configparser.ConfigParser(inline_comment_prefixes=None)
    try:
        with open(path, encoding='utf-8-sig') as handle:
            parser.read_file(handle)
    except OSError as error:
        raise UserError(f'cannot read configuration {path}: {error.strerror}; '
                        'give another with --conf') from None
    except configparser.Error as error:
        raise UserError(f'configuration {path} is malformed: '
                        f'{str(error).splitlines()[0]}') from None
    section = parser['stf'] if parser.has_section('stf') else {}
    values = {key: _convert(path, key, kind, section.get(key, default))
              for key, (kind, default) in SETTINGS.items()}
    return Config(path=path, **values)


def _convert(path, key, kind, text):
    if kind is Path and not text.strip():
        return None  # an optional path left empty
    try:
        value = kind(text.strip())
    except ValueError:
        raise UserError(f'{path}: {key} = {text!r} is not a valid '
                        f'{kind.__name__}') from None
    if kind is Path:
        value = value.expanduser()
    if kind is Path and not value.is_absolute():
        value = ROOT / value
    return value
