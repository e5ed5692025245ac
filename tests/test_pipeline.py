"""The pipeline end to end on a small synthetic store (offline), in a copy of the project."""
import json
import shutil

import nbformat
import pandas as pd
import pytest
import yaml

from conftest import outputs, set_params
from ecomml.core import StageFailed, external_resources, run_stage
from ecomml.segments import SEGMENTS


@pytest.fixture
def synthetic_project(project):
    set_params(project, ingest={'source': 'synthetic', 'download': False}, synthetic={'n_customers': 300})
    return project


def test_synthetic_pipeline_is_complete_offline_and_reproducible(synthetic_project):
    root = synthetic_project
    for s in ['ingest', 'features']: run_stage(s, root=root)
    assert outputs(root) == sorted(['data/features/customers.parquet', 'data/features/settings.json', 'data/features/training.parquet', 'data/interim/returns.parquet', 'data/interim/source.json',
                                    'data/interim/transactions.parquet', 'reports/01_ingest.html', 'reports/01_ingest.ipynb',
                                    'reports/02_features.html', 'reports/02_features.ipynb', 'reports/metrics/features.json',
                                    'reports/metrics/ingest.json'])
    ingest = json.loads((root/'reports/metrics/ingest.json').read_text())
    truth = json.loads((root/'data/interim/source.json').read_text())['truth']
    assert ingest['source'] == 'synthetic' and ingest['customers'] == 300 == truth['n_customers']
    # the rules take lines out of the sales; cancellations are then netted: net sale lines = gross lines - fully cancelled ones
    gross_lines = ingest['raw_lines'] - sum(v for k, v in ingest.items() if k.startswith('removed_'))
    assert ingest['removed_cancellation'] > 0 and ingest['cancellation_lines_netted'] > 0
    assert ingest['clean_lines'] == gross_lines - ingest['sale_lines_fully_cancelled'] and ingest['reconciliation_checks_pass']
    assert truth['bgnbd'] == {'r': 0.8, 'alpha': 60.0, 'a': 0.05, 'b': 0.6}
    store = pd.read_parquet(root/'data/features/customers.parquet')
    assert not store.duplicated(['customer_id', 'cutoff']).any()
    assert store.cutoff.dt.strftime('%Y-%m-%d').unique().tolist() == ['2011-03-10', '2011-06-10', '2011-09-10', '2011-12-10']
    assert store[store.cutoff == '2011-12-10'].target_bought.isna().all() and store[store.cutoff < '2011-12-10'].target_bought.notna().all()
    # reports: readable titles, figures embedded, nothing fetched from the network, no code
    for name, title in [('01_ingest', 'Ingest: from the raw orders to clean transactions'), ('02_features', 'Features: a point-in-time customer table')]:
        html = (root/f'reports/{name}.html').read_text()
        assert f'<title>{title}</title>' in html and 'data:image/png;base64' in html
        assert external_resources(html) == []
        assert 'write_outputs(' not in html
    # same parameters, same metrics
    first = {f: (root/f'reports/metrics/{f}').read_text() for f in ['ingest.json', 'features.json']}
    for s in ['ingest', 'features']: run_stage(s, root=root)
    assert {f: (root/f'reports/metrics/{f}').read_text() for f in first} == first


def test_failing_stage_keeps_the_failed_notebook_and_writes_no_report(synthetic_project):
    root = synthetic_project
    run_stage('ingest', root=root)                 # so that the features stage has its inputs and fails where we say
    before = outputs(root)
    nb = nbformat.read(root/'nbs/02_features.ipynb', as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if 'write_outputs(' in c.source)
    nb.cells.insert(at, nbformat.v4.new_code_cell("#| stage\nraise ValueError('deliberate failure')"))   # just before the writing cell
    nbformat.write(nb, root/'nbs/02_features.ipynb')
    with pytest.raises(StageFailed, match=r"stage features: cell \[\d+\] raised ValueError: deliberate failure"):
        run_stage('features', root=root)
    assert outputs(root) == sorted(before + ['reports/02_features.failed.ipynb'])   # nothing written: no store, no report


@pytest.mark.slow
@pytest.mark.xdist_group('synthetic_repo')
def test_clv_churn_segments_and_recs_stages_on_the_synthetic_store(synthetic_repo, tmp_path):
    """Every stage's outputs on the simulated store of 1,500 customers: `dvc repro` in `synthetic_repo` (conftest) ran them,
    with the parameters this test used to set itself, so the stages run once per test session, not twice."""
    root = synthetic_repo
    outputs_ = lambda r: [o for o in outputs(r) if not o.startswith('reports/screenshots/')]   # the browser tests' screenshots
    new = [o for o in outputs_(root) if 'clv' in o]
    assert new == ['data/scores/clv.parquet', 'models/clv/MODEL_CARD.md', 'models/clv/ml.skops', 'models/clv/model.json', 'reports/03_clv.html', 'reports/03_clv.ipynb',
                   'reports/metrics/clv.json', 'reports/plots/clv_calibration_holdout.csv', 'reports/plots/clv_period_transactions.csv',
                   'reports/plots/clv_tracking.csv']
    m = json.loads((root/'reports/metrics/clv.json').read_text())
    card = json.loads((root/'models/clv/model.json').read_text())
    scores = pd.read_parquet(root/'data/scores/clv.parquet')
    tx = pd.read_parquet(root/'data/interim/transactions.parquet')
    assert len(scores) == scores.customer_id.nunique() == tx.customer_id.nunique() == m['customers_scored']
    # production: the best on the deciding measure among the eligible candidates, or tied with it (bootstrap interval covering zero);
    # the calibration-rate baseline values one-order customers at £0, so it is not eligible; the BTYD fit kept is the best BTYD model
    sel, met = card['selection'], m['select_metric']
    assert met == 'capture_20' and sel['chosen'] == m['chosen_model'] == card['production_model'] and sel['chosen'] in sel['eligible']
    assert sel['chosen'] == sel['leader'] or sel['leader'] in sel['ties']
    assert 'calibration_rate' in sel['not_eligible'] and 'one-order customers at £0' in sel['not_eligible']['calibration_rate']
    best = max(m[f'{c}_revenue_{met}'] for c in sel['eligible'])
    assert m[f"{sel['leader']}_revenue_{met}"] == best and set(card['decision_table']) >= set(sel['eligible'])
    assert card['purchase_model']['model'] == m['best_btyd'] and card['judged_against']['baseline'] == 'calibration_rate'
    assert m['values_zero'] == 0 and m['values_implausible_share'] <= 0.005 and (scores.clv_12m > 0).all()
    # the synthetic store is a BG/NBD store with real dropout: the best BTYD fit tracks the total, is not degenerate, and gives P(alive)
    assert m['beats_zero'] and abs(m[f"{m['best_btyd']}_purchases_aggregate_error_pct"]) < 25
    assert not m['btyd_degenerate'] and scores.p_alive.between(0, 1).all() and scores.p_alive.min() < 0.9
    if m['chosen_model'] in ('bgnbd', 'pareto_nbd', 'mbgnbd'):
        assert ((scores.clv_12m_low <= scores.clv_12m + 1e-6) & (scores.clv_12m <= scores.clv_12m_high + 1e-6)).mean() > 0.9
    else: assert scores.clv_12m_low.isna().all() and (scores.clv_12m >= 0).all()       # a rule or the ML model gives no interval
    html = (root/'reports/03_clv.html').read_text()
    assert '<title>Customer lifetime value</title>' in html and html.count('data:image/png;base64') >= 6 and external_resources(html) == []
    # churn: scores every customer at the last cutoff, learns from the earlier windows, explains additively
    assert [o for o in outputs_(root) if 'churn' in o] == ['data/scores/churn.parquet', 'models/churn/MODEL_CARD.md',
        'models/churn/model.json', 'models/churn/model.skops', 'reports/04_churn.html', 'reports/04_churn.ipynb', 'reports/metrics/churn.json',
        'reports/plots/churn_calibration.csv', 'reports/plots/churn_pr.csv', 'reports/plots/churn_roc.csv']
    cm = json.loads((root/'reports/metrics/churn.json').read_text())
    ch = pd.read_parquet(root/'data/scores/churn.parquet')
    assert sorted(ch.customer_id) == sorted(scores.customer_id) and ch.churn_probability.between(0, 1).all()
    assert set(ch.risk_band) <= {'low', 'medium', 'high'} and cm['shap_additivity_max_abs'] < 1e-6
    assert cm['test_cutoff'] == '2011-09-10' and cm['chosen_model'] in ('logistic', 'gradient_boosting')
    # value at risk = churn probability x the spend over the same 90 days if the customer stays (the CLV stage's revenue_if_active_90d)
    both = ch.merge(scores[['customer_id', 'revenue_if_active_90d']], on='customer_id', suffixes=('', '_clv'))
    assert ((both.value_at_risk - both.churn_probability * both.revenue_if_active_90d_clv).abs() < 1e-6).all() and (both.value_at_risk > 0).all()
    # a synthetic BG/NBD store has real dropout, so the classifiers rank churners well above chance
    assert cm[f"{cm['chosen_model']}_roc_auc"] > 0.6
    html = (root/'reports/04_churn.html').read_text()
    assert '<title>Churn risk</title>' in html and html.count('data:image/png;base64') >= 4 and external_resources(html) == []
    # segments: every customer exactly one named segment and one cluster; same seed, same clusters
    sg = pd.read_parquet(root/'data/scores/segments.parquet')
    sm = json.loads((root/'reports/metrics/segments.json').read_text())
    assert sorted(sg.customer_id) == sorted(scores.customer_id) and sg.segment.notna().all()
    assert set(sg.segment) <= set(SEGMENTS) and sorted(sg.cluster.unique()) == list(range(1, sm['k'] + 1))
    assert {c: sorted(sg[c].unique()) for c in 'RFM'} == {c: [1, 2, 3, 4, 5] for c in 'RFM'}
    copy = tmp_path/'again'        # same seed, same clusters: the stage rerun in a copy (the repository stays as dvc.lock says)
    shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns('.git', '.dvc'))
    run_stage('segments', root=copy)
    assert (copy/'reports/metrics/segments.json').read_text() == (root/'reports/metrics/segments.json').read_text()
    assert pd.read_parquet(copy/'data/scores/segments.parquet').cluster.tolist() == sg.cluster.tolist()
    html = (root/'reports/05_segments.html').read_text()
    assert '<title>Customer segments</title>' in html and html.count('data:image/png;base64') >= 4 and external_resources(html) == []
    # recommendations: k per customer, ranks 1..k, a reason on every row, metrics for every model in both scopes
    rc = pd.read_parquet(root/'data/scores/recommendations.parquet')
    rm = json.loads((root/'reports/metrics/recs.json').read_text())
    # two lists per customer (repeat, explore), k each; the explore list holds no product the customer bought
    assert sorted(rc.customer_id.unique()) == sorted(scores.customer_id) and (rc.groupby(['customer_id', 'list']).size() == rm['k']).all()
    assert set(rc.list) == {'repeat', 'explore'} and rc.groupby('customer_id').list.nunique().eq(2).all()
    assert rc.groupby(['customer_id', 'list'])['rank'].apply(list).map(lambda r: r == list(range(1, rm['k'] + 1))).all()
    assert rc.reason.str.len().gt(0).all() and not rc.duplicated(['customer_id', 'list', 'product']).any()
    from ecomml.ingest import net_sales
    sold = net_sales(pd.read_parquet(root/'data/interim/transactions.parquet'))      # what the models learn from: cancelled orders undone
    ex = rc[rc.list == 'explore'].merge(sold[['customer_id', 'stock_code']].drop_duplicates(), left_on=['customer_id', 'product'], right_on=['customer_id', 'stock_code'])
    assert ex.empty, ex.head()
    assert all(f'{m}_{s}_ndcg' in rm for m in ['popularity', 'rebuy', 'item_item', 'als', 'blend'] for s in ['all', 'new'])
    # each list's model is the best (or tied within the tolerance) on its own scope
    for lst, s in [('repeat', 'all'), ('explore', 'new')]:
        best = max(rm[f'{m}_{s}_ndcg'] for m in ['popularity', 'rebuy', 'item_item', 'als', 'blend'])
        assert rm[f"{rm[f'{lst}_model']}_{s}_ndcg"] >= (1 - 0.02) * best
    assert len(pd.read_parquet(root/'data/scores/bought_together.parquet')) == rm['bought_together_pairs']
    html = (root/'reports/06_recs.html').read_text()
    assert '<title>Product recommendations</title>' in html and external_resources(html) == []


def test_missing_params_section_is_named(project):
    from ecomml.params import ParamsError
    common = yaml.safe_load((project/'params.yaml').read_text())['common']
    with pytest.raises(ParamsError, match=r"params.yaml: features: required section is missing"):
        run_stage('features', root=project, params={'common': common})
    assert outputs(project) == []


def test_a_chapter_runs_from_nbs_as_in_jupyterlab(synthetic_project):
    """JupyterLab starts the kernel in nbs/: Run All on a chapter (its tests, then its stage cells) reads and writes from the
    project root with the sections of params.yaml; the stage cells stopped on 'data/interim/transactions.parquet' (issue 31)."""
    from nbclient import NotebookClient
    root = synthetic_project
    run_stage('ingest', root=root)
    nb = nbformat.read(root/'nbs'/'02_features.ipynb', as_version=4)
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(root/'nbs')}}).execute()
    store = pd.read_parquet(root/'data/features/customers.parquet')
    assert not (root/'nbs'/'data').exists()
    from ecomml.core import auto_cutoffs
    assert yaml.safe_load((root/'params.yaml').read_text())['common']['cutoffs'] == 'auto'
    tx = pd.read_parquet(root/'data/interim/transactions.parquet')
    cuts = auto_cutoffs(tx.invoice_date.min(), tx.invoice_date.max())['cutoffs']
    assert sorted(store.cutoff.dt.strftime('%Y-%m-%d').unique()) == cuts          # params.yaml's cutoffs (auto: the data's), not a copy in the notebook
    assert store.customer_id.nunique() > 0
