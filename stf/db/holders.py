"""Who holds a database file: the process that has its FileStorage lock, and
what to tell the analyst about it (an stf sharing it, `stf.py --serve`,
runzeo, an stf started with --db, another program)."""
import os
from pathlib import Path


def lock_holder(path):
    """(pid, arguments) of the process that holds the FileStorage lock of path
    (zc.lockfile writes its pid into the lock file), or None when that cannot
    be told (no /proc, the process gone)."""
    try:
        pid = int(Path(f'{path}.lock').read_text().split()[0])
        arguments = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
    except (OSError, ValueError, IndexError):
        return None
    return pid, [argument.decode(errors='replace') for argument in arguments if argument]


def holder_kind(holder):
    """'shared' (an stf sharing the file here), 'serve' (stf.py --serve), 'db'
    (stf.py --db), 'runzeo', 'other', or None when unknown."""
    if holder is None:
        return None
    _, arguments = holder
    programs = [os.path.basename(argument) for argument in arguments[:3]]
    if 'stf.py' in programs or 'stf' in programs:  # the script, or a link to it
        return 'serve' if '--serve' in arguments else 'db' if '--db' in arguments else 'shared'
    if any('runzeo' in program for program in programs):
        return 'runzeo'
    return 'other'


def served_address(arguments):
    """The address of `stf.py --serve [ADDRESS]` (its default when not given)."""
    following = arguments[arguments.index('--serve') + 1:]
    if following and not following[0].startswith('-'):
        return following[0]
    return '127.0.0.1:8100'


def held_message(path, holder, waited=None):
    """Why the file at path cannot be opened: who holds it and what to do
    (waited: the seconds an stf sharing it was given to start serving)."""
    kind = holder_kind(holder)
    if kind == 'shared' and waited is not None:
        return (f'the database {path} is open in another stf (process {holder[0]}) that has '
                f'not shared it within {waited} s (stopped, or still opening a large file?); '
                'try again, or look at that process')
    if kind == 'shared':
        return (f'the database {path} is open in stf (process {holder[0]}), which shares it '
                'with the stf on this machine: start stf without --db to work beside it, or '
                'close that stf to serve the file')
    if kind is None:
        return (f'the database {path} is open in a program that does not share it with the '
                "stf on this machine: a server ('stf.py --serve' or runzeo: connect to it "
                'with --zeo and the address it listens on, 127.0.0.1:8100 by default), or an '
                'stf started with --db (close it); or open another file with --db')
    pid, arguments = holder
    if kind == 'serve':
        address = served_address(arguments)
        return (f'the database {path} is served by stf.py --serve {address} (process {pid}): '
                f'connect to it with --zeo {address}')
    if kind == 'runzeo':
        return (f'the database {path} is served by runzeo (process {pid}): connect to it '
                'with --zeo and the address in its configuration')
    if kind == 'db':
        return (f'the database {path} is open in an stf started with --db (process {pid}), '
                'which does not share it: close that stf, or open another file with --db')
    names = [os.path.basename(argument) for argument in arguments]
    program = next((name for name in names if not name.startswith('python')), names[0])
    return (f'the database {path} is open in {program} (process {pid}): close it, or open '
            'another file with --db')
