"""The figures `experiments -p`, `detectors -s` and `distances -n/-c` draw:
their series, labels, titles and ranges, built from small experiments,
detectors and Markov models (drawing them is stf.plots' terminal and PNG
writers' part)."""
import json
import math
from types import SimpleNamespace

from stf.commands.results import Plot
from stf.plots import distances, metrics
from tests.conftest import ok
from tests.test_detection_commands import labeled_capture, letters  # noqa: F401 (a fixture)
from tests.test_markov_commands import BOTNET, labeled  # noqa: F401 (a fixture)

TEN_O_CLOCK = 1577872800.0  # 2020-01-01 10:00:00 UTC, the first flow of labeled_capture
UNIT = (0.0, 1.0)


def figure_of(app, line):
    """The figure of a command's Plot, checked drawable: every series has as
    many x as y values, all finite numbers."""
    (plot,) = ok(app, line)
    assert isinstance(plot, Plot) and plot.shown
    for panel in plot.figure.panels:
        for series in panel.series:
            assert len(series.x) == len(series.y), (panel.title, series.label)
            assert all(isinstance(value, float) and math.isfinite(value)
                       for value in series.x + series.y), (panel.title, series.label)
    return plot.figure


def drawn(series):
    return [(item.label, item.x, item.y) for item in series]


# -- experiments -p

def test_an_experiment_draws_its_rates_per_slot_and_the_ips_it_flagged(app, tmp_path):
    ok(app, f'datasets -c {labeled_capture(tmp_path)} --name lab')
    ok(app, 'experiments -n --rule any')
    figure = figure_of(app, 'experiments -p 0')
    assert figure.title == 'experiment 0: default on dataset 0 lab (capture.binetflow)'
    rates, flagged = figure.panels
    assert (rates.kind, rates.title, rates.x_label, rates.y_label, rates.x_time,
            rates.y_range) == ('lines', 'default: TPR and FPR per 300 s slot (per source IP)',
                               'slot start', 'rate (0 to 1)', True, UNIT)
    slots = app.root['experiments'].get(0).results['default']['slots']
    starts = tuple(TEN_O_CLOCK + 300 * number for number in range(10))
    # the botnet hosts call home in the first two minutes only: one slot with a TPR
    assert drawn(rates.series) == [('TPR', (TEN_O_CLOCK,), (1.0,)),
                                   ('FPR', starts, tuple(slot['fpr'] for slot in slots))]

    assert (flagged.kind, flagged.title, flagged.x_label, flagged.y_label, flagged.x_time) == (
        'points', 'default: source IPs flagged per slot', 'slot start',
        'flagged IP (1 = flagged in most slots)', True)
    times = {ip: [start for start, slot in zip(starts, slots) if ip in slot['flagged_ips']]
             for ip in {ip for slot in slots for ip in slot['flagged_ips']}}
    assert len(times) == 20 and len(flagged.series) == 13
    named = flagged.series[:12]
    assert [len(item.x) for item in named] == sorted((len(moments) for moments in
                                                      times.values()), reverse=True)[:12]
    for rank, item in enumerate(named, 1):
        ip = item.label.split()[0]
        assert item.x == tuple(times[ip]) and item.y == (float(rank),) * len(times[ip])
    assert named[0].label == '10.0.1.1 (normal, 8 slots)'
    assert named[-1].label == '10.0.0.1 (malicious, 1 slot)'
    others = flagged.series[12]
    assert (others.label, others.x, others.y) == (
        'others (8 IPs)', (TEN_O_CLOCK,) * 8, tuple(float(rank) for rank in range(13, 21)))

    ok(app, 'experiments -r 0')
    (first,) = figure_of(app, 'experiments -p 0').panels
    assert (first.kind, first.title, first.x_label, first.x_time) == (
        'points', "default: the per-slot detail was dropped ('experiments -r'); the first slot "
        'each IP was flagged in', 'slot number (from 1)', False)
    assert first.series[0].label == 'first flagged (20 IPs)'
    ips = app.root['experiments'].get(0).results['default']['ips']
    assert sorted(first.series[0].x) == sorted(float(row['first_detected_slot'])
                                               for row in ips.values()
                                               if row['first_detected_slot'] is not None)
    assert first.series[0].y == tuple(float(rank) for rank in range(1, 21))


def experiment(results, settings=None):
    return SimpleNamespace(id=4, dataset_id=2, file_name='c.binetflow',
                           settings=settings or {'slot': 60}, results=results)


def slot(number, start, tpr, fpr, flagged):
    return {'slot': number, 'start': start, 'tpr': tpr, 'fpr': fpr, 'flagged_ips': flagged}


def test_rates_leave_out_slots_without_a_denominator_and_many_ips_share_a_series():
    ips = [f'10.0.0.{number}' for number in range(14)]
    slots = [slot(1, '1970-01-01 00:00:00', None, 0.5, ips),
             slot(2, '1970-01-01 00:01:00', 0.25, None, ips[:1]),
             slot(3, '123456789012.0', 1.0, 0.0, [])]  # a time the clock cannot show
    results = {'a': {'summary': {'slot_seconds': 60.0}, 'slots': slots,
                     'ips': {ips[0]: {'truth': 'malicious'}}},
               'b': {'summary': {}, 'slots': None,
                     'ips': {'10.0.9.1': {'first_detected_slot': 3, 'flagged': 1},
                             '10.0.9.2': {'first_detected_slot': 2, 'flagged': 5},
                             '10.0.9.3': {'first_detected_slot': None, 'flagged': 0}}}}
    figure = metrics.experiment_figure(experiment(results), 'lab')
    assert figure.title == 'experiment 4: a, b on dataset 2 lab (c.binetflow)'
    rates, flagged, first = figure.panels
    assert rates.title == 'a: TPR and FPR per 60 s slot (per source IP)'
    assert drawn(rates.series) == [('TPR', (60.0, 123456789012.0), (0.25, 1.0)),
                                   ('FPR', (0.0, 123456789012.0), (0.5, 0.0))]
    assert drawn(flagged.series) == [
        ('10.0.0.0 (malicious, 2 slots)', (0.0, 60.0), (1.0, 1.0)),
        *((f'{ip} (?, 1 slot)', (0.0,), (float(rank),)) for rank, ip in
          enumerate(sorted(ips[1:])[:11], 2)),
        ('others (2 IPs)', (0.0, 0.0), (13.0, 14.0))]
    assert drawn(first.series) == [('first flagged (2 IPs)', (2.0, 3.0), (1.0, 2.0))]
    assert metrics.experiment_figure(experiment({'a': dict(results['a'], slots=[])})
                                     ).panels[1].series == (
        metrics.Series('no IP was flagged', (), ()),)
    (empty,) = metrics.experiment_figure(experiment({'b': dict(results['b'], ips={})})).panels
    assert drawn(empty.series) == [('no IP was flagged', (), ())]


def test_a_rates_panel_without_ground_truth_draws_the_slots_times_not_1970():
    from stf.plots import terminal
    from tests.test_plots import axes_of, axis_times
    slots = [slot(number, f'2020-01-01 10:{5 * (number - 1):02d}:00', None, None, [])
             for number in (1, 2, 3)]
    figure = metrics.experiment_figure(experiment(
        {'a': {'summary': {'slot_seconds': 300.0}, 'slots': slots, 'ips': {}}}))
    rates, flagged = figure.panels
    assert rates.title == ('a: TPR and FPR per 300 s slot (per source IP): no slot has ground '
                           'truth (no source IP with a label), no rate to draw')
    assert drawn(rates.series) == [('TPR (no slot to measure it in)', (), ()),
                                   ('FPR (no slot to measure it in)', (), ())]
    assert rates.x_range == flagged.x_range == (TEN_O_CLOCK, TEN_O_CLOCK + 900)
    lines = terminal.drawing(figure, 60)
    assert not [line for line in lines if '1970' in line]
    assert [line.strip() for line in lines if 'UTC' in line] == [
        'slot start (UTC, from 2020-01-01 10:00:00)'] * 2
    assert terminal.panel_lines(rates, 60)[-5:-2] == [
        '   └┬─────────────────┬──────────────────┬─────────────────┬',
        '    10:00             10:05              10:10         10:15',
        '    slot start (UTC, from 2020-01-01 10:00:00)']
    # the picture: the slots' 15 minutes, and 2% of them each side
    assert axis_times(axes_of(rates)) == ('2020-01-01 09:59:42', '2020-01-01 10:15:18')


def test_one_flagged_ip_is_named_on_a_rank_axis_of_whole_numbers():
    from stf.plots import terminal
    from tests.test_plots import axes_of
    slots = [slot(1, '2020-01-01 10:00:00', 1.0, None, ['10.0.0.1']),
             slot(2, '2020-01-01 10:01:00', 0.0, None, [])]
    _, flagged = metrics.experiment_figure(experiment(
        {'a': {'summary': {}, 'slots': slots, 'ips': {'10.0.0.1': {'truth': 'malicious'}}}}
    )).panels
    assert (flagged.y_range, flagged.y_integer) == ((0.5, 1.5), True)
    axes = axes_of(flagged)
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        '10.0.0.1 (malicious, 1 slot)']
    assert axes.get_ylim() == (0.5, 1.5)
    assert [tick for tick in axes.get_yticks() if 0.5 <= tick <= 1.5] == [1.0]
    labels = [line.split('┤')[0].strip() for line in terminal.panel_lines(flagged, 40)
              if '┤' in line]
    assert labels == ['1']


# -- detectors -s

def test_a_detector_draws_its_roc_and_precision_recall_curves(app, letters):  # noqa: F811
    ok(app, f'detectors -t --from {letters} --name beacons')
    figure = figure_of(app, 'detectors -s beacons')
    assert figure.title == (f'detector beacons: cross-validated (5 folds) on {letters} '
                            '(30 malicious, 30 normal models)')
    roc, recall = figure.panels
    assert (roc.kind, roc.title, roc.x_label, roc.y_label, roc.x_range, roc.y_range) == (
        'lines', 'ROC: chains judged at each threshold', 'false positive rate (FPR)',
        'true positive rate (TPR)', UNIT, UNIT)
    # beacons and lookups part cleanly: every malicious chain is found before a normal one
    assert drawn(roc.series) == [('cross-validated', (0.0, 0.0, 1.0), (0.0, 1.0, 1.0)),
                                 ('chance', UNIT, UNIT)]
    assert (recall.kind, recall.title, recall.x_label, recall.y_label, recall.x_range,
            recall.y_range) == ('lines', 'precision-recall', 'recall (TPR)', 'precision',
                                UNIT, UNIT)
    assert drawn(recall.series) == [('cross-validated', (1.0, 1.0), (0.5, 1.0)),
                                    ('chance (malicious share 0.50)', UNIT, (0.5, 0.5))]

    def forget_the_sweep():  # as a detector trained before the sweep was kept
        record = app.root['detectors'].get('beacons')
        record.evaluation = {key: value for key, value in record.evaluation.items()
                             if key != 'sweep'}
    app.database.run(forget_the_sweep)
    old = figure_of(app, 'detectors -s beacons')
    assert old.title.endswith('(no sweep was kept: train it again for the whole curves)')
    assert drawn(old.panels[0].series)[0] == ('low-FPR and default thresholds only',
                                              (0.0, 0.0, 1.0), (0.0, 1.0, 1.0))
    assert drawn(old.panels[1].series)[0] == ('low-FPR and default thresholds only',
                                              (1.0,), (1.0,))


def test_the_shipped_detector_draws_the_sweep_kept_beside_it(app):
    from stf.commands.detectors import SHIPPED_FIGURES
    sweep = json.loads(SHIPPED_FIGURES.read_text())['sweep']
    figure = figure_of(app, 'detectors -s default')
    assert figure.title == ('detector default: cross-validated (5 folds) on its shipped '
                            'training set (955 malicious, 416 normal models)')
    (roc, chance), (recall, share) = (panel.series for panel in figure.panels)
    points = sorted({(row['fpr'], row['tpr']) for row in sweep})
    assert list(zip(roc.x, roc.y)) == points
    assert (points[0], points[-1]) == ((0.0, 0.0), (1.0, 1.0))
    assert len(recall.x) == len({(row['tpr'], row['precision']) for row in sweep
                                 if row['precision'] is not None})
    assert share.label == 'chance (malicious share 0.70)' and share.y == (955 / 1371,) * 2


def test_a_detector_not_cross_validated_draws_only_chance(app, tmp_path):
    from tests.test_detection_commands import BOTNET as BEACON, NORMAL, chains
    path = tmp_path / 'few.tsv'
    rows = [row for row in chains(count=6) if row[2] == BEACON] + [
        row for row in chains(count=6) if row[2] == NORMAL][:2]
    path.write_text('tuple_id\tflows\tlabel\tstate\n' + ''.join(
        f'{conn}\t{flows}\t{label}\t{state}\n' for conn, flows, label, state in rows))
    ok(app, f'detectors -t --from {path} --name few')
    figure = figure_of(app, 'detectors -s few')
    assert figure.title == (f'detector few from {path} (6 malicious, 2 normal models): not '
                            'cross-validated (imported, or too few models of a class), no curve')
    assert [drawn(panel.series) for panel in figure.panels] == [
        [('not cross-validated', (), ()), ('chance', UNIT, UNIT)],
        [('not cross-validated', (), ())]]


# -- distances -n, -c

def test_a_distance_draws_the_chain_growing_against_the_threshold(labeled):  # noqa: F811
    app, names = labeled
    ok(app, f'markov_models -g {names[BOTNET]}')
    group = app.root['models'].values()[0].id
    # the model's own training chain: 1 (alike) at every length; no threshold yet
    figure = figure_of(app, f'distances -n --train 0 --test {group}:10.0.0.4-8.8.8.8-53-udp')
    assert figure.title == (f'distance 0: {group}:10.0.0.4-8.8.8.8-53-udp '
                            f'(From-Botnet-UDP-DNS-CC-2) to Markov model 0 ({BOTNET})')
    (panel,) = figure.panels
    assert (panel.kind, panel.title, panel.x_label, panel.y_label) == (
        'lines', 'the distance as the test chain grows', 'letters read',
        'distance (larger |log P| / smaller; 1 = alike)')
    assert drawn(panel.series) == [('distance', (4.0, 5.0, 6.0), (1.0, 1.0, 1.0))]

    ok(app, 'markov_models --threshold 1.5 -i 0')
    (panel,) = figure_of(app, f'distances -n --train 0 --test {group}:10.0.0.5-8.8.8.8-53-udp'
                         ).panels
    aaab = (math.log(0.6) + 2 * math.log(1 / 3) + math.log(2 / 3)) / (
        math.log(0.6) + math.log(1 / 3) + math.log(2 / 3) + math.log(1.0))
    assert drawn(panel.series) == [('distance', (4.0,), (aaab,)),
                                   ('threshold 1.5', (4.0, 4.0), (1.5, 1.5))]


def test_a_group_compared_draws_each_chain_by_its_label_and_the_threshold(labeled):  # noqa: F811
    app, names = labeled
    ok(app, f'markov_models -g {names[BOTNET]}')
    ok(app, 'markov_models --threshold 1.5 -i 0')
    group = app.root['models'].values()[0].id
    figure = figure_of(app, f'distances -c --train 0 --test {group}')
    assert figure.title == (f'group {group} against Markov model 0 ({BOTNET}): 4 chains of '
                            'Proto3 UDP with at least 4 characters')
    (panel,) = figure.panels
    assert (panel.kind, panel.title, panel.x_label, panel.y_label) == (
        'points', 'the smallest distance of each chain, smallest first',
        'chains in order of distance (rank)',
        'smallest distance (larger |log P| / smaller; 1 = alike)')
    zzzz = 4 * math.log(0.01) / (math.log(3 / 5) + math.log(1 / 3) + math.log(2 / 3))
    (malicious, normal, threshold) = drawn(panel.series)
    assert malicious == ('malicious chains', (1.0, 4.0), (1.0, zzzz))
    assert (normal[:2], [round(value, 3) for value in normal[2]]) == (
        ('normal chains', (2.0, 3.0)), [1.545, 2.942])
    assert threshold == ('threshold 1.5', (1.0, 2.0, 3.0, 4.0), (1.5,) * 4)


def test_infinite_distances_are_left_out_and_counted():
    figure = distances.compared_figure('t', [('unlabeled', math.inf), ('normal', 2.0),
                                             ('unlabeled', 1.25)], None)
    assert drawn(distances.compared_figure('t', [], 1.5).panels[0].series) == [
        ('no chain to compare', (), ())]
    assert drawn(figure.panels[0].series) == [
        ('normal chains', (2.0,), (2.0,)),
        ('unlabeled chains (1 infinite left out)', (1.0,), (1.25,))]
    grown = distances.distance_figure('t', [(4, math.inf), (5, 3.0)], 2.0)
    assert drawn(grown.panels[0].series) == [('distance (1 infinite left out)', (5.0,), (3.0,)),
                                             ('threshold 2', (4.0, 5.0), (2.0, 2.0))]


def test_the_threshold_is_a_line_under_the_chains_on_a_row_of_its_own():
    from stf.plots import terminal
    from tests.test_plots import axes_of
    chains = [('malicious', 1.0), ('normal', 1.545), ('normal', 2.942), ('malicious', 9.142)]
    (panel,) = distances.compared_figure('t', chains, 1.1).panels
    assert [item.level for item in panel.series] == [False, False, True] and panel.x_integer
    # 1.0 and 1.1 lie in one row of the chart: the threshold's row comes between them
    assert terminal.panel_lines(panel, 40)[4:] == [
        ' 10┤',
        '   │                                   •',
        '   │', '   │', '   │',
        '  5┤',
        '   │', '   │',
        '   │                       +',
        '   │            +',
        '1.1┤' + '┄' * 36,
        '   │•',
        '  0┤',
        '   └┬───────────┬──────────┬───────────┬',
        '    1           2          3           4',
        '    chains in order of distance (rank)',
        '• malicious chains',
        '+ normal chains',
        '┄ threshold 1.1']
    axes = axes_of(panel)
    (line,) = axes.lines       # a dashed line across, under the chains' points
    assert (tuple(line.get_ydata()), line.get_linestyle(), line.get_zorder()) == (
        (1.1, 1.1), '--', 1)
    assert [collection.get_zorder() for collection in axes.collections] == [2, 2]
    assert [tuple(map(tuple, collection.get_offsets())) for collection in axes.collections] == [
        ((1.0, 1.0), (4.0, 9.142)), ((2.0, 1.545), (3.0, 2.942))]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        'malicious chains', 'normal chains', 'threshold 1.1']


# -- as pictures: each command's --png writes an image of its panels' size

def test_each_metric_picture_is_a_png_of_its_panels(app, tmp_path, letters):  # noqa: F811
    from tests.test_plots import png_size
    ok(app, f'datasets -c {labeled_capture(tmp_path)} --name lab')
    ok(app, 'experiments -n --rule any')
    ok(app, f'detectors -t --from {letters} --name beacons')
    for line, size in ((f'experiments -p 0 --png {tmp_path}/run.png', (1200, 800)),
                       (f'detectors -s beacons --png {tmp_path}/roc.png', (1200, 800))):
        (message,) = ok(app, line)
        path = tmp_path / line.split('/')[-1]
        assert message.text == f'picture written to {path} ({size[0]}×{size[1]} px)'
        assert png_size(path) == size


def test_distance_pictures_are_pngs_of_one_panel(labeled, tmp_path):  # noqa: F811
    from tests.test_plots import png_size
    app, names = labeled
    ok(app, f'markov_models -g {names[BOTNET]}')
    group = app.root['models'].values()[0].id
    ok(app, f'distances -n --train 0 --test {group}:10.0.0.4-8.8.8.8-53-udp '
            f'--png {tmp_path}/one.png')
    ok(app, f'distances -c --train 0 --test {group} --png {tmp_path}/all.png')
    assert png_size(tmp_path / 'one.png') == png_size(tmp_path / 'all.png') == (1200, 400)
