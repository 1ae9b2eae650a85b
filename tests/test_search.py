"""search: an IP matches whole address fields; other text is a substring in
dataset and file names, connections, models, labels and notes."""
from tests.conftest import error, ok
from tests.test_connections_models import HEADER, flow_line


def test_search_finds_an_address_a_label_and_a_note(app, tmp_path):
    lines = [flow_line(second, dst='1.1.1.1') for second in range(0, 60, 10)]
    lines += [flow_line(3, dst='11.1.1.10'), flow_line(4, src='10.0.0.9', dst='8.8.8.8')]
    path = tmp_path / 'capture.binetflow'
    path.write_text(HEADER + ''.join(sorted(lines)))
    ok(app, f'datasets -c {path} --name beacons')
    ok(app, 'connections -g')
    ok(app, 'models -g')
    ok(app, 'labels -a -g 0-1 -c 10.0.0.1-1.1.1.1-80-tcp --name From-Botnet-TCP-HTTP-CC-1')
    ok(app, 'notes -c --text "the C&C at 1.1.1.1 answers every 10 s"')
    (table,) = ok(app, 'search 1.1.1.1')
    assert table.title == 'where the address 1.1.1.1 appears'
    assert [(row[0], row[2]) for row in table.rows] == [
        ('connection', '10.0.0.1-1.1.1.1-80-tcp'), ('model', '10.0.0.1-1.1.1.1-80-tcp'),
        ('note', 'the C&C at 1.1.1.1 answers every 10 s')]
    assert table.rows[1][3] == 'label From-Botnet-TCP-HTTP-CC-1'
    (table,) = ok(app, 'search botnet-tcp')
    assert [(row[0], row[2]) for row in table.rows][0] == ('label', 'From-Botnet-TCP-HTTP-CC-1')
    # and the dataset's notebook, which recorded the labeling
    assert [row[0] for row in table.rows] == ['label', 'note']
    assert table.rows[1][2].endswith('labeled From-Botnet-TCP-HTTP-CC-1')
    (table,) = ok(app, 'search BEAC')
    assert [(row[0], row[2]) for row in table.rows] == [('dataset', 'beacons')]
    (table,) = ok(app, 'search 11.1.1.1')        # not a part of 11.1.1.10
    assert table.rows == []
    assert error(app, 'search ""') == ('search needs a text: an IP address, a connection id, '
                                       'a label or words of a note')
