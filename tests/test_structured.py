"""--sort and --json / --csv / --tsv on listings: one renderer for every command."""
import json

import pytest

from stf.console import structured
from tests.conftest import error, ok

ROWS = [('10.0.0.1-8.8.8.8-53-udp', 5, 'From-Botnet-UDP-DNS-CC-1', 'aab'),
        ('10.0.0.2-8.8.8.8-53-udp', 9, 'From-Normal-UDP-DNS--1', 'a.a.a.a'),
        ('10.0.0.3-8.8.8.8-53-udp', 1_234, 'From-Normal-UDP-DNS--1', '1')]


@pytest.fixture
def loaded(app, tmp_path):
    path = tmp_path / 'letters.tsv'
    path.write_text('tuple_id\tflows\tlabel\tstate\n' + ''.join(
        f'{conn}\t{flows}\t{label}\t{state}\n' for conn, flows, label, state in ROWS))
    ok(app, f'datasets -c {path} --name lab')
    return app


def test_a_listing_as_json_csv_and_tsv(loaded):
    (text,) = ok(loaded, 'models -L 0-1 --json')
    records = json.loads(text.text)
    assert records[2] == {'note': '', 'label': 'From-Normal-UDP-DNS--1',
                          'model': '10.0.0.3-8.8.8.8-53-udp', 'flows': 1234,
                          'periodicity': None, 'gap': None, 'state': '1'}
    (csv_text,) = ok(loaded, 'models -L 0-1 --csv')
    assert csv_text.text.splitlines()[:2] == [
        'note,label,model,flows,periodicity,gap,state',
        ',From-Botnet-UDP-DNS-CC-1,10.0.0.1-8.8.8.8-53-udp,5,1.0,,aab']
    (tsv_text,) = ok(loaded, 'labels -l --tsv')
    assert tsv_text.text.splitlines() == [
        'id\tname\tgroup_of_models\tconnections\tverdict',
        '0\tFrom-Botnet-UDP-DNS-CC-1\t0-1\t1\tmalicious',
        '1\tFrom-Normal-UDP-DNS--1\t0-1\t2\tnormal']
    (details,) = [item for item in ok(loaded, 'datasets -l --json')]
    assert json.loads(details.text)[0]['name'] == 'lab'
    assert error(loaded, 'models -l --json --csv') == 'give one of --json, --csv, --tsv, not 2'


def test_sorting_by_field_names_descending_as_typed(loaded):
    def flows(line):
        (table,) = [item for item in ok(loaded, line) if hasattr(item, 'rows')]
        return [row[3] for row in table.rows]
    assert [structured.value(cell) for cell in flows('models -L 0-1 --sort flows')] == [
        5, 9, 1234]
    descending = flows('models -L 0-1 --sort -flows')
    assert [structured.value(cell) for cell in descending] == [1234, 9, 5]
    assert flows('models -L 0-1 --sort flows:desc') == descending
    assert [structured.value(cell) for cell in flows('models -L 0-1 --sort label,-flows')] == [
        5, 1234, 9]
    assert error(loaded, 'models -L 0-1 --sort nothing') == (
        "--sort: no field 'nothing' here; the fields are flows, gap, label, model, note, "
        'periodicity, state')


def test_output_to_a_file_never_overwrites_without_force(loaded, tmp_path):
    target = tmp_path / 'models.json'
    items = ok(loaded, f'models -L 0-1 --json --output {target}')
    assert [(item.level, item.text) for item in items] == [('note', f'written to {target}')]
    assert len(json.loads(target.read_text())) == 3
    assert error(loaded, f'models -L 0-1 --json --output {target}') == (
        f'{target} exists; add --force to overwrite it, or choose another file')
    ok(loaded, f'models -L 0-1 --json --output {target} --force --sort -flows')
    assert json.loads(target.read_text())[0]['flows'] == 1234


def test_every_listing_writes_to_output_and_output_needs_a_form(loaded, tmp_path):
    target = tmp_path / 'labels.json'
    ok(loaded, f'labels -l --json --output {target}')
    assert [row['name'] for row in json.loads(target.read_text())] == [
        'From-Botnet-UDP-DNS-CC-1', 'From-Normal-UDP-DNS--1']
    assert error(loaded, f'labels --output {tmp_path / "x.csv"}') == (
        '--output FILE writes a listing given as --json, --csv or --tsv: add one of them; '
        'to export, --export FILE; nothing was written')
    assert error(loaded, f'datasets -l --output {tmp_path / "x"}').startswith(
        '--output FILE writes a listing given as --json, --csv or --tsv: add one of them; '
        'nothing')
    assert not (tmp_path / 'x.csv').exists() and not (tmp_path / 'x').exists()


def test_values_and_field_names():
    assert [structured.field_name(text) for text in ('Flows', 'label name', 'from \\ to', '%')] \
        == ['flows', 'label_name', 'from_to', 'value']
    assert [structured.value(text) for text in ('1,234', '-3', '0.50', '0-1', '2024-02-08 15:20:00',
                                                '2024-02-08 15:20:00 UTC', 'x')] == [
        1234, -3, 0.5, '0-1', '2024-02-08T15:20:00Z', '2024-02-08T15:20:00Z', 'x']


def test_a_text_result_is_kept_as_text(loaded):
    ok(loaded, 'markov_models -g 0')
    (text,) = ok(loaded, 'markov_models --simulate 0 -N 30 --json')
    found = json.loads(text.text)
    assert list(found) == ['text'] and len(found['text']) == 30
