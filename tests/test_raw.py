"""Downloading a raw archive, against a local HTTP server on loopback."""
import functools, http.server, io, threading, zipfile

import pytest

from conftest import small_raw, write_xlsx
from ecomml.raw import RawDataError, download_raw, load_raw, locate_raw


@pytest.fixture
def server(tmp_path):
    site = tmp_path/'site'; site.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield site, f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()


def test_download_extracts_the_workbook(server, tmp_path):
    site, url = server
    wb = write_xlsx(small_raw(), tmp_path/'src'/'Online Retail.xlsx')
    with zipfile.ZipFile(site/'online+retail.zip', 'w') as z: z.write(wb, 'Online Retail.xlsx')
    raw_dir = tmp_path/'raw'
    got = locate_raw('online_retail', raw_dir, env={}, url=f'{url}/online+retail.zip', timeout=5)
    assert got == raw_dir/'Online Retail.xlsx' and got.read_bytes() == wb.read_bytes()
    assert sorted(p.name for p in raw_dir.iterdir()) == ['Online Retail.xlsx']      # no archive or temp left
    df, info = load_raw(got, 'online_retail')
    assert len(df) == len(small_raw()) and not info['from_cache']


def test_truncated_download_leaves_nothing(server, tmp_path):
    site, url = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z: z.writestr('Online Retail.xlsx', b'x' * 100_000)
    (site/'online+retail.zip').write_bytes(buf.getvalue()[:5000])
    with pytest.raises(RawDataError, match='not a complete zip archive'):
        download_raw('online_retail', tmp_path/'raw', url=f'{url}/online+retail.zip', timeout=5)
    assert list((tmp_path/'raw').iterdir()) == []


def test_http_error_is_reported_with_remedies(server, tmp_path):
    _, url = server
    with pytest.raises(RawDataError, match=r"download failed: HTTPError: 404.*\n.*1\. put"):
        locate_raw('online_retail', tmp_path/'raw', env={}, url=f'{url}/missing.zip', timeout=5)
