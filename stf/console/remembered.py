"""The current dataset an analyst's console starts with.

A terminal run remembers its current dataset in the analyst's own stf folder
(<stf home>/current.json: database key -> dataset id), never in the shared
database: each analyst, on each database, comes back to where they were.
Batch runs start with none, unless --dataset ID.
"""
import json
import logging
import os

from stf.console.config import stf_home
from stf.core.errors import UserError
from stf.db.errors import ServerAway

log = logging.getLogger('stf')
FILE_NAME = 'current.json'


def recalled(key):
    """The dataset id remembered for the database key, or None."""
    value = read_all().get(key)
    return value if type(value) is int else None


def read_all():
    """{database key: dataset id}; empty when the file is absent or damaged
    (it is written whole again at the next selection)."""
    try:
        data = json.loads((stf_home() / FILE_NAME).read_text(encoding='utf-8'))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.exception('%s could not be read; no dataset is remembered', FILE_NAME)
        return {}
    return data if isinstance(data, dict) else {}


def remember(key, dataset_id):
    """Keep dataset_id (None: forget) for the database key; a file written
    whole and renamed, so that two consoles never leave half of one."""
    data = read_all()
    if dataset_id is None:
        data.pop(key, None)
    else:
        data[key] = dataset_id
    path = stf_home() / FILE_NAME
    partial = path.with_name(f'.{FILE_NAME}.{os.getpid()}')
    try:
        partial.write_text(json.dumps(data, indent=1, sort_keys=True) + '\n', encoding='utf-8')
        os.replace(partial, path)
    except OSError:
        # Remembering is a convenience: a full disk must not stop the console.
        log.exception('the current dataset could not be remembered in %s', path)


class Keeper:
    """Remembers the console's current dataset whenever it changes."""

    def __init__(self, app):
        self.app = app
        self.key = app.database.key()
        self.kept = app.current_id

    def keep(self):
        if self.app.current_id != self.kept:
            self.kept = self.app.current_id
            remember(self.key, self.kept)


def start(app, wanted, terminal):
    """Select the dataset a run starts with: --dataset ID (wanted), else in a
    terminal the one remembered for this database. The lines that say so
    (for the terminal); UserError when --dataset names no dataset."""
    if wanted is not None:
        try:
            dataset = app.database.read(lambda: app.datasets.get(wanted))
        except ServerAway:
            raise UserError(f'--dataset {wanted}: the database server '
                            f'{app.database.server_location()} is not reachable; start stf '
                            'again once it is back') from None
        if dataset is None:
            raise UserError(f"--dataset {wanted}: there is no dataset {wanted}; list them "
                            "with ./stf.py -c 'datasets -l'")
        select(app, dataset)
        if terminal:
            remember(app.database.key(), dataset.id)
        return [current_line(dataset)] if terminal else []
    return restored(app) if terminal else []


def restored(app):
    key = app.database.key()
    dataset_id = recalled(key)
    if dataset_id is None or not app.structures_ready:
        return []  # a server away as stf started: remembered for the next start
    try:
        dataset = app.database.read(lambda: app.datasets.get(dataset_id))
    except ServerAway:
        return []
    if dataset is None:
        remember(key, None)
        return [f'the dataset {dataset_id} that was current no longer exists (deleted by '
                'another analyst?); no dataset is selected']
    select(app, dataset)
    return [current_line(dataset)]


def select(app, dataset):
    app.current_id = dataset.id
    app.current_name = dataset.name  # the prompt's


def current_line(dataset):
    return f"current dataset: {dataset.id} '{dataset.name}'"
