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
    assert kind('notes -c --to ') == 'note_owner'
    assert kind('!ls') is None                 # the shell command itself
    assert kind('!ls -l /tm') == 'path'        # its arguments
    assert kind(' ! ls ') == 'path'


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
                                              '--csv', '--tsv', '--output', '--force', '--copy-to'}


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
    (tmp_path / 'captures' / 'inside.pcap').write_bytes(b'')
    assert completions(app, f'datasets -a {tmp_path}/captures/') == {
        f'{tmp_path}/captures/inside.pcap'}
    assert completions(app, f'!ls -l {tmp_path}/capt') == {f"'{tmp_path}/capture one.pcap'",
                                                           f'{tmp_path}/captures/'}


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


def menu(app, text):
    """{text: meta} of what completion offers after text."""
    from stf.console.repl import StfCompleter
    document = Document(text, len(text))
    return {item.text: item.display_meta_text
            for item in StfCompleter(app).get_completions(document, CompleteEvent())}


def shown(app, text):
    """What the menu shows, in its order."""
    from stf.console.repl import StfCompleter
    document = Document(text, len(text))
    return [item.display_text
            for item in StfCompleter(app).get_completions(document, CompleteEvent())]


def two_connections(app, tmp_path):
    from tests.conftest import ok
    path = tmp_path / 'f.binetflow'
    path.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
                    'TotPkts,TotBytes\n'
                    '2020/01/01 10:00:00.0,1,tcp,10.0.0.1,1,->,10.0.0.2,80,CON,0,0,1,100\n'
                    '2020/01/01 10:00:01.0,1,udp,10.0.0.1,1,->,10.0.0.3,53,CON,0,0,1,100\n'
                    '2020/01/01 10:00:09.0,1,udp,10.0.0.1,1,->,10.0.0.3,53,CON,0,0,1,100\n')
    ok(app, f'datasets -c {path} --name case')
    ok(app, 'connections -g')
    ok(app, 'models -g')


def test_notes_attach_to_a_kind_then_its_ids(app, tmp_path):
    from tests.conftest import ok
    two_connections(app, tmp_path)
    ok(app, 'labels -a -c 10.0.0.1-10.0.0.2-80-tcp -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    assert menu(app, 'notes -c --to ') == {
        'dataset:': 'a dataset: dataset:ID', 'label:': 'a label: label:ID',
        'model:': 'a model: model:GROUP/CONN_ID', 'experiment:': 'an experiment: experiment:ID'}
    assert menu(app, 'notes -c --to m') == {'model:': 'a model: model:GROUP/CONN_ID'}
    assert menu(app, 'notes -c --to dataset:') == {'dataset:0': 'case'}
    assert menu(app, 'notes -c --to label:') == {'label:0': 'From-Botnet-TCP-HTTP-CC-1'}
    assert menu(app, 'notes -c --to model:') == {'model:0-1/': '2 models'}
    assert menu(app, 'notes -c --to model:0-1/') == {
        'model:0-1/10.0.0.1-10.0.0.2-80-tcp': '1 flow',
        'model:0-1/10.0.0.1-10.0.0.3-53-udp': '2 flows'}
    assert menu(app, 'notes -c --to model:0-1/10.0.0.1-10.0.0.3') == {
        'model:0-1/10.0.0.1-10.0.0.3-53-udp': '2 flows'}
    assert menu(app, 'notes -c --to model:9-9/') == {}
    assert menu(app, 'notes -c --to nothing:') == {}
    app.completion['experiment_id']['3'] = 'capture.binetflow'
    assert menu(app, 'notes -c --to experiment:') == {'experiment:3': 'capture.binetflow'}
    # What completion offers, --to takes.
    ok(app, 'notes -c --to model:0-1/10.0.0.1-10.0.0.3-53-udp --text "a resolver"')
    assert menu(app, 'notes -s 1') == {'1': 'a resolver'}


def test_note_ids_show_their_first_line(app):
    from tests.conftest import ok
    ok(app, 'notes -c --text "\n\nThe C&C answers every 60 s\nsecond line"')
    ok(app, 'notes -c --text "' + 'x' * 60 + '"')
    assert menu(app, 'notes -s ') == {'0': 'The C&C answers every 60 s',
                                      '1': 'x' * 49 + '…'}
    assert menu(app, 'notes -e 1') == {'1': 'x' * 49 + '…'}


def source(number):
    """The source address of connection number (10.0.0.0 to 10.2.99.99)."""
    return f'10.{number // 10000}.{number // 100 % 100}.{number % 100}'


def test_thirty_thousand_connections_complete_by_prefix(app, tmp_path):
    """Every id completes once enough of it is typed (no cap on how many
    are kept), at most SHOWN at a time, then how many more."""
    from stf.console.completion import SHOWN
    from tests.conftest import ok
    path = tmp_path / 'many.binetflow'
    path.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
                    'TotPkts,TotBytes\n' + ''.join(
                        f'2020/01/01 10:00:00.0,1,tcp,{source(number)},1,->,10.9.0.1,80,CON,'
                        '0,0,1,100\n' for number in range(30000)))
    ok(app, f'datasets -c {path}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    ids = sorted(f'{source(number)}-10.9.0.1-80-tcp' for number in range(30000))
    assert SHOWN == 100
    assert menu(app, 'connections -F ') == {**dict.fromkeys(ids[:100], 'group 0'),
                                            '10.': '29,900 more: type more of it'}
    assert menu(app, 'connections -F 10.2.99.9') == {
        f'10.2.99.{last}-10.9.0.1-80-tcp': 'group 0' for last in [9, *range(90, 100)]}
    assert menu(app, 'connections -F 10.2.9') == {
        **dict.fromkeys([conn for conn in ids if conn.startswith('10.2.9')][:100], 'group 0'),
        '10.2.9': '1,000 more: type more of it'}
    assert len(menu(app, 'connections -F 10.1.5.')) == 100     # exactly SHOWN: no "more"
    assert shown(app, 'connections -F 10.2.9')[:2] == ['10.2.9…',
                                                       '10.2.9.0-10.9.0.1-80-tcp']
    assert menu(app, 'notes -c --to model:0-1/10.2.99.99') == {
        'model:0-1/10.2.99.99-10.9.0.1-80-tcp': '1 flow'}
    assert menu(app, 'models -L 0-1 -f name=10.2.99.99') == {
        'name=10.2.99.99-10.9.0.1-80-tcp': 'group 0'}
    # The ids are read once per change of the group, not after every command.
    shelf = app.completion['connection_id'].shelves[0]
    ok(app, 'notes -c --text "no change to the connections"')
    assert app.completion['connection_id'].shelves[0] is shelf
    ok(app, 'connections -D 0 -i 10.2.99.99-10.9.0.1-80-tcp --yes')
    assert menu(app, 'connections -F 10.2.99.99') == {}
    assert menu(app, 'notes -c --to model:0-1/10.2.99.99') == {}


def test_did_you_mean_a_command_or_an_option(app):
    from tests.conftest import error
    assert error(app, 'dataset -l') == ("unknown command 'dataset' (did you mean 'datasets'?); "
                                        "type 'help' for the list of commands")
    assert error(app, 'datsets') == ("unknown command 'datsets' (did you mean 'datasets'?); "
                                     "type 'help' for the list of commands")
    assert error(app, 'zzz') == "unknown command 'zzz'; type 'help' for the list of commands"
    assert error(app, 'help labls') == ("unknown command 'labls' (did you mean 'labels'?); "
                                        "type 'help' for the list of commands")
    assert error(app, 'models -l --sot -flows') == (
        "models: unrecognized arguments: --sot (did you mean --sort?); see 'models -h'")
    assert error(app, 'notes -c --too=label:0') == (
        "notes: unrecognized arguments: --too=label:0 (did you mean --to?); see 'notes -h'")
    assert error(app, 'notes -l --zzz') == (
        "notes: unrecognized arguments: --zzz; see 'notes -h'")


def test_a_console_starts_without_reading_every_id_and_reads_them_apart(app, tmp_path):
    from tests.conftest import ok
    path = tmp_path / 'f.binetflow'
    path.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
                    'TotPkts,TotBytes\n'
                    '2020/01/01 10:00:00.0,1,tcp,10.0.0.1,1,->,10.0.0.2,80,CON,0,0,1,100\n')
    ok(app, f'datasets -c {path}')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    app._completion = None
    app.interactive = True
    read = []
    values = app._completion_values
    app._completion_values = lambda *args, **kwargs: read.append(kwargs) or values(
        *args, **kwargs)
    app.start_completion()
    app._refreshing.join(10)
    assert read == [{'with_ids': False}, {}]       # the ids only apart
    assert completions(app, 'connections -F 10.0.0.1-') == {'10.0.0.1-10.0.0.2-80-tcp'}
    assert completions(app, 'models -S 0-1 -i 10.0') == {'10.0.0.1-10.0.0.2-80-tcp'}
