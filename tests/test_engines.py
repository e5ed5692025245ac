"""The feature store on both engines: DuckDB (embedded, the default) and Spark (local mode, through PySpark)
must give the same table, to the last digit in integer and text columns and to 1e-9 in float columns.

The Spark test needs Java 17. Without it `make test` skips the test and says so; under CI (`CI` set) a
missing Java fails it instead, since `.ci/run` installs Java."""
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from ecomml.core import CUSTOMER_ID, CUTOFF, INVOICE_DATE
from ecomml.features import FEATURES, TARGETS, connect, coverage_problems, feature_store, feature_store_to_parquet
from ecomml.ingest import clean, to_transactions
from ecomml.synthetic import simulate_store

CUTS = ['2011-03-10', '2011-06-10', '2011-09-10', '2011-12-10']


def _java() -> str | None:
    "Why Spark cannot run here, or None if it can."
    if not shutil.which('java'): return 'Java is not installed (Debian: apt-get install default-jre-headless; .ci/run installs it)'
    try: import pyspark  # noqa: F401
    except ImportError: return 'PySpark is not installed (make install)'
    r = subprocess.run(['java', '-version'], capture_output=True, text=True)
    return None if r.returncode == 0 else f'java -version failed: {r.stderr.strip()[:200]}'


WHY_NOT = _java()
spark = pytest.mark.skipif(WHY_NOT is not None and not os.environ.get('CI'), reason=f'Spark engine test skipped: {WHY_NOT}')
# a JVM start and Spark's local run (~50 s): `make test-slow`, and CI


@pytest.fixture(scope='module')
def small_lake(tmp_path_factory):
    "A synthetic store of 300 customers, cleaned, as the two Parquet files of the lake (what the features stage reads)."
    d = tmp_path_factory.mktemp('lake')
    raw, _ = simulate_store(n_customers=300, seed=11)
    tx, ret, *_ = clean(to_transactions(raw))
    tx.to_parquet(d/'transactions.parquet', index=False); ret.to_parquet(d/'returns.parquet', index=False)
    return d/'transactions.parquet', d/'returns.parquet', tx


def assert_same_store(a: pd.DataFrame, b: pd.DataFrame):
    "Equal keys and columns; integers and text to the last digit, floats to 1e-9 (relative), missing values in the same cells."
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    assert (a[CUSTOMER_ID].to_numpy() == b[CUSTOMER_ID].to_numpy()).all() and (a[CUTOFF].to_numpy() == b[CUTOFF].to_numpy()).all()
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.kind == 'f':
            assert (x.isna() == y.isna()).all(), f'{c}: missing in different rows'
            assert np.allclose(x.fillna(0), y.fillna(0), rtol=1e-9, atol=0), f'{c}: max difference {np.nanmax(np.abs(x - y))}'
        else:
            assert (x.astype(str).to_numpy() == y.astype(str).to_numpy()).all(), f'{c}: differs in {(x.astype(str) != y.astype(str)).sum()} rows'


def test_duckdb_reads_parquet_and_frames_alike(small_lake):
    tx_file, ret_file, tx = small_lake
    a = feature_store(tx_file, ret_file, CUTS)
    b = feature_store(pd.read_parquet(tx_file), pd.read_parquet(ret_file), CUTS)
    assert_same_store(a, b)
    assert len(a) > 600 and a[CUTOFF].nunique() == 4 and a.target_bought.notna().sum() > 400   # a real store, with targets


def test_store_written_by_the_engine(small_lake, tmp_path):
    "The out-of-core path (the engine writes the Parquet itself, nothing collected) holds the same store."
    tx_file, ret_file, _ = small_lake
    n = feature_store_to_parquet(tx_file, ret_file, tmp_path/'store.parquet', CUTS)
    a = feature_store(tx_file, ret_file, CUTS)
    b = pd.read_parquet(tmp_path/'store.parquet').sort_values([CUTOFF, CUSTOMER_ID], ignore_index=True)
    assert n == len(a)
    assert_same_store(a, b.astype(a.dtypes.to_dict()))


def test_comparison_catches_a_difference(small_lake):
    "The comparison itself fails on a store one float off in one cell (so a pass means something)."
    a = feature_store(*small_lake[:2], CUTS[:1])
    b = a.copy(); b.loc[(a.monetary_value > 0).idxmax(), 'monetary_value'] *= 1 + 1e-6
    with pytest.raises(AssertionError, match='monetary_value'): assert_same_store(a, b)


@spark
@pytest.mark.slow
def test_spark_gives_the_duckdb_store(small_lake):
    assert WHY_NOT is None, f'CI must run the Spark test: {WHY_NOT}'
    tx_file, ret_file, tx = small_lake
    duck = feature_store(tx_file, ret_file, CUTS, engine='duckdb')
    con = connect('pyspark')
    assert con.name == 'pyspark' and con._session.sparkContext.master.startswith('local')
    sp = feature_store(tx_file, ret_file, CUTS, con=con)
    assert_same_store(duck, sp)
    # the coverage rules hold on the Spark-built store too
    assert coverage_problems(sp, data_start=tx[INVOICE_DATE].min()) == []
    assert set(FEATURES + TARGETS) <= set(sp.columns)


def test_spark_without_java_says_so(tmp_path):
    "features.engine = pyspark on a machine without Java: one clear error naming the parameter and the remedy, not a Py4J traceback."
    pytest.importorskip('pyspark')
    env = {k: v for k, v in os.environ.items() if k != 'JAVA_HOME'}
    env['PATH'] = str(tmp_path)                          # no java on the PATH
    code = ("from ecomml.features import connect\n"
            "try: connect('pyspark')\n"
            "except RuntimeError as e: print('ERROR', e)\n")
    import sys
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=120)
    assert 'ERROR features.engine = pyspark: Spark did not start' in r.stdout, r.stdout + r.stderr
    assert 'Java 17' in r.stdout


def test_summaries_and_stores_are_the_same_bits_on_every_run():
    """A log long enough for DuckDB to sum in parallel (~280,000 lines on 2 or more cores): the BTYD summary and the
    feature store built without a connection of one's own come out bit for bit the same on every run. With DuckDB's
    threads, 100-200 customers' mean spend differed in the last bits from run to run, and so did the Gamma-Gamma
    fit of the CLV stage (caught by CI's rerun of every stage)."""
    from ecomml.features import btyd_summary
    raw, _ = simulate_store(n_customers=4000, seed=3)
    tx, ret, *_ = clean(to_transactions(raw))
    assert len(tx) > 2 * 122_880            # more than two of DuckDB's row groups: parallel work, where threads are allowed
    runs = [btyd_summary(tx, pd.Timestamp('2011-12-10')) for _ in range(4)]
    for r in runs[1:]: pd.testing.assert_frame_equal(r, runs[0], check_exact=True)
    stores = [feature_store(tx, ret, ['2011-12-10'], 90) for _ in range(3)]
    for s in stores[1:]: pd.testing.assert_frame_equal(s, stores[0], check_exact=True)
