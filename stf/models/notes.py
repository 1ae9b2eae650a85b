"""Notes: Markdown text attached to a dataset, model, label or experiment."""
from datetime import datetime, timezone

from persistent import Persistent

from stf.models.store import Store


def utcnow():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Note(Persistent):
    """Attributes: id, text, created, modified, owner ((kind, id) or None)."""

    def __init__(self, note_id, text='', owner=None):
        self.id = note_id
        self.text = text
        self.created = utcnow()
        self.modified = self.created
        self.owner = owner

    def set_text(self, text):
        self.text = text
        self.modified = utcnow()

    def append(self, line):
        """Add a dated line, as stf does for operations worth remembering."""
        stamp = utcnow().strftime('%Y-%m-%d %H:%M:%S UTC')
        separator = '\n' if self.text and not self.text.endswith('\n') else ''
        self.set_text(f'{self.text}{separator}- {stamp}: {line}\n')

    def summary(self, width=40):
        first = next((line for line in self.text.splitlines() if line.strip()), '')
        return first if len(first) <= width else first[:width - 1] + '…'


class Notes(Store):
    """Notes by id."""

    def new(self, text='', owner=None):
        return self.add(lambda note_id: Note(note_id, text, owner))

    def for_owner(self, kind, owner_id):
        return [note for note in self.items.values() if note.owner == (kind, owner_id)]
