import pytest

from stf.core.errors import UserError
from stf.core.filters import Condition, matches, parse


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
                                 'name, statelength, labelname')
    with pytest.raises(UserError) as raised:
        parse('connections', ['flowamount~3'])
    assert str(raised.value) == ("cannot read the filter 'flowamount~3': write key<op>value "
                                 'with an operator of = != < <= > >=; keys for connections: '
                                 'name, flowamount, flowlabel')
    with pytest.raises(UserError) as raised:
        parse('connections', ['flowamount>many'])
    assert str(raised.value) == "filter flowamount needs a whole number, not 'many'"
