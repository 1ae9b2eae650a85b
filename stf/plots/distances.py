"""The figures of the original stf's distances to a label's Markov model
(stf.core.detect.labelmarkov): one chain's distance as it grows
(`distances -n`), and every chain of a group (`distances -c`), each with the
model's threshold (a chain matches at or under it).

An infinite distance (a chain or prefix the model gives probability 0)
cannot be drawn: it is left out and the series' label counts it.
"""
import math

from stf.plots.figure import Figure, Panel, Series

DISTANCE = 'distance (larger |log P| / smaller; 1 = alike)'
# The series of `distances -c`, one per verdict of a chain's label.
VERDICTS = ('malicious', 'normal', 'background', 'unlabeled')


def distance_figure(title, values, threshold):
    """values: [(letters read, distance)] as the chain grows."""
    return Figure(title, (Panel(
        'lines', 'the distance as the test chain grows', 'letters read', DISTANCE,
        (finite_series('distance', values), *threshold_series(threshold, values)),
        x_integer=True),))


def compared_figure(title, chains, threshold):
    """chains: [(verdict of its label or 'unlabeled', smallest distance)];
    one point a chain, in order of distance (x: its rank), one series a
    verdict; the threshold a level (a line under the chains, its data a
    point at every rank), at or under which the chains match."""
    ordered = sorted(chains, key=lambda chain: chain[1])
    ranked = [(rank, verdict, value) for rank, (verdict, value) in enumerate(ordered, 1)]
    series = [finite_series(f'{verdict} chains',
                            [(rank, value) for rank, kind, value in ranked if kind == verdict])
              for verdict in VERDICTS if any(kind == verdict for _, kind, _ in ranked)]
    if not ranked:
        series.append(Series('no chain to compare', (), ()))
    elif threshold is not None:
        series.append(Series(f'threshold {threshold:g}',
                             tuple(float(rank) for rank, _, _ in ranked),
                             (float(threshold),) * len(ranked), level=True))
    return Figure(title, (Panel(
        'points', 'the smallest distance of each chain, smallest first',
        'chains in order of distance (rank)', f'smallest {DISTANCE}', tuple(series),
        x_integer=True),))


def finite_series(label, points):
    kept = [(float(x), float(y)) for x, y in points if math.isfinite(y)]
    left_out = len(points) - len(kept)
    if left_out:
        label += f' ({left_out} infinite left out)'
    return Series(label, tuple(x for x, _ in kept), tuple(y for _, y in kept))


def threshold_series(threshold, points):
    """The threshold as a level across the points' x, or nothing when none
    is set."""
    if threshold is None or not points:
        return ()
    first, last = float(points[0][0]), float(points[-1][0])
    return (Series(f'threshold {threshold:g}', (first, last), (float(threshold),) * 2,
                   level=True),)
