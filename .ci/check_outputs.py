"""After `dvc repro` on the real data: the outputs exist, the ingest figures are what the data give, and the scores cover every customer.

The raw figures are recomputed here with plain pandas from the Parquet copy of the data, independently
of ecomml's reader; the clean figures are recomputed from the written tables.
"""
import json, os, sys
from pathlib import Path

import pandas as pd

out = ['data/interim/transactions.parquet', 'data/interim/returns.parquet', 'data/interim/source.json',
       'data/features/customers.parquet', 'reports/01_ingest.html', 'reports/02_features.html',
       'reports/metrics/ingest.json', 'reports/metrics/features.json',
       'data/scores/clv.parquet', 'models/clv/model.json', 'reports/03_clv.html', 'reports/metrics/clv.json',
       'data/scores/churn.parquet', 'models/churn/model.json', 'models/churn/model.joblib', 'reports/04_churn.html', 'reports/metrics/churn.json',
       'data/scores/segments.parquet', 'models/segments/model.joblib', 'reports/05_segments.html', 'reports/metrics/segments.json',
       'data/scores/recommendations.parquet', 'data/scores/bought_together.parquet', 'reports/06_recs.html', 'reports/metrics/recs.json']
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
# the scores: one row per clean customer, probabilities in [0, 1], SHAP additive
clv, churn = pd.read_parquet('data/scores/clv.parquet'), pd.read_parquet('data/scores/churn.parquet')
seg, recs = pd.read_parquet('data/scores/segments.parquet'), pd.read_parquet('data/scores/recommendations.parquet')
cm = json.loads(Path('reports/metrics/churn.json').read_text())
checks.update({
    'clv scores: one per customer': (sorted(clv.customer_id), sorted(tx.customer_id.unique())),
    'churn scores: one per customer': (sorted(churn.customer_id), sorted(tx.customer_id.unique())),
    'churn probability in [0, 1]': (bool(churn.churn_probability.between(0, 1).all()), True),
    'churn SHAP additive (< 1e-6)': (cm['shap_additivity_max_abs'] < 1e-6, True),
    'segments: one per customer': (sorted(seg.customer_id), sorted(tx.customer_id.unique())),
    'segments: every customer named': (int(seg.segment.isna().sum()), 0),
    'recommendations: k per customer': (int(recs.groupby('customer_id').size().nunique()), 1),
    'recommendations: every customer': (sorted(recs.customer_id.unique()), sorted(tx.customer_id.unique())),
})
checks = {k: (len(a), len(b)) if isinstance(a, list) and a == b else (a, b) for k, (a, b) in checks.items()}
bad = {k: v for k, v in checks.items() if v[0] != v[1]}
for k, (got, want) in checks.items(): print(f"{'ok ' if k not in bad else 'BAD'} {k}: {got if isinstance(got, (bool, list)) else f'{got:,}'} (expected {want if isinstance(want, (bool, list)) else f'{want:,}'})")
sys.exit(1 if bad else 0)
