"Shared fixtures: a throw-away copy of the project, and small raw workbooks."
import contextlib
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


def git(root: Path, *args) -> str:
    import subprocess
    return subprocess.run(['git', '-C', str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope='session')
def synthetic_repo(tmp_path_factory):
    """A git + DVC copy of the project whose `dvc repro` ran on a synthetic store of 1,500 customers (offline), committed:
    what a user has after `make repro`, for the tests of the model store, the API and the browser."""
    import subprocess
    if os.environ.get('ECOMML_TEST_REPO'): return Path(os.environ['ECOMML_TEST_REPO'])    # one built by an earlier run (while writing tests); never set in CI
    r = tmp_path_factory.mktemp('repo')
    for f in ['settings.ini', 'params.yaml', 'dvc.yaml', '.gitignore', '.dvcignore', 'pyproject.toml']: shutil.copy(ROOT/f, r/f)
    for d in ['nbs', 'ecomml']: shutil.copytree(ROOT/d, r/d, ignore=shutil.ignore_patterns('.ipynb_checkpoints', '__pycache__'))
    (r/'.dvc').mkdir(); shutil.copy(ROOT/'.dvc/config', r/'.dvc/config'); (r/'data'/'raw').mkdir(parents=True)
    # as test_pipeline: Gamma-Gamma needs enough repeat buyers; without Pareto/NBD, whose fit on this store takes ~40 of the clv
    # stage's ~70 s (its dropout rate heads for zero, where lifetimes' hyp2f1 is slow): the UCI run in CI fits all three
    set_params(r, ingest={'source': 'synthetic', 'download': False}, synthetic={'n_customers': 1500},
               clv={'interval_draws': 10, 'models': ['bgnbd', 'mbgnbd'], 'candidates': ['bgnbd', 'mbgnbd', 'gradient_boosting', 'calibration_rate']})
    git(r, 'init', '-q', '-b', 'main'); git(r, 'config', 'user.email', 'test@ecomml.invalid'); git(r, 'config', 'user.name', 'ecomml tests')
    env = {k: v for k, v in os.environ.items() if k != 'ECOMML_DATA_DIR'}
    run = subprocess.run(['dvc', 'repro', '-q'], cwd=r, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    git(r, 'add', '-A'); git(r, 'commit', '-q', '-m', 'pipeline on the synthetic store')
    return r


@pytest.fixture(scope='session')
def postgres():
    """A real PostgreSQL server (Debian's binaries) on a free port of 127.0.0.1, for the database source: its URL without a database
    name (user `test`, trust authentication). initdb and pg_ctl refuse root: as root they run as the `postgres` user (runuser).
    Without the binaries the tests are skipped, except in CI (CI=1), where .ci/run installs them."""
    import glob, socket, subprocess, tempfile
    bins = sorted(glob.glob('/usr/lib/postgresql/*/bin'))
    if not bins:
        if os.environ.get('CI'): pytest.fail('PostgreSQL is not installed (apt-get install postgresql)')
        pytest.skip('PostgreSQL is not installed')
    as_pg = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
    d = Path(tempfile.mkdtemp(prefix='ecomml-pg-', dir='/tmp')); d.chmod(0o755)
    if as_pg: shutil.chown(d, 'postgres')
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    run = lambda *a: subprocess.run([*as_pg, *a], check=True, capture_output=True, text=True)
    run(f'{bins[-1]}/initdb', '-D', f'{d}/data', '-U', 'test', '--auth=trust', '-E', 'UTF8', '--no-locale')
    run(f'{bins[-1]}/pg_ctl', '-D', f'{d}/data', '-l', f'{d}/log', '-o', f'-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off', '-w', 'start')
    try: yield f'postgresql://test:s3cret-Pa55@127.0.0.1:{port}'        # a password in the URL: trust accepts it, and no message may show it
    finally:
        subprocess.run([*as_pg, f'{bins[-1]}/pg_ctl', '-D', f'{d}/data', '-m', 'fast', 'stop'], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def pg_load(url: str, tables: dict):
    "Create (replace) tables in the server's `postgres` database: {name: a frame or a Parquet path}, through DuckDB's postgres extension."
    import duckdb
    from ecomml.sources import duckdb_extension_dir
    con = duckdb.connect()
    con.sql(f"SET autoinstall_known_extensions=false; SET extension_directory='{duckdb_extension_dir()}'; LOAD postgres")
    con.sql(f"ATTACH '{url}/postgres' AS pg (TYPE postgres)")
    for name, src in tables.items():
        if isinstance(src, pd.DataFrame): con.register('_src', src); q = 'SELECT * FROM _src'
        else: q = f"SELECT * FROM read_parquet('{src}')"
        con.sql(f'DROP TABLE IF EXISTS pg.public."{name}"'); con.sql(f'CREATE TABLE pg.public."{name}" AS {q}')
    con.close()


@pytest.fixture(scope='session')
def cdnow_repo(tmp_path_factory):
    """A copy of the project whose every stage ran on the CDNOW sample as `lifetimes` ships it (`preset: cdnow`, weeks): a second
    shop, without products or countries, in dollars (~110 s). Shared by its own test and the browser tests (one xdist group)."""
    import lifetimes
    from ecomml.core import run_stage
    r = tmp_path_factory.mktemp('cdnow')
    for f in ['settings.ini', 'params.yaml', 'dvc.yaml']: shutil.copy(ROOT/f, r/f)
    shutil.copytree(ROOT/'nbs', r/'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    (r/'data'/'raw').mkdir(parents=True)
    set_params(r, ingest={'source': 'file', 'preset': 'cdnow', 'path': str(Path(lifetimes.__file__).parent/'datasets'/'CDNOW_sample.txt'), 'download': False},
               common={'time_unit': 'W'}, clv={'interval_draws': 10})
    for s in ['ingest', 'features', 'clv', 'churn', 'segments', 'recs', 'monitor', 'dashboard']: run_stage(s, root=r)
    return r


@contextlib.contextmanager
def ecomml_serve(root: Path, wait_s: float = 90, args: tuple = (), keys: Path | None = None):
    """`ecomml-serve` as a user starts it, in `root`, on a free loopback port, with `args`: (its URL, seconds until /health answered[, the process]);
    stopped at the end. `keys`: the key file ($ECOMML_API_KEYS); without one, a file that does not exist, so the server runs open
    (development mode) whatever keys the project holds."""
    import os, socket, subprocess, sys, time, urllib.request
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    t0 = time.perf_counter()
    env = {**os.environ, 'ECOMML_API_KEYS': str(keys or Path(root)/'.secrets'/'no-keys-in-tests.json')}
    p = subprocess.Popen([str(Path(sys.executable).parent/'ecomml-serve'), '--port', str(port), *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f'http://127.0.0.1:{port}'
    try:
        while True:
            if p.poll() is not None: raise AssertionError(f'ecomml-serve exited: {p.stdout.read()}')
            try:
                with urllib.request.urlopen(url + '/health', timeout=1) as r:
                    if r.status == 200: break
            except OSError: time.sleep(0.1)
            if time.perf_counter() - t0 > wait_s:
                p.kill(); raise AssertionError(f'ecomml-serve did not answer within {wait_s:.0f} s; it printed:\n{p.communicate(timeout=10)[0][-3000:]}')
        yield (url, time.perf_counter() - t0, p) if args or keys else (url, time.perf_counter() - t0)
    finally:
        p.terminate()
        try: p.wait(timeout=20)
        except subprocess.TimeoutExpired: p.kill(); p.wait(timeout=10); raise AssertionError('ecomml-serve did not stop within 20 s of SIGTERM')
