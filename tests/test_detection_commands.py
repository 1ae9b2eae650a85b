"""detectors and experiments through the console: train, list, show, export,
import, delete; run an experiment, list, print, drop its slots, delete."""
import json
import random

import pytest

from tests.conftest import error, ok

BOTNET, NORMAL = 'From-Botnet-TCP-HTTP-CC-1', 'From-Normal-UDP-DNS--1'


def chains(seed=7, count=30):
    """Letters TSV rows: strongly periodic small beacons (malicious) and
    irregular DNS lookups (normal), of varied lengths."""
    chooser = random.Random(seed)
    rows = []
    for number in range(count):
        length = chooser.randint(6, 40)
        rows.append((f'10.0.0.{number}-1.2.3.{number}-80-tcp', length, BOTNET,
                     ''.join(chooser.choice('aabbd') + '.' for _ in range(length))))
        rows.append((f'10.0.1.{number}-8.8.8.8-53-udp', length, NORMAL,
                     ''.join(chooser.choice('1479RrUxy') + chooser.choice('.,+*')
                             for _ in range(length))))
    return rows


@pytest.fixture
def letters(tmp_path):
    path = tmp_path / 'train.tsv'
    path.write_text('tuple_id\tflows\tlabel\tstate\n' + ''.join(
        f'{conn}\t{flows}\t{label}\t{state}\n' for conn, flows, label, state in chains()))
    return path


def test_train_list_show_export_import_delete(app, letters, tmp_path):
    items = ok(app, f'detectors -t --from {letters} --name beacons')
    assert items[0].text.startswith("detector 'beacons' trained on 30 malicious and 30 normal "
                                    'models (0 skipped); cross-validated accuracy ')
    (table,) = ok(app, 'detectors -l')
    assert [row[:5] for row in table.rows] == [
        ('default', 'shipped with stf', *table.rows[0][2:5]),
        ('beacons', str(letters), '30', '30', '0')]
    (plot,) = ok(app, 'detectors -s beacons')
    shown = plot.shown
    assert shown[0].pairs[0] == ('name', 'beacons')
    assert [row[0] for row in shown[1].rows] == ['default threshold', 'low-FPR threshold',
                                                 'first 20 characters']
    figures = app.root['detectors'].get('beacons').evaluation
    assert sum(figures['default'][key] for key in ('tp', 'fp', 'tn', 'fn')) == 60
    assert [table.title for table in shown[2:]] == [
        'transitions that speak most for malicious', 'transitions that speak most for normal']
    assert all(row[2].startswith('+') for row in shown[2].rows)
    assert all(row[2].startswith('-') for row in shown[3].rows)
    assert all(len(row[1]) == 1 for row in shown[2].rows + shown[3].rows)

    out = tmp_path / 'exported'
    ok(app, f'detectors -x beacons --output {out}')
    manifest = json.loads((out / 'manifest.json').read_text())
    assert sorted(manifest['files']) == sorted(path.name for path in out.iterdir()
                                               if path.name != 'manifest.json')
    assert error(app, f'detectors -x beacons --output {out}') == (
        f'{out} exists and is not an empty folder; add --force to overwrite its detector '
        'files, or choose another folder')
    assert error(app, f'detectors --import {out}') == (
        "there is already a detector 'beacons'; choose another name or delete it with "
        "'detectors -d beacons'; give it another name with --name NAME")
    ok(app, f'detectors --import {out} --name copy')
    from stf.commands.detectors import find
    texts = ['x', 'y']
    for name in ('beacons', 'copy'):
        detector = find(app, name)[1]
        texts[['beacons', 'copy'].index(name)] = detector.probabilities(
            [state for _, _, _, state in chains(seed=9)]).round(12).tolist()
    assert texts[0] == texts[1]

    ok(app, 'detectors -d copy')
    assert [row[0] for row in ok(app, 'detectors -l')[0].rows] == ['default', 'beacons']
    assert error(app, 'detectors -d default') == (
        "'default' is the detector shipped with stf; it cannot be deleted")
    assert error(app, 'detectors -s nothing') == (
        "there is no detector 'nothing'; known: default, beacons (list them with "
        "'detectors -l')")


def test_a_tampered_detector_folder_is_refused(app, letters, tmp_path):
    ok(app, f'detectors -t --from {letters} --name beacons')
    out = tmp_path / 'exported'
    ok(app, f'detectors -x beacons --output {out}')
    detector_json = out / 'detector.json'
    detector_json.write_bytes(detector_json.read_bytes().replace(b'"beacons"', b'"beacoms"'))
    assert error(app, f'detectors --import {out} --name other') == (
        f'{detector_json}: its sha256 does not match manifest.json, so the detector was '
        'changed after it was saved; refused; train it again (python -m stf.detect train)')
    assert len(app.root['detectors']) == 1


def labeled_capture(tmp_path, hosts=10):
    """A binetflow with a Label column: each botnet host calls its C&C every
    10 s with the same small flow; each normal host looks names up now and
    then with varied sizes."""
    from tests.test_connections_models import HEADER, flow_line
    chooser = random.Random(3)
    lines = []
    for host in range(hosts):
        lines += [flow_line(10 * step + host % 10, src=f'10.0.0.{host}', dst=f'1.2.3.{host}',
                            size='300') for step in range(12)]
        moments = sorted(chooser.sample(range(0, 3000), 12))
        lines += [flow_line(moment, src=f'10.0.1.{host}', dst='8.8.8.8', dport='53',
                            size=str(chooser.randint(80, 3000)), dur='0.01',
                            label='flow=From-Normal-V1-DNS') for moment in moments]
    path = tmp_path / 'capture.binetflow'
    path.write_text(HEADER + ''.join(sorted(lines)))
    return path


def test_training_from_a_labeled_group_of_models(app, tmp_path):
    ok(app, f'datasets -c {labeled_capture(tmp_path)} --name lab')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    ok(app, 'labels --from-flows -g 0-1')
    assert error(app, 'detectors -t --from 0-1') == 'name the detector with --name NAME'
    assert error(app, 'detectors -t --from 0-1 --name default').startswith(
        "'default' cannot name a detector")
    items = ok(app, 'detectors -t --from 0-1 --name lab')
    assert items[0].text.startswith("detector 'lab' trained on 10 malicious and 10 normal "
                                    'models (0 skipped)')
    assert ok(app, 'detectors -l')[0].rows[1][1] == 'group of models 0-1'


def test_bad_sources(app, tmp_path):
    assert error(app, 'detectors -t --from 9-1 --name x') == (
        "there is no group of models '9-1' and no file 9-1; give a group (list them with "
        "'models -l') or a letters TSV")
    assert error(app, f'detectors -t --from {tmp_path}/none.tsv --name x') == (
        f'{tmp_path}/none.tsv: no such file')
    empty = tmp_path / 'empty.tsv'
    empty.write_text('tuple_id\tflows\tlabel\tstate\nx\t1\tBackground\t1.\n')
    assert error(app, f'detectors -t --from {empty} --name x') == (
        'training needs at least 2 chains labeled malicious and 2 labeled normal; found 0 '
        'malicious and 0 normal (1 other rows skipped); label more models')


def slots_with_flows(path, slot=300):
    """Source IP -> truth and the number of slots in which it has flows."""
    lines = path.read_text().splitlines()[1:]
    first = min(line.split(',')[0] for line in lines)
    assert first.startswith('2020/01/01 10:')

    def seconds(stamp):
        minutes, secs = stamp.split(' ')[1].split(':')[1:]
        return int(minutes) * 60 + float(secs)
    origin = seconds(first)
    seen = {}
    for line in lines:
        fields = line.split(',')
        truth = 'malicious' if 'Botnet' in fields[-1] else 'normal'
        seen.setdefault(fields[3], (truth, set()))[1].add(int((seconds(fields[0]) - origin)
                                                              // slot))
    return {ip: (truth, len(slots)) for ip, (truth, slots) in seen.items()}


def test_an_experiment_is_run_stored_shown_and_deleted(app, tmp_path):
    capture = labeled_capture(tmp_path)
    ok(app, f'datasets -c {capture} --name lab')
    items = ok(app, 'experiments -n --dataset 0 --description "first try"')
    assert items[0].text == 'experiment 0 stored: capture.binetflow, 300 s slots, rule evidence'
    assert [row[0] for row in items[1].rows] == ['default']
    (listed,) = ok(app, 'experiments -l')
    assert [row[:7] + row[10:] for row in listed.rows] == [
        (0, listed.rows[0][1], 0, 'capture.binetflow', 'default', 'evidence', 300,
         'first try')]
    (plot,) = ok(app, 'experiments -p 0')
    ips = plot.shown[2]
    assert ips.title == 'default: per IP for the whole run'
    expected = slots_with_flows(capture)
    assert {row[0]: row[1] for row in ips.rows} == {ip: truth for ip, (truth, _) in
                                                    expected.items()}
    for ip, truth, tp, fp, tn, fn, _ in ips.rows:
        assert tp + fp + tn + fn == expected[ip][1], ip
        assert (tp + fn == 0) == (truth == 'normal')
    assert len(ok(app, 'experiments -p 0 --slots')[0].shown) == 4
    assert ok(app, 'experiments -r 0')[0].text.startswith('experiment 0: ')
    assert ok(app, 'experiments -p 0 --slots')[0].shown[3].footer == (
        "the per-slot detail was dropped ('experiments -r')")

    items = ok(app, 'experiments -n -f name=10.0.0.1- --rule any')
    assert {row[0] for row in ok(app, 'experiments -p 1')[0].shown[2].rows} == {'10.0.0.1'}

    ok(app, 'notes -c --to experiment:1 --text "only one host"')
    assert error(app, 'experiments -d 0-1') == (
        'this would delete experiments 0, 1, 1 note; nothing was changed: add --yes to '
        'confirm (batch mode cannot ask)')
    assert ok(app, 'experiments -d 0-1 --yes')[0].text == '2 experiments deleted'
    assert len(app.notes) == 0 and ok(app, 'experiments -l')[0].rows == []


def test_bad_experiments(app, tmp_path):
    assert error(app, 'experiments -n') == (
        "no dataset is selected; select one with 'datasets -s ID' (list them with "
        "'datasets -l')")
    ok(app, f'datasets -c {labeled_capture(tmp_path)} --name lab')
    assert error(app, 'experiments -n --detector nothing') == (
        "there is no detector 'nothing'; known: default (list them with 'detectors -l')")
    assert error(app, 'experiments -n --slot 0') == (
        'experiments --slot takes seconds, more than 0')
    assert error(app, 'experiments -n --rule often') == (
        "there is no verdict rule 'often'; choose one of evidence, any, majority")
    assert error(app, 'experiments -p 7') == (
        "there is no experiment 7; list them with 'experiments -l'")


def test_crossvalidate_script_prints_the_figures_detectors_show(letters, tmp_path):
    import subprocess
    import sys
    from tests.conftest import ROOT
    out = tmp_path / 'figures.json'
    result = subprocess.run([sys.executable, '-m', 'stf.detect', 'crossvalidate', '--letters',
                             str(letters), '--out', str(out)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, '', '')
    figures = json.loads(out.read_text())
    assert sorted(figures) == ['default', 'folds', 'low_fpr', 'prefix_20', 'sweep']
    assert [row['threshold'] for row in figures['sweep']] == [step / 100 for step in range(101)]
    assert figures['sweep'][0]['tp'] + figures['sweep'][0]['fn'] == 30
    for point in ('default', 'low_fpr', 'prefix_20'):
        counts = [figures[point][key] for key in ('tp', 'fp', 'tn', 'fn')]
        assert sum(counts) == 60 and counts[0] + counts[3] == 30
    bad = subprocess.run([sys.executable, '-m', 'stf.detect', 'crossvalidate', '--letters',
                          str(tmp_path / 'none.tsv')], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert (bad.returncode, bad.stdout) == (1, '')
    assert bad.stderr == (f'python -m stf.detect crossvalidate: {tmp_path}/none.tsv: no such '
                          'file\n')


def test_the_shipped_detector_shows_its_figures(app):
    from stf.commands.detectors import SHIPPED_FIGURES
    shown = ok(app, 'detectors -s default')[0].shown
    assert shown[0].pairs[:2] == [('name', 'default'), ('trained from', 'shipped with stf')]
    figures = json.loads(SHIPPED_FIGURES.read_text())
    assert shown[1].rows[0][1] == f"{figures['default']['accuracy']:.4f}"
    assert sum(figures['default'][key] for key in ('tp', 'fp', 'tn', 'fn')) == 1371


def test_detectors_and_experiments_read_back_in_another_process(tmp_path, letters):
    """What they store is plain data the database's allow-list reads back
    (a numpy number would name a class stf does not store)."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    database, capture = tmp_path / 'stf.db', labeled_capture(tmp_path)

    def stf(*commands):
        arguments = [part for command in commands for part in ('-c', command)]
        return subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db', str(database),
                               *arguments], capture_output=True, text=True, timeout=120)
    made = stf(f'detectors -t --from {letters} --name beacons', f'datasets -c {capture}',
               'experiments -n --detector beacons default')
    assert (made.returncode, made.stderr) == (0, '')
    again = stf('detectors -s beacons', 'experiments -p 0')
    assert (again.returncode, again.stderr) == (0, '')
    assert 'cross-validated (5 folds)' in again.stdout
    assert 'beacons: per IP for the whole run' in again.stdout


def test_trial_findings(app, letters, tmp_path):
    """What a first try of the commands found, each one line now."""
    assert ok(app, 'help undo')[0].text.startswith('usage: undo [-h] ID')
    ok(app, f'detectors -t --from {letters} --name beacons')
    out = tmp_path / 'exported'
    ok(app, f'detectors -x beacons --output {out}')
    manifest = json.loads((out / 'manifest.json').read_text())
    manifest['files']['../stf.db'] = '00'
    (out / 'manifest.json').write_text(json.dumps(manifest))
    assert error(app, f'detectors --import {out} --name other') == (
        f"{out}/manifest.json: lists files that are no part of a detector ('../stf.db'); "
        'refused; train it again (python -m stf.detect train)')
    afile = tmp_path / 'afile'
    afile.write_text('x')
    assert error(app, f'detectors -x beacons --output {afile}') == (
        f'{afile} is a file; --output takes a folder')
    assert ok(app, 'detectors -d beacons --yes')[0].text.startswith("detector 'beacons' deleted")
    ok(app, f'datasets -c {labeled_capture(tmp_path)} --name lab')
    assert error(app, 'experiments -n --alpha -1') == (
        'experiments --alpha takes a number of 0 or more, not -1.0')
    assert error(app, 'experiments -n -f name=nomatch') == (
        'no flow of capture.binetflow is left to judge by the filter name=nomatch; nothing '
        'was stored')
    shown = ok(app, 'experiments -n') and ok(app, 'experiments -p 0')[0].shown
    assert dict(shown[0].pairs)['ground truth'] == 'Label column'


def test_training_on_too_few_models_of_a_class_says_it_was_not_cross_validated(app, tmp_path):
    path = tmp_path / 'few.tsv'
    rows = chains(count=6)
    rows = [row for row in rows if row[2] == BOTNET] + [
        row for row in rows if row[2] == NORMAL][:2]
    path.write_text('tuple_id\tflows\tlabel\tstate\n' + ''.join(
        f'{conn}\t{flows}\t{label}\t{state}\n' for conn, flows, label, state in rows))
    assert ok(app, f'detectors -t --from {path} --name few')[0].text == (
        "detector 'few' trained on 6 malicious and 2 normal models (0 skipped); too few models "
        'of one class to cross-validate it')
    assert dict(ok(app, 'detectors -s few')[0].shown[0].pairs)['cross-validated'] == (
        'not known (imported, or too few models of a class)')
