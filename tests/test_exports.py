"""Files stf writes for the analyst: never over an existing file without
--force."""
import pytest

from tests.conftest import error, ok
from tests.test_labels import CC


# -- no file overwritten by mistake

@pytest.mark.parametrize('command', ['labels -o {out}', 'labels --export {out}',
                                     'labels -o {out}.json', 'models -e 0-1 -o {out}'])
def test_an_export_never_overwrites_a_file_without_force(models, tmp_path, command):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    out = tmp_path / 'mine.txt'
    line = command.format(out=out)
    target = tmp_path / line.split()[-1]
    target.write_text('the analyst\'s own notes\n')
    assert error(models, line) == (
        f'{target} exists; add --force to overwrite it, or choose another file')
    assert target.read_text() == 'the analyst\'s own notes\n'
    assert ok(models, line + ' --force')[0].text.endswith(f'written to {target}')
    assert 'From-Botnet-TCP-HTTP-CC-1' in target.read_text()


def test_force_is_in_the_help_of_both_exports(models):
    assert '--force' in ok(models, 'models -h')[0].text
    assert '--force' in ok(models, 'labels -h')[0].text


