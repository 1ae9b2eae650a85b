"""A picture as data: one Figure of Panels of Series.

The same Figure is drawn on the screen (stf.plots.terminal) and into a PNG
(stf.plots.png), so both show the same data, axes and title.

Panel kinds (KINDS):
- 'histogram': one series; y holds the counts of the bins whose edges are
  the panel's `edges` (len(y) + 1 values, in the x unit); x_log for decades.
- 'lines': series of (x, y) points joined in order (ROC curves, TPR/FPR per
  time slot).
- 'points': series of (x, y) points not joined (detections per IP over time).
- 'timeline': one series, x the flows' start times (epoch seconds), y their
  bytes, letters one letter a flow.
- 'bars': one series of counts over time bins: x the bins' starts (epoch
  seconds), y the counts (packets per time bin).
"""
from dataclasses import dataclass, field

KINDS = ('histogram', 'lines', 'points', 'timeline', 'bars')


@dataclass(frozen=True)
class Series:
    """label: the legend's text ('' when the panel has one series); x, y:
    numbers of equal length (y only, for a histogram); letters: a timeline's
    letter for each point; level: a threshold, one y value drawn as a line
    across the panel under the other series (its x only for the data)."""
    label: str
    x: tuple
    y: tuple
    letters: str = ''
    level: bool = False


@dataclass(frozen=True)
class Panel:
    """One set of axes. x_label, y_label: with units ('gap (s)', 'flows');
    x_time: x values are epoch seconds, shown as UTC times; x_log, y_log:
    logarithmic axes; x_range, y_range: fixed (low, high) limits, or None
    for the data's (ROC curves: (0, 1)); x_integer, y_integer: the values
    are whole numbers (ranks, slot numbers), ticks only at whole numbers; bin_width: a 'bars'
    panel's bins' width in the x unit (seconds), when known; x_end: where a
    'bars' panel's last bin ends when it is cut short (the last packet)."""
    kind: str
    title: str
    x_label: str
    y_label: str
    series: tuple
    edges: tuple = ()
    x_time: bool = False
    x_log: bool = False
    y_log: bool = False
    x_range: tuple = None
    y_range: tuple = None
    x_integer: bool = False
    y_integer: bool = False
    bin_width: float = None
    x_end: float = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f'unknown panel kind {self.kind!r}')


@dataclass(frozen=True)
class Figure:
    """title: names what is drawn (the dataset, group or connection);
    panels: drawn one under another."""
    title: str
    panels: tuple = field(default_factory=tuple)
