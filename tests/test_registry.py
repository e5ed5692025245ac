"""The model store's round trip on a copy of the synthetic repository: register, promote, retrain, load by stage
(from DVC's cache when the working tree has moved on), refuse a changed file, and GTO reading the same tags."""
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import git, set_params
from ecomml.registry import RegistryError, card_front_matter, load_model, md5_bytes, model_stages, model_versions, promote, register, resolve

# slow when it builds the synthetic repository (`dvc repro`, ~3 min): `make test-slow`, and CI; one xdist worker builds it
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('synthetic_repo')]


@pytest.fixture
def repo(synthetic_repo, tmp_path):
    "A private copy (git history, DVC cache and outputs): registering writes commits and tags."
    r = tmp_path/'repo'
    shutil.copytree(synthetic_repo, r, symlinks=True)
    return r


def test_register_promote_load_by_stage(repo):
    # before any tag the working tree is served, checked against dvc.lock
    assert model_versions('churn', repo) == [] and resolve('churn', root=repo)['rev'] is None
    m0 = load_model('churn', root=repo)
    assert m0.info['source'].startswith('working tree') and hasattr(m0.objects['model.skops'], 'predict_proba')
    with pytest.raises(RegistryError, match="no version v9.9.9 in the registry"): resolve('churn', version='v9.9.9', root=repo)
    # register: the meta of model.json goes into dvc.yaml's artifact entry, in a commit of its own, and the tag marks it
    tag = register('churn', root=repo)
    assert tag == 'churn@v1.0.0' and git(repo, 'log', '-1', '--format=%s').strip() == 'Register churn@v1.0.0'
    meta = yaml.safe_load((repo/'dvc.yaml').read_text())['artifacts']['churn']['meta']
    card = json.loads((repo/'models/churn/model.json').read_text())
    assert meta == card['meta'] and meta['as_of'] == '2011-12-10' and meta['holdout']['model'] == card['model'] and meta['data']['source'] == 'synthetic'
    assert git(repo, 'status', '--porcelain', '--untracked-files=no') == ''
    with pytest.raises(RegistryError, match='v1.0.0 exists already'): register('churn', 'v1.0.0', root=repo)
    assert promote('churn', stage='prod', root=repo) == 'churn#prod#1' and model_stages('churn', repo) == {'prod': 'v1.0.0'}
    # DVC resolves the same commit
    import dvc.api
    assert dvc.api.artifacts_show('churn', stage='prod', repo=str(repo))['rev'] == git(repo, 'rev-list', '-n1', 'churn@v1.0.0').strip()
    # GTO, where installed, reads the tags the same way
    gto = shutil.which('gto')
    if gto:
        out = subprocess.run([gto, 'show', 'churn', '--json'], cwd=repo, capture_output=True, text=True, check=True).stdout
        assert '"v1.0.0"' in out and 'prod' in out
    p_v1 = load_model('churn', stage='prod', root=repo)
    X = pd.read_parquet(repo/'data/features/customers.parquet').query('cutoff == cutoff.max()')
    from ecomml.churn import model_inputs
    before = p_v1.objects['model.skops'].predict_proba(model_inputs(X, p_v1.card['model']))[:, 1]

    # retrain with other settings and register v1.1.0; prod still loads v1.0.0, read from DVC's cache
    set_params(repo, churn={'tune_folds': 0, 'logistic_C': 0.001, 'gb_learning_rate': 0.2})
    run = subprocess.run(['dvc', 'repro', '-q', 'churn'], cwd=repo, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    with pytest.raises(RegistryError, match='commit these first'): register('churn', root=repo)     # params.yaml changed, not committed
    git(repo, 'commit', '-qam', 'churn with other settings')
    assert register('churn', root=repo) == 'churn@v1.1.0' and model_versions('churn', repo) == ['v1.0.0', 'v1.1.0']
    assert resolve('churn', root=repo)['version'] == 'v1.0.0'           # the default is prod, not the latest
    latest = load_model('churn', version='v1.1.0', root=repo)
    again = load_model('churn', stage='prod', root=repo)
    after = again.objects['model.skops'].predict_proba(model_inputs(X, again.card['model']))[:, 1]
    np.testing.assert_array_equal(after, before)
    from ecomml.registry import lock_record
    rec = lock_record(git(repo, 'show', 'churn@v1.0.0:dvc.lock'), 'models/churn')
    assert md5_bytes((repo/'models/churn/model.skops').read_bytes()) != rec['models/churn/model.skops']    # the working tree moved on: v1.0.0 came from DVC's cache
    assert latest.info['rev'] != again.info['rev'] and latest.card['hyperparameters'] != again.card['hyperparameters']
    promote('churn', 'v1.1.0', 'prod', root=repo)
    assert model_stages('churn', repo) == {'prod': 'v1.1.0'} and load_model('churn', root=repo).info['version'] == 'v1.1.0'


def test_a_changed_file_is_refused_and_the_version_survives(repo):
    register('segments', root=repo)
    f = repo/'models/segments/model.skops'
    b = bytearray(f.read_bytes()); b[len(b) // 2] ^= 0xFF; f.write_bytes(bytes(b))     # one byte changed after the pipeline wrote it
    with pytest.raises(RegistryError, match=r'models/segments/model.skops \(working tree\): refused: its MD5 \w+ differs from the registry'):
        _working(repo)
    # the registered version is still intact in DVC's cache
    assert load_model('segments', version='v1.0.0', root=repo).objects['model.skops']['kmeans'].n_clusters >= 3
    # the HF-style card is what the stage wrote: front matter with metrics, the sections in order
    fm = card_front_matter((repo/'models/segments/MODEL_CARD.md').read_text())
    assert fm['model-index'][0]['results'][0]['metrics'] and fm['as_of'] == '2011-12-10'


def _working(repo):
    "Load the working tree's files (the registry's record: the working dvc.lock)."
    from ecomml.registry import read_verified
    info = dict(name='segments', version=None, stage=None, rev=None, path='models/segments', source='working tree')
    return read_verified(info, repo)


def test_every_model_card_has_the_hugging_face_layout(synthetic_repo):
    import re
    for name in ['clv', 'churn', 'segments', 'recs']:
        card = (synthetic_repo/f'models/{name}/MODEL_CARD.md').read_text()
        fm = card_front_matter(card)
        assert fm['model-index'][0]['results'][0]['metrics'], name
        assert re.findall(r'^## (.+)$', card, re.M) == ['Intended use', 'Training data', 'Evaluation against the baseline', 'Limitations', 'How to load'], name
        assert 'joblib.load' not in card and 'baseline' in card.split('## Evaluation against the baseline')[1].split('## Limitations')[0].lower(), name
        m = load_model(name, root=synthetic_repo)
        assert m.card['meta']['as_of'] and m.card['meta']['holdout'], name


def test_files_not_decoded_are_still_checked(repo):
    "The API decodes only what it serves (`decode_if`); every file of the model is checked against dvc.lock all the same."
    only_json = lambda f, card: f.endswith('.json')
    m = load_model('churn', root=repo, decode_if=only_json)
    assert set(m.objects) == {'model.json'} and m.card['model'] and 'model.skops' not in m.objects
    f = repo/'models/churn/model.skops'
    b = bytearray(f.read_bytes()); b[len(b) // 2] ^= 0xFF; f.write_bytes(bytes(b))
    with pytest.raises(RegistryError, match=r'models/churn/model.skops \(working tree.*refused: its MD5'):
        load_model('churn', root=repo, decode_if=only_json)
