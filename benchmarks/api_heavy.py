"""POST /score under heavy bodies (issue 34): 20 clients at once, each with 20,000 lines (~2.9 MB). Usage: python benchmarks/api_heavy.py URL KEY SERVER_PID.
Prints the server's RSS before, at its peak and after, and /health's latency meanwhile."""
import datetime as dt, json, sys, threading, time, urllib.request
import psutil
url, key, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = dt.datetime(2010, 12, 1)
L = [{"invoice_no": str(100000 + i), "stock_code": "22423", "quantity": 2, "invoice_date": (base + dt.timedelta(minutes=25 * i)).isoformat(),
      "unit_price": 12.75, "customer_id": 99001} for i in range(20000)]
body = json.dumps({"as_of": "2011-12-10", "lines": L}).encode()
proc = psutil.Process(pid); rss = lambda: round(proc.memory_info().rss / 2**20)
before, peak, codes, health = rss(), [0], [], []
def post():
    req = urllib.request.Request(url + '/score', data=body, headers={'content-type': 'application/json', 'X-API-Key': key})
    try:
        with urllib.request.urlopen(req, timeout=300) as r: codes.append(r.status)
    except urllib.error.HTTPError as e: codes.append(e.code)
    except Exception as e: codes.append(type(e).__name__)
stop = False
def watch():
    while not stop:
        peak[0] = max(peak[0], rss()); t = time.perf_counter()
        urllib.request.urlopen(url + '/health', timeout=60).read(); health.append(time.perf_counter() - t); time.sleep(0.1)
w = threading.Thread(target=watch); w.start()
t0 = time.perf_counter(); ts = [threading.Thread(target=post) for _ in range(20)]
for t in ts: t.start()
for t in ts: t.join()
wall = time.perf_counter() - t0; stop = True; w.join(); time.sleep(1)
print(json.dumps(dict(body_mb=round(len(body) / 1e6, 2), seconds=round(wall, 1), codes={c: codes.count(c) for c in set(codes)}, rss_before=before, rss_peak=peak[0], rss_after=rss(),
                      health_max_s=round(max(health), 2), health_p50_s=round(sorted(health)[len(health) // 2], 3))))
