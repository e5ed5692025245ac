"""After `dvc repro` on the real data: the outputs exist and the ingest figures are what the data give.

The raw figures are recomputed here with plain pandas from the Parquet copy of the data, independently
of ecomml's reader; the clean figures are recomputed from the written tables.
"""
import json, os, sys
from pathlib import Path

import pandas as pd

out = ['data/interim/transactions.parquet', 'data/interim/returns.parquet', 'data/interim/source.json',
       'data/features/customers.parquet', 'reports/01_ingest.html', 'reports/02_features.html',
       'reports/metrics/ingest.json', 'reports/metrics/features.json']
missing = [p for p in out if not Path(p).is_file()]
assert not missing, f'missing outputs: {missing}'

m = json.loads(Path('reports/metrics/ingest.json').read_text())
raw = pd.read_parquet(Path(os.environ['ECOMML_DATA_DIR'])/'Online Retail.parquet')
tx, ret = pd.read_parquet('data/interim/transactions.parquet'), pd.read_parquet('data/interim/returns.parquet')
checks = {
    'raw_lines': (m['raw_lines'], len(raw)),
    'raw_quantity_sum': (m['raw_quantity_sum'], int(raw.Quantity.sum())),
    'raw_revenue_sum': (m['raw_revenue_sum'], round(float((raw.Quantity * raw.UnitPrice).sum()), 2)),
    'removed_missing_customer': (m['removed_missing_customer'], int(raw.CustomerID.isna().sum())),
    'clean_lines': (m['clean_lines'], len(tx)),
    'rules add up': (m['clean_lines'], m['raw_lines'] - sum(v for k, v in m.items() if k.startswith('removed_'))),
    'return_lines': (m['return_lines'], len(ret)),
    'customers': (m['customers'], tx.customer_id.nunique()),
    'invoices': (m['invoices'], tx.invoice_no.nunique()),
    'revenue': (m['revenue'], round(float(tx.revenue.sum()), 2)),
    'no cancellation in sales': (int(tx.invoice_no.str.startswith('C').sum()), 0),
    'no missing customer': (int(tx.customer_id.isna().sum()), 0),
    'no duplicate line': (int(tx.drop(columns='is_extreme').duplicated().sum()), 0),
}
bad = {k: v for k, v in checks.items() if v[0] != v[1]}
for k, (got, want) in checks.items(): print(f"{'ok ' if k not in bad else 'BAD'} {k}: {got:,} (expected {want:,})")
sys.exit(1 if bad else 0)
