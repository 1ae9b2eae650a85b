"""TLS with client certificates between ZEO clients and server, on loopback.

Real servers, real certificates made with openssl (the commands of
docs/zeo-tls.md), no mocks. A refused handshake shows in ZEO only as a
timeout, so the clients that must be refused wait 2 seconds.
"""
import datetime
import os
import select
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port

ZEO = pytest.importorskip('ZEO')
if not shutil.which('openssl'):
    pytest.skip('openssl is needed to make the certificates', allow_module_level=True)

WAIT = 2  # seconds a refused client waits
EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc']
SERVER_EXT = ('basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
              'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n')
CLIENT_EXT = ('basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
              'extendedKeyUsage=clientAuth\n')
TIMEOUT = 'ClientDisconnected: timed out waiting for connection'


def openssl(folder, *args):
    subprocess.run(['openssl', *args], cwd=folder, check=True, capture_output=True)


def make_ca(folder, name):
    openssl(folder, 'req', '-x509', '-new', *EC, '-keyout', f'{name}.key', '-out', f'{name}.pem',
            '-days', '3650', '-subj', f'/CN={name}',
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')


def make_cert(folder, ca, name, ext, days='365', key=None):
    """Sign a certificate for name with ca (a new key unless key is given)."""
    (folder / f'{name}.ext').write_text(ext)
    if key is None:
        key = f'{name}.key'
        openssl(folder, 'req', '-new', *EC, '-keyout', key, '-out', f'{name}.csr',
                '-subj', f'/CN={name}')
    else:
        openssl(folder, 'req', '-new', '-key', key, '-out', f'{name}.csr', '-subj', f'/CN={name}')
    openssl(folder, 'x509', '-req', '-in', f'{name}.csr', '-CA', f'{ca}.pem', '-CAkey',
            f'{ca}.key', '-days', days, '-extfile', f'{name}.ext', '-out', f'{name}.pem')


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    """ca: the server's CA; other: an unrelated CA. Each name gives NAME.pem/NAME.key."""
    folder = tmp_path_factory.mktemp('tls')
    make_ca(folder, 'ca')
    make_ca(folder, 'other')
    make_cert(folder, 'ca', 'server', SERVER_EXT)
    make_cert(folder, 'ca', 'alice', CLIENT_EXT)
    make_cert(folder, 'other', 'mallory', CLIENT_EXT)
    # Signed by the right CA but for servers only: no clientAuth.
    make_cert(folder, 'ca', 'notclient', SERVER_EXT)
    # alice's key again, in a certificate whose notAfter is a day before its notBefore.
    make_cert(folder, 'ca', 'expired', CLIENT_EXT, days='-1', key='alice.key')
    return folder


def files(certs, name, ca='ca'):
    return (str(certs / f'{name}.pem'), str(certs / f'{name}.key'), str(certs / f'{ca}.pem'))


def tls_options(certs, name, ca='ca'):
    cert, key, ca = files(certs, name, ca)
    return ['--tls-cert', cert, '--tls-key', key, '--tls-ca', ca]


def wait_listening(port, child, log):
    deadline = time.time() + 20
    while time.time() < deadline:
        if child.poll() is not None:
            pytest.fail(f'the server stopped: {log.read_text()}')
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f'the server did not start: {log.read_text()}')


def stop(child):
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


@pytest.fixture(scope='module')
def server(certs, tmp_path_factory):
    """`stf.py --serve 127.0.0.1:PORT --tls-...` on a fresh database; yields the port."""
    folder = tmp_path_factory.mktemp('served')
    port, log = free_port(), folder / 'server.log'
    with open(log, 'w') as output:
        child = subprocess.Popen(
            [sys.executable, str(ROOT / 'stf.py'), '--db', str(folder / 'shared.fs'),
             '--serve', f'127.0.0.1:{port}', *tls_options(certs, 'server')],
            stdout=output, stderr=subprocess.STDOUT,
            env=dict(os.environ, STF_HOME=str(folder / 'home')))
    try:
        wait_listening(port, child, log)
        yield port
    finally:
        stop(child)


def stf(tmp_path, *args, stdin=None):
    return subprocess.run([sys.executable, str(ROOT / 'stf.py'), *args], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, STF_HOME=str(tmp_path / 'home')))


def refused(port, tls, host='127.0.0.1'):
    """The one-line message of a client that the handshake refuses."""
    from stf.db import storages
    from stf.core.errors import UserError
    with pytest.raises(UserError) as caught:
        storages.open_zeo(f'{host}:{port}', wait_timeout=WAIT, tls=tls)
    message = str(caught.value)
    assert '\n' not in message
    return message


# (a) a client with a valid certificate


def test_valid_certificate_commits_and_reads_back(server, certs, tmp_path):
    written = stf(tmp_path, '--zeo', f'localhost:{server}', *tls_options(certs, 'alice'),
                  stdin='notes -c --text "over TLS"\n')
    assert written.returncode == 0, written.stderr
    read = stf(tmp_path, '--zeo', f'127.0.0.1:{server}', *tls_options(certs, 'alice'),
               '-c', 'notes -l', '-c', 'database -i', '-c', 'info')
    assert read.returncode == 0, read.stderr
    assert 'over TLS' in read.stdout
    assert f'  location    : 127.0.0.1:{server} (TLS)\n' in read.stdout
    assert f'  database opened from          : --zeo 127.0.0.1:{server}\n' in read.stdout


# (b) a client without a certificate


def test_plain_client_is_told_the_server_wants_tls(server, tmp_path):
    # Told before connecting (no wait-timeout in the message): the server
    # answered a TLS hello.
    assert refused(server, None) == (
        f'cannot reach the ZEO server at 127.0.0.1:{server}: the server there requires TLS '
        'with client certificates; connect with --tls-cert, --tls-key and --tls-ca (see '
        'docs/zeo-tls.md)')
    from stf.db import storages
    from stf.core.errors import UserError
    conf = tmp_path / 'plain-client.conf'
    conf.write_text(f'%import ZEO\n<zodb>\n  <clientstorage>\n    server localhost:{server}\n'
                    f'    wait-timeout {WAIT}\n  </clientstorage>\n</zodb>\n')
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    assert str(caught.value) == (
        f'cannot reach the ZEO server at localhost:{server}: the server there requires TLS '
        'with client certificates; add an <ssl> section (certificate, key, authenticate) to '
        f'the <clientstorage> of {conf} (see docs/zeo-tls.md)')


def test_after_a_timeout_the_server_is_probed_for_why(server):
    from ZEO.Exceptions import ClientDisconnected
    from stf.db import zeotls
    timeout = ClientDisconnected('timed out waiting for connection')
    assert zeotls.unreachable(f'127.0.0.1:{server}', ('127.0.0.1', server), timeout) == (
        f'cannot reach the ZEO server at 127.0.0.1:{server} ({TIMEOUT}): the server there '
        'requires TLS with client certificates; connect with --tls-cert, --tls-key and '
        '--tls-ca (see docs/zeo-tls.md)')


# (c) certificates the server or the client must refuse


def test_certificate_of_another_ca_is_refused(server, certs):
    assert refused(server, files(certs, 'mallory')) == (
        f'cannot reach the ZEO server at 127.0.0.1:{server} over TLS: the server '
        f'refused your certificate {certs / "mallory.pem"} (it closed the connection after the '
        "handshake): it was signed by 'CN=other', not by the server's CA 'CN=ca' "
        f'({certs / "ca.pem"}); ask for a certificate signed by that CA (see docs/zeo-tls.md)')


def test_certificate_without_client_auth_is_refused(server, certs):
    cert, ca = certs / 'notclient.pem', certs / 'ca.pem'
    assert refused(server, files(certs, 'notclient')) == (
        f'cannot reach the ZEO server at 127.0.0.1:{server} over TLS: the server '
        f'refused your certificate {cert} (it closed the connection after the handshake): it '
        "must be signed by the server's CA, for client authentication (clientAuth), and valid; "
        f"see what is wrong with 'openssl verify -CAfile {ca} -purpose sslclient {cert}' and "
        'ask for a new one (see docs/zeo-tls.md)')


def test_server_of_another_ca_is_refused_by_the_client(server, certs):
    # alice's own certificate is fine, but she trusts only the other CA.
    message = refused(server, files(certs, 'alice', ca='other'))
    assert message.startswith(
        f'cannot reach the ZEO server at 127.0.0.1:{server} over TLS: '
        "the server's certificate was refused (")
    # The reason is OpenSSL's (here: self-signed certificate in certificate chain).
    assert message.endswith(
        f'): {certs / "other.pem"} must be the CA that signed it (see docs/zeo-tls.md)')


def test_tls_client_of_a_plain_server(certs, tmp_path):
    address, stop_plain = ZEO.server(path=str(tmp_path / 'plain.fs'))
    try:
        message = refused(address[1], files(certs, 'alice'))
    finally:
        stop_plain()
    assert message == (
        f'cannot reach the ZEO server at 127.0.0.1:{address[1]} over TLS: '
        'the server there does not use TLS (it answers in plain ZEO); drop the --tls options '
        'or start the server with TLS')


def test_nothing_listening(certs):
    port = free_port()
    message = refused(port, files(certs, 'alice'))
    assert message == (
        f'cannot reach the ZEO server at 127.0.0.1:{port} over TLS: nothing accepts '
        "connections there (Connection refused); start it with 'python stf.py --serve "
        f"127.0.0.1:{port}' and the --tls options (or 'runzeo -C confs/zeo-tls.conf'), or "
        'check the address')


# (d) refused before connecting, in one line


def not_after(path):
    out = subprocess.run(['openssl', 'x509', '-in', str(path), '-noout', '-enddate'],
                         capture_output=True, text=True, check=True).stdout
    moment = datetime.datetime.strptime(out.strip().split('=', 1)[1], '%b %d %H:%M:%S %Y %Z')
    return moment.strftime('%Y-%m-%d %H:%M UTC')


def one_line_error(result):
    assert result.returncode == 2
    assert result.stdout == ''
    (line,) = result.stderr.splitlines()
    return line


BAD_CLIENT_FILES = {
    'expired certificate': ('expired.pem', 'alice.key', lambda certs: (
        f'error: TLS certificate {certs / "expired.pem"} expired on '
        f'{not_after(certs / "expired.pem")}; ask the CA for a new one (see docs/zeo-tls.md)')),
    'key of another certificate': ('alice.pem', 'server.key', lambda certs: (
        f'error: TLS key {certs / "server.key"} does not match certificate '
        f'{certs / "alice.pem"}; give the key the certificate was made for with --tls-key')),
}


@pytest.mark.parametrize('case', list(BAD_CLIENT_FILES))
def test_bad_client_files_are_refused_before_connecting(certs, tmp_path, case):
    cert, key, expected = BAD_CLIENT_FILES[case]
    # A server listens, but the files are refused before any connection to it.
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        result = stf(tmp_path, '--zeo', f'127.0.0.1:{listener.getsockname()[1]}',
                     '--tls-cert', str(certs / cert), '--tls-key', str(certs / key),
                     '--tls-ca', str(certs / 'ca.pem'), '-c', 'info')
        accepted = select.select([listener], [], [], 0)[0]
    assert one_line_error(result) == expected(certs)
    assert accepted == []


def test_server_refuses_bad_files_before_listening(certs, tmp_path):
    result = stf(tmp_path, '--db', str(tmp_path / 'x.fs'), '--serve', f'127.0.0.1:{free_port()}',
                 '--tls-cert', str(certs / 'alice.pem'), '--tls-key', str(certs / 'alice.key'),
                 '--tls-ca', str(certs / 'ca.pem'))
    assert one_line_error(result) == (
        f'error: TLS certificate {certs / "alice.pem"} names no host (it has no '
        'subjectAltName), so clients will refuse this server; make it with the server '
        'commands of docs/zeo-tls.md')


def test_other_file_problems_are_one_line(certs, tmp_path):
    from stf.db import zeotls
    from stf.core.errors import UserError
    cert, key, ca = files(certs, 'alice')
    missing = str(tmp_path / 'nope.pem')
    locked = tmp_path / 'locked.key'
    shutil.copy(key, locked)
    locked.chmod(0)
    encrypted = str(tmp_path / 'encrypted.key')
    openssl(tmp_path, 'pkey', '-in', key, '-aes256', '-passout', 'pass:secret', '-out', encrypted)
    cases = {
        (missing, key, ca): f'TLS certificate {missing} does not exist; give its PEM file '
                            'with --tls-cert (see docs/zeo-tls.md)',
        (cert, key, str(tmp_path)): f'TLS CA certificate {tmp_path} is a folder; give its '
                                    'PEM file with --tls-ca',
        (key, key, ca): f'TLS certificate {key} is not a PEM certificate; give the '
                        'certificate file (BEGIN CERTIFICATE) with --tls-cert',
        (cert, key, key): f'TLS CA certificate {key} is not a PEM certificate; give the '
                          'certificate file (BEGIN CERTIFICATE) with --tls-ca',
        (cert, ca, ca): f'TLS key {ca} is not a PEM private key ([SSL] PEM lib); give the key '
                        'file (BEGIN PRIVATE KEY) with --tls-key',
        (cert, encrypted, ca): f'TLS key {encrypted} is protected by a passphrase, which stf '
                               f'cannot ask for; write it unprotected (openssl pkey -in '
                               f'{encrypted} -out NEW.key), chmod 600, and give that with '
                               '--tls-key',
    }
    if os.geteuid() != 0:  # root reads any file
        cases[(cert, str(locked), ca)] = (
            f'cannot read TLS key {locked}: Permission denied; it must be a file you can read '
            '(chmod 600 for a key, 644 for a certificate)')
    for (cert_, key_, ca_), expected in cases.items():
        with pytest.raises(UserError) as caught:
            zeotls.check_files(cert_, key_, ca_)
        assert str(caught.value) == expected
    zeotls.check_files(cert, key, ca)  # the good ones pass


def test_tls_options_go_together(certs, tmp_path):
    cert, key, ca = files(certs, 'alice')
    result = stf(tmp_path, '--zeo', '127.0.0.1:1', '--tls-cert', cert, '-c', 'info')
    assert one_line_error(result) == ('error: TLS needs --tls-cert, --tls-key and --tls-ca '
                                      'together; --tls-key, --tls-ca missing (see '
                                      'docs/zeo-tls.md)')
    result = stf(tmp_path, '--db', str(tmp_path / 'x.fs'), *tls_options(certs, 'alice'),
                 '-c', 'info')
    assert one_line_error(result) == ('error: --tls-cert, --tls-key and --tls-ca go with '
                                      '--zeo HOST:PORT or --serve; a local database file '
                                      'needs no TLS')


# The shipped configuration files, with this test's paths and port


def test_shipped_server_and_client_confs(certs, tmp_path):
    port = free_port()
    served = tmp_path / 'served'
    (served / 'tls').mkdir(parents=True)
    (served / 'database').mkdir()
    for name in ('server.pem', 'server.key', 'ca.pem'):
        shutil.copy(certs / name, served / 'tls' / name)
    server_conf = (ROOT / 'confs' / 'zeo-tls.conf').read_text()
    assert 'address 127.0.0.1:8100' in server_conf  # loopback unless configured otherwise
    (served / 'zeo-tls.conf').write_text(
        server_conf.replace('127.0.0.1:8100', f'127.0.0.1:{port}'))
    log = served / 'runzeo.log'
    with open(log, 'w') as output:
        child = subprocess.Popen([sys.executable, '-m', 'ZEO.runzeo', '-C', 'zeo-tls.conf'],
                                 cwd=served, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, child, log)
        client_conf = (ROOT / 'confs' / 'zeo-client-tls.conf').read_text()
        client_conf = client_conf.replace('zeo.lab.example:8100', f'localhost:{port}')
        client_conf = client_conf.replace('/home/alice/.stf/tls/', f'{certs}/')
        (tmp_path / 'client.conf').write_text(client_conf)
        from stf.console import config
        from stf.db import database, storages
        from stf.console.app import App
        from tests.conftest import ok
        app = App(config.load(), database.Database(
            storages.open_config(tmp_path / 'client.conf', ROOT)))
        try:
            ok(app, 'notes -c --text "through the shipped confs"')
            assert app.database.describe() == ('ClientStorage', f'localhost:{port} (TLS)')
        finally:
            app.close()
        # The shipped server configuration refuses a certificate of another CA.
        assert 'refused your certificate' in refused(port, files(certs, 'mallory'))
    finally:
        stop(child)


# The same checks when the client is configured by a ZConfig file

def client_file(tmp_path, port, cert, key, ca, host='localhost'):
    text = (ROOT / 'confs' / 'zeo-client-tls.conf').read_text()
    text = text.replace('zeo.lab.example:8100', f'{host}:{port}')
    text = text.replace('wait-timeout 10', f'wait-timeout {WAIT}')
    for name, path in (('alice.pem', cert), ('alice.key', key), ('ca.pem', ca)):
        text = text.replace(f'/home/alice/.stf/tls/{name}', str(path))
    conf = tmp_path / 'client.conf'
    conf.write_text(text)
    return conf


def test_client_file_checks_the_files_before_connecting(certs, tmp_path):
    from stf.db import storages
    from stf.core.errors import UserError
    cert, ca = certs / 'expired.pem', certs / 'ca.pem'
    conf = client_file(tmp_path, 1, cert, certs / 'alice.key', ca)
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    assert str(caught.value).startswith(f'TLS certificate {cert} expired on ')
    cert, _, ca = files(certs, 'alice')
    conf = client_file(tmp_path, 1, cert, certs / 'mallory.key', ca)
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    assert str(caught.value) == (
        f"TLS key {certs / 'mallory.key'} does not match certificate {cert}; give the key the "
        f"certificate was made for with 'key' in the <ssl> section of {conf}")
    conf.write_text(conf.read_text().replace(f'authenticate {ca}', ''))
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    assert str(caught.value) == (f"{conf}: the <ssl> section gives no CA certificate; add "
                                 "'authenticate' (see docs/zeo-tls.md)")


def test_client_file_with_a_certificate_of_another_ca_is_told_why(server, certs, tmp_path):
    from stf.db import storages
    from stf.core.errors import UserError
    conf = client_file(tmp_path, server, *files(certs, 'mallory'))
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    message = str(caught.value)
    assert message.startswith(f'cannot reach the ZEO server at localhost:{server} over TLS: '
                              'the server refused your certificate ')
    assert "signed by 'CN=other', not by the server's CA 'CN=ca'" in message
    assert '\n' not in message


def test_client_file_with_a_valid_certificate_commits_and_waits_bounded(server, certs, tmp_path):
    from stf.console import config
    from stf.db import database, storages
    from stf.console.app import App
    from tests.conftest import ok
    conf = client_file(tmp_path, server, *files(certs, 'alice'))
    app = App(config.load(), database.Database(storages.open_config(conf, ROOT)))
    try:
        ok(app, 'notes -c --text "configured by a file"')
        runner = app.database.db.storage._server
        assert runner.io_call.__name__ == 'bounded_io_call'
    finally:
        app.close()


def test_client_file_paths_are_taken_as_written(certs, tmp_path, monkeypatch):
    from stf.db import storages
    from stf.core.errors import UserError
    cert, key, ca = files(certs, 'alice')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    conf = client_file(tmp_path, 1, '~/.stf/tls/alice.pem', key, ca)
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    assert str(caught.value) == (
        f"'certificate' in the <ssl> section of {conf} starts with '~', which is not expanded "
        f"there; write the full path ({tmp_path / 'home' / '.stf/tls/alice.pem'})")
    monkeypatch.chdir(tmp_path)
    conf = client_file(tmp_path, 1, cert, 'tls/alice.key', ca)
    with pytest.raises(UserError) as caught:
        storages.open_config(conf, ROOT)
    assert str(caught.value) == (
        f"'key' in the <ssl> section of {conf}: tls/alice.key is not in {tmp_path}, the folder "
        'relative paths start from; write the full path')


@pytest.mark.parametrize('tls', [False, True])
def test_silent_server_is_not_blamed_on_the_certificate(certs, tls):
    """A server that accepts but answers nothing (stopped, overloaded) is
    said to be so, after the client's wait."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        port = listener.getsockname()[1]
        message = refused(port, files(certs, 'alice') if tls else None)
    assert message == (
        f'cannot reach the ZEO server at 127.0.0.1:{port}{" over TLS" if tls else ""} '
        f'({TIMEOUT}): the server there accepts connections but answers nothing, plain or TLS: '
        'it may be stopped or overloaded; check it, or try again')


def test_tls_client_of_a_web_server_is_told_it_is_not_zeo(certs):
    import http.server
    import threading
    web = http.server.HTTPServer(('127.0.0.1', 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        port = web.server_address[1]
        message = refused(port, files(certs, 'alice'))
    finally:
        web.shutdown()
        web.server_close()
    assert message == (f'cannot reach the ZEO server at 127.0.0.1:{port} over TLS: the server '
                       'there does not speak TLS and is not a ZEO server; check the address')
