"""The dashboard's budgets: stage time (<= 10 s), file size (<= 6 MB), draw time in headless Chromium (< 2 s),
and every report <= 1.5 MB. Run after `dvc repro` on the real data; rewrites its own section of RESULTS.md."""
import os, platform, statistics, subprocess, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']


def stage_seconds(n=3):
    out = []
    for _ in range(n):
        t = time.perf_counter(); subprocess.run(['ecomml-stage', 'dashboard'], cwd=ROOT, check=True, capture_output=True); out.append(time.perf_counter() - t)
    return out


def draw_seconds(n=5):
    "From navigation start until the page's script has drawn every panel (window.ecommlReady)."
    from playwright.sync_api import sync_playwright
    out = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path='/usr/bin/chromium', args=ARGS)
        for _ in range(n):
            page = b.new_page(viewport={'width': 1280, 'height': 900})
            page.goto((ROOT/'reports/dashboard.html').as_uri())
            page.wait_for_function('window.ecommlReady === true')
            out.append(page.evaluate('performance.now()') / 1000)
            page.close()
        b.close()
    return out


def main():
    st, dr = stage_seconds(), draw_seconds()
    size = (ROOT/'reports/dashboard.html').stat().st_size / 1e6
    reps = {p.name: p.stat().st_size / 1e6 for p in sorted((ROOT/'reports').glob('[0-9][0-9]*.html'))}
    lines = ['<!-- dashboard:begin (written by benchmarks/dashboard.py) -->', '## Dashboard and report budgets', '',
             f'Measured {time.strftime("%Y-%m-%d")} on {platform.machine()}, {os.cpu_count()} cores, real data.', '',
             '| what | measured | budget |', '|:--|--:|--:|',
             f'| `dashboard` stage (ecomml-stage, median of {len(st)}) | {statistics.median(st):.1f} s | 10 s |',
             f'| dashboard.html | {size:.2f} MB | 6 MB |',
             f'| draw in headless Chromium (navigation to every panel drawn, median of {len(dr)}) | {statistics.median(dr):.2f} s | 2 s |',
             *[f'| {n} | {s:.2f} MB | 1.5 MB |' for n, s in reps.items()], '<!-- dashboard:end -->']
    res = ROOT/'benchmarks/RESULTS.md'
    old = res.read_text()
    if '<!-- dashboard:begin' in old:
        head, rest = old.split('<!-- dashboard:begin', 1)
        old = head.rstrip('\n') + '\n' + rest.split('<!-- dashboard:end -->', 1)[1]
    res.write_text(old.rstrip('\n') + '\n\n' + '\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
