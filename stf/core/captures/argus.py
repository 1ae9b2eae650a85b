"""Flows from captures: argus turns a pcap into a biargus file, ra prints that
as a binetflow file (the settings are in confs/argus.conf and confs/ra.conf).

Both tools read their input on stdin and write their output on stdout, so
neither ever sees a file name: argus splits the name given to -r at spaces,
and ra hands a name ending in .gz to a shell. Any file name works this way.

The output is written under a temporary name in the target's folder and
renamed when the tool succeeded, so a failed or interrupted run leaves no half
file. Tools are looked up when called, so installing one needs no restart.
"""
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from stf.core.errors import UserError

# tool -> Debian package that installs it.
PACKAGES = {'argus': 'argus-server', 'ra': 'argus-client', 'capinfos': 'wireshark-common'}

# Searched after $PATH: argus lives in /usr/sbin, which is not in the PATH of
# a normal Debian user.
EXTRA_DIRS = ('/usr/local/sbin', '/usr/sbin', '/sbin')

# tool -> what to check when it fails on its input.
HINTS = {'argus': 'check that it is a pcap or pcapng capture',
         'ra': 'check that it is an argus (biargus) file'}

# tool -> stderr markers of a failed run. argus exits 0 even when it cannot
# read its input (not a capture, unsupported link type).
FATAL_MARKS = {'argus': ('ArgusError', 'pcap_open_offline'), 'ra': ()}

# "    ArgusError: 25 Nov 26 18:11:35.300950 " or "ra[5648]: 18:10:00.859164 ".
LOG_PREFIX = re.compile(r'^\s*[\w\[\]]+:\s+(?:\d+ \w+ \d+ |[\d/]+ )?\d+:\d+:\d+\.\d+\s+')


def generate_biargus(pcap_path, out_path, conf_path):
    """Write the argus records of the capture pcap_path to out_path."""
    conf = _conf(conf_path, 'argus')
    _run('argus', ['-F', conf, '-r', '-', '-w', '-'], pcap_path, out_path)
    return Path(out_path)


def generate_binetflow(biargus_path, out_path, conf_path):
    """Write the flows of the argus file biargus_path to out_path as binetflow text."""
    conf = _conf(conf_path, 'ra')
    _run('ra', ['-F', conf, '-n', '-Z', 'b', '-r', '-'], biargus_path, out_path)
    return Path(out_path)


def tool_status():
    """{tool: path or None} for argus, ra and capinfos."""
    return {name: find_tool(name) for name in PACKAGES}


def find_tool(name):
    """The path of the program `name`, searched in $PATH then EXTRA_DIRS; None if absent."""
    dirs = os.environ.get('PATH', os.defpath).split(os.pathsep) + list(EXTRA_DIRS)
    return shutil.which(name, path=os.pathsep.join(dirs))


def require_tool(name):
    program = find_tool(name)
    if program is None:
        sudo = '' if os.geteuid() == 0 else 'sudo '
        raise UserError(f'{name} is not installed; install it with: '
                        f'{sudo}apt-get install {PACKAGES[name]}')
    return program


def _conf(conf_path, tool):
    # argus silently ignores a -F file that does not exist and uses its defaults.
    conf = Path(conf_path)
    if not conf.is_file():
        raise UserError(f'{tool} configuration {conf} not found; '
                        f'give an existing file ({tool}_conf in stf.conf)')
    return os.path.abspath(conf)


def _run(tool, args, source, target):
    """Run tool with args, its stdin from source and its stdout into target."""
    program = require_tool(tool)
    source, target = Path(source), Path(target)
    with _open(source, 'rb', f'cannot read {source}') as stdin:
        part = target.with_name(f'.{target.name}.{secrets.token_hex(4)}.part')
        try:
            with _open(part, 'xb', f'cannot write in {target.parent}') as stdout:
                code, stderr = _communicate([program, *args], stdin, stdout)
            _check(tool, source, code, stderr)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise


def _open(path, mode, what):
    try:
        return open(path, mode)
    except OSError as error:
        raise UserError(f'{what}: {error.strerror}; check the path and its permissions') from None


def _communicate(argv, stdin, stdout):
    child = None
    try:
        with _sigint_held():
            child = _start(argv, stdin, stdout)
        _, stderr = child.communicate()
    except BaseException:
        if child is not None:
            child.kill()
            child.wait()
        raise
    return child.returncode, stderr.decode(errors='replace')


def _start(argv, stdin, stdout):
    # TZ=UTC: ra prints local time, and a daylight-saving jump would change the letters.
    env = dict(os.environ, TZ='UTC')
    try:
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                env=env)
    except OSError as error:
        raise UserError(f'cannot run {argv[0]}: {error.strerror}; '
                        'check that it is installed and executable') from None


@contextlib.contextmanager
def _sigint_held():
    """Hold Ctrl-C until the child has started, then deliver it.

    Popen loses its child when interrupted while waiting for the exec, so the
    child could not be killed.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is None):
        yield
        return
    held = []
    previous = signal.signal(signal.SIGINT, lambda *caught: held.append(caught))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        signal.raise_signal(signal.SIGINT)


def _check(tool, source, code, stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if any(mark in line for mark in FATAL_MARKS[tool])]
    if code == 0 and not fatal:
        return
    if code < 0:
        detail = f'killed by {_signal_name(-code)}'
    elif fatal or lines:
        detail = LOG_PREFIX.sub('', (fatal or lines)[-1]).strip()
    else:
        detail = f'exit status {code}, no message'
    raise UserError(f'{tool} failed on {source}: {detail}; {HINTS[tool]}')


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f'signal {number}'
