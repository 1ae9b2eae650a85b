import pytest

from stf.core.flows import labelnames
from stf.core.errors import UserError


def test_parse_and_compose():
    name = labelnames.parse('From-Botnet-TCP-HTTP-CC12-3')
    assert (name.direction, name.decision, name.proto3, name.proto4, name.details,
            name.number) == ('From', 'Botnet', 'TCP', 'HTTP', 'CC12', 3)
    assert str(name) == 'From-Botnet-TCP-HTTP-CC12-3'
    assert name.description == 'From-Botnet-TCP-HTTP-CC12'
    assert name.verdict == 'malicious'
    assert str(labelnames.parse('To-Normal-IPV6-ICMP-None--1')) == 'To-Normal-IPV6-ICMP-None--1'
    assert labelnames.parse('From-Background-UDP-DNS--2').verdict == 'background'


@pytest.mark.parametrize('name, message', [
    ('From-Evil-TCP-HTTP-x-1', "'Evil' is not a valid decision; valid: Botnet, Malware, "
                               'Attack, Normal, Background'),
    ('Up-Botnet-TCP-HTTP-x-1', "'Up' is not a valid direction; valid: From, To"),
    ('From-Botnet-TCP-WEB-x-1', "'WEB' is not a valid proto4; valid: HTTP, HTTPS, FTP, SSH, "
                                'DNS, SMTP, P2P, Multicast, Unknown, None'),
    ('From-Botnet-TCP-HTTP-x', "label 'From-Botnet-TCP-HTTP-x' does not follow "
                               'Direction-Decision-Proto3-Proto4-Details-N (e.g. '
                               'From-Botnet-TCP-HTTP-CC12-1)'),
    ('From-Botnet-TCP-HTTP-x-one', "label 'From-Botnet-TCP-HTTP-x-one' must end with its "
                                   'number N, e.g. -1'),
    ('From-Botnet-TCP-HTTP-' + 'x' * 31 + '-1', "label details '" + 'x' * 31
     + "' must be at most 30 characters without '-' or spaces"),
])
def test_bad_names_list_the_valid_values(name, message):
    with pytest.raises(UserError) as raised:
        labelnames.parse(name)
    assert str(raised.value) == message


def test_defaults_guessed_from_the_connection():
    assert labelnames.guess('10.0.0.1-1.2.3.4-443-tcp') == ('TCP', 'HTTPS')
    assert labelnames.guess('10.0.0.1-8.8.8.8-53-udp') == ('UDP', 'DNS')
    assert labelnames.guess('10.0.0.1-1.2.3.4-6667-tcp') == ('TCP', 'Unknown')
    assert labelnames.guess('10.0.2.15-10.0.2.3--arp') == ('ARP', 'None')
    assert labelnames.guess('10.8.0.69-8.8.8.8-0x0800-icmp') == ('ICMP', 'None')
    assert labelnames.guess('::-ff02::1:ffdd:53e7-0-ipv6-icmp') == ('IPV6-ICMP', 'None')
    assert labelnames.guess('fd2d::1-fd2d::53-53-udp') == ('UDP', 'DNS')
    assert labelnames.guess('00:00:00:00:00:00-01:80:c2:00:00:00-0-llc') == ('ARP', 'None')
    assert labelnames.verdict_of('From-Normal-UDP-NTP--2') == 'normal'


@pytest.mark.parametrize('text, decision, verdict', [
    ('flow=From-Botnet-V42-TCP-CC6-Plain-HTTP-Encrypted-Data', 'Botnet', 'malicious'),
    ('Malicious-C&C-HeartBeat', 'Malware', 'malicious'),
    ('Malicious', 'Malware', 'malicious'),
    ('Benign-Google', 'Normal', 'normal'),
    ('flow=From-Normal-V42-Stribrek', 'Normal', 'normal'),
    ('flow=Background-TCP-Established', 'Background', 'background'),
    ('From-Attack-TCP-SSH-Brute-1', 'Attack', 'malicious'),
    ('From-Malware-UDP-DNS--3', 'Malware', 'malicious'),
])
def test_one_table_of_decision_words(tmp_path, text, decision, verdict):
    """Ground truth of argus and Zeek and stf's own labels read the same way
    wherever they are read: labels, --from-flows, the details of a letters file."""
    from stf.commands import fileinfo, labels
    assert labelnames.decision_of(text) == (decision, verdict)
    assert labels.verdict(text) == verdict
    letters = tmp_path / 'one.tsv'
    letters.write_text(f'tuple_id\tflows\tlabel\tstate\na-b-1-tcp\t1\t{text}\t1\n')

    class Item:
        path = str(letters)
    (fields, _) = fileinfo.letters_details(Item, None, None)
    assert (f'{verdict} models', '1') in fields.pairs


def test_text_without_a_decision_word():
    assert labelnames.decision_of('flow=From-V42-Unknown') is None
    assert labelnames.verdict_of('x') == 'background'


@pytest.mark.parametrize('text, fields', [
    ('192.168.0.253-166.78.144.80-80-tcp', ('192.168.0.253', '166.78.144.80', '80', 'tcp')),
    ('10.0.2.15-10.0.2.3--arp', ('10.0.2.15', '10.0.2.3', '', 'arp')),
    ('fd2d::1-fd2d::53-53-udp', ('fd2d::1', 'fd2d::53', '53', 'udp')),
    ('::-ff02::1:ffdd:53e7-0-ipv6-icmp', ('::', 'ff02::1:ffdd:53e7', '0', 'ipv6-icmp')),
    ('10.8.0.69-8.8.8.8-0x0800-icmp', ('10.8.0.69', '8.8.8.8', '0x0800', 'icmp')),
])
def test_one_connection_id_parser(text, fields):
    from stf.core.flows import connid
    assert connid.parse(text) == fields
    assert str(connid.parse(text)) == text
    assert list(connid.make_all(*([field] for field in fields))) == [text]


@pytest.mark.parametrize('text', ['10.0.0.1', '10.0.0.1-80-tcp', 'a-b-c-d-e', '-x-1-tcp'])
def test_not_a_connection_id(text):
    from stf.core.flows import connid
    with pytest.raises(UserError) as raised:
        connid.parse(text)
    assert str(raised.value) == (f"'{text}' is not a connection id (SrcAddr-DstAddr-Dport-"
                                 'Proto, e.g. 192.168.0.253-166.78.144.80-80-tcp)')
