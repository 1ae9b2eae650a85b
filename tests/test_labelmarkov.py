"""The original stf's Markov chains per label, with values computed by hand,
and its old .stfm model files read without running anything."""
import math
import pickle
import sys
import types

import pytest

from stf.core.detect import labelmarkov, stfm
from stf.core.detect.labelmarkov import UNSEEN, ThresholdRow, build, train_threshold
from stf.core.errors import UserError

LABEL = 'From-Botnet-UDP-DNS-CC-1'


@pytest.fixture
def model():
    # joined 'aab#ab': transitions a>a, a>b, b>#, #>a, a>b
    return build(LABEL, 'UDP', 'malicious', ['aab', 'ab'])


def test_the_chain_matrix_and_initial_probabilities_by_hand(model):
    assert model.training == 'aab#ab'
    assert model.initial == {'#': 1 / 5, 'a': 3 / 5, 'b': 1 / 5}
    assert model.transitions == {'#': {'a': 1.0}, 'a': {'a': 1 / 3, 'b': 2 / 3},
                                 'b': {'#': 1.0}}
    assert model.log_probability('ab') == math.log(3 / 5) + math.log(2 / 3)
    # an unseen transition (b>a) and an unseen first character cost log(0.01)
    assert model.log_probability('ba') == math.log(1 / 5) + UNSEEN
    assert model.log_probability('zab') == UNSEEN + UNSEEN + math.log(2 / 3)
    assert model.self_probability == model.log_probability('aab#ab')


def test_the_distance_compares_with_the_training_chain_cut_to_the_same_length(model):
    own = abs(math.log(3 / 5) + math.log(1 / 3) + math.log(2 / 3) + math.log(1.0))  # 'aab#'
    test = abs(math.log(3 / 5) + math.log(2 / 3) + UNSEEN + math.log(2 / 3))        # 'abab'
    assert model.distance('abab') == test / own
    assert round(model.distance("abab"), 6) == 2.941544
    assert model.distance('aab#') == 1.0
    assert model.distance('') == math.inf                 # a log-probability of 0
    assert model.distances('aab#a') == [(4, 1.0), (5, model.distance('aab#a'))]


def test_a_model_matches_only_its_proto3_and_chains_of_four_letters(model):
    model.threshold = 1.5
    assert model.first_match('aab#ab', 'udp') == (4, 1.0)
    assert model.first_match('aab#ab', 'TCP') is None
    assert model.first_match('aab', 'UDP') is None
    assert model.first_match('abab', 'UDP') is None          # 2.94 > 1.5
    other = build('From-Botnet-UDP-DNS-CC-2', 'UDP', 'malicious', ['abab'])
    other.threshold = 3.0
    found, length, distance = labelmarkov.best_match([model, other], 'abab', 'UDP')
    assert (found.label, length, distance) == ('From-Botnet-UDP-DNS-CC-2', 4, 1.0)


def test_threshold_training_counts_and_the_fixed_precision():
    model = build(LABEL, 'UDP', 'malicious', ['aab', 'ab'])
    others = [('aab#', 'UDP', 'malicious'),        # distance 1.0
              ('aab#ab', 'UDP', 'malicious'),      # 1.0
              ('abab', 'UDP', 'malicious'),        # 2.94: never matched
              ('aaab', 'UDP', 'normal'),           # see below
              ('aab#', 'TCP', 'normal'),           # another Proto3: not judged
              ('aab', 'UDP', 'normal')]            # too short: not judged
    aaab = min(value for _, value in model.distances('aaab'))
    assert round(aaab, 6) == 1.545243                   # matched from 1.6 on
    rows, chosen = train_threshold(model, others)
    assert [row.threshold for row in rows] == [1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0]
    assert [(row.tp, row.fp, row.tn, row.fn) for row in rows] == [(2, 0, 1, 1)] * 5 + [
        (2, 1, 0, 1)] * 5
    assert rows[0].precision == 1.0 and rows[5].precision == 2 / 3    # TP / (TP + FP)
    assert rows[0].tpr == 2 / 3 and rows[5].fpr == 1.0
    # the best F1 (0.8 up to 1.5), then the lower FPR, then the lower threshold
    assert chosen == rows[0] and round(chosen.f1, 4) == 0.8
    assert ThresholdRow(1.5, 0, 0, 3, 0).precision is None


def test_simulation_follows_the_transitions(model):
    chain = model.simulate(200, seed=7)
    assert len(chain) == 200 and set(chain) <= {'a', 'b', '#'}
    assert 'ba' not in chain and 'bb' not in chain and '##' not in chain
    assert model.simulate(200, seed=7) == chain


# ---- .stfm files of the original --------------------------------------------------

@pytest.fixture
def original_classes(monkeypatch):
    """The original's Matrix class under its module name, to write files as it did."""
    module = types.ModuleType('stf.common.markov_chains')

    class Matrix(dict):
        pass
    Matrix.__module__ = 'stf.common.markov_chains'
    Matrix.__qualname__ = 'Matrix'
    module.Matrix = Matrix
    monkeypatch.setitem(sys.modules, 'stf.common.markov_chains', module)
    return Matrix


def py2_string(text):
    """A pickle of a Python 2 str (SHORT_BINSTRING), latin-1 bytes."""
    data = text.encode('latin-1')
    return b'\x80\x02U' + bytes([len(data)]) + data + b'.'


def test_an_old_model_file_is_read_into_a_label_model(original_classes, tmp_path):
    matrix = original_classes({('a', 'a'): 1 / 3, ('a', 'b'): 2 / 3, ('b', '#'): 1.0,
                               ('#', 'a'): 1.0})
    path = tmp_path / 'old.stfm'
    path.write_bytes(pickle.dumps({'a': 0.6, 'b': 0.2, '#': 0.2}, protocol=2)
                     + pickle.dumps(matrix, protocol=2)
                     + py2_string('aab#ab') + pickle.dumps(-4.2, protocol=2)
                     + py2_string(LABEL) + pickle.dumps(1.3, protocol=2))
    old = stfm.read(path)
    assert (old.state, old.label, old.threshold, old.self_probability) == (
        'aab#ab', LABEL, 1.3, -4.2)
    model = stfm.to_model(old)
    assert (model.proto3, model.decision, model.threshold) == ('UDP', 'malicious', 1.3)
    assert model.transitions == {'a': {'a': 1 / 3, 'b': 2 / 3}, 'b': {'#': 1.0},
                                 '#': {'a': 1.0}}
    assert model.distance('aab#') == 1.0


def test_an_old_model_file_naming_anything_else_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'ran'
    evil = (b'\x80\x02cos\nsystem\nq\x00X' + bytes([len(f'touch {marker}')]) + b'\x00\x00\x00'
            + f'touch {marker}'.encode() + b'\x85R.')
    path = tmp_path / 'evil.stfm'
    path.write_bytes(evil)
    with pytest.raises(UserError) as refused:
        stfm.read(path)
    assert str(refused.value) == (f'{path}: its initial vector names os.system, which an stf '
                                  'model file never holds; refused (nothing in it was run)')
    assert not marker.exists()
    path.write_bytes(b'not a pickle at all')
    with pytest.raises(UserError, match='not an stf model file'):
        stfm.read(path)
    path.write_bytes(pickle.dumps(['a list'], protocol=2) * 6)
    with pytest.raises(UserError, match='its initial vector is not what an stf model file'):
        stfm.read(path)


def test_python2_reconstructor_pickles_of_the_matrix_are_read(tmp_path):
    """How Python 2 wrote a dict subclass: copy_reg._reconstructor(Matrix,
    __builtin__.dict, {}) and then its items; keys are Python 2 strings."""
    import struct

    def s(text):
        return b'U' + bytes([len(text)]) + text.encode('latin-1')

    def f(value):
        return b'G' + struct.pack('>d', value)

    matrix = (b'\x80\x02ccopy_reg\n_reconstructor\n(cstf.common.markov_chains\nMatrix\n'
              b'c__builtin__\ndict\n}tR(' + s('a') + s('b') + b'\x86' + f(1.0)
              + s('b') + s('#') + b'\x86' + f(1.0) + b'u.')
    initial = b'\x80\x02}(' + s('a') + f(0.5) + s('b') + f(0.5) + b'u.'
    path = tmp_path / 'py2.stfm'
    path.write_bytes(initial + matrix + py2_string('ab#ab') + b'\x80\x02' + f(-1.5) + b'.'
                     + py2_string('From-Normal-TCP-HTTP-Web-7') + b'\x80\x02N.')
    old = stfm.read(path)
    assert (old.initial, old.matrix) == ({'a': 0.5, 'b': 0.5},
                                         {('a', 'b'): 1.0, ('b', '#'): 1.0})
    assert (old.label, old.threshold) == ('From-Normal-TCP-HTTP-Web-7', None)
    model = stfm.to_model(old)
    assert (model.proto3, model.decision, model.transitions) == (
        'TCP', 'normal', {'a': {'b': 1.0}, 'b': {'#': 1.0}})
