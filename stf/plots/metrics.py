"""The figures of how well detectors do: an experiment's rates and
detections over time (`experiments -p`), a detector's ROC and
precision-recall curves (`detectors -s`).

Pure: they read the plain values the commands store (an experiment's
results, a detector's cross-validated figures) and return a Figure. A series
may have no point (no slot had a malicious IP, no IP was flagged): its label
says why.
"""
from datetime import datetime, timezone

from stf.core.formats import counted
from stf.plots.figure import Figure, Panel, Series

# Detections per IP: this many IPs get a series of their own (those flagged
# in most slots); the rest share one series, 'others'.
NAMED_IPS = 12
UNIT = (0.0, 1.0)
# The rates of an experiment drawn per slot: (key in a slot's row, legend).
RATES = (('tpr', 'TPR'), ('fpr', 'FPR'))


# -- experiments -p

def experiment_figure(made, dataset_name=''):
    """The Figure of an Experiment: per detector, its TPR and FPR per slot and
    the slots each source IP was flagged in; once the per-slot detail was
    dropped, the first slot each IP was flagged in."""
    panels = []
    for name, result in made.results.items():
        slots = result.get('slots')
        if slots is None:
            panels.append(first_detections_panel(name, result['ips']))
        else:
            seconds = result['summary'].get('slot_seconds') or made.settings.get('slot')
            span = slots_span(slots, seconds)
            panels += [rates_panel(name, slots, seconds, span),
                       detections_panel(name, slots, result['ips'], span)]
    dataset = f'dataset {made.dataset_id}' + (f' {dataset_name}' if dataset_name else '')
    return Figure(f"experiment {made.id}: {', '.join(made.results)} on {dataset} "
                  f'({made.file_name})', tuple(panels))


def slot_start(slot):
    """A slot's start in epoch seconds (its row keeps it as UTC text)."""
    text = slot['start']
    try:
        moment = datetime.strptime(text, '%Y-%m-%d %H:%M:%S')
    except ValueError:  # a time the clock could not show is kept as seconds
        return float(text)
    return moment.replace(tzinfo=timezone.utc).timestamp()


def slots_span(slots, seconds):
    """(start of the first slot, end of the last) in epoch seconds: the time
    axis of the per-slot panels, drawn over the slots' times even where no
    point is (None without slots)."""
    starts = [slot_start(slot) for slot in slots]
    return (min(starts), max(starts) + (seconds or 0)) if starts else None


def rates_panel(name, slots, seconds, span=None):
    series = []
    for key, legend in RATES:
        known = [(slot_start(slot), float(slot[key])) for slot in slots
                 if slot.get(key) is not None]
        series.append(Series(legend if known else f'{legend} (no slot to measure it in)',
                             *columns(known)))
    title = f'{name}: TPR and FPR per {seconds:g} s slot (per source IP)'
    if not any(item.x for item in series):
        title += ': no slot has ground truth (no source IP with a label), no rate to draw'
    return Panel('lines', title, 'slot start', 'rate (0 to 1)', tuple(series), x_time=True,
                 x_range=span, y_range=UNIT)


def rank_range(count):
    """The y limits of ranks 1..count: half a rank of room around them."""
    return (0.5, max(count, 1) + 0.5)


def detections_panel(name, slots, ips, span=None):
    """One point per (slot, IP flagged in it): x the slot's start, y the IP's
    rank by the slots it was flagged in (1: the most)."""
    flagged = {}
    for slot in slots:
        for ip in slot.get('flagged_ips', ()):
            flagged.setdefault(ip, []).append(slot_start(slot))
    ranked = sorted(flagged, key=lambda ip: (-len(flagged[ip]), ip))
    series = [Series(f"{ip} ({ips.get(ip, {}).get('truth', '?')}, "
                     f"{counted(len(flagged[ip]), 'slot')})",
                     *columns((moment, rank) for moment in flagged[ip]))
              for rank, ip in enumerate(ranked[:NAMED_IPS], 1)]
    rest = ranked[NAMED_IPS:]
    if rest:
        series.append(Series(f"others ({counted(len(rest), 'IP')})", *columns(
            (moment, rank) for rank, ip in enumerate(rest, NAMED_IPS + 1)
            for moment in flagged[ip])))
    if not series:
        series.append(Series('no IP was flagged', (), ()))
    return Panel('points', f'{name}: source IPs flagged per slot', 'slot start',
                 'flagged IP (1 = flagged in most slots)', tuple(series), x_time=True,
                 x_range=span, y_range=rank_range(len(ranked)), y_integer=True)


def first_detections_panel(name, ips):
    """What is left once the slots were dropped: the first slot each IP was
    flagged in, y its rank by the slots it was flagged in."""
    flagged = {ip: row for ip, row in ips.items() if row.get('first_detected_slot') is not None}
    ranked = sorted(flagged, key=lambda ip: (-flagged[ip].get('flagged', 0), ip))
    points = [(float(flagged[ip]['first_detected_slot']), rank)
              for rank, ip in enumerate(ranked, 1)]
    label = f"first flagged ({counted(len(points), 'IP')})" if points else 'no IP was flagged'
    return Panel('points', f"{name}: the per-slot detail was dropped ('experiments -r'); "
                 'the first slot each IP was flagged in', 'slot number (from 1)',
                 'flagged IP (1 = flagged in most slots)', (Series(label, *columns(points)),),
                 y_range=rank_range(len(points)), x_integer=True, y_integer=True)


# -- detectors -s

def detector_figure(name, trained_from, evaluation):
    """ROC and precision-recall curves of a detector from its cross-validated
    figures: the whole sweep when kept, else only its two thresholds'
    points; none when it was not cross-validated."""
    sweep = evaluation.get('sweep')
    folds = f" ({evaluation['folds']} folds)" if evaluation.get('folds') else ''
    title = f'detector {name}: cross-validated{folds} on {trained_from}'
    if sweep:
        roc = curve(sweep, 'fpr', 'tpr')
        recall = curve(sweep, 'tpr', 'precision')
        label = 'cross-validated'
    elif evaluation.get('default'):
        points = [evaluation[key] for key in ('low_fpr', 'default') if key in evaluation]
        roc = curve([{'fpr': 0.0, 'tpr': 0.0}, *points, {'fpr': 1.0, 'tpr': 1.0}], 'fpr', 'tpr')
        recall = curve(points, 'tpr', 'precision')
        label = 'low-FPR and default thresholds only'
        title += ' (no sweep was kept: train it again for the whole curves)'
    else:
        roc = recall = ((), ())
        label = 'not cross-validated'
        title = (f'detector {name} from {trained_from}: not cross-validated (imported, or too '
                 'few models of a class), no curve')
    return Figure(title, (
        Panel('lines', 'ROC: chains judged at each threshold', 'false positive rate (FPR)',
              'true positive rate (TPR)', (Series(label, *roc), Series('chance', UNIT, UNIT)),
              x_range=UNIT, y_range=UNIT),
        Panel('lines', 'precision-recall', 'recall (TPR)', 'precision',
              (Series(label, *recall), *chance_precision(evaluation)),
              x_range=UNIT, y_range=UNIT)))


def curve(rows, x_key, y_key):
    """(x, y) of the rows where both are known, each point once, in order
    of x then y."""
    return columns(sorted({(float(row[x_key]), float(row[y_key])) for row in rows
                           if row.get(x_key) is not None and row.get(y_key) is not None}))


def chance_precision(evaluation):
    """The precision of flagging at random: the share of malicious chains."""
    counts = evaluation.get('default') or {}
    judged = sum(counts.get(key, 0) for key in ('tp', 'fp', 'tn', 'fn'))
    if not judged:
        return ()
    share = (counts['tp'] + counts['fn']) / judged
    return (Series(f'chance (malicious share {share:.2f})', UNIT, (share, share)),)


def columns(points):
    """(x values, y values) of (x, y) points, as float tuples."""
    points = list(points)
    return (tuple(float(x) for x, _ in points), tuple(float(y) for _, y in points))
