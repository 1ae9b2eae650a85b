"""--png FILE: the picture of a command written as a PNG file, not shown.

Checked before the command runs, so that nothing runs for a file that would
be refused (no name, a folder, a name not ending in .png, one there already
without --force, a folder that is not there, an action that draws nothing,
--json beside it); written after the command's transaction, since drawing
takes a second. stf.plots.png imports
matplotlib only then: the console's start never waits for it.
"""
from stf.commands import common
from stf.commands.results import Plot, ok
from stf.core.errors import UserError
from stf.plots import png
from stf.plots.figure import Figure

# What a picture's name ends in: stf writes PNG only, and a PNG named
# x.jpg or x would open as something else, or not at all.
SUFFIX = '.png'


def checked_target(command, args, form):
    """The Path --png names, checked (None without --png)."""
    target = getattr(args, 'png', None)
    if target is None:
        return None
    if form is not None:
        raise UserError(f'--png writes a picture and --{form} the data: give one of them')
    action = command.chosen(args)
    if not action.plots:
        drawing = ' or '.join(option.flags[0] for option in command.drawing_actions())
        raise UserError(f'{command.name} {action.flags[0]} draws no picture; --png goes with '
                        f'{command.name} {drawing}')
    path = common.target_file(target, '--png', 'picture.png',
                              bool(getattr(args, 'force', False)))
    if path.suffix.lower() != SUFFIX:
        raise UserError(f"{path}: a picture's name ends in {SUFFIX}; give --png "
                        f'{path.with_name(path.stem + SUFFIX)}')
    return path


def written(items, path, force):
    """The items with their pictures written into path: the Plots (all their
    panels in one picture, under the first one's title) become the message
    that says so; the other items stay."""
    plots = [item for item in items if isinstance(item, Plot)]
    if not plots:
        raise UserError(f'this gave no picture; nothing was written to {path}')
    figure = Figure(plots[0].figure.title,
                    tuple(panel for plot in plots for panel in plot.figure.panels))
    common.check_overwrite(path, force)      # made meanwhile by someone else?
    width, height = png.write(figure, path)
    said = ok(f'picture written to {path} ({width}×{height} px)')
    return [said if item is plots[0] else item for item in items
            if not isinstance(item, Plot) or item is plots[0]]
