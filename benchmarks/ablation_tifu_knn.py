"""Ablation: TIFU-KNN (Hu et al., SIGIR 2020) on the recommendation time split, as tried for issue 14 (not in production: it lost).
Groups of baskets are counted back from the latest one. Run after `dvc repro`: `python benchmarks/ablation_tifu_knn.py [cutoff]` (~5 min).
"""
import time, numpy as np, pandas as pd, scipy.sparse as sp, sys
from ecomml.core import *
from ecomml.ingest import net_sales
from ecomml.recs import *
from ecomml.ranking import ranking_metrics
tx = pd.read_parquet('data/interim/transactions.parquet')
cut = pd.Timestamp(sys.argv[1] if len(sys.argv) > 1 else '2011-09-10')
I = Interactions(tx, cut); pop = recent_popularity(tx, I.items, cut, 30)
truth, truth_new = split_truth(tx, I, cut, 90); share = I.popularity_share()
t = net_sales(tx, cut)
b = t.groupby([CUSTOMER_ID, INVOICE_NO]).agg(when=(INVOICE_DATE, 'min')).reset_index()
b['back'] = b.sort_values('when', ascending=False).groupby(CUSTOMER_ID).cumcount()   # 0 = latest basket
lines = t[[CUSTOMER_ID, INVOICE_NO, STOCK_CODE]].drop_duplicates().merge(b[[CUSTOMER_ID, INVOICE_NO, 'back']], on=[CUSTOMER_ID, INVOICE_NO])
ci = I.customers.get_indexer(lines[CUSTOMER_ID]); ii = I.items.get_indexer(lines[STOCK_CODE])
def user_vectors(m, rb, rg):
    nb = b.groupby(CUSTOMER_ID).size().reindex(I.customers).to_numpy()
    back = lines.back.to_numpy(); g = back // m; pos = back % m
    # group sizes: full m except the oldest group
    w = rb ** pos * rg ** g
    # normalise: per group by its size, per user by the number of groups
    ng = (nb - 1) // m + 1
    gsize = np.where(g == ng[ci] - 1, nb[ci] - m * (ng[ci] - 1), m)
    w = w / gsize / ng[ci]
    return sp.csr_matrix((w.astype(np.float32), (ci, ii)), shape=I.matrix.shape)
def run(m=7, rb=0.9, rg=0.7, k=300, alpha=0.7):
    U = user_vectors(m, rb, rg).toarray()
    n = np.linalg.norm(U, axis=1, keepdims=True); Un = np.divide(U, n, out=np.zeros_like(U), where=n > 0)
    S = Un @ Un.T; np.fill_diagonal(S, -1)
    kk = min(k, len(S) - 1)
    nbr = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
    N = U[nbr].mean(axis=1)
    P = alpha * U + (1 - alpha) * N
    class R: pass
    res = {}
    tie = pop / (pop.max() + 1) * 1e-6
    for scope, tr, excl in [('all', truth, False), ('new', truth_new, True)]:
        rows = np.sort(tr.customer.unique()); Sc = P[rows] + tie
        if excl:
            X = I.matrix[rows].tocoo(); Sc[X.row, X.col] = -np.inf
        part = np.argpartition(-Sc, 9, axis=1)[:, :10]; ps = np.take_along_axis(Sc, part, 1); order = np.lexsort((part, -ps), axis=1)
        idx = np.take_along_axis(part, order, 1)
        r = pd.DataFrame({'customer': np.repeat(rows, 10), 'rank': np.tile(np.arange(1, 11), len(rows)), 'item': I.items[idx.ravel()]})
        res[scope] = ranking_metrics(r, tr, 10, len(I.items), share, len(I.customers))['ndcg']
    return res
t0 = time.time(); print('default', run(), time.time() - t0)
for kw in [dict(alpha=0.9), dict(alpha=0.5), dict(k=100), dict(k=50), dict(rb=1.0, rg=0.9), dict(rb=0.8, rg=0.6), dict(m=3), dict(alpha=0.7, k=100, rb=0.9, rg=0.9)]:
    print(kw, run(**kw))
