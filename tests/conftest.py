"Shared fixtures: a throw-away copy of the project, and small raw workbooks."
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# stage kernels started by the tests inherit this, as they do from `ecomml-stage` (one BLAS thread: see ecomml.core.stage_cli)
for _v in ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS']: os.environ.setdefault(_v, '1')


@pytest.fixture
def project(tmp_path, monkeypatch):
    "A copy of the project's notebooks and configuration in a temporary folder (the installed `ecomml` is used)."
    for f in ['settings.ini', 'params.yaml', 'dvc.yaml']: shutil.copy(ROOT/f, tmp_path/f)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    (tmp_path/'data'/'raw').mkdir(parents=True)
    monkeypatch.delenv('ECOMML_DATA_DIR', raising=False)
    return tmp_path


def set_params(root: Path, **sections):
    "Update sections of the copy's params.yaml, key by key."
    p = yaml.safe_load((root/'params.yaml').read_text())
    for s, kv in sections.items(): p[s].update(kv)
    (root/'params.yaml').write_text(yaml.safe_dump(p, sort_keys=False))
    return p


def small_raw(n_customers=60, seed=1) -> pd.DataFrame:
    "A small raw table in the UCI schema, from the synthetic store."
    from ecomml.synthetic import simulate_store
    return simulate_store(n_customers=n_customers, seed=seed)[0]


def write_xlsx(df: pd.DataFrame, path: Path, sheet='Online Retail'):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_excel(path, sheet_name=sheet, index=False, engine='openpyxl')
    return path


def outputs(root: Path) -> list:
    "Every file the pipeline may have written (data, models, reports; not the raw inputs)."
    found = []
    for d in ['data/interim', 'data/features', 'data/scores', 'models', 'reports']:
        if (root/d).exists(): found += [p.relative_to(root) for p in (root/d).rglob('*') if p.is_file()]
    return sorted(str(p) for p in found)
