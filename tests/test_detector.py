"""The behavioral detector (stf.core.detect) and `python -m stf.detect`."""
import json
import subprocess
import sys

import numpy as np
import pytest

from stf.core.detect import Detector, TrainingRow, metrics, training
from stf.core.errors import UserError

from tests.conftest import ROOT

MALICIOUS = [
    ('10.0.0.1-8.8.8.8-53-udp', 'From-Botnet-UDP-DNS-CC-1', '11.a.a.a.a.a.a.a.a'),
    ('10.0.0.1-8.8.4.4-53-udp', 'From-Botnet-UDP-DNS-CC-2', '11.a.a.a.a.a.a'),
    ('10.0.0.2-1.1.1.1-80-tcp', 'From-Botnet-TCP-HTTP-CC-3', '44*e*e*e*e*e*e'),
    ('10.0.0.2-1.1.1.2-80-tcp', 'From-Botnet-TCP-HTTP-CC-4', '44*e*e*e*E*e*e*e'),
    ('10.0.0.3-1.1.1.3-6667-tcp', 'From-Botnet-TCP-Unknown-IRC-5', '11.a.a.a,a.a.a'),
    ('10.0.0.3-1.1.1.4-53-udp', 'From-Malware-UDP-DNS--6', '11.a.a.a.a.a.a.a'),
]
NORMAL = [
    ('10.0.0.5-2.2.2.2-80-tcp', 'From-Normal-TCP-HTTP-Web-1', '99.Z.z.Z.Z*Z.z'),
    ('10.0.0.5-2.2.2.3-80-tcp', 'From-Normal-TCP-HTTP-Web-2', '99.Z.Z.z.Z.Z'),
    ('10.0.0.6-2.2.2.4-443-tcp', 'From-Normal-TCP-HTTPS-Mail-3', '88*Y*Y*y*Y+Y'),
    ('10.0.0.6-2.2.2.5-443-tcp', 'From-Normal-TCP-HTTPS-Mail-4', '88*Y*Y+Y*Y'),
    ('10.0.0.7-2.2.2.6-53-udp', 'From-Normal-UDP-DNS-Resolver-5', '11.R.R.R.R.R'),
    ('10.0.0.7-2.2.2.7-123-udp', 'From-Normal-UDP-NTP--6', '11+a+a+a+a+a'),
]
BACKGROUND = [('10.0.0.9-3.3.3.3-80-tcp', 'From-Background-TCP-HTTP--1', '99.Z')]
ROWS = [TrainingRow(*row) for row in MALICIOUS + NORMAL + BACKGROUND]
DNS = '10.0.0.8-9.9.9.9-53-udp'


@pytest.fixture(scope='module')
def tiny():
    return Detector.train(ROWS, name='tiny')


def rounded(values):
    return np.round(values, 4).tolist()


def test_a_detector_trained_on_a_tiny_set_gives_these_probabilities(tiny):
    assert (tiny.name, tiny.version) == ('tiny', 1)
    assert tiny.trained_on == {'malicious': 6, 'normal': 6, 'skipped': 1}
    assert round(tiny.thresholds['default'], 4) == 0.67
    assert round(tiny.thresholds['low_fpr'], 4) == 0.667
    probabilities = tiny.probabilities([row.state for row in ROWS],
                                       [row.tuple_id for row in ROWS])
    assert rounded(probabilities) == [0.9731, 0.9653, 0.9876, 0.9875, 0.989, 0.9698,
                                      0.0101, 0.0085, 0.0062, 0.0052, 0.0192, 0.0097, 0.0198]


def test_judge_gives_the_closest_label_and_a_confidence_that_grows_with_length(tiny):
    judgement = tiny.judge('11.a.a.a.a', DNS)
    assert round(judgement.probability, 4) == 0.949
    assert judgement.malicious is True
    assert judgement.label == 'From-Botnet-UDP-DNS-CC-2'
    assert round(judgement.confidence, 4) == 0.6321  # 1 - exp(-10/10)
    assert round(tiny.judge('11', DNS).confidence, 4) == 0.1813
    normal = tiny.judge('99.Z.Z.Z', '10.0.0.5-2.2.2.9-80-tcp')
    assert (normal.malicious, normal.label) == (False, 'From-Normal-TCP-HTTP-Web-2')


def test_the_closest_label_behaves_alike_on_the_same_kind_of_port(tiny):
    chains = ['11.a.a.a.a.a.a', '44*e*e*e']
    found = {port: [label for label, _ in tiny.closest(chains, [f'10.0.0.8-9.9.9.9-{port}'] * 2,
                                                        'malicious')]
             for port in ('53-udp', '6667-tcp', '80-tcp')}
    assert found == {
        '53-udp': ['From-Botnet-UDP-DNS-CC-2', 'From-Botnet-TCP-HTTP-CC-3'],
        '6667-tcp': ['From-Botnet-TCP-Unknown-IRC-5', 'From-Botnet-TCP-HTTP-CC-3'],
        '80-tcp': ['From-Botnet-UDP-DNS-CC-2', 'From-Botnet-TCP-HTTP-CC-3']}
    (label, distance), = tiny.closest(['11.a.a.a.a.a.a'], [DNS], 'malicious')
    assert (label, round(distance, 6)) == ('From-Botnet-UDP-DNS-CC-2', 0.0)  # a training chain
    assert tiny.closest(['11'], [DNS], 'unknown') == [('', 0.0)]


def _rewrite_examples(folder, change):
    """Change examples.json with change(rows) and seal it in the manifest again."""
    import hashlib
    path = folder / 'examples.json'
    data = json.loads(path.read_text())
    data['examples'] = change(data['examples'])
    path.write_text(json.dumps(data))
    manifest = json.loads((folder / 'manifest.json').read_text())
    manifest['files']['examples.json'] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / 'manifest.json').write_text(json.dumps(manifest))


def test_examples_keep_their_context_and_older_files_without_it_still_load(tiny, tmp_path):
    folder = tmp_path / 'tiny'
    tiny.save(folder)
    rows = json.loads((folder / 'examples.json').read_text())['examples']
    assert rows[0] == ['From-Botnet-UDP-DNS-CC-1', 'malicious', '11.a.a.a.a.a.a.a.a', 'dns/udp']
    assert rows[4][3] == 'irc/tcp'
    _rewrite_examples(folder, lambda rows: [row[:3] for row in rows])
    older = Detector.load(folder)
    assert older.neighbours.contexts.tolist() == [-1] * 12
    assert older.judge('11.a.a.a.a', DNS).label == 'From-Botnet-UDP-DNS-CC-2'
    _rewrite_examples(folder, lambda rows: [rows[0][:3] + ['smtp/tcp']] + rows[1:])
    with pytest.raises(UserError) as refused:
        Detector.load(folder)
    assert str(refused.value) == (
        f"{folder / 'examples.json'}: ['smtp/tcp'] is not a context of this stf; train it "
        'again (python -m stf.detect train)')


def test_prefix_probabilities_follow_the_chain_as_it_grows(tiny):
    prefixes = tiny.prefix_probabilities('11.a.a.a', DNS)
    assert rounded(prefixes) == [0.5958, 0.5859, 0.5669, 0.8032, 0.8142, 0.8964, 0.8971,
                                 0.9319]
    whole = [tiny.probabilities(['11.a.a.a'[:n]], [DNS])[0] for n in range(1, 9)]
    assert rounded(whole) == rounded(prefixes)


def test_explain_names_the_transition_that_decided(tiny):
    assert [what for what, _ in tiny.explain('44*e*e*e', '', 3)] == [
        "transition '*e*' -> 'e' (x2)", 'share of medium size 0.62', 'share of not periodic 0.00']
    reasons = tiny.explain('99.Z.Z.a.a.a.a', '10.0.0.8-9.9.9.9-80-tcp', 3)
    assert [(what, round(weight, 4)) for what, weight in reasons] == [
        ("transition '.a.' -> 'a' (x3)", 0.6215),
        ('sum of the Markov log-ratios -11.9', -0.4165),
        ('port 80/tcp (web)', 0.305)]


def test_a_saved_detector_loads_with_identical_probabilities(tiny, tmp_path):
    tiny.save(tmp_path / 'tiny')
    assert sorted(path.name for path in (tmp_path / 'tiny').iterdir()) == [
        'detector.json', 'examples.json', 'manifest.json', 'markov.json', 'ngrams.json']
    loaded = Detector.load(tmp_path / 'tiny')
    states = [row.state for row in ROWS] + ['', '0', '11.a\u00e9a']
    ids = [row.tuple_id for row in ROWS] + ['', 'not an id', DNS]
    assert np.array_equal(loaded.probabilities(states, ids), tiny.probabilities(states, ids))
    assert (loaded.name, loaded.thresholds, loaded.trained_on) == (
        tiny.name, tiny.thresholds, tiny.trained_on)
    assert loaded.judge('11.a.a.a.a', DNS) == tiny.judge('11.a.a.a.a', DNS)


def test_a_tampered_detector_is_refused_naming_the_file(tiny, tmp_path):
    folder = tmp_path / 'tiny'
    tiny.save(folder)
    path = folder / 'markov.json'
    data = bytearray(path.read_bytes())
    data[data.index(b'"a.a.":') + 6] = ord('9')  # one count changed: "a.a.": 9...
    path.write_bytes(bytes(data))
    with pytest.raises(UserError) as refused:
        Detector.load(folder)
    assert str(refused.value) == (
        f'{path}: its sha256 does not match manifest.json, so the detector was changed '
        'after it was saved; refused; train it again (python -m stf.detect train)')


def test_a_folder_without_manifest_is_not_a_detector(tmp_path):
    with pytest.raises(UserError) as refused:
        Detector.load(tmp_path)
    assert str(refused.value) == (f'{tmp_path} is not a detector folder (it has no '
                                  'manifest.json); make one with python -m stf.detect train')


def test_training_needs_both_classes():
    with pytest.raises(UserError) as refused:
        Detector.train([TrainingRow(*row) for row in MALICIOUS + BACKGROUND])
    assert str(refused.value) == (
        'training needs at least 2 chains labeled malicious and 2 labeled normal; found 6 '
        'malicious and 0 normal (1 other rows skipped); label more models')


def test_confusion_metrics_are_none_where_undefined():
    table = metrics.confusion(tp=8, fp=2, tn=6, fn=4)
    assert {key: round(value, 4) for key, value in table.items()} == {
        'tp': 8, 'fp': 2, 'tn': 6, 'fn': 4, 'accuracy': 0.7, 'error_rate': 0.3,
        'precision': 0.8, 'tpr': 0.6667, 'fnr': 0.3333, 'fpr': 0.25, 'tnr': 0.75,
        'f1': 0.7273, 'f2': 0.6897, 'f05': 0.7692, 'mcc': 0.4082}
    empty = metrics.confusion(0, 0, 5, 0)
    assert [empty[key] for key in ('precision', 'tpr', 'f1', 'mcc', 'fpr', 'accuracy')] == [
        None, None, None, None, 0.0, 1.0]
    assert metrics.sweep([0.1, 0.6, 0.9], [False, True, True], [0.5, 0.95]) == [
        {'threshold': 0.5, 'tpr': 1.0, 'fpr': 0.0, 'precision': 1.0,
         'tp': 2, 'fp': 0, 'tn': 1, 'fn': 0},
        {'threshold': 0.95, 'tpr': 0.0, 'fpr': 0.0, 'precision': None,
         'tp': 0, 'fp': 0, 'tn': 1, 'fn': 2}]


def run_detect(*args):
    done = subprocess.run([sys.executable, '-m', 'stf.detect', *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def write_letters(path, rows):
    path.write_text('tuple_id\tflows\tlabel\tstate\n' + ''.join(
        f'{conn}\t{len(state)}\t{label}\t{state}\n' for conn, label, state in rows))
    return path


def test_the_script_trains_and_evaluates(tmp_path):
    letters = write_letters(tmp_path / 'tiny.tsv', MALICIOUS + NORMAL + BACKGROUND)
    folder = tmp_path / 'tiny-detector'
    assert run_detect('train', '--letters', letters, '--out', folder, '--name', 'tiny') == (
        0, f"detector 'tiny' trained on 6 malicious and 6 normal chains (1 skipped); "
           f"thresholds: default 0.6700, low-FPR 0.6670; saved in {folder}\n", '')
    status, out, err = run_detect('evaluate', '--models', folder, '--letters', letters,
                                  '--json')
    result = json.loads(out)
    assert (status, err, list(result)) == (0, '', [
        'accuracy', 'f1', 'tpr', 'fpr', 'precision', 'tp', 'fp', 'tn', 'fn', 'skipped',
        'chains_per_second', 'median_letters_to_detect'])
    assert isinstance(result.pop('chains_per_second'), int)
    assert result == {'accuracy': 1.0, 'f1': 1.0, 'tpr': 1.0, 'fpr': 0.0, 'precision': 1.0,
                      'tp': 6, 'fp': 0, 'tn': 6, 'fn': 0, 'skipped': 1,
                      'median_letters_to_detect': 2.5}
    status, out, _ = run_detect('evaluate', '--models', folder, '--letters', letters,
                                '--json', '--prefix', '2', '--max-fpr', '0.02')
    assert {key: json.loads(out)[key] for key in ('tp', 'fp', 'tn', 'fn')} == {
        'tp': 3, 'fp': 0, 'tn': 6, 'fn': 3}
    status, out, _ = run_detect('evaluate', '--models', folder, '--letters', letters,
                                '--sweep')
    lines = out.splitlines()
    assert (status, lines[0], lines[1], lines[-1]) == (
        0, 'threshold\ttpr\tfpr\tprecision', '0.0000\t1.0000\t1.0000\t0.5000',
        '1.0000\t0.0000\t0.0000\t-')
    status, out, _ = run_detect('evaluate', '--models', folder, '--letters', letters)
    assert out.splitlines()[2:5] == [
        'malicious                   6              0',
        'normal                      0              6',
        'accuracy 1.0000  f1 1.0000  tpr 1.0000  fpr 0.0000  precision 1.0000']


def test_the_script_says_what_is_wrong_in_one_line(tmp_path):
    letters = write_letters(tmp_path / 'tiny.tsv', MALICIOUS + NORMAL)
    not_letters = tmp_path / 'flows.csv'
    not_letters.write_text('StartTime,Dur\n')
    cases = [
        (('evaluate', '--models', tmp_path / 'none', '--letters', letters), 1,
         f'python -m stf.detect evaluate: {tmp_path / "none"} is not a detector folder '
         '(no such folder)'),
        (('train', '--letters', tmp_path / 'missing.tsv', '--out', tmp_path / 'd'), 1,
         f'python -m stf.detect train: {tmp_path / "missing.tsv"}: no such file'),
        (('train', '--letters', not_letters, '--out', tmp_path / 'd'), 1,
         f'python -m stf.detect train: {not_letters} is not a letters TSV (its first line '
         'must be tuple_id<TAB>flows<TAB>label<TAB>state)'),
        (('evaluate', '--models', tmp_path), 2,
         'python -m stf.detect evaluate: the following arguments are required: --letters '
         '(see python -m stf.detect --help)'),
    ]
    for args, status, line in cases:
        assert run_detect(*args) == (status, '', line + '\n')


def test_grouped_folds_keep_each_group_in_one_fold_and_balance_the_classes():
    malicious = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0], dtype=bool)
    groups = ['a', 'a', 'a', 'b', 'c', 'c', 'd', 'e', 'f', 'g', 'h', 'a']
    fold = training.grouped_folds(malicious, groups, 3, 0)
    assert fold.tolist() == [0, 0, 0, 2, 0, 0, 1, 2, 1, 1, 1, 0]
    assert all(len({f for f, g in zip(fold, groups) if g == name}) == 1 for name in groups)
    # the group of four mostly malicious rows fills fold 0; the single ones go elsewhere
    assert [int(malicious[fold == f].sum()) for f in range(3)] == [3, 2, 1]



    detector = Detector.default()
    assert (detector.name, detector.trained_on) == (
        'stratosphere-letters', {'malicious': 955, 'normal': 416, 'skipped': 0})


def test_cross_validated_figures_on_the_shared_letters(shared):
    rows = training.read_letters(shared / 'letters' / 'train.tsv')
    results = training.cross_validate(rows, lambda part, seed: Detector.train(part, seed=seed),
                                      5, (0,), (None, 20))
    whole, first = training.cv_metrics(results), training.cv_metrics(results, 20)
    assert whole['default']['accuracy'] >= 0.94
    assert whole['low_fpr']['fpr'] <= 0.03 and whole['low_fpr']['tpr'] >= 0.80
    assert first['default']['accuracy'] >= 0.93
