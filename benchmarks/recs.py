"""Training and scoring time of every recommender on the real data and on a synthetic store at least 10x larger.

Usage: python benchmarks/recs.py [--scale 10] [--models popularity rebuy item_item als blend]
Real data: data/interim/transactions.parquet (run `dvc repro` first), split at params recs.split_cutoff.
Synthetic: `simulate_store` with `scale` x 4,334 customers (~20 lines per order) and 10,000 products (the real catalogue has 3,659), same split.
Times are wall-clock on this machine (single-threaded BLAS and implicit); scoring = top-k lists for all scored customers."""
import argparse, time, warnings
import numpy as np
import pandas as pd

from ecomml.core import DATA_INTERIM, INVOICE_DATE, load_params, project_root, resolve_cutoffs
from ecomml.ingest import clean, to_transactions
from ecomml.recs import Interactions, Recommender, RECOMMENDERS, recent_popularity, split_truth, top_k
from ecomml.synthetic import simulate_store

warnings.filterwarnings('ignore')


def run(name, tx, cutoff, days, k, models, hp, seed):
    t = time.perf_counter(); I = Interactions(tx, cutoff); pop = recent_popularity(tx, I.items, cutoff, hp['popularity_days'])
    truth, _ = split_truth(tx, I, cutoff, days); prep = time.perf_counter() - t
    rows = np.sort(truth.customer.unique())
    out = []
    for m in models:
        t = time.perf_counter(); R = Recommender(m, I, pop, seed, **hp); fit = time.perf_counter() - t
        t = time.perf_counter(); top_k(R, rows, k); score = time.perf_counter() - t
        t = time.perf_counter(); top_k(R, np.arange(len(I.customers)), k); score_all = time.perf_counter() - t
        out.append(dict(data=name, lines=len(tx), customers=len(I.customers), products=len(I.items), pairs=I.matrix.nnz, model=m,
                        prepare_s=round(prep, 2), fit_s=round(fit, 2), score_test_customers_s=round(score, 2), test_customers=len(rows),
                        score_all_customers_s=round(score_all, 2)))
        print(out[-1], flush=True)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--scale', type=int, default=10)
    ap.add_argument('--models', nargs='*', default=RECOMMENDERS)
    a = ap.parse_args()
    p = load_params(); r, seed, days = p['recs'], p['common']['seed'], p['common']['horizon_days']
    hp = {k: v for k, v in r.items() if k.startswith(('knn_', 'bm25_', 'als_', 'blend_', 'popularity_'))}
    rows = []
    tx_path = project_root()/DATA_INTERIM/'transactions.parquet'
    split = lambda tx: resolve_cutoffs(p, tx[INVOICE_DATE].min(), tx[INVOICE_DATE].max())['recs']['split_cutoff']    # auto: from the data's span
    if tx_path.exists(): rows += run('real (UCI)', (tx := pd.read_parquet(tx_path)), split(tx), days, r['k'], a.models, hp, seed)
    t = time.perf_counter()
    raw, _ = simulate_store(n_customers=4334 * a.scale, n_products=10_000, seed=seed)
    stx, _, *_ = clean(to_transactions(raw))
    print(f'simulated and cleaned {len(stx):,} lines in {time.perf_counter() - t:.0f} s', flush=True)
    rows += run(f'synthetic x{a.scale}', stx, split(stx), days, r['k'], a.models, hp, seed)
    print(pd.DataFrame(rows).to_markdown(index=False))
