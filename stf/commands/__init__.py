"""The console's commands. Each module declares its Command records."""


def build_registry():
    from stf.commands import (basic, connections, database, datasets, detectors, experiments,
                              history, labels, markov, models, notes, plugins, search,
                              visualize)
    from stf.commands.registry import Registry
    return Registry([*basic.COMMANDS, *database.COMMANDS, *datasets.COMMANDS,
                     *connections.COMMANDS, *models.COMMANDS, *visualize.COMMANDS,
                     *labels.COMMANDS,
                     *notes.COMMANDS, *detectors.COMMANDS,
                     *experiments.COMMANDS, *markov.COMMANDS, *search.COMMANDS,
                     *history.COMMANDS, *plugins.COMMANDS])
