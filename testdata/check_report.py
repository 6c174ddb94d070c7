#!/usr/bin/env python3
"""Opens a segmint report in headless Chromium as a person would: no console errors, every
figure laid out with a non-zero size, and a screenshot. Prints one JSON line; exits 1 on a
problem.

usage: check_report.py REPORT_HTML SCREENSHOT_PNG [CHROMIUM]

The report itself has no scripts. To measure the figures, a copy of it gets a small script
appended that writes every figure's rendered size into the page, which Chromium's --dump-dom
then prints.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

report, png = sys.argv[1], sys.argv[2]
browser = sys.argv[3] if len(sys.argv) > 3 else (shutil.which("chromium") or shutil.which("chromium-browser")
                                                   or shutil.which("google-chrome"))
if not browser:
    sys.exit("no chromium found")
base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-dev-shm-usage"]
problems = []

# 1. console errors while loading the report as it is
log = subprocess.run(base + ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
                             "--dump-dom", "file://" + os.path.abspath(report)],
                     capture_output=True, text=True, timeout=120)
console = [l for l in log.stderr.splitlines()
           if "CONSOLE" in l or "Uncaught" in l or "Refused to" in l or "Failed to load" in l]
problems += [f"console: {l}" for l in console]

# 2. figure sizes, measured in a copy with a measuring script
html = open(report, encoding="utf-8").read()
probe = """<script>
window.addEventListener('load', () => {
  const figs = [...document.querySelectorAll('figure')].map(f => {
    const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
    return {name: f.dataset.name, width: r.width, height: r.height,
            marks: s ? s.querySelectorAll('.mark').length : 0};
  });
  const pre = document.createElement('pre'); pre.id = 'segmint-check';
  pre.textContent = JSON.stringify({figures: figs, sections: document.querySelectorAll('section').length});
  document.body.appendChild(pre);
});
</script>"""
with tempfile.TemporaryDirectory() as tmp:
    probed = os.path.join(tmp, "probe.html")
    open(probed, "w", encoding="utf-8").write(html.replace("</body>", probe + "</body>"))
    dom = subprocess.run(base + ["--virtual-time-budget=3000", "--window-size=1200,900", "--dump-dom",
                                 "file://" + probed], capture_output=True, text=True, timeout=120).stdout
m = re.search(r'<pre id="segmint-check">(.*?)</pre>', dom, re.S)
if not m:
    problems.append("the measuring script did not run")
    result = {"figures": [], "sections": 0}
else:
    result = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
for f in result["figures"]:
    if not (f["width"] > 0 and f["height"] > 0):
        problems.append(f"figure {f['name']} has size {f['width']}x{f['height']}")
    if f["marks"] == 0:
        problems.append(f"figure {f['name']} has no marks")

# 3. the screenshot
subprocess.run(base + ["--window-size=1200,3000", "--screenshot=" + os.path.abspath(png),
                       "file://" + os.path.abspath(report)], capture_output=True, timeout=120)
if not (os.path.isfile(png) and os.path.getsize(png) > 10_000):
    problems.append("no screenshot")
print(json.dumps({"figures": len(result["figures"]), "sections": result["sections"],
                  "console_messages": len(console), "problems": problems}))
sys.exit(1 if problems else 0)
