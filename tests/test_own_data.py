"""A shop's own orders (issue 31): files read through DuckDB with a preset or a column mapping, the published CDNOW values from
the feature store, and every bad input named by file, column, row and rule."""
import json, os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lifetimes
from conftest import outputs, set_params
from ecomml.core import StageFailed, run_stage
from ecomml.ingest import clean, clean_kwargs, to_transactions
from ecomml.params import ParamsError, validate_params
from ecomml.raw import RawDataError
from ecomml.sources import read_orders

CDNOW = Path(lifetimes.__file__).parent/'datasets'
MAP = {'customer_id': 'cust', 'invoice_date': 'date', 'revenue': 'amount'}


def _read(tmp_path, text: str | bytes, name='orders.csv', **ingest):
    "Write `text` to a file and read it as `ingest.source: file`."
    p = tmp_path/name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_orders({'source': 'file', 'path': str(p), 'columns': MAP, **ingest})


def test_cdnow_preset_reads_the_master_log_as_lifetimes_ships_it():
    raw, info = read_orders({'source': 'file', 'preset': 'cdnow', 'path': str(CDNOW/'CDNOW_master.txt')})
    # lifetimes' documentation and DEPENDENCIES.md: 69,659 lines, 23,570 customers, 1 Jan 1997 - 30 Jun 1998, 80 lines of $0
    assert len(raw) == 69_659 and raw.CustomerID.nunique() == 23_570
    assert (raw.InvoiceDate.min(), raw.InvoiceDate.max()) == (pd.Timestamp('1997-01-01'), pd.Timestamp('1998-06-30'))
    assert int((raw.UnitPrice == 0).sum()) == 80 and info['currency'] == 'USD' and info['fields']['stock_code'] is False
    # the first lines by hand: customer 00001 bought 1 CD for $11.77 on 1 Jan 1997; customer 00002 two orders on 12 Jan
    first = pd.read_csv(CDNOW/'CDNOW_master.txt', sep=r'\s+', nrows=3, dtype=str)
    assert first.customer_id.tolist() == ['00001', '00002', '00002'] and raw.CustomerID.iloc[:3].tolist() == [1.0, 2.0, 2.0]
    assert (raw.Quantity.iloc[0], raw.UnitPrice.iloc[0]) == (1, 11.77)
    assert raw.InvoiceNo.iloc[1] == raw.InvoiceNo.iloc[2] != raw.InvoiceNo.iloc[0]      # no order ids: one order per customer and time


def test_the_store_in_weeks_gives_the_published_bgnbd_parameters():
    """Fader, Hardie & Lee (2005), 'Counting your customers the easy way', on the CDNOW sample (2,357 customers): calibration to
    the end of week 39, r 0.243, alpha 4.414, a 0.793, b 2.426. Read with the cdnow preset, cleaned, summarised by the feature
    store at the cutoff 1 Oct 1997 with time_unit W (days / 7), fitted by ecomml's BG/NBD."""
    from ecomml.btyd import fit_btyd
    from ecomml.features import btyd_summary
    ingest = {'source': 'file', 'preset': 'cdnow', 'path': str(CDNOW/'CDNOW_sample.txt')}
    raw, info = read_orders(ingest)
    tx, *_ = clean(to_transactions(raw), **clean_kwargs(ingest), dedupe=info['fields']['invoice_no'])
    s = btyd_summary(tx, '1997-10-01', 'W')
    assert len(s) == 2_357
    p = fit_btyd(s, 'bgnbd').params_
    assert [round(p[k], 3) for k in ('r', 'alpha', 'a', 'b')] == [0.243, 4.414, 0.793, 2.426]


def test_a_plain_csv_mapping_reads_the_same_lines_as_the_preset(tmp_path):
    "The CDNOW log exported as a CSV with its own header names, mapped column by column: the same typed lines as the preset."
    want, _ = read_orders({'source': 'file', 'preset': 'cdnow', 'path': str(CDNOW/'CDNOW_sample.txt')})
    src = pd.read_csv(CDNOW/'CDNOW_sample.txt', sep=r'\s+', header=None, dtype=str, names=['id', 'sample', 'day', 'cds', 'usd'])
    src.to_csv(tmp_path/'cdnow.csv', index=False, sep=';')
    got, info = read_orders({'source': 'file', 'path': str(tmp_path/'cdnow.csv'), 'date_format': '%Y%m%d', 'currency': 'USD',
                             'columns': {'customer_id': 'id', 'invoice_date': 'day', 'quantity': 'cds', 'revenue': 'usd'}})
    pd.testing.assert_frame_equal(got, want)
    assert info['currency'] == 'USD' and info['file_type'] == 'csv'


def test_a_folder_of_monthly_files_and_parquet_read_as_one(tmp_path):
    lines = pd.DataFrame({'cust': ['a1', 'a1', 'b2', 'b2'], 'date': ['2024-01-03 10:00', '2024-01-20 09:00', '2024-02-01 12:00', '2024-02-11 08:30'],
                          'amount': ['10.5', '4', '7.25', '-4']})
    (tmp_path/'csv').mkdir(); (tmp_path/'pq').mkdir()
    for m, d in lines.groupby(lines.date.str[:7]):
        d.to_csv(tmp_path/'csv'/f'{m}.csv', index=False); d.to_parquet(tmp_path/'pq'/f'{m}.parquet', index=False)
    a, ia = read_orders({'source': 'file', 'path': str(tmp_path/'csv'), 'columns': MAP})
    b, _ = read_orders({'source': 'file', 'path': str(tmp_path/'pq'/'*.parquet'), 'columns': MAP})
    pd.testing.assert_frame_equal(a, b)
    assert len(ia['files']) == 2 and a.UnitPrice.tolist() == [10.5, 4.0, 7.25, 4.0]
    assert a.Quantity.tolist() == [1, 1, 1, -1]          # a negative amount is a return: one unit back at its price
    assert a.CustomerID.tolist() == ['a1', 'a1', 'b2', 'b2']     # text ids stay text


def test_non_utf8_text_is_named_and_read_with_its_encoding(tmp_path):
    text = 'cust,date,amount,description\n1,2024-01-03,9.5,caf\xe9 au lait\n'.encode('latin-1')
    with pytest.raises(RawDataError, match=r"orders.csv: not UTF-8 text .*state the file's encoding in ingest.encoding"):
        _read(tmp_path, text)
    raw, _ = _read(tmp_path, text, encoding='latin-1', columns={**MAP, 'description': 'description'})
    assert raw.Description.tolist() == ['café au lait']


BAD = [  # (id, file text, extra ingest params, message parts)
    ('missing-column', 'customer,date,amount\n1,2024-01-03,5\n', {},
     ["no column 'cust' (ingest.columns.customer_id); the columns found are ['customer', 'date', 'amount']"]),
    ('unparseable-date', 'cust,date,amount\n1,2024-01-03,5\n2,03/01/2024,5\n', {},
     ["column 'date' (ingest.columns.invoice_date) breaks rule 'must be a date-time (text dates in ISO 8601", "first in row 3 (value '03/01/2024')"]),
    ('date-against-its-format', 'cust,date,amount\n1,03/01/2024,5\n2,2024-01-13,5\n', {'date_format': '%d/%m/%Y'},
     ["breaks rule 'must be a date-time in ingest.date_format '%d/%m/%Y''", "first in row 3 (value '2024-01-13')"]),
    ('text-in-amount', 'cust,date,amount\n1,2024-01-03,5\n2,2024-01-04,five\n', {},
     ["column 'amount' (ingest.columns.revenue) breaks rule 'must be a number': 1 bad value(s), first in row 3 (value 'five')"]),
    ('mixed-currencies', 'cust,date,amount,cur\n1,2024-01-03,5,EUR\n2,2024-01-04,5,USD\n', {'columns': {**MAP, 'currency': 'cur'}},
     ["column 'cur' (ingest.columns.currency) breaks rule 'one currency per shop (the first rows are in EUR", "first in row 3 (value 'USD')"]),
    ('currency-not-the-stated-one', 'cust,date,amount,cur\n1,2024-01-03,5,EUR\n', {'columns': {**MAP, 'currency': 'cur'}, 'currency': 'GBP'},
     ["breaks rule 'must be ingest.currency (GBP)'", "first in row 2 (value 'EUR')"]),
    ('empty-file', '', {}, ['orders.csv: the file is empty (0 bytes)']),
    ('header-only', 'cust,date,amount\n', {}, ['orders.csv: no data rows (only a header)']),
    ('duplicate-column', 'cust,date,amount,date\n1,2024-01-03,5,2024-01-04\n', {}, ["orders.csv: duplicate column name(s) ['date'] in the header"]),
    ('customer-empty-everywhere', 'cust,date,amount\n,2024-01-03,5\n ,2024-01-04,5\n', {},
     ["column 'cust' (ingest.columns.customer_id) is empty on every row: no customer to analyse"]),
    ('empty-date', 'cust,date,amount\n1,2024-01-03,5\n2,,5\n', {}, ["column 'date' (ingest.columns.invoice_date) breaks rule 'must not be empty'", 'first in row 3']),
    ('fractional-quantity', 'cust,date,amount,n\n1,2024-01-03,5,1.5\n', {'columns': {**MAP, 'quantity': 'n'}},
     ["column 'n' (ingest.columns.quantity) breaks rule 'must be a whole number'", 'first in row 2']),
    ('mistyped-year', 'cust,date,amount\n1,2024-01-03,5\n2,2024-01-05,5\n3,2042-01-04,5\n', {},
     ["column 'date' (ingest.columns.invoice_date) breaks rule 'at most 31 days between consecutive days with sales", "first in row 4 (value '2042-01-04')"]),
    ('no-amount-mapped', 'cust,date,amount\n1,2024-01-03,5\n', {'columns': {'customer_id': 'cust', 'invoice_date': 'date'}},
     ['ingest.columns: map revenue or unit_price to a column of']),
    ('ragged-csv-row', 'cust,date,amount\n1,2024-01-03,5\n2,2024-01-04\n', {},      # DuckDB's sniffer gave up and the message blamed the encoding
     ["orders.csv: row 3 does not have the 3 fields of the header (['cust', 'date', 'amount']): rule 'one value per column'"]),
    ('a-typo-is-not-a-ragged-row', 'cust;date;total, incl. VAT\n1;2024-01-03;5\n', {},      # a comma inside a header name of a ';' file: the column is named
     ["no column 'amount' (ingest.columns.revenue); the columns found are ['cust', 'date', 'total, incl. VAT']"]),
    ('ragged-csv-row-delimiter-stated', 'cust;date;amount\n1;2024-01-03;5\n2;2024-01-04;5;9\n', {'delimiter': ';'},
     ["orders.csv: row 3 does not have the 3 fields of the header"]),
    ('ragged-whitespace-row', '1 20240103 1 5.00\n2 20240104 1\n', {'delimiter': 'whitespace', 'date_format': '%Y%m%d',
                                                                     'columns': {'customer_id': 'column0', 'invoice_date': 'column1', 'revenue': 'column3'}},
     ["orders.csv: row 2 does not have the 4 fields of the header"]),
]


@pytest.mark.parametrize('text, extra, parts', [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_files_are_named_with_column_row_and_rule(tmp_path, text, extra, parts):
    with pytest.raises(RawDataError) as e: _read(tmp_path, text, **extra)
    for p in parts: assert p in str(e.value), str(e.value)


def test_a_glob_matching_nothing_and_files_that_disagree(tmp_path):
    with pytest.raises(RawDataError, match=r"ingest.path '.*/orders/\*.csv': the pattern matches no file"):
        read_orders({'source': 'file', 'path': str(tmp_path/'orders'/'*.csv'), 'columns': MAP})
    (tmp_path/'orders').mkdir()
    (tmp_path/'orders'/'a.csv').write_text('cust,date,amount\n1,2024-01-03,5\n')
    (tmp_path/'orders'/'b.csv').write_text('cust,day,amount\n1,2024-01-04,5\n')
    with pytest.raises(RawDataError, match=r"b.csv: its columns \['cust', 'day', 'amount'\] differ from those of .*a.csv"):
        read_orders({'source': 'file', 'path': str(tmp_path/'orders'), 'columns': MAP})


def test_params_of_a_file_source_are_checked_before_anything_runs():
    from ecomml.core import load_params
    p = load_params(Path(__file__).parents[1])
    bad = {**p, 'ingest': {**p['ingest'], 'source': 'file', 'path': None}}
    with pytest.raises(ParamsError, match="source 'file' needs ingest.path"): validate_params(bad)
    bad = {**p, 'ingest': {**p['ingest'], 'source': 'file', 'path': 'x.csv', 'columns': {'customer': 'c'}}}
    with pytest.raises(ParamsError, match="'customer' is not a field; the fields are customer_id, invoice_date"): validate_params(bad)
    bad = {**p, 'ingest': {**p['ingest'], 'currency': 'pounds'}}
    with pytest.raises(ParamsError, match='ingest.currency'): validate_params(bad)


def test_a_bad_file_stops_ingest_and_leaves_nothing_behind(project):
    (project/'orders.csv').write_text('cust,date,amount\n1,2024-01-03,5\n2,2024-01-04,five\n')
    set_params(project, ingest={'source': 'file', 'path': 'orders.csv', 'columns': MAP})
    with pytest.raises(StageFailed, match=r"orders.csv: column 'amount' \(ingest.columns.revenue\) breaks rule 'must be a number'"):
        run_stage('ingest', root=project)
    assert outputs(project) == ['reports/01_ingest.failed.ipynb']


@pytest.mark.slow
@pytest.mark.xdist_group('cdnow_repo')     # with the browser tests on the same project (conftest's cdnow_repo): built once
def test_every_chapter_on_the_cdnow_sample_without_products_or_countries(cdnow_repo):
    """The CDNOW sample through every stage with the cdnow preset: no products (the recommendations are skipped and say why),
    no countries (no country panel), dollars; and the feature store at 1 Oct 1997, in weeks, gives the published BG/NBD values."""
    from ecomml.btyd import fit_btyd
    project = cdnow_repo
    store = pd.read_parquet(project/'data/features/customers.parquet')
    assert sorted(store.cutoff.dt.strftime('%Y-%m-%d').unique()) == ['1997-10-01', '1998-01-01', '1998-04-01', '1998-07-01']    # cutoffs: auto
    p = fit_btyd(store[store.cutoff == '1997-10-01'], 'bgnbd').params_
    assert [round(p[k], 3) for k in ('r', 'alpha', 'a', 'b')] == [0.243, 4.414, 0.793, 2.426]
    recs = json.loads((project/'reports/metrics/recs.json').read_text())
    assert recs == {'skipped': True, 'skip_reason': 'the orders have no product codes (ingest.columns maps no stock_code), so there is nothing to '
                                                      'recommend and no products bought together'}
    assert 'This chapter is skipped:' in (project/'reports/06_recs.html').read_text()
    dash = (project/'reports/dashboard.html').read_text()
    assert 'id="p-countries"' not in dash and 'id="p-products"' not in dash and 'The data have no countries' in dash
    for page in ['reports/01_ingest.html', 'reports/03_clv.html', 'reports/dashboard.html', 'reports/lists/win-back.html']:
        text = (project/page).read_text()
        assert '£' not in text and '$' in text, page
    wb = pd.read_csv(project/'reports/lists/win-back.csv')
    assert len(wb) > 0 and any('($)' in c for c in wb.columns)
    assert 'country' not in wb.columns and 'products to show' not in wb.columns      # columns these data cannot fill are left out
    assert len(pd.read_csv(project/'reports/lists/cross-sell.csv')) == 0 and 'the orders have no product codes' in (project/'reports/lists/cross-sell.html').read_text()


def shopify_export(path: Path, n_customers: int = 150, seed: int = 5) -> dict:
    """A Shopify orders export (one row per line item; Name, Email, Created at with a UTC offset, Currency, Cancelled at, Refunded
    Amount and Billing Country on an order's first row only) made from the simulated store's sales, with known totals: every 7th order
    cancelled, every 5th refunded in part (30%), every 11th refunded in full, every 10th a guest order (no e-mail)."""
    from conftest import small_raw
    raw = small_raw(n_customers, seed)
    raw = raw[raw.CustomerID.notna() & ~raw.InvoiceNo.astype(str).str.startswith('C')].drop_duplicates(['InvoiceNo', 'StockCode'])
    rows, want = [], dict(revenue=0.0, refunded=0.0, cancelled=0, guest_lines=0)
    for k, (inv, o) in enumerate(raw.groupby('InvoiceNo', sort=True)):
        total = round(float((o.Quantity * o.UnitPrice).sum()), 2)
        cancelled, guest = k % 7 == 3, k % 10 == 4
        refund = total if k % 11 == 5 else round(0.3 * total, 2) if k % 5 == 1 else 0.0
        for j, r in enumerate(o.itertuples()):
            first = j == 0
            rows.append({'Name': f'#{inv}', 'Email': f'buyer{int(r.CustomerID)}@shop.test' if first and not guest else '', 'Financial Status': 'paid' if first else '',
                         'Currency': 'EUR' if first else '', 'Created at': f'{r.InvoiceDate:%Y-%m-%d %H:%M:%S} +0100' if first else '',
                         'Cancelled at': (f'{r.InvoiceDate + pd.Timedelta(hours=2):%Y-%m-%d %H:%M:%S} +0100' if cancelled else '') if first else '',
                         'Refunded Amount': (f'{refund:.2f}' if refund else '0.00') if first else '', 'Billing Country': r.Country if first else '',
                         'Lineitem quantity': r.Quantity, 'Lineitem name': r.Description, 'Lineitem price': f'{r.UnitPrice:.2f}', 'Lineitem sku': r.StockCode})
        if cancelled: want['cancelled'] += 1; continue
        want['refunded'] += refund                   # every refund read (a guest order's too: its credit has no customer and goes with the order)
        if guest: want['guest_lines'] += len(o) + (refund > 0)
        else: want['revenue'] += float((o.Quantity * o.UnitPrice.round(2)).sum()) - refund
    pd.DataFrame(rows).to_csv(path, index=False)
    return want


def test_a_shopify_export_nets_cancellations_and_refunds(project, monkeypatch):
    """The shopify_orders preset: order fields from each order's first row, cancelled orders are not sales, refunds are netted,
    guest orders (no e-mail) are counted and left out; net revenue equals the lines' total less cancellations and refunds, to the cent."""
    monkeypatch.setenv('ECOMML_PSEUDONYM_KEY', 'x' * 32)      # its customers are e-mail addresses: the pages show pseudonyms, with this key
    want = shopify_export(project/'data/raw/orders_export.csv')
    set_params(project, ingest={'source': 'file', 'preset': 'shopify_orders', 'path': 'data/raw/orders_export.csv'})
    run_stage('ingest', root=project)
    m = json.loads((project/'reports/metrics/ingest.json').read_text())
    src = json.loads((project/'data/interim/source.json').read_text())
    assert src['currency'] == 'EUR' and src['cancelled_orders'] == want['cancelled'] and round(src['refunded'], 2) == round(want['refunded'], 2)
    assert m['removed_missing_customer'] == want['guest_lines'] and m['removed_duplicate'] == 0
    assert round(m['net_revenue'], 2) == round(want['revenue'], 2)
    tx = pd.read_parquet(project/'data/interim/transactions.parquet')
    assert tx.customer_id.str.endswith('@shop.test').all()
    assert tx.invoice_date.min() >= pd.Timestamp('2010-12-01')      # the shop's clock: '+0100' is not shifted
    assert '€' in (project/'reports/01_ingest.html').read_text() and '£' not in (project/'reports/01_ingest.html').read_text()


def _uci_parquet() -> Path:
    d = Path(os.environ.get('ECOMML_DATA_DIR', '/nonexistent'))
    if not (d/'Online Retail.parquet').exists():
        if os.environ.get('CI'): pytest.fail(f"no Online Retail.parquet in $ECOMML_DATA_DIR ({d})")
        pytest.skip('the UCI data are not at hand ($ECOMML_DATA_DIR)')
    return d/'Online Retail.parquet'


@pytest.mark.slow     # ~30 s: 541,909 rows into PostgreSQL and back
def test_uci_from_a_postgresql_table_gives_the_workbooks_transactions(postgres):
    """Online Retail loaded into a real PostgreSQL table and read with ingest.source sql and the online_retail preset: the same clean
    transactions, row for row and value for value, as the published file read the usual way (ecomml.raw.load_raw)."""
    from conftest import pg_load
    from ecomml.raw import load_raw
    path = _uci_parquet()
    pg_load(postgres, {'online_retail': path})
    ingest = {'source': 'sql', 'table': 'online_retail', 'preset': 'online_retail'}
    raw, info = read_orders(ingest, env={'ECOMML_DB_URL': f'{postgres}/postgres'})
    assert info['rows'] == 541_909 and info['database']['table'] == 'online_retail' and 's3cret' not in json.dumps(info, default=str)
    want, _ = load_raw(path, 'online_retail')
    kw = clean_kwargs({'source': 'file', 'preset': 'online_retail'})
    a, b = clean(to_transactions(raw), **kw)[0], clean(to_transactions(want), **{**kw, 'return_marker': 'C'})[0]
    pd.testing.assert_frame_equal(a, b)


def test_a_database_source_names_what_fails_and_never_the_password(postgres, project, capfd):
    from conftest import pg_load
    orders = pd.DataFrame({'order_id': ['A1', 'A1', 'B7'], 'cust': [10, 10, 11], 'placed': pd.to_datetime(['2024-03-01 10:00', '2024-03-01 10:00', '2024-03-05 12:00']),
                           'sku': ['x', 'y', 'x'], 'qty': [1, 2, 1], 'price': [5.0, 2.5, 5.0]})
    customers = pd.DataFrame({'cust': [10, 11], 'country': ['France', 'Spain']})
    pg_load(postgres, {'orders': orders, 'customers': customers})
    url, cols = f'{postgres}/postgres', {'invoice_no': 'order_id', 'customer_id': 'cust', 'invoice_date': 'placed', 'stock_code': 'sku', 'quantity': 'qty', 'unit_price': 'price'}
    raw, _ = read_orders({'source': 'sql', 'query': 'SELECT o.*, c.country FROM orders o JOIN customers c USING (cust)', 'columns': {**cols, 'country': 'country'}},
                         env={'ECOMML_DB_URL': url})
    assert sorted(raw.Country) == ['France', 'France', 'Spain'] and raw.CustomerID.tolist() == [10.0, 10.0, 11.0]     # a join, typed columns
    cases = [({'table': 'ordres'}, url, "table ordres on 127.0.0.1:"),
             ({"table": "ordres"}, url, "no such table (tables: public.customers, "),
             ({'query': "SELECT * FROM orders WHERE sku = 'none'"}, url, "the query of ingest.query on 127.0.0.1:"),
             ({'query': "SELECT * FROM orders WHERE sku = 'none'"}, url, ": no rows"),
             ({'table': 'orders'}, url.replace(f':{url.split(":")[3].split("/")[0]}/', ':1/'), "the database at 127.0.0.1:1/postgres (from ECOMML_DB_URL) cannot be reached"),
             ({'table': 'orders'}, None, "set the environment variable ECOMML_DB_URL to the database URL")]
    for extra, u, part in cases:
        with pytest.raises(RawDataError) as e: read_orders({'source': 'sql', 'columns': cols, **extra}, env={'ECOMML_DB_URL': u} if u else {})
        assert part in str(e.value) and 's3cret' not in str(e.value), str(e.value)
    # the ingest stage from the table: the report and the provenance name the host and the table, never the password
    set_params(project, ingest={'source': 'sql', 'table': 'orders', 'columns': cols, 'download': False})
    os.environ['ECOMML_DB_URL'] = url
    try: run_stage('ingest', root=project)
    finally: del os.environ['ECOMML_DB_URL']
    for f in ['data/interim/source.json', 'reports/01_ingest.html', 'reports/01_ingest.ipynb', 'reports/metrics/ingest.json']:
        text = (project/f).read_text()
        assert 's3cret' not in text, f
    # the planted password (conftest's URL) is in no file the stage wrote, nor in what it printed (issue 34)
    written = [f for f in project.rglob('*') if f.is_file() and 'nbs' not in f.relative_to(project).parts]     # all but the copied chapters
    assert len(written) >= 8 and not [str(f) for f in written if b's3cret' in f.read_bytes()]
    out, err = capfd.readouterr()
    assert 's3cret' not in out + err
    assert json.loads((project/'data/interim/source.json').read_text())['database']['table'] == 'orders'


def test_online_retail_ii_preset_reads_the_first_year_as_published():
    "The online_retail_ii preset on the first sheet of UCI 502 (its Parquet copy): the published fingerprint, and its C invoices are returns."
    from ecomml.ingest import fingerprint
    from ecomml.raw import SOURCES
    d = Path(os.environ.get('ECOMML_DATA_DIR', '/nonexistent'))
    path = d/'online_retail_II_Year_2009-2010.parquet'
    if not path.exists():
        if os.environ.get('CI'): pytest.fail(f'no {path.name} in $ECOMML_DATA_DIR')
        pytest.skip('the UCI data are not at hand ($ECOMML_DATA_DIR)')
    raw, info = read_orders({'source': 'file', 'preset': 'online_retail_ii', 'path': str(path)})
    assert fingerprint(raw) == SOURCES['online_retail_ii_2009']['fingerprint']
    assert info['return_marker'] == 'C' and clean_kwargs({'source': 'file', 'preset': 'online_retail_ii'})['return_marker'] == 'C'


def test_ids_that_would_collide_as_numbers_stay_text(tmp_path):
    "'007' and '7' are two customers: read as numbers they would become one; ids of digits that do not collide are numbers."
    raw, info = _read(tmp_path, 'cust,date,amount\n007,2024-01-01,1\n7,2024-01-02,2\n')
    assert raw.CustomerID.tolist() == ['007', '7'] and info['text_customer_ids']
    raw, info = _read(tmp_path, 'cust,date,amount\n007,2024-01-01,1\n8,2024-01-02,2\n')
    assert raw.CustomerID.tolist() == [7.0, 8.0] and not info['text_customer_ids']
    raw, _ = _read(tmp_path, 'cust,date,amount\n1234567890123456,2024-01-01,1\n')       # 16 digits: beyond a float's exact integers, kept as text
    assert raw.CustomerID.tolist() == ['1234567890123456']


@pytest.mark.slow     # a JVM and Spark's local run (~40 s)
def test_spark_parses_a_file_source_as_duckdb_does(project, tmp_path, monkeypatch):
    """features.engine: pyspark: Spark parses delimited text files (a Shopify export with quoted fields and a multi-line note, a
    folder of monthly files); the typed lines equal DuckDB's, and Spark's reading names a ragged row and non-UTF-8 text by file
    and row. The ingest stage then runs on Spark's reading with the same net revenue."""
    monkeypatch.setenv('ECOMML_PSEUDONYM_KEY', 'x' * 32)      # the export's customers are e-mail addresses: the pages show pseudonyms, with this key
    from test_engines import WHY_NOT
    if WHY_NOT is not None:
        if os.environ.get('CI'): pytest.fail(f'CI must run the Spark test: {WHY_NOT}')
        pytest.skip(f'Spark test skipped: {WHY_NOT}')
    want = shopify_export(project/'data/raw/orders_export.csv')
    ex = pd.read_csv(project/'data/raw/orders_export.csv', dtype=str, keep_default_na=False)
    ex.loc[0, 'Lineitem name'] = 'a "quoted", two-line\nname'          # quotes, a comma and a line break inside one field
    ex.to_csv(project/'data/raw/orders_export.csv', index=False)
    shop = {'source': 'file', 'preset': 'shopify_orders', 'path': str(project/'data/raw/orders_export.csv')}
    duck, di = read_orders(shop)
    spark, si = read_orders(shop, engine='pyspark')
    pd.testing.assert_frame_equal(spark, duck)
    assert (di['reader'], si['reader']) == ('duckdb', 'spark') and duck.Description.iloc[0] == 'a "quoted", two-line\nname'
    # a folder of files, read in file order
    lines = pd.DataFrame({'cust': ['a1', 'a1', 'b2', 'b2'], 'date': ['2024-01-03 10:00', '2024-01-20 09:00', '2024-02-01 12:00', '2024-02-11 08:30'],
                          'amount': ['10.5', '4', '7.25', '-4']})
    (tmp_path/'csv').mkdir()
    for m, d in lines.groupby(lines.date.str[:7]): d.to_csv(tmp_path/'csv'/f'{m}.csv', index=False)
    folder = {'source': 'file', 'path': str(tmp_path/'csv'), 'columns': MAP}
    pd.testing.assert_frame_equal(read_orders(folder, engine='pyspark')[0], read_orders(folder)[0])
    # bad files, named as DuckDB's reading names them
    (tmp_path/'ragged.csv').write_text('cust,date,amount\n1,2024-01-03,5\n2,2024-01-04\n')
    with pytest.raises(RawDataError, match=r"ragged.csv: row 3 does not have the 3 fields of the header"):
        read_orders({'source': 'file', 'path': str(tmp_path/'ragged.csv'), 'columns': MAP, 'delimiter': ','}, engine='pyspark')     # stated: DuckDB's sniffer sees no delimiter in a ragged file
    (tmp_path/'latin.csv').write_bytes('cust,date,amount,description\n1,2024-01-03,9.5,tea\n2,2024-01-04,9.5,caf\xe9\n'.encode('latin-1'))
    with pytest.raises(RawDataError, match=r"latin.csv: not UTF-8 text \(line 3\): state the file's encoding in ingest.encoding"):
        read_orders({'source': 'file', 'path': str(tmp_path/'latin.csv'), 'columns': MAP}, engine='pyspark')
    latin, _ = read_orders({'source': 'file', 'path': str(tmp_path/'latin.csv'), 'columns': {**MAP, 'description': 'description'}, 'encoding': 'latin-1'}, engine='pyspark')
    assert latin.Description.tolist() == ['tea', 'café']
    # the stage on Spark's reading
    set_params(project, ingest={'source': 'file', 'preset': 'shopify_orders', 'path': 'data/raw/orders_export.csv'}, features={'engine': 'pyspark'})
    run_stage('ingest', root=project)
    assert json.loads((project/'data/interim/source.json').read_text())['reader'] == 'spark'
    assert round(json.loads((project/'reports/metrics/ingest.json').read_text())['net_revenue'], 2) == round(want['revenue'], 2)
    assert 'parsed by Spark' in (project/'reports/01_ingest.html').read_text()
