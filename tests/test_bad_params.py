"""Bad parameters stop a stage before it starts: the message names params.yaml, the key and the rule, and nothing is written.

Each case edits a copy of the project's params.yaml and runs the real stage runner (`run_stage`, what
`ecomml-stage` and `dvc repro` call).
"""
import pytest
import yaml

from conftest import outputs, set_params
from ecomml.core import run_stage
from ecomml.params import ParamsError

CASES = [  # (stage, section, {key: value}, what the message must say)
    ('features', 'common', {'horizon_days': 0}, 'common.horizon_days: Input should be greater than or equal to 1 (got 0)'),
    ('ingest', 'common', {'seed': -1}, 'common.seed: Input should be greater than or equal to 0 (got -1)'),
    ('features', 'common', {'cutoffs': ['2011-03-10', '2011-03-10']}, 'common.cutoffs: cutoffs must be sorted and unique: item 1 (2011-03-10) is not after item 0 (2011-03-10)'),
    ('features', 'common', {'cutoffs': ['2011-09-10', '2011-03-10']}, 'common.cutoffs: cutoffs must be sorted and unique: item 1 (2011-03-10) is not after item 0 (2011-09-10)'),
    ('features', 'common', {'cutoffs': ['10/03/2011']}, "common.cutoffs: must be a date written YYYY-MM-DD, not '10/03/2011'"),
    ('features', 'common', {'cutoffs': ['2011-02-30']}, "common.cutoffs: '2011-02-30' is not a calendar date"),
    ('features', 'common', {'cutoffs': []}, 'common.cutoffs: List should have at least 1 item'),
    ('features', 'common', {'time_unit': 'Q'}, "common.time_unit: Input should be 'D', 'W' or 'M' (got 'Q')"),
    ('clv', 'clv', {'penalizr': 0.1}, 'clv.penalizr: unknown key (misspelt?) (known keys of clv: models, penalizer,'),
    ('clv', 'clv', {'models': ['bgnbd', 'nbd']}, "clv.models[1]: Input should be 'bgnbd', 'pareto_nbd' or 'mbgnbd' (got 'nbd')"),
    ('clv', 'clv', {'interval_level': 1.5}, 'clv.interval_level: Input should be less than 1 (got 1.5)'),
    ('clv', 'clv', {'interval_draws': 'fifty'}, "clv.interval_draws: Input should be a valid integer (got 'fifty')"),
    ('ingest', 'ingest', {'source': 'csv'}, "ingest.source: Input should be 'uci', 'synthetic', 'file' or 'sql' (got 'csv')"),
    ('ingest', 'ingest', {'download': 'yes'}, "ingest.download: Input should be a valid boolean (got 'yes')"),
    ('ingest', 'ingest', {'non_product_pattern': '(['}, 'ingest.non_product_pattern: not a regular expression'),
    ('ingest', 'ingest', {'date_format': 'day first'}, "ingest.date_format: 'day first' is not a strptime format"),
    ('ingest', 'synthetic', {'n_customers': 1}, 'synthetic.n_customers: Input should be greater than or equal to 2 (got 1)'),
    ('churn', 'churn', {'risk_bands': [0.75, 0.5]}, 'churn.risk_bands: risk_bands must be increasing (low < medium < high), got [0.75, 0.5]'),
    ('segments', 'segments', {'k_min': 9}, 'segments: k_min (9) must lie in k_range [2, 8]'),
    ('recs', 'recs', {'knn_weighting': 'jaccard'}, "recs.knn_weighting: Input should be 'bm25' or 'cosine' (got 'jaccard')"),
    ('monitor', 'monitor', {'store_features': ['recency_days', 'days_gone']}, 'monitor.store_features: not a feature of the store: days_gone'),
    ('segments', 'segments', {'orders': [2, 2, 5, 10]}, 'segments: orders must be four increasing thresholds, got [2, 2, 5, 10]'),
    ('dashboard', 'dashboard', {'list_priority': ['win_back', 'win_back', 'nurture']}, 'dashboard.list_priority: must name win_back, nurture and cross_sell once each'),
    ('clv', 'clv', {'select_metric': 'r2'}, "clv.select_metric: Input should be 'capture_10', 'capture_20', 'spearman', 'aggregate_error_pct', 'mae' or 'rmse' (got 'r2')"),
]


@pytest.mark.parametrize('stage,section,change,message', CASES, ids=[f'{c[1]}-{"-".join(c[2])}' for c in CASES])
def test_bad_parameter(project, stage, section, change, message):
    set_params(project, **{section: change})
    with pytest.raises(ParamsError) as e: run_stage(stage, root=project)
    assert f'{project}/params.yaml: ' in str(e.value) and message in str(e.value), str(e.value)
    assert outputs(project) == [], 'nothing is written, not even a failed notebook: the kernel never started'


def test_unknown_section(project):
    p = yaml.safe_load((project/'params.yaml').read_text()); p['clvv'] = {'penalizer': 0.1}
    (project/'params.yaml').write_text(yaml.safe_dump(p))
    with pytest.raises(ParamsError, match='clvv: unknown section'): run_stage('clv', root=project)
    assert outputs(project) == []


def test_params_not_yaml(project):
    (project/'params.yaml').write_text('common:\n  seed: [42\n')
    with pytest.raises(ParamsError, match=r'params.yaml: not valid YAML'): run_stage('ingest', root=project)
    assert outputs(project) == []


def test_several_problems_listed_together(project):
    set_params(project, common={'horizon_days': -5, 'seed': 'x'})
    with pytest.raises(ParamsError) as e: run_stage('features', root=project)
    assert 'common.horizon_days' in str(e.value) and 'common.seed' in str(e.value)


def test_dvc_repro_checks_every_key_when_any_changes(tmp_path):
    """A misspelt key that no stage reads (`common.horizon_day`) stops `dvc repro` at the params stage, which depends on every
    key of params.yaml; before it, `dvc repro` said "up to date" and the misspelling changed nothing (issue 31)."""
    import shutil, subprocess
    from conftest import ROOT
    for f in ['params.yaml', 'dvc.yaml', 'settings.ini']: shutil.copy(ROOT/f, tmp_path/f)
    run = lambda *a: subprocess.run(['dvc', *a], cwd=tmp_path, capture_output=True, text=True)
    assert run('init', '--no-scm', '-q').returncode == 0
    (tmp_path/'ecomml').mkdir(); shutil.copy(ROOT/'ecomml'/'params.py', tmp_path/'ecomml'/'params.py')   # the stage's declared code dependency
    ok = run('repro', 'params')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path/'data'/'params_checked.txt').exists() and run('status', 'params').stdout.strip().endswith('up to date.')
    stamp = (tmp_path/'data'/'params_checked.txt').read_bytes()
    p = yaml.safe_load((tmp_path/'params.yaml').read_text()); p['common']['horizon_day'] = 60
    (tmp_path/'params.yaml').write_text(yaml.safe_dump(p, sort_keys=False))
    assert 'params' in run('status', 'params').stdout                       # any key is a dependency
    bad = run('repro', 'params')
    assert bad.returncode != 0
    assert 'common.horizon_day: unknown key (misspelt?) (known keys of common: seed, cutoffs, horizon_days' in bad.stdout + bad.stderr
    p['common'].pop('horizon_day'); p['clv']['penalizer'] = 0.01          # a valid change: checked, and the output does not change
    (tmp_path/'params.yaml').write_text(yaml.safe_dump(p, sort_keys=False))
    again = run('repro', 'params')
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path/'data'/'params_checked.txt').read_bytes() == stamp   # so the stages downstream rerun only for their own keys


def test_a_password_in_params_yaml_stops_dvc_repro_and_is_shown_nowhere(tmp_path):
    """A database URL with its password, or a key named like a secret, in params.yaml: `dvc repro` stops at the params stage with an
    error that names the key; the password is in no file but params.yaml itself (dvc.lock, DVC's own files) and in no output (issue 34)."""
    import shutil, subprocess
    from conftest import ROOT
    for f in ['params.yaml', 'dvc.yaml', 'settings.ini']: shutil.copy(ROOT/f, tmp_path/f)
    run = lambda *a: subprocess.run(['dvc', *a], cwd=tmp_path, capture_output=True, text=True)
    assert run('init', '--no-scm', '-q').returncode == 0
    (tmp_path/'ecomml').mkdir(); shutil.copy(ROOT/'ecomml'/'params.py', tmp_path/'ecomml'/'params.py')
    assert run('repro', 'params').returncode == 0
    pw = 'Planted-pa55word-7731'
    p = yaml.safe_load((tmp_path/'params.yaml').read_text())
    p['ingest'].update(source='sql', table='orders', db_url=f'postgresql://shop:{pw}@db.example.com:5432/orders')
    (tmp_path/'params.yaml').write_text(yaml.safe_dump(p, sort_keys=False))
    bad = run('repro')
    assert bad.returncode != 0 and 'ingest.db_url: a password or secret does not belong in params.yaml' in bad.stdout + bad.stderr, bad.stdout + bad.stderr
    assert pw not in bad.stdout + bad.stderr
    leaked = [str(f) for f in tmp_path.rglob('*') if f.is_file() and f.name != 'params.yaml' and pw.encode() in f.read_bytes()]
    assert not leaked and (tmp_path/'dvc.lock').exists(), leaked
    (tmp_path/'nbs').mkdir(); shutil.copy(ROOT/'nbs'/'01_ingest.ipynb', tmp_path/'nbs'/'01_ingest.ipynb')
    with pytest.raises(ParamsError) as e: run_stage('ingest', root=tmp_path)      # a stage run by hand checks it too
    assert 'ingest.db_url' in str(e.value) and pw not in str(e.value)
