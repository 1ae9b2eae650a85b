"""Signed detector updates: data only, installed only when they verify.

An update source is a detector folder (python -m stf.detect train / stf's
`detectors -x`, signed with `python -m stf.detect sign`) or a .tar.gz of one,
named by `update_dir` (a local path) or `update_url` (http, https or file).
An update is fetched into a staging folder of the store (archives unpacked
member by member: regular files only, no absolute paths, no '..', no links),
then checked: exactly the detector's files, manifest.json and manifest.sig;
the signature by the pinned public key; every sha256; the detector loads.
Only then is it moved into the store and the `current` pointer replaced in
one rename, the set it replaces kept as `previous` for rollback. Anything
wrong leaves the store as it was and says why in one line.

The store ($STF_HOME/ips-detectors):
    sets/NAME/      installed sets (the current one and the previous one)
    current         the name of the set in use (what the IPS loads; empty or
                    missing: the shipped detector)
    previous        the name of the set before it (empty: the shipped one)
    checked         when the source was last asked (for update_every_days)
"""
import hashlib
import http.client
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from stf.core import signing
from stf.core.detect.detector import Detector
from stf.core.detect.storage import FILES, MANIFEST
from stf.core.errors import UserError

STORE_NAME = 'ips-detectors'
# Seconds a server may stay silent (connect or read), and the most an update
# may take or weigh in all.
TIMEOUT = 20.0
DEADLINE = 120.0
MAX_BYTES = 256 << 20
SET_FILES = frozenset(FILES) | {MANIFEST, signing.SIGNATURE}
CHUNK = 1 << 16


def store_path(home):
    return Path(home) / STORE_NAME


def current_name(store):
    """The name of the set in use ('' for the shipped detector)."""
    return _pointer(store, 'current')


def current_folder(store):
    """The folder of the set in use, or None (the shipped detector)."""
    name = current_name(store)
    return Path(store) / 'sets' / name if name else None


class NothingToApply(UserError):
    """The source offers the set in use (or one --rollback took back)."""


def update(store, settings, timeout=TIMEOUT, deadline=DEADLINE, scheduled=False):
    """Fetch, check and install the update the settings name: a line saying
    what was done. A UserError when it was refused (nothing changed);
    NothingToApply when the source offers nothing new. scheduled: a set that
    --rollback took back is not installed again."""
    source = settings.update_url or settings.update_dir
    if not source:
        raise UserError('no update source: set update_url or update_dir in the config')
    if not settings.public_key:
        raise UserError('no public_key in the config: an update is installed only when it '
                        'is signed by a key pinned there')
    store = Path(store)
    staging = _staging(store)
    try:
        folder = fetch(source, staging, timeout, deadline)
        try:
            name = check(folder, settings.public_key)
        except UserError as error:   # said of the source, not of the staging folder
            raise UserError(f'{source}: ' + _plain(str(error), folder, source)) from None
        if name == _pointer(store, 'current'):
            raise NothingToApply(f'{source}: the detector in use is already this one ({name}); '
                                 'nothing to apply')
        if scheduled and name == _pointer(store, 'rolled-back'):
            raise NothingToApply(f'{source}: offers {name}, which --rollback took back; it is '
                                 'installed only by --update-now')
        install(store, folder, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _mark_checked(store)
    return f'update from {source} installed: {name} (previous kept for --rollback)'


def rollback(store):
    """Make the previous set the current one again (the current one becomes
    previous): a line saying so; a UserError when there is none."""
    store = Path(store)
    previous, current = _pointer(store, 'previous'), _pointer(store, 'current')
    known = (store / 'previous').is_file() and previous != current
    if not known or (previous and not (store / 'sets' / previous).is_dir()):
        raise UserError('there is no previous detector to roll back to')
    if previous:
        try:
            Detector.load(store / 'sets' / previous)
        except UserError as error:
            raise UserError(f'the previous detector {previous} is damaged ({reason(error)}); '
                            'nothing was changed') from None
    _set_pointer(store, 'previous', current)
    _set_pointer(store, 'current', previous)
    _set_pointer(store, 'rolled-back', current)
    return (f"rolled back to {previous or 'the shipped detector'} (the replaced "
            f"{current or 'shipped detector'} is kept: --rollback again returns to it)")


def reason(error):
    """A load error without its remedy (retraining is not the sensor's to do)."""
    return str(error).split('; train it again', 1)[0]


def _plain(text, folder, source):
    return reason(UserError(text.replace(f'{folder}/', '').replace(str(folder), source)))


def due(store, settings, now=None):
    """Whether the scheduled check should run now."""
    if settings.dont_update or not (settings.update_url or settings.update_dir):
        return False
    try:
        last = float((Path(store) / 'checked').read_text())
    except (OSError, ValueError):
        return True
    now = time.time() if now is None else now
    return now - last >= settings.update_every_days * 86400


# -- fetching -------------------------------------------------------------------
def fetch(source, staging, timeout=TIMEOUT, deadline=DEADLINE):
    """The staged folder of the update at source (a path or a URL)."""
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme in ('http', 'https'):
        return _fetch_url(source, staging, timeout, time.monotonic() + deadline)
    if scheme == 'file':
        parts = urllib.parse.urlsplit(source)
        if parts.netloc not in ('', 'localhost'):
            raise UserError(f"{source}: a file URL names a path on this host, with three "
                            f"slashes: file:///{parts.netloc}{parts.path}")
        source = urllib.request.url2pathname(parts.path)
    elif scheme and len(scheme) > 1:
        raise UserError(f'{source}: updates come from http, https or file URLs or a folder')
    path = Path(source)
    target = staging / 'set'
    if path.is_dir():
        target.mkdir()
        for name in os.listdir(path):
            if not (path / name).is_file() or (path / name).is_symlink():
                raise UserError(f'{path}: {name!r} is not a plain file of a detector; refused')
            if name in SET_FILES:
                shutil.copyfile(path / name, target / name)
            else:
                raise UserError(f'{path}: {name!r} is no part of a signed detector; refused')
        return target
    if path.is_file():
        return unpack(path, target)
    raise UserError(f'{source}: no such folder or file')


def _fetch_url(url, staging, timeout, end):
    if url.rstrip('/').endswith(('.tar.gz', '.tgz')):
        archive = staging / 'update.tar.gz'
        _download(url, archive, timeout, end)
        return unpack(archive, staging / 'set')
    base = url if url.endswith('/') else url + '/'
    target = staging / 'set'
    target.mkdir()
    _download(base + MANIFEST, target / MANIFEST, timeout, end)
    try:
        _download(base + signing.SIGNATURE, target / signing.SIGNATURE, timeout, end)
    except UserError as error:
        if ' 404 ' not in str(error):
            raise
        raise UserError(f'{url}: the update is not signed (it has no {signing.SIGNATURE}); '
                        'refused') from None
    for name in _manifest_files(target / MANIFEST, url):
        _download(base + urllib.parse.quote(name), target / name, timeout, end)
    return target


def _manifest_files(path, source):
    """The files a downloaded manifest lists: only a detector's own names
    (anything else is never fetched)."""
    try:
        listed = json.loads(path.read_text(encoding='utf-8')).get('files')
    except (ValueError, UnicodeDecodeError, AttributeError):
        listed = None
    if not isinstance(listed, dict):
        raise UserError(f'{source}: its {MANIFEST} is not a detector manifest; refused')
    unknown = sorted(set(listed) - set(FILES))
    if unknown:
        raise UserError(f'{source}: its {MANIFEST} lists files that are no part of a detector '
                        f'({", ".join(map(repr, unknown))}); refused')
    return sorted(listed)


def _download(url, path, timeout, end):
    """url into path: a UserError on an error status, silence longer than
    timeout, more than DEADLINE in all, more than MAX_BYTES, or fewer bytes
    than the server announced."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer, open(path, 'wb') as out:
            expected = answer.headers.get('Content-Length')
            got = 0
            # read1: what has arrived, so a server that trickles meets the deadline
            while chunk := answer.read1(CHUNK):
                got += len(chunk)
                if got > MAX_BYTES:
                    raise UserError(f'{url}: larger than {MAX_BYTES >> 20} MiB; refused')
                if time.monotonic() > end:
                    raise UserError(f'{url}: the update took longer than it may (see '
                                    'README: 120 s in all); refused')
                out.write(chunk)
    except urllib.error.HTTPError as error:
        raise UserError(f'{url}: the server answered {error.code} {error.reason}') from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise UserError(f'{url}: the server stopped answering (timeout {timeout:g} s); '
                            'refused') from None
        raise UserError(f'{url}: cannot be fetched ({error.reason})') from None
    except http.client.HTTPException as error:   # the connection ended early
        raise UserError(f'{url}: truncated ({type(error).__name__}); refused') from None
    except (TimeoutError, OSError) as error:
        what = 'the server stopped answering' if isinstance(error, TimeoutError) else str(error)
        raise UserError(f'{url}: {what} (timeout {timeout:g} s); refused') from None
    if expected is not None and expected.isdigit() and int(expected) != got:
        raise UserError(f'{url}: truncated ({got} of {expected} bytes); refused')


def unpack(archive, target):
    """The members of a .tar.gz of one detector into target, checked one by
    one: regular files of a detector set only, at its top or in one folder."""
    target.mkdir()
    folders, names = set(), set()
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            for member in tar:
                name = _member_name(member, archive)
                if name is None:
                    continue
                folders.add(PurePosixPath(member.name).parent.as_posix())
                if name in names or len(folders) > 1:
                    raise UserError(f'{archive}: holds more than one detector ({name} twice, '
                                    f"or files in {' and '.join(sorted(folders))}); refused")
                names.add(name)
                source = tar.extractfile(member)
                with open(target / name, 'wb') as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise UserError(f'{archive}: not a readable .tar.gz ({error}); refused') from None
    return target


def _member_name(member, archive):
    """The file name a member is written as (None for its folder); a
    UserError for anything but a detector's plain files."""
    path = PurePosixPath(member.name)
    if member.name.startswith(('/', '\\')) or '..' in path.parts or ':' in member.name:
        raise UserError(f'{archive}: {member.name!r} points outside the update; refused')
    if member.issym() or member.islnk():
        raise UserError(f'{archive}: {member.name!r} is a link; refused')
    parts = [part for part in path.parts if part != '.']
    if member.isdir() and len(parts) <= 1:
        return None
    if not member.isfile() or len(parts) > 2 or parts[-1] not in SET_FILES:
        raise UserError(f'{archive}: {member.name!r} is no part of a signed detector; refused')
    return parts[-1]


# -- checking and installing ----------------------------------------------------------
def check(folder, public_key):
    """The set's name (from its manifest's sha256) once everything verifies."""
    names = set(os.listdir(folder))
    missing = sorted(SET_FILES - names)
    if missing:
        raise UserError(f'the update lacks {", ".join(missing)}; refused')
    extra = sorted(names - SET_FILES)
    if extra:
        raise UserError(f'the update holds files that are no part of a detector '
                        f'({", ".join(extra)}); refused')
    signing.verify(folder, public_key)
    detector = Detector.load(folder)   # every sha256, and it parses
    digest = hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()[:12]
    return f'{_safe(detector.name)}-{digest}'


def install(store, folder, name):
    """Move a checked set in and make it current in one rename."""
    sets = Path(store) / 'sets'
    sets.mkdir(parents=True, exist_ok=True)
    if (sets / name).exists():   # the same set again: the checked copy replaces it
        shutil.rmtree(sets / name)
    os.replace(folder, sets / name)
    old = _pointer(store, 'current')
    _set_pointer(store, 'previous', old or '')
    _set_pointer(store, 'current', name)
    for other in sets.iterdir():       # keep the current and the previous set only
        if other.name not in (name, old):
            shutil.rmtree(other, ignore_errors=True)


def _safe(text):
    return ''.join(char if char.isalnum() or char in '-_.' else '_' for char in text)[:40]


def _staging(store):
    staging = Path(store) / 'staging'
    try:
        staging.mkdir(parents=True, exist_ok=True)
        for old in staging.iterdir():   # left by a run that was killed mid-download
            if time.time() - old.stat().st_mtime > 2 * DEADLINE:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=staging))
    except OSError as error:
        raise UserError(f'cannot write into {store}: {error.strerror}; set STF_HOME to a '
                        'folder you can write to') from None


def _pointer(store, name):
    try:
        return (Path(store) / name).read_text(encoding='utf-8').strip()
    except OSError:
        return ''


def _set_pointer(store, name, value):
    """Replace a pointer file in one rename (a reader sees the old or the new)."""
    path = Path(store) / name
    temporary = path.with_name(f'.{name}.{os.getpid()}')
    temporary.write_text(value + '\n', encoding='utf-8')
    os.replace(temporary, path)


def _mark_checked(store):
    try:
        _set_pointer(store, 'checked', repr(time.time()))
    except OSError:
        pass
