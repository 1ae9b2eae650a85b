"""markov_models and distances through the console, on labeled models
imported from a letters TSV."""
import math
import pickle
import sys
import types

import pytest

from stf.core.detect import labelmarkov
from tests.conftest import error, ok

BOTNET, BOTNET2, NORMAL = ('From-Botnet-UDP-DNS-CC-1', 'From-Botnet-UDP-DNS-CC-2',
                           'From-Normal-UDP-DNS--1')
ROWS = [('10.0.0.1-8.8.8.8-53-udp', 5, BOTNET, 'aab'),
        ('10.0.0.2-8.8.8.8-53-udp', 4, BOTNET, 'ab'),
        ('10.0.0.3-8.8.8.8-53-udp', 2, BOTNET, 'zzzz'),          # too few flows: left out
        ('10.0.0.4-8.8.8.8-53-udp', 9, BOTNET2, 'aab#ab'),
        ('10.0.0.5-8.8.8.8-53-udp', 9, NORMAL, 'aaab'),
        ('10.0.0.6-8.8.8.8-53-udp', 9, NORMAL, 'abab')]


@pytest.fixture
def labeled(app, tmp_path):
    path = tmp_path / 'letters.tsv'
    path.write_text('tuple_id\tflows\tlabel\tstate\n' + ''.join(
        f'{conn}\t{flows}\t{label}\t{state}\n' for conn, flows, label, state in ROWS))
    ok(app, f'datasets -c {path} --name lab')
    names = {name: label_id for label_id, name in app.root['labels'].names().items()}
    return app, names


def test_a_label_model_is_built_listed_printed_and_trained(labeled):
    app, names = labeled
    (made,) = ok(app, f'markov_models -g {names[BOTNET]}')
    assert made.text == (f'Markov model 0 of label {names[BOTNET]} {BOTNET}: 2 connections, '
                         "6 characters; set its threshold with 'markov_models --train-threshold 0'")
    record = app.root['markov_models'].get(0)
    assert (record.training, record.proto3, record.decision) == ('aab#ab', 'UDP', 'malicious')
    (table,) = ok(app, 'markov_models -l')
    assert table.rows == [(0, BOTNET, 'UDP', 'malicious', 2, 6, '-', 'label')]
    (matrix,) = ok(app, 'markov_models -m 0')
    assert matrix.headers == ['from \\ to', '#', 'a', 'b']
    assert matrix.rows == [('initial', '0.200', '0.600', '0.200'), ('#', '-', '1.000', '-'),
                           ('a', '-', '0.333', '0.667'), ('b', '1.000', '-', '-')]
    (states,) = ok(app, 'markov_models -p 0')
    assert [row[2] for row in states.rows] == ['aab', 'ab']
    table, said = ok(app, 'markov_models --train-threshold 0')
    # the other labels' chains: aab#ab (malicious, 1.0), aaab (normal, 1.545), abab (normal, 2.94)
    assert [row[:5] for row in table.rows][:6:5] == [('1.1', 1, 0, 2, 0), ('1.6', 1, 1, 1, 0)]
    assert said.text == 'threshold of Markov model 0 set to 1.1'
    assert app.root['markov_models'].get(0).threshold == 1.1
    ok(app, 'markov_models --threshold 1.7 -i 0')
    assert app.root['markov_models'].get(0).threshold == 1.7
    (chain,) = ok(app, 'markov_models --simulate 0 -N 50')
    assert len(chain.text) == 50 and set(chain.text) <= set('ab#')


def test_no_chains_of_the_models_decision_to_measure_against(labeled):
    """The normal label's model: the other labels' chains are all malicious, so no
    threshold can find anything; none is chosen."""
    app, names = labeled
    ok(app, f'markov_models -g {names[NORMAL]}')
    table, said = ok(app, 'markov_models --train-threshold 0')
    assert {(row[1], row[4]) for row in table.rows} == {(0, 0)}      # TP, FN
    assert (said.level, said.text) == (
        'warning', 'no chains of other normal labels of Proto3 UDP to measure Markov model 0 '
        'against (TP and FN are 0 at every threshold); its threshold was not set: set one '
        "with 'markov_models --threshold T -i 0'")
    record = app.root['markov_models'].get(0)
    assert (record.threshold, record.thresholds) == (None, [])


def test_all_regenerate_delete_and_the_errors(labeled):
    app, names = labeled
    (table, *warnings) = ok(app, 'markov_models -a')
    assert sorted(row[2] for row in table.rows) == sorted([BOTNET, BOTNET2, NORMAL])
    assert warnings == []
    (again,) = ok(app, 'markov_models -a')
    assert again.text == 'every label has a Markov model already'
    ok(app, 'markov_models -d 0')
    assert error(app, 'markov_models -m 0') == (
        "there is no Markov model 0; list them with 'markov_models -l'")
    assert error(app, 'markov_models -g 99') == "there is no label 99; list them with 'labels -l'"
    assert error(app, f'markov_models -g {names[BOTNET]} --min-flows 50') == (
        f'label {names[BOTNET]} {BOTNET} has no connection with a model of at least 50 flows; '
        'lower --min-flows or label more')
    assert error(app, 'markov_models --threshold 0.5 -i 1') == (
        'a threshold is a distance: 1 or more, not 0.5')
    assert error(app, 'markov_models --threshold 1.5') == (
        'say which models with -i IDS (3, 3,5 or 3-7)')
    (rebuilt,) = ok(app, 'markov_models -r 1')
    assert rebuilt.text.startswith('Markov model 1 built again: 1 -> 1 connections')


def test_distances_drawn_listed_compared_and_deleted(labeled):
    app, names = labeled
    ok(app, f'markov_models -g {names[BOTNET]}')
    ok(app, 'markov_models --threshold 1.5 -i 0')
    group = app.root['models'].values()[0].id
    (drawn,) = ok(app, f'distances -n --train 0 --test {group}:10.0.0.6-8.8.8.8-53-udp')
    (said,) = drawn.shown
    assert drawn.chart      # drawn under the line on the screen, as a chart of the plots room
    assert said.text == (f'distance 0: {group}:10.0.0.6-8.8.8.8-53-udp to Markov model 0 '
                         f'({BOTNET}): smallest 2.942; never within the threshold 1.5')
    from stf.plots import terminal
    chart = '\n'.join(terminal.drawing(drawn.figure, 80))
    assert 'threshold 1.5' in chart and 'letters read' in chart
    (table,) = ok(app, 'distances -l -f distance>2')
    assert [row[:5] for row in table.rows] == [(0, 0, BOTNET, f'{group}:10.0.0.6-8.8.8.8-53-udp',
                                                NORMAL)]
    assert ok(app, 'distances -l -f distance<2')[0].rows == []
    (compared,) = ok(app, f'distances -c --train 0 --test {group}')[0].shown
    # chains of 4 characters or more; zzzz: 4 x log(0.01) over |log P('aab#')|
    zzzz = 4 * math.log(0.01) / (math.log(3 / 5) + math.log(1 / 3) + math.log(2 / 3))
    assert [(row[0], row[3], row[4]) for row in compared.rows] == [
        ('10.0.0.4-8.8.8.8-53-udp', '1.000', 4), ('10.0.0.5-8.8.8.8-53-udp', '1.545', '-'),
        ('10.0.0.6-8.8.8.8-53-udp', '2.942', '-'), ('10.0.0.3-8.8.8.8-53-udp', f'{zzzz:.3f}', '-')]
    ok(app, 'distances -d 0')
    assert error(app, 'distances -d 0') == "there is no distance 0; list them with 'distances -l'"
    assert error(app, f'distances -n --train 0 --test {group}') == (
        f"--test wants GROUP:CONN_ID (a group of models and a connection, e.g. "
        f"0-1:10.0.0.1-8.8.8.8-53-udp), not '{group}'")


def test_an_old_model_file_is_imported_and_a_dangerous_one_refused(app, tmp_path, monkeypatch):
    module = types.ModuleType('stf.common.markov_chains')

    class Matrix(dict):
        pass
    Matrix.__module__, Matrix.__qualname__ = 'stf.common.markov_chains', 'Matrix'
    module.Matrix = Matrix
    monkeypatch.setitem(sys.modules, 'stf.common.markov_chains', module)
    path = tmp_path / 'old.stfm'
    path.write_bytes(b''.join(pickle.dumps(part, protocol=2) for part in (
        {'a': 0.6, 'b': 0.2, '#': 0.2}, Matrix({('a', 'b'): 1.0, ('b', '#'): 1.0}), 'ab#ab',
        -3.0, BOTNET, 1.4)))
    (said,) = ok(app, f'markov_models --import {path}')
    assert said.text == (f'Markov model 0 imported from {path}: label {BOTNET} (UDP, '
                         'malicious), 5 characters, threshold 1.4')
    record = app.root['markov_models'].get(0)
    assert record.source.startswith('file old.stfm sha256 ')
    assert labelmarkov.LabelModel(record.label, record.proto3, record.decision, record.initial,
                                  record.transitions, record.training).distance('ab#a') == 1.0
    evil = tmp_path / 'evil.stfm'
    evil.write_bytes(b'\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85R.')
    assert error(app, f'markov_models --import {evil}') == (
        f'{evil}: its initial vector names os.system, which an stf model file never holds; '
        'refused (nothing in it was run)')
    assert len(app.root['markov_models']) == 1
    assert math.isfinite(record.threshold)


def test_markov_models_are_detectors_of_an_experiment(app, tmp_path):
    from tests.test_detection_commands import labeled_capture
    ok(app, f'datasets -c {labeled_capture(tmp_path)} --name lab')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    ok(app, 'labels --from-flows -g 0-1')
    (built, *_) = ok(app, 'markov_models -a --min-flows 3')
    ids = sorted(row[0] for row in built.rows)
    assert error(app, f'experiments -n --detector markov:{ids[0]}') == (
        f"Markov model {ids[0]} has no threshold: train it with 'markov_models "
        f"--train-threshold {ids[0]}' or set one with --threshold")
    ok(app, f'markov_models --threshold 1.5 -i {ids[0]}-{ids[-1]}')
    spec = 'markov:' + ','.join(map(str, ids))
    items = ok(app, f'experiments -n --detector default {spec} --rule any')
    assert [row[0] for row in items[1].rows] == ['default', spec]
    results = app.root['experiments'].get(0).results
    markov, default = results[spec]['summary'], results['default']['summary']
    assert markov['detector'] == spec
    # judged on the chains its models were built from: every slot right
    assert [markov[key] for key in ('tp', 'fp', 'tn', 'fn')] == [10, 0, 70, 0]
    assert [default[key] for key in ('tp', 'fp', 'tn', 'fn')] == [10, 67, 3, 0]
    assert error(app, 'experiments -n --detector markov:') == (
        "'markov:' names no Markov model: write markov:ID,... (e.g. markov:0,2-5; see "
        "'markov_models -l')")


def test_models_are_exported_with_a_manifest_and_imported_back(labeled, tmp_path):
    app, names = labeled
    ok(app, 'markov_models -a')
    ok(app, 'markov_models --threshold 1.3 -i 0-1')
    out = tmp_path / 'exported'
    (said,) = ok(app, f'markov_models -x 0,1 --output {out}')
    assert said.text == (f"Markov models 0, 1 exported to {out} (markov.json and "
                         f"manifest.json); read them back with 'markov_models --import {out}'")
    assert error(app, f'markov_models -x 0 --output {out}') == (
        f'{out} exists and is not an empty folder; add --force to overwrite its files, or '
        'choose another folder')
    items = ok(app, f'markov_models --import {out}')
    assert len(items) == 2
    first, copy = app.root['markov_models'].get(0), app.root['markov_models'].get(3)
    assert (copy.label, copy.training, copy.threshold, copy.transitions, copy.label_id) == (
        first.label, first.training, 1.3, first.transitions, first.label_id)
    data = (out / 'markov.json').read_text()
    (out / 'markov.json').write_text(data.replace('"threshold": 1.3', '"threshold": 9.9', 1))
    assert error(app, f'markov_models --import {out}') == (
        f'{out / "markov.json"}: its sha256 does not match manifest.json (or other files are '
        'listed), so it was changed after it was saved; refused')
