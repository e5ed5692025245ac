"""Shapes of real shops that broke the pipeline (issue 31): a shop whose export holds no returns, returns marked another way,
a shop too small for unpenalised fits. Each runs the real stage runner in a copy of the project."""
import json

import pandas as pd
import pytest

from conftest import outputs, set_params, small_raw
from ecomml.core import StageFailed, run_stage

STAGES = ['ingest', 'features', 'clv', 'churn', 'segments', 'recs', 'monitor', 'dashboard']


def _shop(project, monkeypatch, raw: pd.DataFrame):
    "`raw` as the shop's own file (the UCI layout, in Parquet), found through $ECOMML_DATA_DIR."
    shared = project/'shared'; shared.mkdir()
    raw.to_parquet(shared/'Online Retail.parquet', index=False)
    monkeypatch.setenv('ECOMML_DATA_DIR', str(shared))
    set_params(project, ingest={'accept_other_release': True})
    return shared/'Online Retail.parquet'


def test_a_shop_without_returns_gets_its_features(project, monkeypatch):
    "No cancellation line at all: the features stage stopped on the empty returns table (IbisTypeError: NULL typed columns)."
    raw = small_raw(200)
    _shop(project, monkeypatch, raw[~raw.InvoiceNo.astype(str).str.startswith('C')])
    for s in ['ingest', 'features']: run_stage(s, root=project)
    store = pd.read_parquet(project/'data/features/customers.parquet')
    assert len(store) > 0 and (store.n_return_lines == 0).all() and (store.return_rate == 0).all()
    ingest = json.loads((project/'reports/metrics/ingest.json').read_text())
    assert ingest['removed_cancellation'] == 0


def test_returns_marked_another_way_are_an_error_not_gross_sales(project, monkeypatch):
    "Invoices 'c…' instead of 'C…': they were left out as non-positive quantities and the run went on with gross sales."
    raw = small_raw(200)
    raw = raw.assign(InvoiceNo=raw.InvoiceNo.astype(str).str.replace('^C', 'c', regex=True))
    first = int(raw.index[raw.InvoiceNo.str.startswith('c')][0])
    path = _shop(project, monkeypatch, raw)
    with pytest.raises(StageFailed) as e: run_stage('ingest', root=project)
    n = int(raw.InvoiceNo.str.startswith('c').sum())
    assert (f"{path}: {n:,} lines with a negative quantity but no cancellation mark (an invoice number starting 'C'), "
            f"first in row {first + 2} (invoice {raw.InvoiceNo[first]!r}") in str(e.value)
    assert outputs(project) == ['reports/01_ingest.failed.ipynb']


@pytest.mark.slow
def test_every_chapter_on_a_small_shop_without_returns(project, monkeypatch, capfd):
    """500 customers and no returns, read as a shop's own CSV export (issue 31): customers are e-mail addresses, dates day-first,
    amounts in euros. Every stage runs to its report. The monitor refits at monthly cutoffs of ~100 customers, where Gamma-Gamma
    needs clv.spend_penalizer: the refits now take the clv stage's penalties (they ignored them, so setting them changed nothing)."""
    raw = small_raw(500)
    raw = raw[raw.CustomerID.notna() & ~raw.InvoiceNo.astype(str).str.startswith('C')]
    raw.assign(email=raw.CustomerID.map(lambda c: f'shopper.{int(c)}@example.com'), when=raw.InvoiceDate.dt.strftime('%d/%m/%Y %H:%M'),
               total=(raw.Quantity * raw.UnitPrice).round(2)).to_csv(project/'data/raw/orders.csv', index=False)
    set_params(project, ingest={'source': 'file', 'path': 'data/raw/orders.csv', 'date_format': '%d/%m/%Y %H:%M', 'currency': 'EUR', 'download': False,
                                'columns': {'invoice_no': 'InvoiceNo', 'customer_id': 'email', 'invoice_date': 'when', 'stock_code': 'StockCode',
                                            'description': 'Description', 'quantity': 'Quantity', 'revenue': 'total', 'country': 'Country'}},
               clv={'interval_draws': 10, 'penalizer': 0.001, 'spend_penalizer': 0.01})   # what the fits' errors ask a small shop to set
    monkeypatch.setenv('ECOMML_PSEUDONYM_KEY', 'a-test-key-of-32-characters-....')      # e-mail ids: privacy.pseudonymise auto turns pseudonyms on (issue 34)
    for s in STAGES: run_stage(s, root=project)
    for s in ['01_ingest', '02_features', '03_clv', '04_churn', '05_segments', '06_recs', '06b_monitor', '07_dashboard']:
        text = (project/'reports'/f'{s}.html').read_text()
        assert '£' not in text and ('€' in text or s in ('02_features', '06_recs')), s     # amounts in the shop's currency (these two show none)
    assert json.loads((project/'reports/metrics/recs.json').read_text())['split_cutoff'] == '2011-09-10'   # recs.split_cutoff: auto, the newest matured cutoff
    ingest = json.loads((project/'reports/metrics/ingest.json').read_text())
    assert ingest['removed_cancellation'] == 0 and ingest['customers'] == raw.CustomerID.nunique()
    card = json.loads((project/'models/clv/model.json').read_text())
    assert card['params']['penalizer'] == 0.001 and card['params']['spend_penalizer'] == 0.01
    monitor = json.loads((project/'reports/metrics/monitor.json').read_text())
    assert monitor['newest_cutoff'] == '2011-12-10' and len(monitor['decay']['clv']) >= 3     # the CLV refits ran at the matured cutoffs
    # text ids everywhere: the store, the scores, the recommendations and the lists keep the e-mail addresses
    for f in ['data/features/customers.parquet', 'data/scores/clv.parquet', 'data/scores/churn.parquet', 'data/scores/recommendations.parquet']:
        ids = pd.read_parquet(project/f).customer_id
        assert ids.str.fullmatch(r'shopper\.\d+@example\.com').all(), f
    wb = pd.read_csv(project/'data/lists/win-back.csv')          # the CRM's file keeps the e-mail addresses: that is its job
    assert wb.customer.str.endswith('@example.com').all() and 'spend to date (€)' in wb.columns
    # the pages show pseudonyms: no e-mail address anywhere in reports/ (the dashboard's compressed customer cards included)
    import base64, gzip, re
    from ecomml.privacy import pseudonym
    assert json.loads((project/'data/interim/source.json').read_text())['pseudonymise'] is True
    found = {str(f.relative_to(project)) for f in (project/'reports').rglob('*') if f.is_file() and b'@example.com' in f.read_bytes()}
    page = (project/'reports/dashboard.html').read_text()
    assert '£' not in page and '\\u00a3' not in page and '€' in page      # the dashboard in euros, its lists' amounts too (they were £ inside its data)
    cards = gzip.decompress(base64.b64decode(re.search(r'"gz": ?"([A-Za-z0-9+/=]+)"', page).group(1))).decode()
    assert not found and '@example.com' not in cards and len(cards) > 1000, found
    out, err = capfd.readouterr(); assert '@example.com' not in out + err      # nor in what the stages printed
    shown = pd.read_csv(project/'reports/lists/win-back.csv')
    key = b'a-test-key-of-32-characters-....'
    assert shown.customer.tolist() == [pseudonym(c, key) for c in wb.customer] and shown.drop(columns='customer').equals(wb.drop(columns='customer'))
    assert shown.customer.iloc[0] in page and shown.customer.iloc[0] in (project/'reports/lists/win-back.html').read_text()
    index = (project/'reports/index.html').read_text()
    assert 'show each customer by a pseudonym' in index and 'data/lists/*.csv' in index
    # without the key a page cannot be made: an error that names the variable, not ids shown in clear
    monkeypatch.delenv('ECOMML_PSEUDONYM_KEY')
    with pytest.raises(StageFailed) as e: run_stage('dashboard', root=project)
    assert 'set the environment variable ECOMML_PSEUDONYM_KEY' in str(e.value)
    assert pd.read_parquet(project/'data/scores/recommendations.parquet').customer_id.nunique() > 100
