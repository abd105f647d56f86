#!/usr/bin/env python3
# Used by scripts/measure-isolation. Rough per-call cost of echo-service calls over its own HTTP port (keep-alive, one client):
# best-of-5 wall time per call, and CPU time per call of the host plus its plugin workers
# (from /proc, so it is less disturbed by other load on the machine). Then a task making
# M sequential host calls. Usage: measure-isolation.py REGISTRY N M PID...
import http.client, json, os, sys, time
reg = json.load(open(sys.argv[1])); n = int(sys.argv[2]); m = int(sys.argv[3]); pids = sys.argv[4:]
svc = {s["name"]: s for s in reg["services"]}
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    total = 0
    for p in pids:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])  # utime + stime
    return total / tick
def post(c, path, body):
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse(); data = r.read(); assert r.status == 200, data; return json.loads(data)
c = http.client.HTTPConnection("127.0.0.1", svc["echo-service"]["port"])
for i in range(200): post(c, "/echo", {"i": i})  # warm-up
best = None; c0 = cpu()
for rnd in range(5):
    t = time.perf_counter()
    for i in range(n): post(c, "/echo", {"i": i, "payload": "x" * 100})
    per = (time.perf_counter() - t) / n * 1e6; best = per if best is None else min(best, per)
cpu_per = (cpu() - c0) / (5 * n) * 1e6
tc = http.client.HTTPConnection("127.0.0.1", svc["task-executor"]["port"])
post(tc, "/tasks", {"name": "loop", "code": "module.exports = async ({m}) => { let s = 0; for (let i = 0; i < m; i++) { const r = await __callHostTool__('echo-service', 'echo', {i}); s += r.i; } return s; }"})
post(tc, "/execute?wait=120", {"task_identifier": "loop", "input": {"m": 10}})
t = time.perf_counter()
res = post(tc, "/execute?wait=300", {"task_identifier": "loop", "input": {"m": m}})
task = (time.perf_counter() - t) / m * 1e3
assert res["data"]["status"] == "completed", res
print(json.dumps({"http_best_us_per_call": round(best, 1), "host_plus_worker_cpu_us_per_call": round(cpu_per, 1), "task_ms_per_host_call": round(task, 3)}))
