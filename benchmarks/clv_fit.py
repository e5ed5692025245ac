"""Fit time and peak memory of the BTYD models with and without weighted rows.

Usage: python benchmarks/clv_fit.py [--sizes 100000 1000000] [--models bgnbd pareto_nbd mbgnbd]
Real data: the BTYD summary at the day after the last line of data/interim/transactions.parquet (run `dvc repro` first).
Synthetic: daily summaries of a BG/NBD population (r=0.8, alpha=60, a=0.05, b=0.6 per day) over 374 days.
Peak memory is tracemalloc's peak of Python allocations (numpy included) during the fit."""
import argparse, time, tracemalloc, warnings
import numpy as np
import pandas as pd

from ecomml.btyd import fit_btyd, collapse
from ecomml.core import DATA_INTERIM, INVOICE_DATE, project_root
from ecomml.features import btyd_summary
from ecomml.synthetic import simulate_purchase_times

warnings.filterwarnings('ignore')


def synthetic_summary(n: int, seed: int = 0, days: int = 374) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p, _ = simulate_purchase_times(rng.uniform(0, 0.9 * days, n), days, 0.8, 60.0, 0.05, 0.6, rng)
    d = p.assign(day=np.floor(p.t)).drop_duplicates(['customer', 'day']).groupby('customer').day
    first, last, k = d.min(), d.max(), d.size()
    return pd.DataFrame({'frequency': (k - 1).astype(float), 'recency': last - first, 'T': (days - 1) - first})


def measure(summary, model, weighted):
    tracemalloc.start(); t = time.perf_counter()
    m = fit_btyd(summary, model, weighted=weighted, n_ok=1)
    sec = time.perf_counter() - t; peak = tracemalloc.get_traced_memory()[1] / 2**20; tracemalloc.stop()
    return dict(seconds=round(sec, 2), peak_mib=round(peak, 1), rows_fitted=len(m.data), **{k: round(v, 4) for k, v in m.params_.items()})


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', type=int, nargs='*', default=[100_000, 1_000_000])
    ap.add_argument('--models', nargs='*', default=['bgnbd', 'pareto_nbd', 'mbgnbd'])
    ap.add_argument('--unweighted-max', type=int, default=1_000_000, help='skip unweighted fits above this size')
    a = ap.parse_args()
    data = {}
    tx_path = project_root()/DATA_INTERIM/'transactions.parquet'
    if tx_path.exists():
        tx = pd.read_parquet(tx_path)
        data['real (UCI)'] = btyd_summary(tx, tx[INVOICE_DATE].max().normalize() + pd.Timedelta(days=1))
    for n in a.sizes:
        t = time.perf_counter(); data[f'synthetic {n:,}'] = synthetic_summary(n); print(f'simulated {n:,} customers in {time.perf_counter() - t:.1f} s', flush=True)
    rows = []
    for name, s in data.items():
        for model in a.models:
            for weighted in (True, False):
                if not weighted and len(s) > a.unweighted_max: continue
                r = measure(s, model, weighted)
                rows.append(dict(data=name, customers=len(s), distinct_rows=len(collapse(s)), model=model, weighted=weighted, **r))
                print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False))
