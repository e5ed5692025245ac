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
    assert f"{path}: column 'InvoiceDate' breaks rule 'must be a date-time (text dates in ISO 8601" in msg and 'row 2' in msg


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


# ---- dates, spans, empty results, cache, dead kernel (issue 11) ----

def test_day_first_text_dates(project, monkeypatch):
    "Dates written day-first as text (01/12/2010) are not silently read month-first."
    def bad(p):
        raw = small_raw().astype({'InvoiceDate': object})
        raw['InvoiceDate'] = pd.to_datetime(raw.InvoiceDate).dt.strftime('%d/%m/%Y %H:%M')
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert (f"{path}: column 'InvoiceDate' breaks rule 'must be a date-time (text dates in ISO 8601, YYYY-MM-DD HH:MM; "
            "for another order such as day-first, state it in ingest.date_format)'") in msg and 'first in row' in msg


def test_text_dates_not_in_the_stated_format(project, monkeypatch):
    from conftest import set_params
    set_params(project, ingest={'date_format': '%m/%d/%Y %H:%M'})
    def bad(p):
        raw = small_raw().astype({'InvoiceDate': object})
        raw['InvoiceDate'] = pd.to_datetime(raw.InvoiceDate).dt.strftime('%d/%m/%Y %H:%M')
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: column 'InvoiceDate' breaks rule 'must be a date-time in ingest.date_format '%m/%d/%Y %H:%M''" in msg


def test_mistyped_year(project, monkeypatch):
    "One line dated 2021 instead of 2011: inside [2000, today), but years from every other line."
    def bad(p):
        raw = small_raw()
        raw.loc[7, 'InvoiceDate'] = raw.loc[7, 'InvoiceDate'].replace(year=2021)
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert (f"{path}: column 'InvoiceDate' breaks rule 'at most 31 days between consecutive invoice days (a date far from all the others: "
            "a mistyped year?)': 1 bad value(s), first in row 9") in msg


def test_edited_date_is_not_the_published_release():
    "The published figures with one date moved by a day (first and last dates unchanged): the date checksum names it."
    from ecomml.ingest import check_fingerprint, fingerprint
    from ecomml.raw import SOURCES, RawDataError
    raw = small_raw()
    SOURCES['_small'] = dict(title='small release', fingerprint=fingerprint(raw))
    try:
        edited = raw.copy(); edited.loc[10, 'InvoiceDate'] += pd.Timedelta(days=1)
        assert check_fingerprint(raw, '_small', 'f.xlsx')['matches_published']
        with pytest.raises(RawDataError, match=r"f.xlsx: not the published small release: rule 'fingerprint' fails at date_checksum = "):
            check_fingerprint(edited, '_small', 'f.xlsx')
    finally: del SOURCES['_small']


def test_cutoff_outside_the_data(project):
    "A cutoff after the data end (a mistyped year in params.yaml) stops the features stage, naming the key."
    from conftest import set_params
    from ecomml.core import run_stage
    set_params(project, ingest={'source': 'synthetic'}, synthetic={'n_customers': 150})
    run_stage('ingest', root=project)
    before = outputs(project)
    set_params(project, common={'cutoffs': ['2011-03-10', '2011-06-10', '2011-09-10', '2021-12-10']})
    with pytest.raises(StageFailed) as e: run_stage('features', root=project)
    assert 'params.yaml: common.cutoffs[3] = 2021-12-10 lies outside the data: a cutoff must fall between 2010-12-' in str(e.value)
    assert outputs(project) == sorted(before + ['reports/02_features.failed.ipynb'])


def test_every_customer_missing(project, monkeypatch):
    "A file where every CustomerID is empty: an error naming the rule, not a clean table with zero lines."
    from conftest import set_params
    set_params(project, ingest={'accept_other_release': True})
    msg, path = run_ingest_on(project, monkeypatch, lambda p: write_xlsx(small_raw().assign(CustomerID=None), p))
    assert f"{path}: no sale lines left after rule 'missing_customer'" in msg and 'all removed' in msg


def test_only_cancellations(project, monkeypatch):
    from conftest import set_params
    set_params(project, ingest={'accept_other_release': True})
    def bad(p):
        raw = small_raw()
        return write_xlsx(raw[raw.InvoiceNo.astype(str).str.startswith('C')], p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: no sale lines left after rule 'cancellation'" in msg


def test_wrong_sheet(project, monkeypatch):
    msg, path = run_ingest_on(project, monkeypatch, lambda p: write_xlsx(small_raw(), p, sheet='Sheet1'))
    assert f"{path}: no sheet 'Online Retail' (sheets: ['Sheet1'])" in msg


def test_not_parquet(project, monkeypatch):
    def bad(p):
        q = p.with_name('Online Retail.parquet'); q.parent.mkdir(parents=True); q.write_bytes(b'PAR1 this is not a parquet file')
        return q
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f'{path}: cannot read it as Parquet' in msg


def test_customer_id_not_a_number(project, monkeypatch):
    def bad(p):
        raw = small_raw().astype({'CustomerID': object}); raw.loc[4, 'CustomerID'] = 'ACME Ltd'
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: column 'CustomerID' breaks rule 'must be a number or empty': 1 bad value(s), first in row 6 (value 'ACME Ltd')" in msg


def test_empty_invoice_number(project, monkeypatch):
    def bad(p):
        raw = small_raw().astype({'InvoiceNo': object}); raw.loc[2, 'InvoiceNo'] = None
        return write_xlsx(raw, p)
    msg, path = run_ingest_on(project, monkeypatch, bad)
    assert f"{path}: column 'InvoiceNo' breaks rule 'must not be empty': 1 bad value(s), first in row 4" in msg


def test_edited_cache_is_rebuilt(project, monkeypatch):
    "An edited file in data/cache/ is not trusted: the stage reads the raw file again and says so."
    import json
    from conftest import set_params
    from ecomml.core import run_stage
    set_params(project, ingest={'accept_other_release': True})
    shared = project/'shared'; write_xlsx(small_raw(), shared/WB)
    monkeypatch.setenv('ECOMML_DATA_DIR', str(shared))
    run_stage('ingest', root=project)
    first = json.loads((project/'reports/metrics/ingest.json').read_text())
    cache = next((project/'data/cache').glob('*.parquet'))
    t = pd.read_parquet(cache); t['Quantity'] = t.Quantity * 100; t.to_parquet(cache, index=False)
    run_stage('ingest', root=project)
    assert json.loads((project/'reports/metrics/ingest.json').read_text()) == first, 'the edited cache did not change the result'
    assert 'rebuilt, its content or record did not match' in (project/'reports/01_ingest.html').read_text()


def test_dead_kernel(project, monkeypatch):
    "A kernel killed mid-stage (as the OOM killer does) leaves the executed notebook and a one-line reason, not a traceback."
    import nbformat
    from ecomml.core import run_stage
    nb = nbformat.read(project/'nbs/01_ingest.ipynb', as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('#| stage\nimport os, signal; os.kill(os.getpid(), signal.SIGKILL)'))
    nbformat.write(nb, project/'nbs/01_ingest.ipynb')
    with pytest.raises(StageFailed) as e: run_stage('ingest', root=project)
    msg = str(e.value)
    assert msg.startswith('stage ingest: the kernel died while running it (killed by the system: most often for lack of memory')
    assert 'Traceback' not in msg and len(msg.splitlines()) == 2
    assert outputs(project) == ['reports/01_ingest.failed.ipynb']
