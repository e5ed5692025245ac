"""The API's per-request path (`ecomml.scoring.fast_clean` and `history_row`: one customer's lines in plain Python) against
the pipeline's own code (`ecomml.ingest.clean` through `clean_history`, then the feature store's Ibis query on DuckDB,
`ecomml.features.customer_features`), on random histories of every shape a shop can send: numeric and text ids, no order
ids, no product codes, returns marked by a C invoice or by a negative quantity, zero-price sales, duplicates, discounts,
manual credits (the full path), non-product codes and patterns. The real data's customers are compared in `test_api.py`."""
import math, random, time

import numpy as np
import pandas as pd
import pytest

from ecomml.api import ScoreRequest
from ecomml.core import TARGETS
from ecomml.features import customer_features
from ecomml.scoring import HistoryError, clean_history, fast_clean, history_of, history_row

UCI = {'non_product_codes': ['POST', 'D', 'M', 'm', 'C2', 'DOT', 'BANK CHARGES', 'CRUK', 'PADS', 'S', 'B', 'AMAZONFEE'], 'non_product_pattern': '^gift_'}
FILE = dict(UCI, source='file', return_marker=None, zero_price_sales=True)     # an own file: returns are negative lines, $0 lines are sales
FILE_C = dict(UCI, source='file', return_marker='C')
CUT = '2011-06-10'
SETTINGS = {'extreme_thresholds': {CUT: {'quantity': 10.0, 'revenue': 20.0}, '2011-12-10': {'quantity': 11.0, 'revenue': 25.0}},
            'home_market': {CUT: 'United Kingdom', '2011-12-10': 'France'}, 'data_start': '2010-12-01T08:00:00', 'horizon_days': 90,
            'time_unit': 'D', 'ipt_min_purchases': 3}
WEEKS = dict(SETTINGS, time_unit='W', ipt_min_purchases=2)


def typed(lines: list, as_of: str) -> list:
    "The lines as the API's model types them."
    return ScoreRequest.model_validate({'as_of': as_of, 'lines': lines}).model_dump()['lines']


def store_row(lines: list, as_of: str, ingest: dict, settings: dict) -> pd.DataFrame:
    "The pipeline's row: its cleaning, then the feature store's query, with the store's thresholds and home market at `as_of`."
    tx, ret = clean_history(lines, ingest)
    c = max([x for x in settings['extreme_thresholds'] if pd.Timestamp(x) <= pd.Timestamp(as_of)], default=CUT, key=pd.Timestamp)
    thr = settings['extreme_thresholds'][c]
    return customer_features(tx, ret, pd.Timestamp(as_of), settings['horizon_days'], settings['time_unit'], settings['ipt_min_purchases'],
                             data_end=pd.Timestamp('1971-01-01'), data_start=pd.Timestamp(settings['data_start']),
                             thresholds=(thr['quantity'], thr['revenue']), home=settings['home_market'][c])


def same_row(lines: list, as_of: str, ingest: dict, settings: dict) -> str:
    "Compare both paths on one history: 'fast' or 'full' (the path the API took), 'error' where both refuse it; fails on any difference."
    t = typed(lines, as_of)
    h = fast_clean(t, ingest)
    try: full = history_of(*clean_history(t, ingest))
    except HistoryError:
        assert h is None, 'the per-request path scored a history the ingest rules refuse'
        return 'error'
    if h is not None:      # the two paths' clean histories: the same sale lines, netting, returns and line times
        assert sorted(h.sales) == sorted(full.sales) and sorted(h.undo) == sorted(full.undo) and sorted(h.returns) == sorted(full.returns)
        assert sorted(h.times.tolist()) == sorted(full.times.tolist()) and h.customer_id == full.customer_id
    got, want = history_row(h or full, pd.Timestamp(as_of), settings), store_row(t, as_of, ingest, settings)
    assert got.empty == want.empty
    if not got.empty:
        cols = [c for c in want.columns if c not in TARGETS]
        pd.testing.assert_frame_equal(got[cols], want[cols], rtol=1e-9, check_exact=False)
    return 'fast' if h is not None else 'full'


def random_history(seed: int) -> tuple:
    r = random.Random(seed)
    ingest = r.choice([UCI, FILE, FILE_C]); negative_returns = ingest is FILE
    no_orders, no_products = r.random() < 0.2, r.random() < 0.2
    cid = r.choice([17850, 'ann@example.com'])
    days = sorted(r.sample(range(500), r.randint(2, 8)))
    lines = []
    for _ in range(r.randint(2, 16)):
        when = pd.Timestamp('2010-12-01') + pd.Timedelta(days=r.choice(days), hours=r.choice([8, 8, 12]), minutes=r.choice([0, 0, 30]))
        cancel = r.random() < 0.3
        inv = None if no_orders else ('C' if cancel and not negative_returns else '') + str(r.randint(1, 6))
        code = None if no_products else r.choice(['A', 'A', 'B2', 'POST', 'D', 'gift_1', 'Z', 'M'])
        q = r.choice([1, 2, 3, 12]) * (-1 if cancel and (negative_returns or r.random() < 0.85) else 1)
        if r.random() < 0.05: q = 0
        p = r.choice([1.25, 2.5, 2.5, 0.85, 0.0, -0.0] if negative_returns else [1.25, 2.5, 2.5, 0.85, 30.0])
        lines.append(dict(invoice_no=inv, stock_code=code, description=r.choice(['x', ' x ', None]), quantity=q, invoice_date=when.isoformat(),
                          unit_price=p, customer_id=cid, country=r.choice(['United Kingdom', 'France', None])))
        if r.random() < 0.15: lines.append(dict(lines[-1]))                  # entered twice
    as_of = (pd.Timestamp('2010-12-01') + pd.Timedelta(days=r.choice(days) + r.choice([0, 1, 40]))).strftime('%Y-%m-%d')
    return lines, as_of, ingest, r.choice([SETTINGS, WEEKS])


def test_random_histories_of_every_shape():
    paths = [same_row(*random_history(seed)) for seed in range(60)]      # ~0.4 s each, most of it compiling the store's query
    print({p: paths.count(p) for p in sorted(set(paths))})
    assert paths.count('fast') >= 25 and paths.count('full') >= 2 and paths.count('error') >= 2, {p: paths.count(p) for p in set(paths)}


def test_cases_found_in_review():
    l = lambda inv, q, when, p, code='A': dict(invoice_no=inv, stock_code=code, quantity=q, invoice_date=when, unit_price=p, customer_id=17850)
    # a price of -0.0 and one of 0.0 are two lines to the batch's duplicate rule (it hashes the bits): not one
    assert same_row([l('1', 2, '2011-01-05T10:00', 2.0), l('C1', -1, '2011-01-06T10:00', 0.0), l('C1', -1, '2011-01-06T10:00', -0.0),
                     l('2', 1, '2011-03-05T10:00', 1.0, 'Z')], '2011-12-10', UCI, SETTINGS) == 'fast'
    assert same_row([l('1', 2, '2011-01-05T10:00', 0.0), l('1', 2, '2011-01-05T10:00', -0.0), l('2', 1, '2011-03-05T10:00', 1.0)], '2011-12-10', FILE, SETTINGS) == 'fast'
    # an id beyond 2^53: the ingest rules read ids as floats, so the full path answers, as the batch would
    big = [dict(l('1', 2, '2011-01-05T10:00', 2.0), customer_id=2**53 + 1), dict(l('2', 1, '2011-03-05T10:00', 1.0), customer_id=2**53 + 1)]
    assert same_row(big, '2011-12-10', UCI, SETTINGS) == 'full'
    # thousands of sales and cancellations of one product: the same netting (the per-request path once took 6.6 s here, the full one 0.25 s)
    many = [l('C' * (i % 2) + str(i), -1 if i % 2 else 2, (pd.Timestamp('2011-01-01') + pd.Timedelta(minutes=i)).isoformat(), 2.0) for i in range(4_000)]
    t = time.perf_counter()
    assert same_row(many, '2011-12-10', UCI, SETTINGS) == 'fast'
    print(f'4,000 lines of one product: both paths and the store query in {time.perf_counter() - t:.1f} s')
