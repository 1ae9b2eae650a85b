"""Datasets and their files."""
import os
from datetime import datetime, timezone
from pathlib import Path

from BTrees.IOBTree import IOBTree
from BTrees.Length import Length
from persistent import Persistent
from persistent.mapping import PersistentMapping

from stf.models.notes import utcnow
from stf.models.store import Store, allocate_id, release_id


class DatasetFile(Persistent):
    """A file of a dataset.

    Attributes: id, path (absolute), kind (see stf.core.captures.filetypes), size,
    mtime (the file's modification time, UTC), added, scan (cached details
    keyed by size and mtime so a changed file is scanned again), span
    ((first, last) time in µs of its packets or flows once stf read them, or
    None).
    """
    span = None  # files stored before spans were kept find theirs in their scan

    def __init__(self, file_id, path, kind):
        self.id = file_id
        self.path = str(path)
        self.kind = kind
        self.added = utcnow()
        self.size = None
        self.mtime = None
        self.scan = None
        self.refresh_stat()

    @property
    def name(self):
        return os.path.basename(self.path)

    def refresh_stat(self):
        stat = os.stat(self.path)
        self.size = stat.st_size
        self.mtime = datetime.fromtimestamp(stat.st_mtime, timezone.utc).replace(microsecond=0)

    def exists(self):
        return os.path.isfile(self.path)

    def changed(self):
        """True if the file on disk differs in size or time from when it was added."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        mtime = datetime.fromtimestamp(stat.st_mtime, timezone.utc).replace(microsecond=0)
        return (stat.st_size, mtime) != (self.size, self.mtime)

    def status(self):
        if not self.exists():
            return 'missing'
        return 'changed' if self.changed() else ''

    def cached_scan(self):
        """The stored scan if the file on disk is still the one scanned."""
        if not self.scan or not self.exists():
            return None
        stat = os.stat(self.path)
        if self.scan.get('stat') == [stat.st_size, stat.st_mtime_ns]:
            return self.scan
        return None

    def store_scan(self, details):
        stat = os.stat(self.path)
        self.scan = PersistentMapping(details)
        self.scan['stat'] = [stat.st_size, stat.st_mtime_ns]
        self.span = span_of(details)

    def note_span(self, first_us, last_us):
        """Keep the time range of the packets or flows just read (the object is
        written only when it changes: several analysts read one file)."""
        span = (int(first_us), int(last_us))
        if self.span != span:
            self.span = span

    def time_span(self):
        """(first, last) time in µs of its packets or flows, None while unknown."""
        return self.span or span_of(self.scan)

    def forget_contents(self):
        """The file was made again: what was read of it no longer holds."""
        self.scan = None
        self.span = None


def span_of(scan):
    """(first, last) µs of a scan's packets (captures) or flows (flow and argus
    files), or None."""
    if not scan:
        return None
    times = scan if 'first_us' in scan else scan.get('flows') or {}
    if times.get('first_us') is None:
        return None
    return int(times['first_us']), int(times['last_us'])


class Dataset(Persistent):
    """A named set of files about one capture.

    Attributes: id, name, added, folder, files (IOBTree id -> DatasetFile),
    file_counter (Length), main_file_id, note_id (or None).
    """

    def __init__(self, dataset_id, name, folder):
        self.id = dataset_id
        self.name = name
        self.folder = str(folder)
        self.added = utcnow()
        self.files = IOBTree()
        self.file_counter = Length(0)
        self.main_file_id = None
        self.note_id = None

    def add_file(self, path, kind):
        file_id = allocate_id(self.files, self.file_counter)
        item = DatasetFile(file_id, Path(path).resolve(), kind)
        self.files[file_id] = item
        if self.main_file_id is None:
            self.main_file_id = file_id
        return item

    def remove_file(self, file_id):
        item = self.files.pop(file_id)
        release_id(self.file_counter, file_id)
        if self.main_file_id == file_id:
            self.main_file_id = next(iter(self.files.keys()), None)
        return item

    def main_file(self):
        return self.files.get(self.main_file_id) if self.main_file_id is not None else None

    def files_of_kind(self, *kinds):
        return [item for item in self.files.values() if item.kind in kinds]

    def missing_files(self):
        return [item for item in self.files.values() if not item.exists()]


class Datasets(Store):
    """Datasets by id."""

    def new(self, name, folder):
        return self.add(lambda dataset_id: Dataset(dataset_id, name, folder))

    def by_name(self, name):
        return next((item for item in self.items.values() if item.name == name), None)
