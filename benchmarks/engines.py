"""The feature store on synthetic Parquet logs of 1M, 10M and 100M lines: wall time and peak memory per engine.

Usage (from the project root, venv active):
    python benchmarks/engines.py                       # DuckDB at 1M, 10M, 100M; Spark at 1M, 10M (about 25 minutes)
    python benchmarks/engines.py --sizes 1 10 --engines duckdb pyspark
    python benchmarks/engines.py --spark-sizes 1 10 100  # Spark at 100M too (local mode: about 40 more minutes)

The logs: a synthetic store (`ecomml.synthetic.simulate_store`, 14,000 customers, ~1M clean lines) is cleaned once,
then written again and again with new customer, line and invoice numbers, one Parquet row group per copy, until the
log has the asked number of lines. Writing in chunks keeps memory flat and costs less than the run it feeds.
Every copy has the store's own dates, so the cutoffs are the pipeline's: 10 Mar, 10 Jun, 10 Sep, 10 Dec 2011.

A run is one process: `feature_store_to_parquet` (Parquet in, Parquet out, the four cutoffs) in a fresh Python,
timed from start to finish (interpreter, imports and, for Spark, the JVM included). Peak memory is the largest sum
of the resident memory of the process and its children (Spark's JVM), sampled every 50 ms with psutil.
Spark runs in local mode (`local[2]`): its figures are one-machine figures, not a cluster's.
Results go into benchmarks/engines.json (merged: a run replaces the same engine and size) and, as a table, into
benchmarks/RESULTS.md between the `engines:begin` and `engines:end` markers.
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CUTOFFS = ['2011-03-10', '2011-06-10', '2011-09-10', '2011-12-10']
LOGS = ROOT/'data'/'bench'      # not tracked (data/ is git-ignored); the 100M log takes ~2.4 GB


def base_store(seed: int = 7):
    "One clean synthetic store of about a million lines: the chunk the logs are made of."
    from ecomml.ingest import clean, to_transactions
    from ecomml.synthetic import simulate_store
    raw, _ = simulate_store(n_customers=14_000, seed=seed)
    tx, ret, *_ = clean(to_transactions(raw))
    return tx, ret


def make_log(millions: int, folder: Path = LOGS) -> tuple[Path, Path, float, int]:
    "transactions and returns Parquet files of about `millions` million lines (reused if already written)."
    import pyarrow as pa, pyarrow.parquet as pq
    from ecomml.core import CUSTOMER_ID, INVOICE_NO, LINE_ID
    tx_path, ret_path = folder/f'tx_{millions}m.parquet', folder/f'returns_{millions}m.parquet'
    meta = folder/f'log_{millions}m.json'
    if tx_path.exists() and ret_path.exists() and meta.exists():
        m = json.loads(meta.read_text()); return tx_path, ret_path, m['seconds'], m['lines']
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tx, ret = base_store()
    n_copies = max(1, round(millions * 1e6 / len(tx)))
    c_off, l_off = int(tx[CUSTOMER_ID].max()) + 1, int(max(tx[LINE_ID].max(), ret[LINE_ID].max())) + 1
    base_tx, base_ret = pa.Table.from_pandas(tx, preserve_index=False), pa.Table.from_pandas(ret, preserve_index=False)

    def copy(t: pa.Table, k: int) -> pa.Table:
        import pyarrow.compute as pc
        cols = {CUSTOMER_ID: pc.add(t[CUSTOMER_ID], k * c_off), LINE_ID: pc.add(t[LINE_ID], k * l_off),
                INVOICE_NO: pc.binary_join_element_wise(t[INVOICE_NO], pa.scalar(f'{k}'), '-')}
        if 'cancels' in t.column_names: cols['cancels'] = pc.add(t['cancels'], k * l_off)
        for name, col in cols.items(): t = t.set_column(t.column_names.index(name), name, col)
        return t

    lines = 0
    for path, base in [(tx_path, base_tx), (ret_path, base_ret)]:
        tmp = path.with_suffix('.part')
        with pq.ParquetWriter(tmp, base.schema) as w:
            for k in range(n_copies):
                w.write_table(copy(base, k))
        os.replace(tmp, path)
        if path == tx_path: lines = base.num_rows * n_copies
    seconds = time.perf_counter() - t0
    meta.write_text(json.dumps(dict(seconds=seconds, lines=lines, copies=n_copies, customers=int(tx[CUSTOMER_ID].nunique()) * n_copies)))
    return tx_path, ret_path, seconds, lines


def run_one(engine: str, tx_path: str, ret_path: str, out: str, memory_limit: str | None):
    "The measured work (in its own process): the feature store at the four cutoffs, Parquet in, Parquet out."
    from ecomml.features import connect, feature_store_to_parquet
    con = connect(engine, memory_limit=memory_limit) if engine == 'duckdb' else connect(engine)
    rows = feature_store_to_parquet(tx_path, ret_path, out, CUTOFFS, con=con)
    print(json.dumps(dict(rows=rows)))


def measure(engine: str, tx_path: Path, ret_path: Path, env: dict, memory_limit: str | None) -> dict:
    "Wall time and peak resident memory (process tree) of one run."
    import psutil
    out = Path(tempfile.mkdtemp(prefix='ecomml-bench-'))/'store.parquet'
    cmd = [sys.executable, __file__, '--run', engine, str(tx_path), str(ret_path), str(out)] + (['--memory-limit', memory_limit] if memory_limit else [])
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc, peak = psutil.Process(p.pid), 0
    while p.poll() is None:
        try: rss = sum(q.memory_info().rss for q in [proc, *proc.children(recursive=True)])
        except psutil.Error: rss = 0
        peak = max(peak, rss); time.sleep(0.05)
    wall = time.perf_counter() - t0
    so, se = p.communicate()
    shutil.rmtree(out.parent, ignore_errors=True)
    if p.returncode != 0: raise RuntimeError(f'{engine} on {tx_path.name} failed:\n{se[-3000:]}')
    return dict(seconds=wall, peak_gb=peak / 1e9, rows=json.loads(so.strip().splitlines()[-1])['rows'])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', type=int, nargs='*', default=[1, 10, 100], help='log sizes in millions of lines (DuckDB)')
    ap.add_argument('--spark-sizes', type=int, nargs='*', default=[1, 10], help='log sizes for Spark')
    ap.add_argument('--engines', nargs='*', default=['duckdb', 'pyspark'])
    ap.add_argument('--memory-limit', default=None, help="DuckDB's memory limit (e.g. 1GB); default: DuckDB's own (80%% of RAM)")
    ap.add_argument('--run', nargs=4, metavar=('ENGINE', 'TX', 'RETURNS', 'OUT'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run: return run_one(*a.run, a.memory_limit)
    env = {**os.environ, 'OPENBLAS_NUM_THREADS': '1'}
    rows = []
    for n in sorted(set(a.sizes) | set(a.spark_sizes)):
        tx_path, ret_path, gen_s, lines = make_log(n)
        print(f'log {n}M: {lines:,} lines, written in {gen_s:.0f} s ({tx_path.stat().st_size / 1e9:.2f} GB)', flush=True)
        for engine in a.engines:
            if n not in (a.sizes if engine == 'duckdb' else a.spark_sizes): continue
            e = dict(env, ECOMML_SPARK_PARTITIONS=str(max(8, 4 * n)), ECOMML_SPARK_DRIVER_MEMORY='12g') if engine == 'pyspark' else env
            r = measure(engine, tx_path, ret_path, e, a.memory_limit if engine == 'duckdb' else None)
            rows.append(dict(engine=engine, lines=lines, log_gb=tx_path.stat().st_size / 1e9, generate_s=gen_s,
                             memory_limit=a.memory_limit if engine == 'duckdb' else None, **r))
            print(rows[-1], flush=True)
    write_results(rows, a.memory_limit)


def write_results(rows: list, memory_limit):
    "Merge `rows` into benchmarks/engines.json (a new run replaces the same engine and size) and rewrite the table from it."
    import pandas as pd
    store = ROOT/'benchmarks'/'engines.json'
    old = json.loads(store.read_text()) if store.exists() else []
    key = lambda r: (r['engine'], r['lines'], r.get('memory_limit'))
    new = {key(r) for r in rows}
    rows = [r for r in old if key(r) not in new] + rows
    store.write_text(json.dumps(rows, indent=1))
    df = pd.DataFrame(rows)
    df['memory_limit'] = df.get('memory_limit', pd.Series(index=df.index, dtype=object)).astype(object).where(lambda x: x.notna(), None)
    df = df.sort_values(['lines', 'engine'], kind='stable')
    name = lambda r: ({'duckdb': 'DuckDB (embedded)', 'pyspark': 'Spark, local[2] (one machine)'}[r.engine]
                      + (f', memory limit {r.memory_limit}' if r.memory_limit else ''))
    lines = ['<!-- engines:begin (written by benchmarks/engines.py) -->',
             f'## Feature store by engine (`python benchmarks/engines.py`, {time.strftime("%Y-%m-%d")})', '',
             f'{platform.machine()}, {os.cpu_count()} cores, {__import__("psutil").virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}. '
             'DuckDB memory limit: its default (80% of RAM) unless the row names one. Four cutoffs, Parquet in, Parquet out; '
             'time and peak memory of the whole process (Spark: with its JVM).', '',
             '| engine | lines | log on disk (GB) | log written in (s) | feature rows | wall (s) | lines per second | peak memory (GB) |',
             '|:--|--:|--:|--:|--:|--:|--:|--:|']
    for r in df.itertuples():
        lines.append(f'| {name(r)} | {r.lines:,} | {r.log_gb:.2f} | {r.generate_s:.0f} | {r.rows:,} | {r.seconds:.1f} | {r.lines / r.seconds:,.0f} | {r.peak_gb:.2f} |')
    lines.append('<!-- engines:end -->')
    out = ROOT/'benchmarks'/'RESULTS.md'
    old = out.read_text()
    if '<!-- engines:begin' in old:
        head, rest = old.split('<!-- engines:begin', 1)
        new = head + '\n'.join(lines) + rest.split('<!-- engines:end -->', 1)[1]
    else: new = old.rstrip('\n') + '\n\n' + '\n'.join(lines) + '\n'
    out.write_text(new)
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
