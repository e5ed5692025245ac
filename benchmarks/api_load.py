"""Load benchmark of the API (issue 15): `ecomml-serve` on a loopback port, on this project's pipeline outputs.

1. start-up: from starting the process to the first 200 of /health;
2. GET /customers/{id} over random real customer ids at a fixed 500 requests per second for 30 s, open loop (a request is
   due at its time whether or not earlier ones have returned; latency counts from that time, so queueing shows), from
   an asyncio client in this process (raw HTTP/1.1 keep-alive; one Python process sends 500 rps easily this way);
3. the same rate with `hey` (Debian's load tool) on one customer, as a cross-check of the client;
4. POST /score with one real customer's raw history, 200 requests one after the other on a keep-alive connection, then
   the histories of 300 other random real customers, one request each (a mix of sizes: latency grows with the lines sent);
5. POST /score from 4 clients at once (closed loop, 2,000 requests), then 10,000 more at a random as_of each: throughput,
   latency, and the server's RSS before, between and after (it must stay flat whatever the as_of);
6. the server's memory (RSS, PSS and USS) after all of it, and the memory of a process that only imports what the server
   imports (the floor that no loading can go under);
7. the concurrent run of 5 again on `ecomml-serve --workers 2` (pre-forked from the loaded service): start-up,
   throughput and latency, and the memory of the loader and its workers summed (RSS, and PSS, which counts shared pages once);
8. with API keys on (issue 34), as a shop runs it: every request above sends a key, the server checks it and counts it
   against a limit set high enough not to refuse the load (`--rate-limit 1000000/second`: the limiter's work is still
   done); and the key check and limit in process, timed on their own against the same request without them;
9. with `--memory-limit MB`: all of the above with the server in a memory cgroup of that limit, as in a container
   (cgroup v2 or v1; needs root). The page cache is dropped first where allowed, so that the libraries and files the
   server reads are charged to its group, as in a fresh container. Reports the group's peak, how often it hit the
   limit and whether the kernel killed the server. This answers "how much memory must the service be given".

A CPU-speed reference (seconds for 10^7 additions in pure Python, best of 3) and the share of CPU time stolen by the
hypervisor during the run are recorded with each run: this machine's speed varies 2-3x between days, and the
latencies of POST /score and start-up follow it.

Run from the project root after `dvc repro`: `python benchmarks/api_load.py` (needs `hey` for step 3: apt-get install hey).
Results are printed as JSON and a Markdown table of issue 33's goals, each against the CPU reference; copy them to
RESULTS.md with the hardware. `make bench-api` runs it (~5 min)."""
import argparse, asyncio, json, os, platform, random, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import psutil


KEY = {}      # the API key every request sends: {'X-API-Key': key}, set by main()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


async def _conn(host, port):
    return await asyncio.open_connection(host, port)


async def _get(rw, path: str, host: str) -> int:
    r, w = rw
    w.write(f'GET {path} HTTP/1.1\r\nHost: {host}\r\n{"".join(f"{k}: {v}{chr(13)}{chr(10)}" for k, v in KEY.items())}\r\n'.encode())
    await w.drain()
    status = int((await r.readline()).split()[1])
    length = 0
    while (line := await r.readline()) not in (b'\r\n', b''):
        if line.lower().startswith(b'content-length:'): length = int(line.split(b':')[1])
    await r.readexactly(length)
    return status


async def open_loop(port: int, ids: list, rate: int, seconds: float, conns: int = 64, seed: int = 0) -> dict:
    "Requests due at i / rate for `seconds`; each takes a free keep-alive connection; latency from its due time."
    rng = random.Random(seed)
    pool = asyncio.Queue()
    for _ in range(conns): pool.put_nowait(await _conn('127.0.0.1', port))
    lat, errors, statuses = [], 0, {}
    async def one(due: float, path: str):
        nonlocal errors
        rw = await pool.get()
        try:
            s = await _get(rw, path, '127.0.0.1')
            statuses[s] = statuses.get(s, 0) + 1
            if s != 200: errors += 1
        except Exception:
            errors += 1; rw = await _conn('127.0.0.1', port)
        lat.append(time.perf_counter() - due)
        pool.put_nowait(rw)
    t0, tasks, n = time.perf_counter(), [], int(rate * seconds)
    for i in range(n):
        due = t0 + i / rate
        if (d := due - time.perf_counter()) > 0: await asyncio.sleep(d)
        tasks.append(asyncio.create_task(one(due, f'/customers/{rng.choice(ids)}')))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return dict(requests=n, seconds=round(wall, 2), rps=round(n / wall, 1), p50_ms=round(float(np.percentile(a, 50)), 2),
                p99_ms=round(float(np.percentile(a, 99)), 2), max_ms=round(float(a.max()), 2), errors=errors, statuses=statuses)


def hey(url: str, rate: int, seconds: int) -> dict | None:
    "`hey` at a fixed total rate (10 workers x rate/10 each) on one URL; its CSV gives every latency."
    exe = shutil.which('hey')
    if not exe: return None
    out = subprocess.run([exe, '-z', f'{seconds}s', '-c', '10', '-q', str(rate // 10), '-o', 'csv', *[x for k, v in KEY.items() for x in ('-H', f'{k}: {v}')], url], capture_output=True, text=True, check=True).stdout
    from io import StringIO
    d = pd.read_csv(StringIO(out))
    a = d['response-time'].to_numpy() * 1000
    return dict(requests=len(d), rps=round(len(d) / seconds, 1), p50_ms=round(float(np.percentile(a, 50)), 2), p99_ms=round(float(np.percentile(a, 99)), 2),
                max_ms=round(float(a.max()), 2), errors=int((d['status-code'] != 200).sum()))


def score_bench(url: str, body: bytes, n: int) -> dict:
    "POST /score `n` times one after the other on one keep-alive connection (as a client library sends them): latency of each."
    import http.client
    host, port = url.split('//')[1].split(':')
    c, lat, bad = http.client.HTTPConnection(host, int(port), timeout=10), [], 0
    for _ in range(n):
        t = time.perf_counter()
        try:
            c.request('POST', '/score', body=body, headers={'content-type': 'application/json', **KEY})
            r = c.getresponse(); r.read(); bad += r.status != 200
        except OSError: bad += 1; c.close(); c = http.client.HTTPConnection(host, int(port), timeout=10)     # a timeout or a dropped connection: an error, timed as it came
        lat.append((time.perf_counter() - t) * 1000)
    c.close()
    a = np.array(lat)
    return dict(requests=n, lines=len(json.loads(body)['lines']), p50_ms=round(float(np.percentile(a, 50)), 1), p99_ms=round(float(np.percentile(a, 99)), 1),
                max_ms=round(float(a.max()), 1), errors=bad)


def raw_lines(root: Path) -> pd.DataFrame:
    "The raw lines the pipeline read."
    src = json.loads((root/'data/interim/source.json').read_text())['files']
    return pd.concat([pd.read_parquet(f['file']) if f['file'].endswith('.parquet') else pd.read_excel(f['file'], engine='calamine') for f in src])


def raw_history(root: Path, cid: int, raw: pd.DataFrame | None = None) -> list:
    "One customer's raw lines as the JSON a client sends."
    raw = raw_lines(root) if raw is None else raw
    d = raw[raw.CustomerID == cid][['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'UnitPrice', 'CustomerID', 'Country']].copy()
    d['InvoiceDate'] = d.InvoiceDate.dt.strftime('%Y-%m-%dT%H:%M:%S'); d['InvoiceNo'], d['StockCode'] = d.InvoiceNo.astype(str), d.StockCode.astype(str)
    from ecomml.scoring import LINE_FIELDS
    return json.loads(d.rename(columns={c: f for f, c in LINE_FIELDS.items()}).to_json(orient='records'))      # POST /score's field names


def score_mix(url: str, root: Path, as_of: str, n: int, seed: int = 0) -> dict:
    "POST /score once for each of `n` random customers the pipeline scored: latency over the mix, and by the number of lines sent."
    raw = raw_lines(root)
    ids = pd.read_parquet(root/'data/scores/clv.parquet').customer_id.sample(n, random_state=seed).astype(int).tolist()
    rows = []
    for cid in ids:
        body = json.dumps({'as_of': as_of, 'lines': raw_history(root, cid, raw)}).encode()
        r = score_bench(url, body, 1)
        rows.append((len(json.loads(body)['lines']), r['p50_ms'], r['errors']))
    d = pd.DataFrame(rows, columns=['lines', 'ms', 'errors'])
    size = pd.cut(d.lines, [0, 50, 200, 1000, 10**6], labels=['1-50', '51-200', '201-1000', 'over 1000'])
    by = d.groupby(size, observed=True).ms.agg(['size', 'median', lambda x: x.quantile(0.99)]).round(1)
    by.columns = ['customers', 'p50_ms', 'p99_ms']
    return dict(customers=n, median_lines=int(d.lines.median()), p50_ms=round(float(d.ms.median()), 1), p99_ms=round(float(d.ms.quantile(0.99)), 1),
                max_ms=round(float(d.ms.max()), 1), errors=int(d.errors.sum()), by_lines=by.reset_index().rename(columns={'lines': 'lines sent'}).to_dict('records'))


def score_clients(port: int, bodies: list, clients: int = 4, requests: int = 2_000) -> dict:
    """POST /score from `clients` threads at once, each on its own keep-alive connection, each sending its next body as soon as
    the last answer came (closed loop), until `requests` are done: throughput and latency under concurrent load."""
    import http.client, threading
    lat, bad, lock, it = [], [0], threading.Lock(), iter(range(requests))
    def client():
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        while True:
            with lock: i = next(it, None)
            if i is None: break
            t = time.perf_counter()
            try:
                c.request('POST', '/score', body=bodies[i % len(bodies)], headers={'content-type': 'application/json', **KEY})
                r = c.getresponse(); r.read(); ok = r.status == 200
            except OSError: ok = False; c.close(); c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
            with lock: lat.append((time.perf_counter() - t) * 1000); bad[0] += not ok
        c.close()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - t0
    a = np.array(lat)
    return dict(clients=clients, requests=len(a), seconds=round(wall, 1), rps=round(len(a) / wall, 1), p50_ms=round(float(np.percentile(a, 50)), 1),
                p99_ms=round(float(np.percentile(a, 99)), 1), max_ms=round(float(a.max()), 1), errors=bad[0])


def any_as_of_bodies(root: Path, n: int, seed: int = 0) -> list:
    """`n` POST /score bodies: 50 random real customers' histories, each at a random score date between the day after the
    customer's first purchase and the day after the data end (a new as_of nearly every time; each has something to score)."""
    raw, rng = raw_lines(root), random.Random(seed)
    ids = pd.read_parquet(root/'data/scores/clv.parquet').customer_id.sample(50, random_state=seed).astype(int).tolist()
    hist = {c: raw_history(root, c, raw) for c in ids}
    end = raw.InvoiceDate.max().normalize() + pd.Timedelta(days=1)
    st = pd.read_parquet(root/'data/features/customers.parquet').query('cutoff == cutoff.max()').set_index('customer_id')
    first = {c: (st.cutoff[c] - pd.Timedelta(days=float(st.tenure_days[c]))).normalize() + pd.Timedelta(days=1) for c in ids}     # the first purchase, as the store saw it
    text = {c: json.dumps(h) for c, h in hist.items()}
    out = []
    for _ in range(n):
        c = rng.choice(ids); d = first[c] + pd.Timedelta(days=rng.randrange((end - first[c]).days + 1))
        out.append(f'{{"as_of": "{d:%Y-%m-%d}", "lines": {text[c]}}}'.encode())
    return out


def cpu_reference_s() -> float:
    "Seconds for 10^7 additions in pure Python, best of 3: how fast this machine's core is at the time of the run."
    best = float('inf')
    for _ in range(3):
        t, x = time.perf_counter(), 0
        for i in range(10_000_000): x += i
        best = min(best, time.perf_counter() - t)
    return round(best, 2)


def cpu_ticks() -> list:
    "The machine's CPU time so far by kind (user, nice, system, idle, iowait, irq, softirq, steal), from /proc/stat."
    return [int(x) for x in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:9]]


def steal_share(before: list, after: list) -> float:
    "Share of the CPU time between two `cpu_ticks` that the hypervisor gave to other machines (steal): a slow spell shows here."
    d = [b - a for a, b in zip(before, after)]
    return round(d[7] / max(sum(d), 1), 3)


class MemoryGroup:
    "A memory cgroup with a limit (v2 under /sys/fs/cgroup, else v1 under /sys/fs/cgroup/memory); processes join it in `preexec`."
    def __init__(self, limit_mb: int, name: str = 'ecomml_api_load'):
        v2, v1 = Path('/sys/fs/cgroup'), Path('/sys/fs/cgroup/memory')
        if (v2/'cgroup.controllers').exists():
            self.dir, self.v2 = v2/name, True
        elif v1.is_dir():
            self.dir, self.v2 = v1/name, False
        else: sys.exit('--memory-limit: no memory cgroup found (cgroup v2 at /sys/fs/cgroup or v1 at /sys/fs/cgroup/memory)')
        try:
            self.dir.mkdir(exist_ok=True)
            (self.dir/('memory.max' if self.v2 else 'memory.limit_in_bytes')).write_text(str(limit_mb * 2**20))
            if not self.v2: (self.dir/'memory.max_usage_in_bytes').write_text('0'); (self.dir/'memory.failcnt').write_text('0')
        except OSError as e: sys.exit(f'--memory-limit: cannot set up the memory cgroup {self.dir} ({e}); it needs root')
        self.limit_mb = limit_mb
        try:   # the files the server maps and reads are charged to the group that first reads them: start from an empty page cache
            os.sync(); Path('/proc/sys/vm/drop_caches').write_text('3'); self.cold = True
        except OSError: self.cold = False

    def preexec(self): (self.dir/'cgroup.procs').write_text(str(os.getpid()))

    def report(self) -> dict:
        if self.v2:
            ev = dict(l.split() for l in (self.dir/'memory.events').read_text().splitlines())
            peak = self.dir/'memory.peak'
            return dict(limit_mb=self.limit_mb, page_cache_dropped=self.cold, peak_mb=round(int(peak.read_text()) / 2**20) if peak.exists() else None,
                        times_at_limit=int(ev.get('max', 0)), oom_kills=int(ev.get('oom_kill', 0)))
        st = dict(l.split() for l in (self.dir/'memory.stat').read_text().splitlines())
        oom = dict(l.split() for l in (self.dir/'memory.oom_control').read_text().splitlines())
        return dict(limit_mb=self.limit_mb, page_cache_dropped=self.cold, peak_mb=round(int((self.dir/'memory.max_usage_in_bytes').read_text()) / 2**20),
                    times_at_limit=int((self.dir/'memory.failcnt').read_text()), oom_kills=int(oom.get('oom_kill', 0)),
                    anon_mb_at_end=round(int(st['rss']) / 2**20), page_cache_mb_at_end=round(int(st['cache']) / 2**20))


def imports_only_mb() -> float:
    "RSS of a process that imports what `ecomml-serve` imports (the API, the scorer's model modules, skops; no Ibis or DuckDB since issue 33) and loads nothing."
    code = ("import ecomml.api, ecomml.btyd, ecomml.churn, ecomml.clv, ecomml.segments, skops.io, uvicorn, fastapi_offline\n"
            "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])")
    return round(int(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout) / 1024)


def goals_table(r: dict) -> str:
    "The issue-33 goals of the API, each as measured and as a multiple of the CPU reference of the same run, in Markdown."
    ref, s, c = r['cpu_reference_s'], r['post_score'], r['post_score_concurrent']
    rows = [('POST /score, one client: p50', s['p50_ms'] / 1000, f"{s['p50_ms']} ms", 0.02), ('POST /score, one client: p99', s['p99_ms'] / 1000, f"{s['p99_ms']} ms", 0.05),
            ('API start-up', r['startup_s'], f"{r['startup_s']} s", 3.0)]
    out = [f"CPU reference: {ref} s ({r['machine']})", '', '| measure | measured | × CPU reference | goal | met |', '|---|--:|--:|--:|:--|']
    out += [f'| {n} | {m} | {v / ref:.3f} × | ≤ {g} × | {"yes" if v / ref <= g else "**no**"} |' for n, v, m, g in rows]
    out.append(f"| POST /score, {c['clients']} clients at once: throughput | {c['rps']} requests/s | | ≥ 100 requests/s | {'yes' if c['rps'] >= 100 else '**no**'} |")
    out.append(f"| POST /score, {c['clients']} clients at once: p99 | {c['p99_ms']} ms | | ≤ 100 ms | {'yes' if c['p99_ms'] <= 100 else '**no**'} |")
    if (pf := r.get('pre_forked')):
        c2, w = pf['post_score_concurrent'], pf['workers']
        out.append(f"| the same, `--workers {w}`: throughput | {c2['rps']} requests/s | | ≥ 100 requests/s | {'yes' if c2['rps'] >= 100 else '**no**'} |")
        out.append(f"| the same, `--workers {w}`: p99 | {c2['p99_ms']} ms | | ≤ 100 ms | {'yes' if c2['p99_ms'] <= 100 else '**no**'} |")
    m = r['post_score_any_as_of']['rss_mb_before_after_first_after_all']
    out.append(f"| RSS after the load (idle {r['rss_idle_mb']} MB) | {r['rss_after_mb']} MB | | ≤ 300 MB | {'yes' if r['rss_after_mb'] <= 300 else '**no**'} |")
    if pf:
        ma = pf['memory_after']
        out.append(f"| `--workers {w}` after the load, the loader and {w} workers: RSS summed (PSS summed: shared pages counted once) | {ma['rss_mb']} MB ({ma['pss_mb']} MB) | | ≤ 300 MB | {'yes' if ma['rss_mb'] <= 300 else '**no**'} |")
    g = r['guard']
    out.append(f"| API key check, limit and headers, per request (in process; every request above sent a key) | {g['overhead_ms']} ms | | ≤ 0.5 ms | {'yes' if g['overhead_ms'] <= 0.5 else '**no**'} |")
    out.append(f"| RSS over {r['post_score_any_as_of']['requests']:,} POST /score with any as_of: before, after the first {c['requests']:,}, after all | {' → '.join(map(str, m))} MB | | flat | {'yes' if m[2] - m[1] <= 5 else '**no**'} |")
    return '\n'.join(out)


def start_server(port: int, workers: int = 1, group=None, keys: Path | None = None) -> tuple:
    "`ecomml-serve --port P --workers N` started, with the key file `keys` and a limit that refuses nothing; (process, seconds from start to the first 200 of /health)."
    exe, url = Path(sys.executable).parent/'ecomml-serve', f'http://127.0.0.1:{port}'
    t0 = time.perf_counter()
    env = {**os.environ, **({'ECOMML_API_KEYS': str(keys)} if keys else {})}
    p = subprocess.Popen([str(exe), '--port', str(port), '--workers', str(workers), '--rate-limit', '1000000/second'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=group.preexec if group else None, env=env)
    while True:
        if p.poll() is not None: sys.exit(f'ecomml-serve exited: {p.stdout.read()}')
        try:
            with urllib.request.urlopen(url + '/health', timeout=1) as r:
                if r.status == 200: break
        except OSError: time.sleep(0.05)
    t = time.perf_counter() - t0
    while workers > 1 and len(psutil.Process(p.pid).children(recursive=True)) < workers and time.perf_counter() - t0 < 60: time.sleep(0.05)    # every worker forked
    return p, t


def guard_overhead(n: int = 20_000) -> dict:
    """The key check, the limit and the security headers (`ecomml.keys.Guard`) in process: a GET through the guard, with a key
    among 5 stored, against the same GET straight to the application (a bare ASGI app answering 200), microseconds per request."""
    import tempfile
    from ecomml.keys import Guard, KeyRing, new_key
    async def app(scope, receive, send):
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]})
        await send({'type': 'http.response.body', 'body': b'{}'})
    async def send(m): pass
    async def receive(): return {'type': 'http.request', 'body': b'', 'more_body': False}
    with tempfile.TemporaryDirectory() as d:
        keys = [new_key(f'k{i}', Path(d)/'keys.json') for i in range(5)]
        guard = Guard(app, KeyRing(Path(d)/'keys.json'), rate='1000000/second')
        scope = lambda h: {'type': 'http', 'method': 'GET', 'path': '/customers/12347', 'query_string': b'', 'headers': h}
        async def run(a, h, k):
            t = time.perf_counter()
            for _ in range(k): await a(scope(h), receive, send)
            return (time.perf_counter() - t) / k * 1e6
        loop = asyncio.new_event_loop()
        best = lambda a, h: min(loop.run_until_complete(run(a, h, n)) for _ in range(3))
        bare, guarded = best(app, [(b'host', b'x')]), best(guard, [(b'host', b'x'), (b'authorization', b'Bearer ' + keys[-1].encode())])
        loop.close()
    return dict(keys_stored=5, bare_us=round(bare, 1), with_guard_us=round(guarded, 1), overhead_ms=round((guarded - bare) / 1000, 4))


def tree_memory(pid: int) -> dict:
    "RSS, PSS (shared pages split between the processes that share them) and USS of a process and its children, summed, in MB: a pre-forked server's memory."
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    m = [q.memory_full_info() for q in procs]
    return dict(processes=len(procs), rss_mb=round(sum(x.rss for x in m) / 2**20), pss_mb=round(sum(x.pss for x in m) / 2**20), uss_mb=round(sum(x.uss for x in m) / 2**20))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rate', type=int, default=500); ap.add_argument('--seconds', type=int, default=30)
    ap.add_argument('--score-requests', type=int, default=200)
    ap.add_argument('--score-mix', type=int, default=300, help='other real customers, one POST /score each')
    ap.add_argument('--clients', type=int, default=4, help='POST /score clients at once')
    ap.add_argument('--concurrent-requests', type=int, default=2_000, help='POST /score requests of the concurrent run')
    ap.add_argument('--as-of-requests', type=int, default=10_000, help='POST /score requests at random as_of dates (memory must stay flat)')
    ap.add_argument('--workers', type=int, default=2, help='the concurrent run again on `ecomml-serve --workers N` (0: skip)')
    ap.add_argument('--memory-limit', type=int, metavar='MB', help='run the server in a memory cgroup of this limit (needs root)')
    a = ap.parse_args()
    root = Path.cwd()
    import tempfile
    from ecomml.keys import new_key
    key_file = Path(tempfile.mkdtemp())/'api_keys.json'       # authentication on, as a shop serves it
    KEY['X-API-Key'] = new_key('bench', key_file)
    guard = guard_overhead()
    group = MemoryGroup(a.memory_limit) if a.memory_limit else None
    cpu, ticks = cpu_reference_s(), cpu_ticks()
    port = free_port(); url = f'http://127.0.0.1:{port}'
    p, startup = start_server(port, 1, group, key_file)
    try:
        proc = psutil.Process(p.pid)
        rss_idle = proc.memory_info().rss
        ids = pd.read_parquet(root/'data/scores/clv.parquet').customer_id.tolist()
        get = asyncio.run(open_loop(port, ids, a.rate, a.seconds))
        one = hey(f'{url}/customers/{ids[0]}', a.rate, a.seconds)
        cid = int(pd.read_parquet(root/'data/features/customers.parquet').query('cutoff == cutoff.max()').sort_values('n_orders').customer_id.iloc[-200])
        body = json.dumps({'as_of': f"{pd.read_parquet(root/'data/scores/clv.parquet').score_date.max():%Y-%m-%d}", 'lines': raw_history(root, cid)}).encode()
        score = score_bench(url, body, a.score_requests)
        mix = score_mix(url, root, json.loads(body)['as_of'], a.score_mix)
        rss_before_as_of = proc.memory_info().rss
        as_of_bodies = any_as_of_bodies(root, a.as_of_requests)
        four = score_clients(port, as_of_bodies[:a.concurrent_requests], a.clients, a.concurrent_requests)      # 4 clients at once, any as_of
        rss_mid = proc.memory_info().rss
        rest = score_clients(port, as_of_bodies, a.clients, a.as_of_requests)
        rss_as_of = [round(rss_before_as_of / 2**20), round(rss_mid / 2**20), round(proc.memory_info().rss / 2**20)]
        mem = proc.memory_full_info()
    finally:
        p.terminate(); p.wait(timeout=10)
    pre = None
    if a.workers > 1:           # the same concurrent load on a pre-forked server: the second core answers too
        port2 = free_port()
        p2, startup2 = start_server(port2, a.workers, group, key_file)
        try:
            m_idle = tree_memory(p2.pid)
            run = score_clients(port2, as_of_bodies[:a.concurrent_requests], a.clients, a.concurrent_requests)
            pre = dict(workers=a.workers, startup_s=round(startup2, 2), memory_idle=m_idle, memory_after=tree_memory(p2.pid), post_score_concurrent=run)
        finally:
            p2.terminate(); p2.wait(timeout=20)
    res = dict(machine=f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
               cpu_reference_s=cpu, cpu_steal_share=steal_share(ticks, cpu_ticks()), client='same machine, loopback',
               memory_group=group.report() if group else None, api_keys='on: every request sends one', guard=guard, startup_s=round(startup, 2), rss_idle_mb=round(rss_idle / 2**20), rss_after_mb=round(mem.rss / 2**20),
               uss_after_mb=round(mem.uss / 2**20), pss_after_mb=round(mem.pss / 2**20), customers=len(ids), get_customer_open_loop=get, get_customer_hey_one_id=one,
               imports_only_rss_mb=imports_only_mb(), post_score=dict(customer=cid, **score), post_score_mix=mix,
               post_score_concurrent=four, post_score_any_as_of=dict(**rest, rss_mb_before_after_first_after_all=rss_as_of), pre_forked=pre)
    print(json.dumps(res, indent=2))
    print(goals_table(res))


if __name__ == '__main__':
    main()
