import shlex

import pytest

from stf.core.errors import UserError
from stf.core.flows import filters
from stf.core.flows.filters import Condition, matches, parse


def test_operators_for_numbers_and_text():
    conditions = parse('models', ['statelength>=3', 'name=10.0.0.1-', 'labelname!=Normal'])
    assert conditions == [Condition('statelength', '>=', 3),
                          Condition('name', '=', '10.0.0.1-'),
                          Condition('labelname', '!=', 'Normal')]
    model = {'statelength': 3, 'name': '10.0.0.1-8.8.8.8-53-udp', 'labelname': 'From-Botnet'}
    assert matches(conditions, model)
    assert not matches(parse('models', ['statelength>3']), model)
    assert matches(parse('models', ['statelength=3']), model)
    assert matches(parse('models', ['statelength<=3', 'statelength>2']), model)
    assert not matches(parse('models', ['labelname=Normal']), {'labelname': None})
    assert matches(parse('models', ['labelname!=Normal']), {'labelname': None})


def test_unknown_key_and_operator_name_the_valid_ones():
    with pytest.raises(UserError) as raised:
        parse('models', ['size>3'])
    assert str(raised.value) == ("unknown filter key 'size' for models; valid keys: "
                                 'name, flows, statelength, labelname, state, periodicity, gap')
    with pytest.raises(UserError) as raised:
        parse('connections', ['flowamount~3'])
    assert str(raised.value) == ("filter flowamount: '~' matches text with a regular "
                                 'expression; flowamount is a number (use = != < <= > >=)')
    with pytest.raises(UserError) as raised:
        parse('connections', ['flowamount^3'])
    assert str(raised.value) == ("cannot read the filter 'flowamount^3': write key<op>value "
                                 'with an operator of = != < <= > >= ~; keys for connections: '
                                 'name, flowamount, flowlabel')
    with pytest.raises(UserError) as raised:
        parse('connections', ['flowamount>many'])
    assert str(raised.value) == "filter flowamount needs a whole number, not 'many'"


@pytest.mark.parametrize('text', ['name==8.8.8.8', 'name=>x', 'statelength<>1', 'name!==a'])
def test_doubled_operators_are_errors(text):
    with pytest.raises(UserError) as raised:
        parse('models', [text])
    assert str(raised.value).startswith(f"cannot read the filter '{text}': ")
    assert str(raised.value).endswith('is not an operator; use one of = != < <= > >= ~')


def test_repeated_filter_options_all_hold(app, tmp_path):
    from tests.conftest import ok
    from tests.test_connections_models import HEADER, flow_line
    path = tmp_path / 'f.binetflow'
    path.write_text(HEADER + flow_line(0) + flow_line(10) + flow_line(20, dst='9.9.9.9'))
    ok(app, f'datasets -c {path}')
    ok(app, 'connections -g')
    assert ok(app, 'connections -C 0 -f name=zzz -f flowamount>0')[0].text == (
        '0 of the 2 connections of group 0 match')
    assert ok(app, 'connections -D 0 -f name=zzz -f flowamount>0')[0].text == (
        '0 connections deleted from group 0')


def test_a_filter_is_written_back_as_typed():
    words = ['flows>10', 'periodicity>=0.5', 'state~(i,){2}', 'name=a b', "x'y", '']
    written = filters.as_typed(words)
    assert written == "flows>10 periodicity>=0.5 state~(i,){2} 'name=a b' 'x'\"'\"'y' ''"
    assert shlex.split(written) == words
