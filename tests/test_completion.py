"""Completion: what kind of word comes next, with exact candidate sets."""
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from stf.commands import build_registry
from stf.console.completion import last_word_start, next_word, split_words

REGISTRY = build_registry()


def kind(text):
    return next_word(REGISTRY, text).kind


def test_words_keep_shell_quoting():
    assert split_words('models -f statelength>100') == ['models', '-f', 'statelength>100']
    assert split_words('datasets -c "my file') == ['datasets', '-c', 'my file']
    assert split_words('datasets -s ') == ['datasets', '-s', '']
    assert split_words('') == ['']


def test_kinds_of_next_word():
    assert kind('') == 'command'
    assert kind('data') == 'command'
    assert kind('datasets ') == 'option'
    assert kind('datasets -') == 'option'
    assert kind('datasets -s ') == 'dataset_id'
    assert kind('datasets -d 1') == 'dataset_id'
    assert kind('datasets -F ') == 'file_id'
    assert kind('datasets -c ') == 'path'
    assert kind('datasets -a /tm') == 'path'
    assert kind('datasets -o 3 ') == 'path'
    assert kind('datasets -o ') == 'dataset_id'
    assert kind('datasets -l ') == 'option'
    assert kind('help ') == 'command'
    assert kind('database -d ') == 'structure'
    assert kind('nosuch ') is None


def completions(app, text):
    from stf.console.repl import StfCompleter
    document = Document(text, len(text))
    return {item.text for item in StfCompleter(app).get_completions(document, CompleteEvent())}


def test_commands_and_options(app):
    assert completions(app, 'da') == {'database', 'datasets'}
    assert completions(app, 'datasets --f') == {'--files', '--file', '--folder', '--force'}
    assert completions(app, 'database -') == {'-h', '--help', '-i', '--info', '-c', '--commit',
                                              '-r', '--revert', '-p', '--pack', '-l', '--list',
                                              '-d', '--delete', '--yes', '--sort', '--json',
                                              '--csv', '--tsv', '--output', '--force'}


def test_dataset_ids_come_from_the_cache(app, tmp_path):
    from tests.conftest import ok, write_pcap
    for name in ('alpha', 'beta'):
        folder = tmp_path / name
        folder.mkdir()
        ok(app, f'datasets -c {write_pcap(folder / "c.pcap", [1, 2])}')
    assert completions(app, 'datasets -s ') == {'0', '1'}
    assert completions(app, 'datasets -F ') == {'0'}
    # The cache is what completion reads: no database access per keystroke.
    app.completion['dataset_id']['7'] = 'cached'
    assert completions(app, 'datasets -s ') == {'0', '1', '7'}


def test_paths_complete_quoted(app, tmp_path):
    (tmp_path / 'capture one.pcap').write_bytes(b'')
    (tmp_path / 'plain.pcap').write_bytes(b'')
    assert completions(app, f'datasets -c {tmp_path}/capt') == {f"'{tmp_path}/capture one.pcap'"}
    assert completions(app, f'datasets -a "{tmp_path}/pl') == {f'{tmp_path}/plain.pcap'}
    (tmp_path / 'captures').mkdir()
    assert completions(app, f'datasets -a {tmp_path}/captures') == {f'{tmp_path}/captures/'}


def test_last_word_start():
    assert last_word_start('datasets -c /tmp/a') == 12
    assert last_word_start('datasets -c "/tmp/a b') == 12
    assert last_word_start('datasets -c a\\ b') == 12
    assert last_word_start('datasets ') == 9


def test_group_connection_and_filter_completion(app, tmp_path):
    from tests.conftest import ok
    path = tmp_path / 'f.binetflow'
    path.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
                    'TotPkts,TotBytes\n'
                    '2020/01/01 10:00:00.0,1,tcp,10.0.0.1,1,->,10.0.0.2,80,CON,0,0,1,100\n'
                    '2020/01/01 10:00:01.0,1,udp,10.0.0.1,1,->,10.0.0.3,53,CON,0,0,1,100\n')
    ok(app, f'datasets -c {path}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    assert completions(app, 'connections -L ') == {'0'}
    assert completions(app, 'connections --connections ') == {'0'}
    assert completions(app, 'models --histogram ') == {'0-1'}
    assert completions(app, 'connections -F 10.0.0.1-10.0.0.2') == {'10.0.0.1-10.0.0.2-80-tcp'}
    assert completions(app, 'connections -F 10.0.0.1-10.0.0.2-80-tcp -g ') == {'0'}
    assert completions(app, 'models -L ') == {'0-1'}
    assert completions(app, 'models -L 0-1 -f ') == {
        'name', 'flows', 'statelength', 'labelname', 'state', 'periodicity', 'gap'}
    assert completions(app, 'models -L 0-1 -f name=x stat') == {'state', 'statelength'}
    assert completions(app, 'models -L 0-1 -f periodicity') == {
        'periodicity', 'periodicity=', 'periodicity!=', 'periodicity<', 'periodicity<=',
        'periodicity>', 'periodicity>='}                      # no ~ for a number
    assert 'state~' in completions(app, 'models -L 0-1 -f state')
    assert completions(app, 'models -L 0-1 -f name=10.0.0.1-10') == {
        'name=10.0.0.1-10.0.0.2-80-tcp', 'name=10.0.0.1-10.0.0.3-53-udp'}
    assert completions(app, 'connections -C 0 -f flow') == {'flowamount', 'flowlabel'}
    assert completions(app, 'models -g -c ') == {'0', '1', '2'}
