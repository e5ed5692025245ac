"""Bad raw input stops the ingest stage with an error naming file, column and rule, and leaves no output.

Each case runs the real ingest stage (papermill, kernel and all) in a copy of the project whose
$ECOMML_DATA_DIR holds the bad file.
"""
import pandas as pd
import pytest

from conftest import outputs, small_raw, write_xlsx
from ecomml.core import StageFailed, run_stage

WB = 'Online Retail.xlsx'


def run_ingest_on(project, monkeypatch, make_file):
    shared = project/'shared'
    path = make_file(shared/WB)
    monkeypatch.setenv('ECOMML_DATA_DIR', str(shared))
    with pytest.raises(StageFailed) as e: run_stage('ingest', root=project)
    assert outputs(project) == ['reports/01_ingest.failed.ipynb'], 'only the failed notebook, kept for debugging'
    return str(e.value), path


def test_zero_byte_file(project, monkeypatch):
    msg, path = run_ingest_on(project, monkeypatch, lambda p: (p.parent.mkdir(parents=True), p.write_bytes(b''), p)[-1])
    assert f'{path}: the file is empty (0 bytes)' in msg


def test_empty_workbook(project, monkeypatch):
    msg, path = run_ingest_on(project, monkeypatch, lambda p: write_xlsx(pd.DataFrame(), p))
    assert f"{path}: sheet 'Online Retail' is empty" in msg


def test_header_only(project, monkeypatch):
    msg, path = run_ingest_on(project, monkeypatch, lambda p: write_xlsx(small_raw().iloc[:0], p))
    assert f'{path}: no data rows' in msg


def test_missing_column(project, monkeypatch):
    msg, path = run_ingest_on(project, monkeypatch, lambda p: write_xlsx(small_raw().drop(columns='UnitPrice'), p))
    assert f"{path}: missing column(s) ['UnitPrice']" in msg


def test_non_numeric_price(project, monkeypatch):
    def bad(p):
        raw = small_raw().astype({'UnitPrice': object})
        raw.loc[5, 'UnitPrice'] = 'two pounds'
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: column 'UnitPrice' breaks rule 'must be a number': 1 bad value(s), first in row 7 (value 'two pounds')" in msg


def test_unparseable_date(project, monkeypatch):
    def bad(p):
        raw = small_raw().astype({'InvoiceDate': object})
        raw.loc[0, 'InvoiceDate'] = '31/02/2011 25:99'
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: column 'InvoiceDate' breaks rule 'must be a date-time'" in msg and 'row 2' in msg


def test_date_out_of_range(project, monkeypatch):
    def bad(p):
        raw = small_raw()
        raw.loc[3, 'InvoiceDate'] = pd.Timestamp('2099-01-01')
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: column 'InvoiceDate' breaks rule 'must fall in [2000-01-01" in msg and 'row 5' in msg


def test_truncated_file(project, monkeypatch):
    def bad(p):
        write_xlsx(small_raw(), p)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        return p
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f'{path}: cannot read it as an Excel workbook' in msg and 'truncated' in msg


def test_fingerprint_mismatch(project, monkeypatch):
    raw = small_raw()
    msg, path = run_ingest_on(project, monkeypatch, lambda p: write_xlsx(raw, p))
    assert (f"{path}: not the published Online Retail (UCI 352): rule 'fingerprint' fails at rows = {len(raw):,} "
            "where the published data have 541,909") in msg


def test_no_data_anywhere(project, monkeypatch):
    "No local file, no variable, download off: one message with all three remedies."
    from conftest import set_params
    set_params(project, ingest={'download': False})
    with pytest.raises(StageFailed) as e: run_stage('ingest', root=project)
    msg = str(e.value)
    assert 'no raw data found (download switched off)' in msg
    assert "1. put 'Online Retail.xlsx'" in msg and '2. set ECOMML_DATA_DIR' in msg and '3. let the pipeline download' in msg
    assert outputs(project) == ['reports/01_ingest.failed.ipynb']
