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
       'data/scores/clv.parquet', 'models/clv/model.json', 'models/clv/ml.skops', 'reports/03_clv.html', 'reports/metrics/clv.json',
       'data/scores/churn.parquet', 'models/churn/model.json', 'models/churn/model.skops', 'reports/04_churn.html', 'reports/metrics/churn.json',
       'data/scores/segments.parquet', 'models/segments/model.skops', 'models/segments/rfm_reference.npz', 'models/recs/model.npz', 'data/features/settings.json', 'reports/05_segments.html', 'reports/metrics/segments.json',
       'data/scores/recommendations.parquet', 'data/scores/bought_together.parquet', 'reports/06_recs.html', 'reports/metrics/recs.json',
       'reports/06b_monitor.html', 'reports/metrics/monitor.json', 'reports/monitor/orders.html', 'reports/monitor/feature_store.html', 'reports/monitor/scores.html']
missing = [p for p in out if not Path(p).is_file()]
assert not missing, f'missing outputs: {missing}'
mon = json.loads(Path('reports/metrics/monitor.json').read_text())
assert isinstance(mon['retrain_recommended'], bool) and (mon['reasons'] != []) == mon['retrain_recommended'], mon['reasons']
assert len(mon['decay']['clv']) >= 6 and len(mon['decay']['churn']) >= 3 and len(mon['decay']['recs']) >= 6, 'monthly decay tables too short'
# issue 30: each Evidently page reads 'Dataset Drift is detected' exactly when its check fires (the orders page covers 3 of the 5 measures its check judges)
pg, ck = mon['pages'], mon['checks']
assert pg['monitor/feature_store.html']['detected'] == ck['store_drift']['triggered'], (pg, ck['store_drift'])
assert pg['monitor/scores.html']['detected'] == any(v['triggered'] for k, v in ck.items() if k.startswith('score_drift_')), pg
# CLV biased low at every cutoff from July to September (-26%, -30%, -41%): a finding, not a pass under a fixed ±50% limit
assert ck['clv_bias']['triggered'] and any('biased low' in r for r in mon['reasons']), mon['reasons']
assert not any('loses to the calibration-rate baseline' in r for r in mon['reasons']), mon['reasons']     # chosen on capture of the top 20%, a tie there

m = json.loads(Path('reports/metrics/ingest.json').read_text())
raw = pd.read_parquet(Path(os.environ['ECOMML_DATA_DIR'])/'Online Retail.parquet')
tx, ret = pd.read_parquet('data/interim/transactions.parquet'), pd.read_parquet('data/interim/returns.parquet')
sale, undo = tx[tx.kind == 'sale'], tx[tx.kind == 'cancellation']
# net sales, recomputed here: each sale line's quantity less the netting lines that point at it
left = sale.quantity + sale.line_id.map(undo.groupby('cancels').quantity.sum()).fillna(0)
net = sale[left > 0]
checks = {
    'raw_lines': (m['raw_lines'], len(raw)),
    'raw_quantity_sum': (m['raw_quantity_sum'], int(raw.Quantity.sum())),
    'raw_revenue_sum': (m['raw_revenue_sum'], round(float((raw.Quantity * raw.UnitPrice).sum()), 2)),
    'raw revenue = start of the reconciliation': (m['raw_revenue'], m['raw_revenue_sum']),
    'removed_missing_customer': (m['removed_missing_customer'], int(raw.CustomerID.isna().sum())),
    'rules add up to the gross sale lines': (len(sale), m['raw_lines'] - sum(v for k, v in m.items() if k.startswith('removed_'))),
    'gross sales = sale lines': (m['gross_sales'], round(float(sale.revenue.sum()), 2)),
    'net sales = sale lines + netting lines': (m['net_sales'], round(float(tx[tx.kind != 'credit'].revenue.sum()), 2)),
    'net revenue = every line of the table (credits included)': (m['net_revenue'], round(float(tx.revenue.sum()), 2)),
    'order 556444 (£38,970, credited by the manual line C556445) is not a sale': (int(left[sale.invoice_no == '556444'].sum()), 0),
    'net sales = gross - netted': (m['net_sales'], round(m['gross_sales'] + m['cancellations_netted_full'] + m['cancellations_netted_part']
                                                        + m['manual_credits_netted'] + m['cancellation_price_difference'], 2)),
    'net revenue = net sales - discounts - unmatched manual credits': (m['net_revenue'], round(m['net_sales'] + m['discounts'] + m['manual_credits_unmatched'], 2)),
    'netting never exceeds a sale': (int((left < 0).sum()), 0),
    'netting lines are cancellations': (int((~undo.invoice_no.str.startswith('C')).sum()), 0),
    'returns: every cancellation line with a customer': (len(ret), int((raw.InvoiceNo.str.startswith('C') & raw.CustomerID.notna()).sum()
                                                                      - int(raw[raw.InvoiceNo.str.startswith('C') & raw.CustomerID.notna()].duplicated().sum()))),
    'clean_lines = net sale lines': (m['clean_lines'], len(net)),
    'customers': (m['customers'], net.customer_id.nunique()),
    'invoices': (m['invoices'], net.invoice_no.nunique()),
    'no cancellation in sales': (int(sale.invoice_no.str.startswith('C').sum()), 0),
    'no missing customer': (int(tx.customer_id.isna().sum()), 0),
    'no duplicate line': (int(sale.drop(columns=['line_id', 'kind', 'cancels']).duplicated().sum()), 0),
    'the largest line (80,995 units) is netted': (int(left[sale.quantity == 80995].sum()), 0),
    'reconciliation checks pass': (m['reconciliation_checks_pass'], True),
}
f = json.loads(Path('reports/metrics/features.json').read_text())
cuts = sorted({k.rsplit('_', 1)[1] for k in f if k.startswith('coverage_ipt_mean_days_')})
checks['inter-purchase features filled at the last cutoff (> 40%)'] = (f[f'coverage_ipt_mean_days_{cuts[-1]}'] > 0.4, True)
tx = net       # the customers the scores cover: those with net sales
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
    'recommendations: k per customer and list': (int(recs.groupby(['customer_id', 'list']).size().nunique()), 1),
    'recommendations: two lists (repeat, explore)': (sorted(recs.list.unique()), ['explore', 'repeat']),
    'recommendations: every customer': (sorted(recs.customer_id.unique()), sorted(tx.customer_id.unique())),
})
# the dashboard's KPI row agrees with the stages it reads, recomputed here
dm = json.loads(Path('reports/metrics/dashboard.json').read_text())
checks.update({
    'dashboard net revenue = ingest net sales (checked above) (£)': (round(dm['net_revenue'], 2), json.loads(Path('reports/metrics/ingest.json').read_text())['net_sales']),
    'dashboard customers = scored customers': (dm['customers'], len(clv)),
    'dashboard CLV of the base = Σ CLV (£)': (round(dm['clv_total'], 2), round(float(clv.clv_12m.sum()), 2)),
    'dashboard value at risk = Σ churn value at risk (£)': (round(dm['revenue_at_risk'], 2), round(float(churn.value_at_risk.sum()), 2)),
    'lists written': (sorted(p.name for p in Path('reports/lists').glob('*.csv')), ['cross-sell.csv', 'nurture.csv', 'win-back.csv']),
    'dashboard ≤ 6 MB': (Path('reports/dashboard.html').stat().st_size <= 6e6, True),
    'every report ≤ 1.5 MB': (all(p.stat().st_size <= 1.5e6 for p in Path('reports').glob('[0-9][0-9]*.html')), True),
})
# issue 30: values, segments and lists true to their words, customer by customer
import yaml
P = yaml.safe_load(Path('params.yaml').read_text())
now = pd.read_parquet('data/features/customers.parquet'); now = now[now.cutoff == now.cutoff.max()].set_index('customer_id')
sg = seg.set_index('customer_id').join(now[['recency_days', 'tenure_days', 'n_orders']])
lists = {f: pd.read_csv(f'reports/lists/{f}.csv', dtype=str) for f in ['win-back', 'nurture', 'cross-sell']}
on = pd.concat([d.assign(list=f) for f, d in lists.items()])
on = on.assign(cid=on.customer.astype(int)).join(now[['recency_days', 'tenure_days', 'n_orders']], on='cid')
money_cols = ['spend to date (£)', 'predicted value, next 12 months (£)', 'value at risk, next 90 days (£)']
checks.update({
    'customer 18139 (two purchase days, 18 days old): 12-month value within 5x its spend': (bool(clv.set_index('customer_id').clv_12m[18139] <= 5 * 8418.18), True),
    'no customer valued at £0': (int((clv.clv_12m <= 0).sum()), 0),
    'every high-risk customer has value at risk above £0 (the £516 of 252 customers, 250 at £0)': (int((churn[churn.risk_band == 'high'].value_at_risk <= 0).sum()), 0),
    'value at risk = churn probability x spend over 90 days if retained': (bool(((churn.value_at_risk - churn.churn_probability * churn.revenue_if_active_90d).abs() < 1e-6).all()), True),
    'customer 17850 (34 orders, none for 372 days) is not low risk': (churn.set_index('customer_id').risk_band[17850] != 'low', True),
    'one F per number of orders': (int(sg.groupby('n_orders').F.nunique().max()), 1),
    "'new' = first order within new_days": (int(((sg.segment == 'new') != (sg.tenure_days <= P['segments']['new_days'])).sum()), 0),
    "'at risk', can't lose, about to sleep, hibernating: no order for 90 days": (int((sg.segment.isin(['at risk', "can't lose", 'about to sleep', 'hibernating']) & (sg.recency_days <= 90)).sum()), 0),
    'win-back: no order in the last win_back_min_days_since_order days': (int((on[on.list == 'win-back'].recency_days < P['dashboard']['win_back_min_days_since_order']).sum()), 0),
    'win-back: repeat customers (win_back_min_orders)': (int((on[on.list == 'win-back'].n_orders < P['dashboard']['win_back_min_orders']).sum()), 0),
    'nurture: first order within nurture_max_tenure_days': (int((on[on.list == 'nurture'].tenure_days > P['dashboard']['nurture_max_tenure_days']).sum()), 0),
    'nurture holds one-order customers': (bool((on[on.list == 'nurture'].n_orders == 1).any()), True),
    'cross-sell: repeat customers': (int((on[on.list == 'cross-sell'].n_orders < P['dashboard']['cross_sell_min_orders']).sum()), 0),
    'each customer on one list only': (int(on.customer.duplicated().sum()), 0),
    'lists capped at list_rows': (int(max(len(d) for d in lists.values()) <= P['dashboard']['list_rows']), 1),
    'control group: about control_share of each list': (all(abs((d.group != 'campaign').sum() - round(P['dashboard']['control_share'] * len(d))) == 0 for d in lists.values()), True),
    'list money with two decimals': (bool(on[money_cols].stack().str.fullmatch(r'-?\d+\.\d\d').all()), True),
})
checks = {k: (len(a), len(b)) if isinstance(a, list) and a == b else (a, b) for k, (a, b) in checks.items()}
bad = {k: v for k, v in checks.items() if v[0] != v[1]}
for k, (got, want) in checks.items(): print(f"{'ok ' if k not in bad else 'BAD'} {k}: {got if isinstance(got, (bool, list)) else f'{got:,}'} (expected {want if isinstance(want, (bool, list)) else f'{want:,}'})")
sys.exit(1 if bad else 0)
