"""plugins: the commands added from outside stf's own rooms, where each came
from and whether it loaded (stf.plugins.loader found them as stf started)."""
from stf.commands.registry import Action, Command
from stf.commands.results import Exact, Table


def list_plugins(app, args):
    rows = [(record.name, ', '.join(record.commands) or '-', record.source,
             Exact(record.version),  # '1.10' is a version, not the number 1.1
             record.status) for record in app.plugins]
    loaded = sum(record.loaded for record in app.plugins)
    folders = [str(app.home() / 'plugins')]
    if app.config.plugins_folder:
        folders.append(str(app.config.plugins_folder))
    return [Table(['name', 'commands', 'source', 'version', 'status'], rows, title='plugins',
                  footer=f'{loaded} of {len(rows)} loaded; .py files are read from '
                         f'{" and ".join(folders)} as stf starts')]


COMMANDS = [Command(
    'plugins', 'the plugins found: commands, source, version, status',
    actions=(Action(('-l', '--list'), 'list the plugins', apply=list_plugins),),
    uses_database=False)]
