"""Figures written as PNG pictures (--png FILE), with matplotlib.

matplotlib is imported inside write(), only when a picture is asked for: it
takes about half a second to import, which the console's start must not
wait for. Its Agg canvas draws without a display and without pyplot's
global state.

Every picture is WIDTH_PX wide and PANEL_HEIGHT_PX high for each panel, at
DPI dots per inch: 1200 x 400 pixels for one panel, 1200 x 1200 for three.
The figure's title is on top, each panel has its title, axis labels with
units, a legend when a series has a label, UTC times on a time axis, numbers
without an offset; a threshold is a dashed line under the points.
"""
import textwrap

from stf.core import files
from stf.core.flows import letters
from stf.plots.figure import Series

WIDTH_PX = 1200
PANEL_HEIGHT_PX = 400
DPI = 100
TITLE_WIDTH = 100     # characters of a title line (a longer title wraps)
# A timeline's points by the periodicity of their letter (the rows of
# letters.LETTERS): the colors the console gives the letters.
# Last: letters of no row.
LETTER_CLASSES = (*letters.WORDS['periodicity'], 'other')
LETTER_CLASS_COLORS = ('tab:purple', 'tab:green', 'tab:cyan', 'tab:orange', 'tab:red',
                       'tab:gray')
# The smallest and largest point of a timeline (matplotlib's s, points²).
SMALLEST_POINT, LARGEST_POINT = 12, 240
LEGEND_POINT = 40
# What is drawn over what (matplotlib's zorder; lines are 2): a level
# (threshold) under the points and lines, the points over it.
LEVEL_UNDER, POINTS_ABOVE = 1, 2
# A time axis's margin each side: a share of its span; seconds around the
# one moment of a single flow (matplotlib would span years).
TIME_MARGIN, ONE_MOMENT_MARGIN = 0.02, 60
# Epoch seconds matplotlib can write as dates (years 1-9999): a broken
# clock's times are drawn as numbers.
EARLIEST, LATEST = -62_135_596_800, 253_402_300_799


def size_of(figure):
    """(width, height) in pixels of the figure's picture."""
    return WIDTH_PX, PANEL_HEIGHT_PX * max(len(figure.panels), 1)


def write(figure, path):
    """Draw the figure into the PNG file path, whole or not at all (a file
    beside it renamed once complete); its (width, height) in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as Picture

    width, height = size_of(figure)
    picture = Picture(figsize=(width / DPI, height / DPI), dpi=DPI, layout='constrained')
    FigureCanvasAgg(picture)
    picture.suptitle(textwrap.fill(figure.title, TITLE_WIDTH), fontsize='large')
    for axes, panel in zip(picture.subplots(max(len(figure.panels), 1), 1, squeeze=False)[:, 0],
                           figure.panels):
        draw_panel(axes, panel)
    files.replace_whole(path, lambda partial: picture.savefig(partial, format='png', dpi=DPI))
    return width, height


def draw_panel(axes, panel):
    axes.set_title(textwrap.fill(panel.title, TITLE_WIDTH), fontsize='medium')
    empty = (panel.kind in CHARTS and panel.x_range is None
             and not any(series.x for series in panel.series))
    timed = panel.x_time and in_clock(panel) and not empty
    DRAWERS[panel.kind](axes, panel, timed)
    axes.set_xlabel(panel.x_label + (' (UTC)' if timed else ''))
    axes.set_ylabel(panel.y_label)
    scales(axes, panel)
    if timed:
        time_axis(axes)
    limits(axes, panel, timed)
    whole_numbers(axes, panel)
    plain_numbers(axes, panel, timed)
    if empty:        # no axis to draw: a time axis would start in 1970
        axes.text(0.5, 0.5, 'nothing to draw', transform=axes.transAxes, ha='center')
        axes.set_xticks([])
    if any(series.label for series in panel.series) or panel.kind == 'timeline':
        shown = axes.legend(loc='best', fontsize='small')
        for handle in shown.legend_handles:     # a timeline's points: one size in the legend
            if hasattr(handle, 'set_sizes'):
                handle.set_sizes([LEGEND_POINT])
    axes.grid(True, alpha=0.3)


def in_clock(panel):
    return all(EARLIEST <= x <= LATEST for series in panel.series for x in series.x) and all(
        EARLIEST <= x <= LATEST for x in panel.x_range or ())


def limits(axes, panel, timed):
    """x_range and y_range; a time axis given a margin (its points at its
    ends would be cut in half), or a minute each side of one moment."""
    low, high = panel.x_range or (None, None)
    if timed and panel.x_range is None:
        moments = {x for series in panel.series for x in series.x}
        if len(moments) == 1:
            low = high = moments.pop()
    if low is not None:
        margin = ((high - low) * TIME_MARGIN or ONE_MOMENT_MARGIN) if timed else 0
        axes.set_xlim(*x_values(Series('', (low - margin, high + margin), ()), timed))
    if panel.y_range:
        axes.set_ylim(*panel.y_range)


def whole_numbers(axes, panel):
    from matplotlib.ticker import MaxNLocator
    for axis, whole in ((axes.xaxis, panel.x_integer), (axes.yaxis, panel.y_integer)):
        if whole:
            axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def plain_numbers(axes, panel, timed):
    """Numbers written whole on linear axes: no offset ('1e-6+5.69e2') nor
    a power of ten above the axis, which read as other values."""
    for name, linear in (('x', not (panel.x_log or timed)), ('y', not panel.y_log)):
        if linear:
            axes.ticklabel_format(axis=name, useOffset=False, style='plain')


def x_values(series, timed):
    """x as matplotlib draws it: datetime64 (UTC) for times."""
    import numpy as np
    if not timed:
        return list(series.x)
    return np.array([round(x * letters.SECOND) for x in series.x], 'datetime64[us]')


def scales(axes, panel):
    """Log axes; a histogram in decades from 0 is linear below its first
    decade (symlog), where log cannot show 0."""
    if panel.x_log:
        low = panel.edges[0] if panel.edges else 1
        if low <= 0 and len(panel.edges) > 1:
            axes.set_xscale('symlog', linthresh=panel.edges[1])
        else:
            axes.set_xscale('log')
    if panel.y_log:
        axes.set_yscale('log', nonpositive='clip')


def time_axis(axes):
    import matplotlib.dates as dates
    locator = dates.AutoDateLocator(tz='UTC')
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz='UTC'))


def draw_histogram(axes, panel, timed):
    import numpy as np
    if not panel.edges:
        axes.text(0.5, 0.5, 'no values', transform=axes.transAxes, ha='center')
        return
    edges = np.asarray(panel.edges, float)
    for series in panel.series:
        axes.bar(edges[:-1], series.y, width=np.diff(edges), align='edge',
                 edgecolor='white', linewidth=0.5, label=series.label or None)


def draw_lines(axes, panel, timed):
    many = sum(len(series.x) for series in panel.series) < 60   # few points: each shown
    for series in panel.series:
        if not draw_level(axes, series):
            axes.plot(x_values(series, timed), series.y, marker='.' if many else None,
                      label=series.label or None)


def draw_points(axes, panel, timed):
    for series in panel.series:
        if not draw_level(axes, series):
            axes.scatter(x_values(series, timed), series.y, s=14, zorder=POINTS_ABOVE,
                         label=series.label or None)


def draw_level(axes, series):
    """A level (a threshold): a dashed line across the axes under the
    points; False for other series."""
    if not series.level:
        return False
    if series.y:
        axes.axhline(series.y[0], color='dimgray', linestyle='--', linewidth=1,
                     zorder=LEVEL_UNDER, label=series.label or None)
    return True


def draw_bars(axes, panel, timed):
    """Bars from each bin's start, the last one ending at x_end when the
    bins end there (the last packet; a sliver at least, to be seen)."""
    import numpy as np
    for series in panel.series:
        step = panel.bin_width or (min(np.diff(series.x)) if len(series.x) > 1 else 1)
        widths = np.full(len(series.x), float(step))
        if panel.x_end is not None and len(widths):
            widths[-1] = min(max(panel.x_end - series.x[-1], step / 100), step)
        if timed:
            widths = (widths * letters.SECOND).round().astype('timedelta64[us]')
        axes.bar(x_values(series, timed), series.y, width=widths, align='edge',
                 edgecolor='white', linewidth=0.5, label=series.label or None)


def draw_timeline(axes, panel, timed):
    """Each flow a stem up to its bytes and a point sized by them, colored
    by the periodicity of its letter."""
    import numpy as np
    (series,) = panel.series
    x, sizes = x_values(series, timed), np.asarray(series.y, float)
    classes = np.array([letter_class(char) for char in series.letters], int)
    top = max(sizes.max(initial=0), 1)
    areas = SMALLEST_POINT + (LARGEST_POINT - SMALLEST_POINT) * np.sqrt(sizes / top)
    positive = sizes[sizes > 0]
    bottom = positive.min() / 2 if panel.y_log and len(positive) else 0
    axes.vlines(x, bottom, sizes, colors='lightgray', linewidth=0.8, zorder=1)
    chars = np.array(list(series.letters))
    for row, (words, color) in enumerate(zip(LETTER_CLASSES, LETTER_CLASS_COLORS)):
        chosen = classes == row
        if chosen.any():
            used = sorted(set(chars[chosen].tolist()))
            axes.scatter(np.asarray(x)[chosen], sizes[chosen], s=areas[chosen], zorder=2,
                         color=color, label=f"{words} ({'letters' if len(used) > 1 else 'letter'} "
                         f"{', '.join(used)})")


def letter_class(char):
    """The row of letters.LETTERS holding char (its periodicity), or 5."""
    found = letters.CLASSES.get(char)
    return found[0] if found else len(letters.LETTERS)


# The kinds drawn on x and y axes of the points' values.
CHARTS = ('lines', 'points')
DRAWERS = {'histogram': draw_histogram, 'lines': draw_lines, 'points': draw_points,
           'bars': draw_bars, 'timeline': draw_timeline}
