"""labels through the console: one, many and filtered connections, names,
deletion, export/import and labels from ground-truth flows."""
import json

import pytest

from stf.core.errors import UserError

from tests.conftest import error, ok
from tests.test_connections_models import HEADER, flow_line

CC = '10.0.0.1-10.0.0.2-80-tcp'
DNS = '10.0.0.1-8.8.8.8-53-udp'
OTHER = '10.0.0.9-10.0.0.2-443-tcp'


def label_of(app, conn, group='0-1'):
    label_id = app.root['models'].get(group).labels.get(conn)
    return app.root['labels'].get(label_id).name if label_id is not None else None


def test_label_one_connection_with_flags(models):
    items = ok(models, f'labels -a -c {CC} -g 0-1 --direction From --decision Botnet '
                       '--proto3 TCP --proto4 HTTP --details CC12')
    assert items[-1].text == ('1 connection of group 0-1 labeled From-Botnet-TCP-HTTP-CC12-1 '
                              '(label 0)')
    assert label_of(models, CC) == 'From-Botnet-TCP-HTTP-CC12-1'
    (table,) = ok(models, 'models -L 0-1 -f labelname=Botnet')
    assert [row[:4] + row[6:] for row in table.rows] == [
        ('*', 'From-Botnet-TCP-HTTP-CC12-1', CC, '3', '55,e,')]
    note = models.notes.get(models.root['models'].get('0-1').notes[CC]).text
    assert 'labeled From-Botnet-TCP-HTTP-CC12-1' in note


def test_batch_label_without_details(models):
    items = ok(models, f'labels -a -c {DNS} -g 0-1 --direction From --decision Normal '
                       '--proto3 UDP --proto4 DNS')
    assert items[-1].text == '1 connection of group 0-1 labeled From-Normal-UDP-DNS--1 (label 0)'
    assert label_of(models, DNS) == 'From-Normal-UDP-DNS--1'


def test_same_description_gets_the_next_number_and_same_reuses(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC12-1')
    ok(models, f'labels -a -c {OTHER} -g 0-1 --decision Botnet --direction From '
               '--proto3 TCP --proto4 HTTP --details CC12')
    assert label_of(models, OTHER) == 'From-Botnet-TCP-HTTP-CC12-2'
    ok(models, f'labels -a -c {DNS} -g 0-1 --same 0 --force')  # a TCP label on UDP
    assert label_of(models, DNS) == 'From-Botnet-TCP-HTTP-CC12-1'
    (table,) = ok(models, 'labels -l')
    assert table.rows == [(0, 'From-Botnet-TCP-HTTP-CC12-1', '0-1', '2', 'malicious'),
                          (1, 'From-Botnet-TCP-HTTP-CC12-2', '0-1', '1', 'malicious')]


def test_label_by_ip_and_by_filter(models):
    ok(models, 'labels -a -c 10.0.0.1 -g 0-1 --name From-Normal-TCP-Unknown--1 --force')
    assert [label_of(models, conn) for conn in (CC, DNS, OTHER)] == [
        'From-Normal-TCP-Unknown--1', 'From-Normal-TCP-Unknown--1', None]
    items = ok(models, 'labels -a -f connid=10.0.0.9 connid=-443- -g 0-1 '
                       '--name From-Attack-TCP-HTTPS-Scan-1')
    assert items[-1].text.startswith('1 connection of group 0-1 labeled')
    assert label_of(models, OTHER) == 'From-Attack-TCP-HTTPS-Scan-1'


def test_relabeling_says_what_it_replaces(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Normal-TCP-HTTP--1')
    items = ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP--1')
    assert items[0].text == (
        f'{CC}: label From-Normal-TCP-HTTP--1 replaced by From-Botnet-TCP-HTTP--1')
    assert ok(models, 'labels -l -f connid=10.0.0.1')[0].rows == [
        (1, 'From-Botnet-TCP-HTTP--1', '0-1', '1', 'malicious')]


def test_bad_labels(models):
    assert error(models, 'labels -a -c 1.2.3.4-5.6.7.8-1-tcp -g 0-1 --name From-Botnet-TCP-'
                         'HTTP--1') == ("group 0-1 has no connection '1.2.3.4-5.6.7.8-1-tcp'; "
                                        "list them with 'models -L 0-1'")
    assert error(models, f'labels -a -c {CC} -g 0-1 --name From-Evil-TCP-HTTP--1') == (
        "'Evil' is not a valid decision; valid: Botnet, Malware, Attack, Normal, Background")
    assert error(models, f'labels -a -c {CC} -g 9-1 --name From-Botnet-TCP-HTTP--1') == (
        "there is no group of models '9-1' (ids look like 0-1); list them with 'models -l'")
    assert error(models, 'labels -d 30-20') == 'the range 30-20 goes backwards; write it 20-30'
    assert error(models, 'labels -d 5') == "there is no label 5; list them with 'labels -l'"


def test_batch_needs_every_part(models):
    assert error(models, f'labels -a -c {CC} -g 0-1 --decision Botnet --direction From') == (
        'in batch mode give the label with --name, or with --proto3, --proto4 (and --details)')


def test_wizard_asks_with_defaults_from_the_connection(models):
    asked = []

    refused = []

    def choose(question, choices, default, check):
        asked.append((question, default))
        if question.startswith('Details'):
            # The answer is checked as it is given, so the wizard can ask again.
            with pytest.raises(UserError) as wrong:
                check('Brute-force')
            refused.append(str(wrong.value))
        return {'Decision': 'Botnet', 'Details (up to 30 characters, no - or spaces)': 'CC'}.get(
            question, default)
    models.choose = choose
    ok(models, f'labels -a -c {DNS} -g 0-1')
    assert refused == ["label details 'Brute-force' must be at most 30 characters without '-' "
                       'or spaces']
    assert asked == [('Direction', 'From'), ('Decision', ''), ('Layer-3 protocol', 'UDP'),
                     ('Main layer-4 protocol', 'DNS'),
                     ('Details (up to 30 characters, no - or spaces)', '')]
    assert label_of(models, DNS) == 'From-Botnet-UDP-DNS-CC-1'


def test_delete_ranges_filters_and_one_connection(models):
    for number, conn in enumerate((CC, DNS, OTHER), 1):
        ok(models, f'labels -a -c {conn} -g 0-1 --name From-Botnet-TCP-HTTP--{number} --force')
    assert ok(models, 'labels -D ' + CC + ' -g 0-1 --yes')[0].text == (
        f'label From-Botnet-TCP-HTTP--1 removed from {CC}')
    assert label_of(models, CC) is None
    assert ok(models, 'labels -d 0-1 --yes')[0].text == (
        '2 labels deleted: From-Botnet-TCP-HTTP--1, From-Botnet-TCP-HTTP--2')
    assert label_of(models, DNS) is None
    assert ok(models, 'labels -F -f name=HTTP--3 --yes')[0].text == '1 label deleted'
    assert label_of(models, OTHER) is None and len(models.root['labels']) == 0


@pytest.mark.parametrize('suffix', ['.csv', '.json'])
def test_export_import_round_trip(models, tmp_path, suffix):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    ok(models, f'labels -a -c {OTHER} -g 0-1 --name From-Normal-TCP-HTTPS--1')
    out = tmp_path / f'labels{suffix}'
    assert ok(models, f'labels --export {out}')[0].text == (
        f'2 labeled connections written to {out}')
    before = out.read_text()
    ok(models, 'labels -d 0-1 --yes')
    assert ok(models, f'labels --import {out}')[0].text == (
        f'2 labeled connections imported from {out}')
    assert label_of(models, CC) == 'From-Botnet-TCP-HTTP-CC-1'
    ok(models, f'labels --export {out} --force')
    assert out.read_text() == before
    if suffix == '.json':
        assert json.loads(before)[0] == {'group': '0-1', 'connection': CC,
                                         'label': 'From-Botnet-TCP-HTTP-CC-1', 'constructor': 1,
                                         'sha256': sha256_of(tmp_path / 'labels.binetflow')}


def test_labels_from_the_flows(models):
    (table,) = ok(models, 'labels --from-flows -g 0-1')
    assert table.rows == [('From-Botnet-TCP-HTTP-FromBotnetV1TCPCC-1', '1'),
                          ('From-Background-UDP-DNS-Background-1', '1'),
                          ('From-Normal-TCP-HTTPS-FromNormalV1Web-1', '1')]
    assert label_of(models, DNS) == 'From-Background-UDP-DNS-Background-1'


def test_labels_survive_a_restart(tmp_path):
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    path = tmp_path / 'db' / 'stf.db'
    app = App(config.load(), database.Database(storages.open_file_storage(path)))
    flows = tmp_path / 'f.binetflow'
    flows.write_text(HEADER + flow_line(0) + flow_line(10))
    for line in (f'datasets -c {flows}', 'connections -g', 'models -g',
                 f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP--1'):
        ok(app, line)
    app.close()
    again = App(config.load(), database.Database(storages.open_file_storage(path)))
    assert label_of(again, CC) == 'From-Botnet-TCP-HTTP--1'
    again.close()


def test_labels_from_zeek_ground_truth(app, shared):
    ok(app, f'datasets -c {shared / "zeek" / "njrat-labeled.conn.log"} --name njrat')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    (table,) = ok(app, 'labels --from-flows -g 0-1')
    counts = {name: int(count.replace(',', '')) for name, count in table.rows}
    assert sum(counts.values()) == len(app.root['models'].get('0-1'))
    assert all(name.split('-')[1] in ('Malware', 'Normal', 'Background') for name in counts)
    assert any(name.startswith('From-Malware-') for name in counts)


def test_completion_of_label_values(models):
    from tests.test_completion import completions
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    assert completions(models, 'labels --decision ') == {'Botnet', 'Malware', 'Attack',
                                                        'Normal', 'Background'}
    assert completions(models, 'labels -d ') == {'0'}
    assert completions(models, 'labels -a -g ') == {'0-1'}
    assert completions(models, 'notes -s ') == {'0'}


def test_deleting_takes_notes_and_labels_along(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP--1')
    ok(models, 'notes -c --to label:0 --text "the C&C"')
    assert len(models.notes) == 2
    ok(models, 'labels -d 0 --yes')
    assert [note.owner for note in models.notes.values()] == [('model', f'0-1/{CC}')]
    ok(models, 'models -d 0-1 --yes')
    assert [note.owner for note in models.notes.values()] == [('dataset', 0)]
    ok(models, 'models -g')
    ok(models, 'labels --from-flows -g 0-1')
    assert [note.owner for note in models.notes.values()] == [('dataset', 0)]
    (deleted,) = ok(models, 'datasets -d 0 --yes')
    assert 'groups of models: 1' in deleted.text
    assert (len(models.notes), len(models.root['models'])) == (0, 0)
    # the labels, the analysts' words, stay listed with no connections
    assert {row[3] for row in ok(models, 'labels -l')[0].rows} == {'0'}


def test_regenerating_without_a_connection_drops_its_label(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP--1')
    ok(models, f'connections -D 0 -i {CC} --yes')
    ok(models, 'models -g')
    assert label_of(models, CC) is None
    assert models.root['labels'].get(0).count() == 0


def test_import_refuses_names_outside_the_grammar(models, tmp_path):
    """As labels -a --name: NTP is no Proto4 of the grammar."""
    path = tmp_path / 'other.csv'
    path.write_text(f'group,connection,label\n0-1,{DNS},From-Normal-UDP-NTP--2\n')
    assert error(models, f'labels --import {path}').endswith(
        "'NTP' is not a valid proto4; valid: HTTP, HTTPS, FTP, SSH, DNS, SMTP, P2P, Multicast, "
        'Unknown, None; fix the file')
    assert ok(models, 'labels -l')[0].rows == []


@pytest.mark.parametrize('suffix', ['.csv', '.json'])
def test_import_with_a_byte_order_mark(models, tmp_path, suffix):
    path = tmp_path / f'bom{suffix}'
    text = (f'group,connection,label\n0-1,{DNS},From-Normal-UDP-DNS--1\n' if suffix == '.csv'
            else f'[{{"group": "0-1", "connection": "{DNS}", "label": "From-Normal-UDP-DNS--1"}}]')
    path.write_bytes(b'\xef\xbb\xbf' + text.encode())
    assert ok(models, f'labels --import {path}')[0].text == (
        f'1 labeled connections imported from {path}')
    assert label_of(models, DNS) == 'From-Normal-UDP-DNS--1'


def test_export_is_written_output_with_o(models, tmp_path):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC12-1')
    for spelling in ('-o', '--export'):
        out = tmp_path / f'labels{spelling}.csv'
        assert ok(models, f'labels {spelling} {out}')[0].text == (
            f'1 labeled connections written to {out}')
        assert out.read_text() == (
            'group,connection,label,constructor,sha256\n'
            f"0-1,{CC},From-Botnet-TCP-HTTP-CC12-1,1,{sha256_of(tmp_path / 'labels.binetflow')}\n")
    # --output is every listing's file (labels -l --json --output FILE) now
    assert error(models, f"labels --output {tmp_path / 'x.csv'}").endswith(
        '; to export, --export FILE; nothing was written')


def sha256_of(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()
