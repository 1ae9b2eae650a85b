"""The IPS's settings: an INI file ($STF_HOME/ips.conf unless --config), made
with commented defaults on first run, then command-line options over it.

The file is re-read when it changes (and on SIGHUP); an invalid file leaves
the last good settings in force, and the reason is said in one line.
"""
import configparser
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from stf.core.detect.verdict import DEFAULT_RULE, RULES
from stf.core.errors import UserError

SECTION = 'ips'


@dataclass(frozen=True)
class Settings:
    """Every option of the IPS (the config keys are these names)."""
    models: str = ''            # a detector folder; '' is the shipped one
    window: float = 300.0
    state_length: int = 100
    idle: float = 7200.0
    lateness: float = 300.0
    rule: str = DEFAULT_RULE
    threshold: float = None     # the evidence rule's; None is its default
    whitelist: str = ''
    alerts: str = ''
    log: str = ''
    print_all: bool = False
    verbose: int = 0
    max_line: int = 1 << 20     # bytes; longer lines are skipped and counted
    update_url: str = ''        # http, https or file URL of a signed detector (folder, .tar.gz)
    update_dir: str = ''        # or a local folder or .tar.gz
    public_key: str = ''        # the pinned Ed25519 key (PEM) updates must be signed with
    update_every_days: float = 3.0
    dont_update: bool = False


HELP = {
    'models': 'a detector folder exported by stf (empty: the shipped detector)',
    'window': 'seconds of each time window',
    'state_length': 'letters kept of each tuple (its last ones)',
    'idle': 'seconds without a flow before a tuple is forgotten',
    'lateness': 'seconds a flow may start before the open window and still join it',
    'rule': f"the verdict rule: {', '.join(RULES)}",
    'threshold': 'the evidence an IP needs (empty: the rule\'s default)',
    'whitelist': 'a file of addresses, networks, dst: and port: entries never judged',
    'alerts': 'a file that gets one IDMEF JSON object per alert',
    'log': 'a file that gets the console lines',
    'print_all': 'yes: a line per IP and window, not only malicious ones',
    'verbose': '0..3: window statistics, late and skipped counts, every tuple',
    'max_line': 'the bytes a line may have; longer ones are skipped and counted (read at '
                'start)',
    'update_url': 'an http, https or file URL of a signed detector folder or .tar.gz',
    'update_dir': 'a local signed detector folder or .tar.gz to update from',
    'public_key': 'the Ed25519 public key (PEM) updates must be signed with',
    'update_every_days': 'days between looks at the update source',
    'dont_update': 'yes: never look for updates on a schedule',
}


def stf_home():
    return Path(os.environ.get('STF_HOME') or Path.home() / '.stf')


def default_path():
    return stf_home() / 'ips.conf'


def default_text():
    """The file made on first run: every key, commented, at its default."""
    lines = ['# stf-ips settings. Uncomment a key to change it; options given on the',
             '# command line override this file, which is re-read when it changes.',
             f'[{SECTION}]']
    for item in fields(Settings):
        value = item.default
        shown = '' if value is None else ('yes' if value is True else 'no' if value is False
                                           else f'{value:g}' if isinstance(value, float)
                                           else value)
        lines += [f'# {HELP[item.name]}', f'# {item.name} = {shown}']
    return '\n'.join(lines) + '\n'


def ensure(path):
    """Create the file with commented defaults when it is missing: True if made."""
    path = Path(path)
    if path.exists():
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(default_text(), encoding='utf-8')
    except OSError as error:
        raise UserError(f'cannot create the config file {path}: {error.strerror}; '
                        'give --config a file in a folder you can write to, or set '
                        'STF_HOME to one') from None
    return True


def read(path):
    """{key: value} of the file, checked; a UserError (one line) naming the
    file and the first bad key."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding='utf-8') as stream:
            parser.read_file(stream)
    except OSError as error:
        raise UserError(f'cannot read the config file {path}: {error.strerror}') from None
    except (configparser.Error, UnicodeDecodeError) as error:
        lines = str(error).splitlines()
        # the line configparser could not read, when it says one
        where = next((line.strip() for line in lines[1:] if line.strip().startswith('[line')),
                     lines[0])
        raise UserError(f'{path} is not a valid INI file ({where}); correct it') from None
    unknown = [name for name in parser.sections() if name != SECTION]
    if unknown:
        raise UserError(f"{path}: unknown section [{unknown[0]}]; the settings go in [{SECTION}]")
    values = {}
    if parser.has_section(SECTION):
        for key, text in parser.items(SECTION):
            values[key] = parse_value(key, text, str(path))
    return values


def parse_value(key, text, where='the command line'):
    """The typed value of one setting; a UserError saying what is allowed."""
    kinds = {item.name: item for item in fields(Settings)}
    if key not in kinds:
        raise UserError(f"{where}: unknown setting '{key}'; the settings are "
                        f"{', '.join(kinds)}")
    text = text.strip()
    try:
        value = _CHECKS[key](text)
    except (TypeError, ValueError):
        value = None
        ok = False
    else:
        ok = True
    if not ok:
        accepted = f'; give {ACCEPTED[key]}' if key in ACCEPTED else ''
        raise UserError(f"{where}: {key} = '{text}' is not valid: it is {HELP[key]}{accepted}")
    return value


# What each number setting accepts, said when a value is refused.
ACCEPTED = {'window': 'a number of seconds above 0 and below 1e9',
            'idle': 'a number of seconds from 0 to below 1e9',
            'lateness': 'a number of seconds from 0 to below 1e9',
            'state_length': 'a whole number from 1 to 100000',
            'threshold': 'a number from 0 (or nothing: the rule\'s default)',
            'verbose': '0, 1, 2 or 3',
            'print_all': 'yes or no',
            'dont_update': 'yes or no',
            'update_every_days': 'a number of days above 0',
            'max_line': 'a whole number of bytes from 1024 to 67108864'}


def _positive(text):
    value = float(text)
    if not 0 < value < 1e9:
        raise ValueError(text)
    return value


def _not_negative(text):
    value = float(text)
    if not 0 <= value < 1e9:
        raise ValueError(text)
    return value


def _length(text):
    value = int(text)
    if not 1 <= value <= 100_000:
        raise ValueError(text)
    return value


def _line_bytes(text):
    value = int(text)
    if not 1024 <= value <= 1 << 26:
        raise ValueError(text)
    return value


def _rule(text):
    if text not in RULES:
        raise ValueError(text)
    return text


def _threshold(text):
    return None if text == '' else _not_negative(text)


def _yes_no(text):
    lowered = text.lower()
    if lowered in ('yes', 'true', 'on', '1'):
        return True
    if lowered in ('no', 'false', 'off', '0', ''):
        return False
    raise ValueError(text)


def _verbose(text):
    value = int(text)
    if not 0 <= value <= 3:
        raise ValueError(text)
    return value


_CHECKS = {'models': str, 'window': _positive, 'state_length': _length, 'idle': _not_negative,
           'lateness': _not_negative, 'rule': _rule, 'threshold': _threshold,
           'whitelist': str, 'alerts': str, 'log': str, 'print_all': _yes_no,
           'verbose': _verbose, 'max_line': _line_bytes, 'update_url': str,
           'update_dir': str, 'public_key': str, 'update_every_days': _positive,
           'dont_update': _yes_no}


class ConfigFile:
    """The config file and the settings in force: the file's values with the
    command-line overrides (a dict of the options given) on top."""

    def __init__(self, path, overrides):
        self.path = Path(path)
        self.overrides = dict(overrides)
        self.mtime = None
        self.settings = None

    def load(self):
        """Read the file for the first time: a UserError if it is invalid."""
        self.mtime = self._mtime()
        self.settings = replace(Settings(), **{**read(self.path), **self.overrides})
        return self.settings

    def changed(self):
        return self._mtime() != self.mtime

    def reload(self):
        """(new settings or None, a line to say or None): None when the file
        is unchanged; on an invalid file the last good settings stay."""
        self.mtime = self._mtime()
        try:
            values = read(self.path)
        except UserError as error:
            return None, f'{error}; keeping the previous settings'
        settings = replace(Settings(), **{**values, **self.overrides})
        if settings == self.settings:
            return None, None
        self.settings = settings
        return settings, f'{self.path} reloaded'

    def _mtime(self):
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size
