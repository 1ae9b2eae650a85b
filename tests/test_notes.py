"""notes: list, show, edit, delete, search, and where each note belongs."""
from tests.conftest import error, ok
from tests.test_labels import CC


def test_notes_of_datasets_models_and_labels(models, monkeypatch, tmp_path):
    ok(models, 'datasets -n 0 --text "Capture of a **C&C** over HTTP"')
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    ok(models, 'notes -c --to label:0 --text "beacons every 10 s"')
    ok(models, 'notes -c --text "to do: compare with test7"')
    (table,) = ok(models, 'notes -l')
    assert [(row[0], row[1], row[3]) for row in table.rows] == [
        (0, "dataset 0 'lab'", 'Capture of a **C&C** over HTTP'),
        (1, f'model 0-1/{CC}', table.rows[1][3]),
        (2, 'label 0 From-Botnet-TCP-HTTP-CC-1', 'beacons every 10 s'),
        (3, 'free-standing', 'to do: compare with test7')]
    assert table.rows[1][3].startswith('- 20') and ': labeled From-Bot' in table.rows[1][3]
    assert [row[0] for row in ok(models, 'notes -l -f text=beacons')[0].rows] == [2]
    (search,) = ok(models, 'notes -S c&c')
    assert search.rows == [(0, "dataset 0 'lab'", 'Capture of a **C&C** over HTTP')]
    fields, text = ok(models, 'notes -s 2')
    assert dict(fields.pairs)['attached to'] == 'label 0 From-Botnet-TCP-HTTP-CC-1'
    assert text.text == 'beacons every 10 s'


def test_edit_and_delete(models, monkeypatch, editor):
    ok(models, 'notes -c --to dataset:0 --text first')
    assert error(models, 'notes -c --to dataset:0 --text again') == (
        "dataset 0 'lab' has a note already; edit it with 'notes -e 0'")
    models.interactive = True
    editor('rewritten\\n')
    assert ok(models, 'notes -e 0')[0].text == 'note 0 saved'
    assert models.notes.get(0).text == 'rewritten\n'
    monkeypatch.setenv('EDITOR', 'false')
    assert error(models, 'notes -e 0') == ("the editor 'false' exited with status 1; "
                                           'the note is unchanged')
    assert models.notes.get(0).text == 'rewritten\n'
    assert ok(models, 'notes -d 0')[0].text == "note 0 (dataset 0 'lab') deleted"
    assert models.datasets.get(0).note_id is None
    assert error(models, 'notes -s 0') == "there is no note 0; list them with 'notes -l'"
    assert error(models, 'notes -c --to label:9 --text x') == (
        '--to label:9: write dataset:ID, label:ID, experiment:ID or model:GROUP/CONN_ID of '
        'something that exists')
    assert error(models, 'notes -l -f body=x') == ("unknown filter key 'body' for notes; "
                                                   'valid keys: text')


def test_emptying_a_structure_goes_through_the_cascades(models):
    """database -d notes leaves nothing pointing at a note that went, and a
    new note never takes the id of one that went."""
    ok(models, 'datasets -n 0 --text "dataset words"')
    ok(models, f'models -n 0-1 -i {CC} --text "model words"')
    assert sorted(models.notes.items.keys()) == [0, 1]
    ok(models, 'database -d notes --yes')
    assert (models.datasets.get(0).note_id, dict(models.root['models'].get('0-1').notes)) == (
        None, {})
    assert ok(models, 'notes -c --text "someone else"')[0].text == (
        'note 2 saved (free-standing)')
    assert ok(models, 'datasets -n 0 --text "again"')[0].text == (
        "note 3 of dataset 0 'lab' saved")
    assert models.notes.get(2).text == 'someone else'


def test_a_label_emptied_by_deleting_its_group_stays_with_its_note(models):
    ok(models, f'labels -a -c {CC} -g 0-1 --name From-Botnet-TCP-HTTP-CC-1')
    ok(models, 'notes -c --to label:0 --text "about the label"')
    ok(models, 'models -d 0-1 --yes')
    assert ok(models, 'labels -l')[0].rows == [(0, 'From-Botnet-TCP-HTTP-CC-1', '-', '0',
                                                 'malicious')]
    assert sorted(note.owner for note in models.notes.values()) == [('dataset', 0),
                                                                    ('label', 0)]
