"""datasets: create, list, select, files, details, folders, notes, bad input."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stf.commands.results import shown_items
from tests.conftest import error, ok, write_pcap

TIMES = [1_600_000_000 + offset for offset in (0.5, 1.25, 299.0, 301.0, 900.000001)]


@pytest.fixture
def capture(tmp_path):
    folder = tmp_path / 'case one'
    folder.mkdir()
    return write_pcap(folder / 'capture.pcap', TIMES)


def test_create_selects_and_lists(app, capture):
    (message,) = ok(app, f'datasets -c "{capture}"')
    assert message.text == "dataset 0 'case one' created with capture.pcap (pcap) and selected"
    assert app.current_id == 0
    (table,) = ok(app, 'datasets -l')
    assert table.headers == ['id', 'name', 'added', 'main file', 'capture start', 'folder',
                             'current', 'note']
    (row,) = table.rows
    assert (row[0], row[1], row[3], row[4], row[5], row[6], row[7]) == (
        0, 'case one', 'capture.pcap', '-', str(capture.parent), '*', '')


def test_name_flag_and_duplicate_names(app, capture):
    ok(app, f'datasets -c "{capture}" --name first')
    assert error(app, f'datasets -c "{capture}" --name first') == (
        "a dataset named 'first' exists already (id 0); choose another with --name")
    ok(app, f'datasets -c "{capture}" --name second')
    assert [dataset.id for dataset in app.datasets.values()] == [0, 1]


def test_files_add_list_remove(app, capture, tmp_path):
    ok(app, f'datasets -c "{capture}"')
    other = write_pcap(tmp_path / 'second.pcap', TIMES[:2], nano=True)
    assert ok(app, f'datasets -a {other}')[0].text == (
        "second.pcap (pcap) added to dataset 'case one' as file 1")
    (table,) = ok(app, 'datasets -f')
    assert [(row[0], row[1], row[4], row[5]) for row in table.rows] == [
        ('capture.pcap', 0, 'pcap', ''), ('second.pcap', 1, 'pcap', '')]
    assert error(app, f'datasets -a {other}') == (
        "second.pcap is already file 1 of dataset 'case one'")
    ok(app, 'datasets -D 0')
    assert app.current().main_file_id == 1
    assert error(app, 'datasets -D 0') == ("dataset 'case one' has no file 0; "
                                           "list its files with 'datasets -f'")


def test_pcap_details(app, capture):
    ok(app, f'datasets -c "{capture}"')
    fields, capture_fields, *rest = ok(app, 'datasets -F 0')
    pairs = dict(fields.pairs)
    data = capture.read_bytes()
    assert pairs['md5'] == hashlib.md5(data).hexdigest()
    assert pairs['sha1'] == hashlib.sha1(data).hexdigest()
    assert pairs['sha256'] == hashlib.sha256(data).hexdigest()
    details = dict(capture_fields.pairs)
    assert details['packets'] == '5'
    assert details['first packet'] == '2020-09-13 12:26:40.500000 UTC'
    assert details['last packet'] == '2020-09-13 12:41:40.000001 UTC'
    assert details['link type'] == '1 EN10MB (Ethernet)'
    (bins,) = rest[-1].shown
    assert bins.rows == [('2020-09-13 12:26:40.500000 UTC', 3),
                         ('2020-09-13 12:31:40.500000 UTC', 1),
                         ('2020-09-13 12:36:40.500000 UTC', 1)]
    (*_, bins60) = shown_items(ok(app, 'datasets -F 0 --bin 600'))
    assert bins60.rows == [('2020-09-13 12:26:40.500000 UTC', 4),
                           ('2020-09-13 12:36:40.500000 UTC', 1)]


def test_select_unselect_delete(app, capture):
    ok(app, f'datasets -c "{capture}"')
    ok(app, 'datasets -u')
    assert app.current() is None
    assert error(app, 'datasets -f') == ("no dataset is selected; select one with "
                                         "'datasets -s ID' (list them with 'datasets -l')")
    ok(app, 'datasets -s 0')
    ok(app, 'datasets -n 0 --text "C&C over HTTP"')
    assert len(app.notes) == 1
    assert error(app, 'datasets -d 0') == (
        "this would delete dataset 0 'case one', 1 note; nothing was changed: add --yes to "
        'confirm (batch mode cannot ask)')
    assert ok(app, 'datasets -d 0 --yes')[0].text == (
        "dataset 0 'case one' deleted with what was made from it (notes: 1); "
        'its files stay on disk')
    assert app.current_id is None and len(app.notes) == 0
    assert capture.exists()
    assert error(app, 'datasets -s 0') == "there is no dataset 0; list them with 'datasets -l'"
    assert error(app, 'datasets -d 9') == "there is no dataset 9; list them with 'datasets -l'"


def test_note_with_text_and_editor(app, capture, editor, monkeypatch):
    ok(app, f'datasets -c "{capture}"')
    ok(app, 'datasets -n 0 --text "Botnet test7\\nsecond line"')
    assert app.notes.get(0).text == 'Botnet test7\nsecond line'
    assert ok(app, 'datasets -l')[0].rows[0][7] == 'Botnet test7'
    assert error(app, 'datasets -n 0') == 'in batch mode give the note with --text "..."'
    app.interactive = True
    editor('edited\\n')
    ok(app, 'datasets -n 0')
    assert app.notes.get(0).text == 'edited\n'
    monkeypatch.setenv('EDITOR', 'false')
    assert error(app, 'datasets -n 0') == (
        "the editor 'false' exited with status 1; the note is unchanged")
    assert app.notes.get(0).text == 'edited\n'


def test_moved_files_name_datasets_o(app, capture, tmp_path):
    ok(app, f'datasets -c "{capture}"')
    new_folder = tmp_path / 'moved'
    shutil.move(str(capture.parent), new_folder)
    moved = (f"file 0 {capture} is not there any more; if the dataset's files were moved, "
             "run 'datasets -o 0 NEW_FOLDER'")
    assert error(app, 'datasets -F 0') == moved
    # One message wherever a moved file is met.
    assert ok(app, 'datasets -s 0')[1].text == moved
    assert ok(app, f'datasets -o 0 {new_folder}')[0].text == (
        f"dataset 0 'case one' now lives in {new_folder}: 0 files moved, 1 found there")
    assert ok(app, 'datasets -F 0')[1].pairs[0] == ('packets', '5')


def test_change_folder_moves_files(app, capture, tmp_path):
    ok(app, f'datasets -c "{capture}"')
    target = tmp_path / 'elsewhere'
    target.mkdir()
    assert ok(app, f'datasets -o 0 {target}')[0].text.endswith('1 files moved, 0 found there')
    assert (target / 'capture.pcap').exists() and not capture.exists()
    assert app.current().files[0].path == str(target / 'capture.pcap')


BAD_FILES = {
    'nothing.pcap': None,
    'empty.pcap': b'',
    'random.bin': bytes(range(7, 250)) * 40,
}


def test_bad_inputs_are_one_line(app, tmp_path):
    assert error(app, f'datasets -c {tmp_path}/nothing.pcap') == (
        f'{tmp_path}/nothing.pcap: no such file; check the path')
    assert error(app, f'datasets -c {tmp_path}').startswith(f'{tmp_path} is a folder')
    (tmp_path / 'empty.pcap').write_bytes(b'')
    assert error(app, f'datasets -c {tmp_path}/empty.pcap').startswith(
        f'{tmp_path}/empty.pcap is empty')
    (tmp_path / 'random.bin').write_bytes(bytes(range(7, 250)) * 40)
    assert 'accepted: pcap' in error(app, f'datasets -c {tmp_path}/random.bin')
    assert len(app.datasets) == 0


def test_truncated_pcap_reports_packets_read(app, capture):
    data = capture.read_bytes()
    capture.write_bytes(data[:-10])
    ok(app, f'datasets -c "{capture}"')
    details = dict(ok(app, 'datasets -F 0')[1].pairs)
    assert details['packets'] == '4'
    assert details['warning'] == 'truncated: the last packet record is cut after 4 packets'


AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']


def python_for_nobody():
    """(python, environment) that user nobody can run stf with, or None.

    The project's Python may live where nobody cannot read (e.g. under
    /root); the system Python with our packages on its path then serves.
    """
    import site
    paths = os.pathsep.join(site.getsitepackages())
    for python, extra in ((sys.executable, {}), ('/usr/bin/python3', {'PYTHONPATH': paths})):
        env = dict(os.environ, **extra)
        probe = subprocess.run([*AS_NOBODY, python, '-c', 'import ZODB, numpy'],
                               capture_output=True, env=env, cwd='/')
        if probe.returncode == 0:
            return python, env
    return None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('setpriv'),
                    reason='needs root and setpriv to test as an unprivileged user')
def nobody_conf(base):
    """A configuration user nobody can read (the test's own is in root's folder)."""
    conf = base / 'stf.conf'
    conf.write_text(Path(os.environ['STF_CONF']).read_text())
    conf.chmod(0o644)
    return conf


def test_permission_denied_as_unprivileged_user():
    from tests.conftest import ROOT
    found = python_for_nobody()
    if found is None:
        pytest.skip('no Python with stf\'s packages is readable by user nobody')
    python, env = found
    base = Path(tempfile.mkdtemp(prefix='stf-nobody-'))  # pytest's tmp is root-only
    try:
        base.chmod(0o755)
        capture = write_pcap(base / 'capture.pcap', TIMES)
        capture.chmod(0o600)
        home = base / 'nobody'
        home.mkdir()
        os.chown(home, 65534, 65534)
        result = subprocess.run(
            [*AS_NOBODY, python, str(ROOT / 'stf.py'), '--db', str(home / 'stf.db'),
             '-c', f'datasets -c {capture}'],
            capture_output=True, text=True, env=dict(env, STF_HOME=str(home / 'home'),
                                                     STF_CONF=str(nobody_conf(base))))
        assert result.stderr == (f'error: line 1: {capture}: permission denied; '
                                 "check the file's permissions\n")
        assert result.returncode == 1
    finally:
        shutil.rmtree(base)


def expected_flows(shared, name):
    lines = (shared / 'expected' / f'{name}.letters.tsv').read_text().splitlines()
    return sum(int(line.split('\t')[1]) for line in lines)


@pytest.mark.parametrize('folder, name', [('binetflow', 'test5-mixed.binetflow'),
                                          ('binetflow', 'headerless-test7.binetflow'),
                                          ('zeek', 'njrat-labeled.conn.log')])
def test_flow_file_details(app, shared, folder, name):
    ok(app, f'datasets -c {shared / folder / name} --name {name}')
    fields, flows, protocols, *labels = ok(app, 'datasets -F 0')
    assert dict(fields.pairs)['type'] == ('zeek' if folder == 'zeek' else 'binetflow')
    details = dict(flows.pairs)
    assert details['flows'] == f'{expected_flows(shared, name):,}'
    total = expected_flows(shared, name)
    assert sum(int(count.replace(',', '')) for _, count in protocols.rows) == total
    if name != 'headerless-test7.binetflow':
        assert sum(int(count.replace(',', '')) for _, count in labels[0].rows) == total


def test_letters_details(app, shared):
    ok(app, f'datasets -c {shared / "letters" / "train.tsv"}')
    fields, models, per_label = ok(app, 'datasets -F 0')
    assert dict(fields.pairs)['type'] == 'letters'
    assert dict(models.pairs)['models'] == '1,371'


@pytest.mark.skipif(not shutil.which('argus', path=os.environ['PATH'] + ':/usr/sbin'),
                    reason='argus is not installed (make setup installs it)')
def test_generate_flows_from_pcap(app, shared, tmp_path):
    out = tmp_path / "out; it's here"
    out.mkdir()
    ok(app, f'datasets -c {shared / "pcap" / "test8-malicious.pcap"}')
    assert [item.text for item in ok(app, f'datasets -g --out "{out}"')] == [
        'test8-malicious.biargus generated and added as file 1',
        'test8-malicious.binetflow generated and added as file 2']
    header = (out / 'test8-malicious.binetflow').read_text().splitlines()[0]
    assert header == ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
                      'TotPkts,TotBytes,SrcBytes,SrcPkts,srcUdata,dstUdata')
    assert dict(ok(app, 'datasets -F 2')[1].pairs)['flows'] == '260'
    assert [item.kind for item in app.current().files.values()] == ['pcap', 'biargus', 'binetflow']
    # A second run regenerates the same files instead of adding new ones.
    assert ok(app, f'datasets -g --out "{out}"')[1].text == (
        'test8-malicious.binetflow regenerated (file 2)')
    # A biargus alone gives a binetflow with ra.
    ok(app, 'datasets -D 0')
    (out / 'test8-malicious.binetflow').unlink()
    assert ok(app, f'datasets -g --out "{out}"')[0].text == (
        'test8-malicious.binetflow regenerated (file 2)')


def test_generate_needs_a_capture(app, shared, capture, tmp_path):
    ok(app, f'datasets -c {shared / "binetflow" / "test3-mixed.binetflow"}')
    assert error(app, f'datasets -g --out {tmp_path}') == (
        "dataset 'binetflow' has no pcap or biargus file to generate flows from; "
        "add one with 'datasets -a PATH'")
    ok(app, f'datasets -c "{capture}"')
    assert error(app, f'datasets -g --out {tmp_path}/none/deeper') == (
        f'{tmp_path}/none/deeper is not a folder; create it or choose another with --out')


def test_generate_without_argus_names_the_package(app, capture, monkeypatch):
    from stf.core.captures import argus
    ok(app, f'datasets -c "{capture}"')
    monkeypatch.setenv('PATH', str(capture.parent))
    monkeypatch.setattr(argus, 'EXTRA_DIRS', ())
    text = error(app, 'datasets -g')
    assert 'argus' in text and 'apt-get install' in text and 'argus-server' in text
    assert list(capture.parent.iterdir()) == [capture]


def test_interactive_name_and_delete_confirmation(app, capture):
    answers = iter(['asked name', 'n', 'y'])
    app.ask = lambda question, default: next(answers)
    ok(app, f'datasets -c "{capture}"')
    assert app.current().name == 'asked name'
    ok(app, 'datasets -n 0 --text "what we know"')  # a dataset with only itself is not asked
    assert ok(app, 'datasets -d 0')[0].text == 'nothing was deleted'
    assert len(app.datasets) == 1
    ok(app, 'datasets -d 0')
    assert len(app.datasets) == 0


def test_bin_zero_and_empty_name_are_refused(app, capture):
    assert error(app, f'datasets -c "{capture}" --name ""') == (
        'the dataset name is empty; give one with --name')
    ok(app, f'datasets -c "{capture}"')
    assert error(app, 'datasets -F 0 --bin 0') == (
        '--bin must be a positive number of seconds, not 0')


def test_folder_change_refuses_another_file_of_the_same_name(app, capture, tmp_path):
    ok(app, f'datasets -c "{capture}"')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    write_pcap(elsewhere / 'capture.pcap', TIMES[:2])
    capture.unlink()
    size = (elsewhere / 'capture.pcap').stat().st_size
    assert error(app, f'datasets -o 0 {elsewhere}') == (
        f"{elsewhere / 'capture.pcap'} is not file 0 of the dataset: it has {size:,} bytes, "
        f"the dataset's had {app.current().files[0].size:,}; nothing was moved")
    assert error(app, f'datasets -o 0 {tmp_path}/nothere') == (
        f'{tmp_path}/nothere does not exist; create it first')


def test_changed_files_are_flagged(app, capture):
    ok(app, f'datasets -c "{capture}"')
    with open(capture, 'ab') as handle:
        handle.write(b'\0' * 8)
    os.utime(capture, (1_700_000_000, 1_700_000_000))
    assert ok(app, 'datasets -f')[0].rows[0][5] == 'changed'
    first = ok(app, 'datasets -F 0')[0]
    assert first.level == 'warning'
    assert first.text.startswith('capture.pcap changed since it was added')


def test_generate_refuses_read_only_folders(app, capture):
    ok(app, f'datasets -c "{capture}"')
    capture.parent.chmod(0o555)
    try:
        assert error(app, 'datasets -g') == (
            f'cannot write in {capture.parent} (permission denied); choose a writable folder '
            'with --out FOLDER')
    finally:
        capture.parent.chmod(0o755)


def test_cancelled_question_changes_nothing(app, capture):
    def cancel(question, default):
        raise KeyboardInterrupt
    app.ask = cancel
    assert error(app, f'datasets -c "{capture}"') == 'datasets: interrupted; nothing was changed'
    assert len(app.datasets) == 0


def test_database_delete_asks_in_a_terminal(app, capture):
    ok(app, f'datasets -c "{capture}"')
    app.ask = lambda question, default: 'n'
    assert ok(app, 'database -d datasets')[0].text == 'nothing was deleted'
    assert len(app.datasets) == 1


def test_a_command_run_again_after_a_conflict_does_not_ask_again(app, capture,
                                                               conflict_once):
    ok(app, f'datasets -c "{capture}" --name once')
    ok(app, 'datasets -n 0 --text "what we know"')
    questions = []

    def answer(question, default):
        questions.append(question)
        return 'y'
    app.ask = answer
    conflict_once(app)
    ok(app, 'datasets -d 0')
    assert app.database.conflicts == 1
    assert len(app.datasets) == 0
    assert questions == [
        "Delete dataset 0 'once', 1 note? [y/N]"]


def test_a_dataset_created_by_a_command_not_saved_is_not_selected(app, capture, monkeypatch):
    import os
    import signal
    from stf.models.datasets import Dataset
    ok(app, f'datasets -c "{capture}" --name first')
    add_file = Dataset.add_file

    def interrupted(self, *arguments):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C before the save
        return add_file(self, *arguments)
    monkeypatch.setattr(Dataset, 'add_file', interrupted)
    assert error(app, f'datasets -c "{capture}" --name second') == (
        'datasets: interrupted; nothing was changed')
    monkeypatch.undo()
    assert app.current_id == 0
    assert ok(app, 'datasets -f')[0].title == "files of dataset 0 'first'"
