"""Deletions that say what they take and ask; labels that stay right;
history and undo."""
import pytest

from tests.conftest import error, ok

CC = '10.0.0.1-10.0.0.2-80-tcp'
DNS = '10.0.0.1-8.8.8.8-53-udp'
OTHER = '10.0.0.9-10.0.0.2-443-tcp'
BOTNET = 'From-Botnet-TCP-HTTP-CC-1'


def labeled(app):
    """The models fixture with CC and OTHER labeled BOTNET (label 0) and a
    note on CC's model."""
    ok(app, f'labels -a -c {CC} -g 0-1 --name {BOTNET}')
    ok(app, f'labels -a -c {OTHER} -g 0-1 --same 0')
    ok(app, f'models -n 0-1 -i {CC} --text "seen calling home"')
    return app


def counts(app):
    root = app.root
    return (len(root['datasets']), len(root['connections']), len(root['models']),
            len(root['labels']), len(root['notes']),
            sum(label.count() for label in root['labels'].values()))


# Each deletion that takes more than its own objects, as typed, and the
# sentence that says what it would take.
DELETIONS = [
    ('datasets -d 0', "this would delete dataset 0 'lab', group 0: 3 connections, group of "
                      'models 0-1, label 0 on 2 connections, 2 notes'),
    ('connections -d 0', 'this would delete group 0: 3 connections, group of models 0-1, '
                         'label 0 on 2 connections, 2 notes'),
    (f'connections -D 0 -i {CC}', 'this would delete 1 connection of group 0, 1 model of '
                                  'group 0-1, label 0 on 1 connection, 1 note'),
    ('models -d 0-1', 'this would delete group of models 0-1 (3 models), label 0 on 2 '
                      'connections, 2 notes'),
    (f'models -D 0-1 -i {CC}', 'this would delete 1 model of group 0-1, label 0 on 1 '
                               'connection, 1 note'),
    ('labels -d 0', 'this would delete label 0, its place on 2 connections'),
    ('labels -F -f name=Botnet', 'this would delete label 0, its place on 2 connections'),
    ('labels -a -c 10.0.0.1 -g 0-1 --name From-Normal-TCP-HTTP--1 --force',
     'this would label 2 connections of group 0-1 as From-Normal-TCP-HTTP--1, label 0 '
     'on 1 connection replaced'),
    ('labels -a -f connid=-tcp -g 0-1 --name From-Normal-TCP-HTTP--1',
     'this would label 2 connections of group 0-1 as From-Normal-TCP-HTTP--1, label 0 '
     'on 2 connections replaced'),
    ('database -d labels', "this would delete 'labels', the 1 items in it"),
    (f'labels -D {CC} -g 0-1', f'this would remove label 0 from connection {CC} of group 0-1'),
]


@pytest.mark.parametrize('line, said', DELETIONS)
def test_batch_deletions_say_what_goes_and_need_yes(models, line, said):
    labeled(models)
    before = counts(models)
    assert error(models, line) == (f'{said}; nothing was changed: add --yes to confirm '
                                   '(batch mode cannot ask)')
    assert counts(models) == before
    ok(models, f'{line} --yes')
    assert counts(models) != before


@pytest.mark.parametrize('line, said', DELETIONS)
def test_a_terminal_asks_and_no_keeps_everything(models, line, said):
    labeled(models)
    before = counts(models)
    asked = []
    models.ask = lambda question, default: asked.append(question) or 'n'
    items = ok(models, line)
    verb, rest = said.removeprefix('this would ').split(' ', 1)
    assert asked == [f'{verb.capitalize()} {rest}? [y/N]']
    assert items[0].text in ('nothing was deleted', 'nothing was labeled', 'nothing was removed')
    assert counts(models) == before
    models.ask = lambda question, default: 'y'
    ok(models, line)
    assert counts(models) != before


def test_deleting_only_what_is_named_asks_nothing(models):
    models.ask = lambda question, default: pytest.fail(f'asked {question!r}')
    ok(models, 'labels -a -c 10.0.0.1-10.0.0.2-80-tcp -g 0-1 --name From-Botnet-TCP-HTTP--1')
    ok(models, f'labels -D {CC} -g 0-1 --yes')
    assert ok(models, f'models -D 0-1 -i {OTHER}')[0].text == '1 model deleted from group 0-1'
    assert ok(models, 'labels -d 0')[0].text == '1 label deleted: From-Botnet-TCP-HTTP--1'


def test_what_changed_after_the_question_is_refused(models):
    """Another analyst labels a model between the question and the commit:
    the deletion would now take that label too, so it is refused."""
    labeled(models)

    def another_analyst_labels_then_yes(question, default):
        import transaction
        manager = transaction.TransactionManager()
        other = models.database.db.open(transaction_manager=manager)
        root = other.root()
        group, label = root['models'].get('0-1'), root['labels'].get(0)
        group.labels[DNS] = 0
        label.add(group, DNS)
        manager.commit()
        other.close()
        return 'y'
    models.ask = another_analyst_labels_then_yes
    before = counts(models)
    assert error(models, 'models -d 0-1') == (
        'what this takes changed since you were asked (another analyst?): now group of models '
        '0-1 (3 models), label 0 on 3 connections, 2 notes; nothing was changed; run it again')
    assert counts(models)[:5] == before[:5]
    assert ok(models, 'models -d 0-1 --yes')[0].text == 'group of models 0-1 deleted'


def test_a_label_emptied_by_relabeling_stays_listed(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Normal-TCP-HTTP--1')
    ok(models, f'labels -a -c {CC} -g 0-1 --name {BOTNET}')
    (table,) = ok(models, 'labels -l')
    assert table.rows == [(0, 'From-Normal-TCP-HTTP--1', '-', '0', 'normal'),
                          (1, BOTNET, '0-1', '1', 'malicious')]
    assert ok(models, 'labels -l -f name=Normal')[0].rows == [
        (0, 'From-Normal-TCP-HTTP--1', '-', '0', 'normal')]
    assert ok(models, 'labels -l -f groupid=0-1')[0].rows == [(1, BOTNET, '0-1', '1',
                                                                'malicious')]
    ok(models, f'labels -a -c {OTHER} -g 0-1 --same 0')
    assert ok(models, 'labels -l')[0].rows[0] == (0, 'From-Normal-TCP-HTTP--1', '0-1', '1',
                                                  'normal')


def test_deleting_a_group_of_models_keeps_its_labels_listed(models):
    labeled(models)
    ok(models, 'models -d 0-1 --yes')
    assert ok(models, 'labels -l')[0].rows == [(0, BOTNET, '-', '0', 'malicious')]


def test_deleting_connections_deletes_their_models(models):
    labeled(models)
    assert ok(models, f'connections -D 0 -i {CC} --yes')[0].text == (
        '1 connection deleted from group 0 with their 1 model')
    assert ok(models, 'models -C 0-1')[0].text.startswith('2 ')
    group = models.root['models'].get('0-1')
    assert CC not in group.states and CC not in group.labels and CC not in group.notes
    assert ok(models, 'labels -l')[0].rows == [(0, BOTNET, '0-1', '1', 'malicious')]


@pytest.mark.parametrize('conn, name, proto', [
    (DNS, 'From-Normal-TCP-DNS--1', 'udp'),
    (CC, 'From-Botnet-UDP-HTTP--1', 'tcp'),
    (CC, 'From-Botnet-ICMP-None--1', 'tcp'),
])
def test_a_proto3_that_contradicts_the_protocol_is_refused(models, conn, name, proto):
    said = name.split('-')[2]
    assert error(models, f'labels -a -c {conn} -g 0-1 --name {name}') == (
        f'label {name} says {said} but connection {conn} is {proto}; choose the right '
        'Proto3, or add --force to label it anyway')
    assert models.root['models'].get('0-1').labels.get(conn) is None
    ok(models, f'labels -a -c {conn} -g 0-1 --name {name} --force')
    assert models.root['models'].get('0-1').labels.get(conn) == 0


def test_a_proto3_contradiction_by_address_names_the_count(models):
    assert error(models, 'labels -a -c 10.0.0.1 -g 0-1 --name From-Normal-UDP-DNS--1') == (
        'label From-Normal-UDP-DNS--1 says UDP but connection 10.0.0.1-10.0.0.2-80-tcp is '
        'tcp; choose the right Proto3, or add --force to label it anyway')


def test_other_protocols_never_contradict():
    from stf.core.flows.labelnames import contradiction
    assert contradiction('From-Botnet-TCP-None--1', '10.0.0.1-10.0.0.2-0-gre') is None
    assert contradiction('From-Botnet-UDP-None--1', 'fe80::1-ff02::1-0-ipv6-icmp') == 'ipv6-icmp'
    assert contradiction('From-Botnet-IPV6-ICMP-None--1', 'fe80::1-ff02::1-0-ipv6-icmp') is None
    assert contradiction('flow=From-Botnet-V1', CC) is None  # outside the grammar


# -- history and undo

def history(app):
    return ok(app, 'history -n 50')[0].rows


def test_history_lists_commands_with_analyst(models):
    import getpass
    import socket
    rows = history(models)
    path = models.root['datasets'].get(0).files[0].path
    assert [row[3] for row in rows[:4]] == ['models -g', 'connections -g',
                                            f'datasets -c {path} --name lab',
                                            'stf: set up the database']
    analyst = f'{getpass.getuser()}@{socket.gethostname()}'
    assert {row[2] for row in rows[:4]} == {analyst}
    assert all(len(row[0]) == 8 for row in rows)
    assert len(ok(models, 'history -n 2')[0].rows) == 2
    ok(models, 'notes -c --text "' + 'x' * 300 + '"')
    assert history(models)[0][3] == ('notes -c --text ' + 'x' * 300)[:200]


def test_undo_takes_back_one_command_and_then_the_one_before(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name {BOTNET}')
    ok(models, 'notes -c --text "a thought"')
    note_tid, label_tid = history(models)[0][0], history(models)[1][0]
    assert error(models, f'undo {label_tid}') == (
        f'cannot undo {label_tid} (labels -a -c {CC} -g 0-1 --name {BOTNET}): a later command '
        f'changed the same data: notes -c --text \'a thought\' ({history(models)[0][2]}, '
        f'{history(models)[0][1]}); undo that first')
    assert ok(models, f'undo {note_tid[:5].upper()}')[0].text == (
        f"undone: {note_tid} notes -c --text 'a thought'")
    assert len(models.notes) == 1  # the model's note the label wrote
    assert history(models)[0][3] == f"undo {note_tid}: notes -c --text 'a thought'"
    ok(models, f'undo {label_tid}')
    assert len(models.root['labels']) == 0 and len(models.notes) == 0
    assert models.root['models'].get('0-1').labels.get(CC) is None


def test_undo_a_deletion_brings_it_back(models):
    labeled(models)
    before = counts(models)
    ok(models, 'datasets -d 0 --yes')
    assert counts(models)[:4] == (0, 0, 0, 1)
    ok(models, f'undo {history(models)[0][0]}')
    assert counts(models) == before
    assert ok(models, 'models -L 0-1')[0].rows


def test_bad_undo_ids(models):
    assert error(models, 'undo zz') == "'zz' is not a transaction id (hex, as 'history' shows it)"
    assert error(models, 'undo a6') == ("'a6' is too short to name one transaction: give at "
                                        "least 4 characters of the id 'history' shows")
    assert error(models, 'undo 0000ffff') == (
        "no transaction 0000ffff in this database's history (packing ends undo before the "
        "pack time); see 'history'")
    assert error(models, 'undo').startswith('undo: the following arguments are required: ID')


def test_undo_after_pack_is_refused_and_pack_says_so(models):
    tid = history(models)[0][0]
    items = ok(models, 'database -p')
    assert items[1].text == ("undo cannot go back before this pack: the transactions "
                             "'history' listed before it can no longer be undone")
    assert error(models, f'undo {tid}').startswith(f'no transaction {tid} in this database')


def test_undo_says_what_it_cannot_take_back(models, tmp_path):
    folder = tmp_path / 'moved'
    folder.mkdir()
    ok(models, f'datasets -o 0 {folder}')
    items = ok(models, f'undo {history(models)[0][0]}')
    assert items[1].text == (
        'undo cannot take back what it did outside the database: the files moved to the new '
        "folder stay there; move them back with 'datasets -o ID OLD_FOLDER'")
    assert (folder / 'labels.binetflow').exists()


def test_history_and_undo_through_a_zeo_server(tmp_path):
    """Two analysts on one ZEO server: one undoes what the other did."""
    ZEO = pytest.importorskip('ZEO')
    from tests.test_connections_models import HEADER, flow_line
    from tests.test_zeo import client
    address, stop = ZEO.server(path=str(tmp_path / 'shared.fs'))
    first, second = client(address), client(address)
    try:
        flows = tmp_path / 'f.binetflow'
        flows.write_text(HEADER + ''.join(flow_line(moment) for moment in (0, 10, 20)))
        ok(first, f'datasets -c {flows} --name shared')
        ok(first, 'connections -g')
        ok(first, 'models -g')
        ok(first, f'labels -a -c {CC} -g 0-1 --name {BOTNET}')
        rows = history(second)
        assert rows[0][3] == f'labels -a -c {CC} -g 0-1 --name {BOTNET}'
        ok(second, 'notes -c --to label:0 --text "ours"')
        assert error(second, f'undo {rows[0][0]}').startswith(
            f'cannot undo {rows[0][0]} (labels -a -c {CC}')
        ok(second, f'undo {history(second)[0][0]}')
        ok(second, f'undo {rows[0][0]}')
        assert ok(first, 'labels -l')[0].rows == []
        assert first.root['models'].get('0-1').labels.get(CC) is None
        assert [row[3].split(':')[0] for row in history(first)[:2]] == [
            f'undo {rows[0][0]}', f'undo {history(first)[2][0]}']
    finally:
        first.close()
        second.close()
        stop()


def test_labels_without_connections_are_deleted_by_filter(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Normal-TCP-HTTP--1')
    ok(models, f'labels -a -c {CC} -g 0-1 --name {BOTNET}')
    assert ok(models, 'labels -F -f name=Normal')[0].text == '1 label deleted'
    assert [row[1] for row in ok(models, 'labels -l')[0].rows] == [BOTNET]


def test_labels_from_the_flows_ask_before_replacing_other_labels(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Normal-TCP-HTTP--1')
    assert error(models, 'labels --from-flows -g 0-1') == (
        'this would label 3 connections of group 0-1 from the labels of their flows, label 0 '
        'on 1 connection replaced; nothing was changed: add --yes to confirm (batch mode '
        'cannot ask)')
    assert models.root['models'].get('0-1').labels[CC] == 0
    ok(models, 'labels --from-flows -g 0-1 --yes')
    assert models.root['models'].get('0-1').labels[CC] != 0
    # Again: every label is the flows' one already, nothing is replaced, nothing asked.
    ok(models, 'labels --from-flows -g 0-1')
