"""tally: a template plugin for stf (docs/plugins.md walks through it).

Copy this file into <stf home>/plugins/ (~/.stf/plugins/, or $STF_HOME/plugins/
when STF_HOME is set) and start stf: `tally` is in `help`, Tab completes it
and its options, and `plugins -l` lists it.

    tally -c [-i DATASET_ID]   count a dataset's files and their bytes on disk
                               (the current dataset unless -i says which);
                               the plugin keeps the count and how many times
                               it counted
    tally -l                   list what was counted, one row per dataset

To make a plugin of your own: copy this file under another name, rename the
command, the storage and the class, and keep the shape.
"""
# Python's own modules and stf.core (the pure domain) may be imported freely;
# of the rest of stf a plugin imports only stf.plugins.api.
import os
from datetime import datetime, timezone

from stf.core.formats import counted, when
from stf.plugins import api

# Shown in the version column of `plugins -l`.
VERSION = '1.0'

# The name of this plugin's storage: the database keeps it at
# root['plugins']['tally']. Use your plugin's name; never another's.
STORAGE = 'tally'


# A class whose objects the database keeps must be registered with
# api.allow: stf reads back only the classes it knows (a record naming any
# other is refused, so that a database cannot run code). The class lives at
# the top of the module and keeps its name: the database names it.
@api.allow
class Tally(api.Persistent):
    """What was counted for one dataset (stored under its dataset id)."""

    def __init__(self, dataset_id):
        self.dataset_id = dataset_id
        self.times = 0      # the running count: how many times it was counted
        self.files = 0      # the dataset's files at the last count,
        self.missing = 0    # those of them not found on disk,
        self.bytes = 0      # and the bytes of those found
        self.last = None    # when it was last counted (a UTC datetime)


def chosen_dataset(app, args):
    """The dataset -i names, else the current one; bad input is a UserError:
    one line saying what was wrong and what to do."""
    if args.id is None:
        return app.require_current()   # stf's own message when none is selected
    dataset = app.datasets.get(args.id)
    if dataset is None:
        raise api.UserError(f"tally: there is no dataset {args.id}; list them with "
                            "'datasets -l'")
    return dataset


# Step 1, gather(app, args): everything that talks to the outside world (here:
# the files on disk; elsewhere questions, $EDITOR, programs) runs before the
# transaction. It may read the database but what it writes there is dropped.
def measure(app, args):
    dataset = chosen_dataset(app, args)
    sizes = []
    for item in dataset.files.values():
        try:
            sizes.append(os.stat(item.path).st_size)
        except OSError:
            sizes.append(None)    # moved or deleted since it was added
    return {'dataset_id': dataset.id, 'name': dataset.name, 'sizes': sizes}


# Step 2, apply(app, args, gathered): the command's transaction. It only
# applies what was gathered; stf runs it again after a conflict with another
# analyst (never the gathering), commits it when it returns and takes it all
# back when it raises.
def count(app, args, gathered):
    tallies = api.storage(app, STORAGE)   # created on first use, in this transaction
    tally = tallies.get(gathered['dataset_id'])
    if tally is None:
        tally = tallies[gathered['dataset_id']] = Tally(gathered['dataset_id'])
    found = [size for size in gathered['sizes'] if size is not None]
    tally.times += 1
    tally.files = len(gathered['sizes'])
    tally.missing = tally.files - len(found)
    tally.bytes = sum(found)
    tally.last = datetime.now(timezone.utc).replace(microsecond=0)
    # Handlers never print: they return results, and stf shows them (on a
    # terminal, in a batch run, as JSON with --json).
    return [api.ok(f"dataset {tally.dataset_id} '{gathered['name']}': "
                   f"{counted(tally.files, 'file')}, {tally.missing} missing, "
                   f"{counted(tally.bytes, 'byte')}; counted {counted(tally.times, 'time')}")]


# An action without gather is one step: apply(app, args), in the transaction.
def list_tallies(app, args):
    tallies = api.storage(app, STORAGE)
    rows = []
    for dataset_id, tally in tallies.items():
        dataset = app.datasets.get(dataset_id)    # None once the dataset was deleted
        rows.append((dataset_id, dataset.name if dataset else '-', tally.files, tally.missing,
                     tally.bytes, tally.times, when(tally.last)))
    return [api.Table(['dataset', 'name', 'files', 'missing', 'bytes', 'counted', 'last'],
                      rows, title='tally')]


# The command record, as stf's own commands declare theirs: one Action per
# thing the command does (one is given each time), other options as Flags. A
# flag letter means what it means in every command (`help` lists them: -l
# list, -c create, -i the id an action works on, ...).
# complete= names what Tab offers after the option ('dataset_id': the
# datasets' ids; 'path': files).
COMMANDS = [api.Command(
    'tally', "count a dataset's files and bytes, and keep the count",
    actions=(
        api.Action(('-l', '--list'), 'list what was counted, per dataset', apply=list_tallies),
        api.Action(('-c', '--create'), "count a dataset's files (the current one): create "
                   'or update its tally', gather=measure, apply=count),
    ),
    options=(
        api.Flag(('-i', '--id'), 'the dataset to count (default: the current one)',
                 metavar='DATASET_ID', type=int, complete='dataset_id'),
    ))]
