#!/usr/bin/env bash
# t91: the monitoring files under docker/ match what Signpost exports.
#   1. docker/grafana/dashboards/signpost.json is valid JSON, a Grafana dashboard (uid
#      "signpost", schemaVersion, unique panel ids inside the 24-column grid), every panel
#      (rows aside) has a target with an expression, and every expression parses as PromQL
#      (`promtool check rules`, Grafana's $variables replaced);
#   2. every signpost_* metric named in an expression (histograms by their family name) is
#      exported: a development Signpost takes one message (swaks) and delivers it, and the
#      names are looked up among the `# TYPE` lines of its /metrics. A family that has no
#      series until an event this test cannot cause (e.g. MX sessions) is absent from the
#      scrape; for those the name must be registered in the sources (.Name("...") under
#      relay/). Each name is reported with how it was checked. Label matchers (label="value")
#      must match a scraped series, and the labels of `by (...)` must exist on the families
#      of the expression, wherever the scrape has series of them;
#   3. compose.yml, prometheus.yml and the Grafana provisioning files parse as YAML and
#      every file they mount or build from exists; Prometheus
#      scrapes the metrics port the image exposes; the provisioned datasource uid is the
#      dashboard's default; the dashboard provider reads the directory the dashboards are
#      mounted at.
source "$(dirname "$0")/../lib.sh"

DOCKER=$SIGNPOST_SOURCE_DIR/docker
DASH=$DOCKER/grafana/dashboards/signpost.json
PY=/usr/bin/python3
command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"
command -v promtool > /dev/null || fail "promtool is not installed (package prometheus; scripts/install-deps.sh)"

# --- 1. the dashboard's structure; its expressions ------------------------------------------
"$PY" - "$DASH" "$WORK/exprs.txt" "$WORK/rules.yml" <<'PY' || fail "dashboard structure (above)"
import json, sys
path, exprs_out, rules_out = sys.argv[1:]
try:
    d = json.load(open(path))
except ValueError as e:
    sys.exit(f"{path}: not valid JSON: {e}")
problems = []
if d.get("uid") != "signpost": problems.append(f'uid is {d.get("uid")!r}, want "signpost"')
if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36: problems.append("schemaVersion missing or < 36")
if not d.get("title"): problems.append("no title")
ds_vars = [v for v in d.get("templating", {}).get("list", []) if v.get("type") == "datasource"]
if not any(v.get("name") == "DS_PROMETHEUS" and v.get("query") == "prometheus" for v in ds_vars):
    problems.append("no datasource variable DS_PROMETHEUS of type prometheus")
panels = []
for p in d.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))  # collapsed rows keep their panels inside
ids, exprs = set(), []
for p in panels:
    title = p.get("title", "?")
    if p.get("id") in ids: problems.append(f"panel {title!r}: duplicate id {p.get('id')}")
    ids.add(p.get("id"))
    g = p.get("gridPos", {})
    if not (g.get("w", 0) > 0 and g.get("h", 0) > 0 and g.get("x", -1) >= 0 and g.get("x", 0) + g.get("w", 0) <= 24):
        problems.append(f"panel {title!r}: gridPos {g} is outside the 24-column grid")
    if p.get("type") == "row":
        continue
    targets = [t for t in p.get("targets", []) if t.get("expr", "").strip()]
    if not targets: problems.append(f"panel {title!r} has no target with an expression")
    for t in p.get("targets", []):
        uid = (t.get("datasource") or p.get("datasource") or {}).get("uid")
        if uid not in ("${DS_PROMETHEUS}", "prometheus"):
            problems.append(f"panel {title!r}: target datasource uid {uid!r} is neither ${{DS_PROMETHEUS}} nor prometheus")
    exprs += [(title, t["expr"]) for t in targets]
if problems: sys.exit("\n".join(problems))
with open(exprs_out, "w") as f:
    for title, e in exprs: f.write(title + "\t" + " ".join(e.split()) + "\n")
# promtool reads PromQL from recording rules; Grafana's variables become plain values.
with open(rules_out, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, e) in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$__interval", "1m").replace("$instance", ".*")
        f.write(f"      - record: dashboard:expr{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(panels)} panels, {len(exprs)} expressions")
PY
promtool check rules "$WORK/rules.yml" > "$WORK/promtool.txt" 2>&1 || { cat "$WORK/promtool.txt"; fail "an expression is not valid PromQL"; }
pass "the dashboard is valid JSON; every panel has an expression; every expression is valid PromQL"

# --- 2. the metric names against a live scrape ------------------------------------------------
dev=$WORK/dev
serve_dev "$dev"
timeout 30 swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
  --from dev@example.test --to someone@example.org --header 'Subject: t91' --timeout 10 > "$WORK/swaks.txt" 2>&1 \
  || { cat "$WORK/swaks.txt"; fail "swaks could not submit"; }
# A failed AUTH too, so that the failure series has a sample other than 0.
timeout 30 swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password wrong \
  --from dev@example.test --to someone@example.org --timeout 10 > "$WORK/swaks-bad.txt" 2>&1 || true
for ((i = 0; i < 100; i++)); do
  curl -sSf "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || fail "cannot scrape /metrics"
  grep -q '^signpost_delivery_recipients_total{result="delivered"} 1' "$WORK/metrics.txt" && break
  sleep 0.1
done
grep -q '^signpost_delivery_recipients_total{result="delivered"} 1' "$WORK/metrics.txt" || { cat "$LOG"; fail "the message was not delivered"; }

"$PY" - "$WORK/exprs.txt" "$WORK/metrics.txt" "$SIGNPOST_SOURCE_DIR/relay" <<'PY' || fail "the dashboard uses what Signpost does not export (above)"
import os, re, sys
exprs_path, scrape_path, src = sys.argv[1:]
types, series = {}, {}
for line in open(scrape_path):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        types[m.group(1)] = m.group(2)
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
    if m and not line.startswith("#"):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        series.setdefault(m.group(1), []).append(labels)
registered = set()
for root, _, files in os.walk(src):
    for f in files:
        if f.endswith((".cpp", ".hpp")):
            registered |= set(re.findall(r'\.Name\("(signpost_[a-z0-9_]+)"\)', open(os.path.join(root, f)).read()))

def family(name):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and (types.get(base) in ("histogram", "summary") or (base not in types and base in registered)):
            return base
    return name

def samples(fam):  # the series of a family as scraped (histograms by their _bucket/_sum/_count)
    if types.get(fam) in ("histogram", "summary"):
        return series.get(fam + "_bucket", []) + series.get(fam + "_count", [])
    return series.get(fam, [])

how, problems = {}, []
grafana_labels = {"le", "instance", "job"}
for line in open(exprs_path):
    title, expr = line.rstrip("\n").split("\t", 1)
    names = re.findall(r"\bsignpost_[a-z0-9_]+\b", expr)
    fams = set()
    for n in names:
        fam = family(n)
        fams.add(fam)
        if fam in types:
            how[fam] = "live scrape"
        elif fam in registered:
            how.setdefault(fam, "sources only (no series in this scrape)")
        else:
            problems.append(f"{title}: {n} is neither in the scrape nor registered under relay/")
    # label="value" matchers must select something, where the family has series here.
    for n, body in re.findall(r"\b(signpost_[a-z0-9_]+)\{([^}]*)\}", expr):
        fam = family(n)
        got = samples(fam)
        if not got: continue
        for label, value in re.findall(r'(\w+)\s*=\s*"([^"]*)"', body):
            if not any(s.get(label) == value for s in got):
                problems.append(f'{title}: {n}{{{label}="{value}"}} matches no scraped series '
                                f"(values seen: {sorted({s.get(label) for s in got if label in s})})")
    # by (...) labels must exist on one of the expression's families, where they have series.
    known = [set().union(*samples(f)) if samples(f) else None for f in fams]
    if all(k is not None for k in known):
        have = set().union(*known) | grafana_labels
        for group in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
            for label in filter(None, (x.strip() for x in group.split(","))):
                if label not in have:
                    problems.append(f"{title}: label {label!r} is on none of {sorted(fams)}")
for fam in sorted(how):
    print(f"  {fam}: {how[fam]}")
if problems: sys.exit("\n".join(problems))
PY
pass "every metric, label matcher and grouping label of the dashboard is exported by Signpost"

kill -TERM "$SPID"
wait_exit "$SPID" 30

# --- 3. compose, Prometheus and Grafana provisioning -------------------------------------------
"$PY" -c 'import yaml' 2> /dev/null || fail "python3-yaml is not installed (scripts/install-deps.sh)"
"$PY" - "$SIGNPOST_SOURCE_DIR" <<'PY' || fail "compose / Prometheus / Grafana files (above)"
import glob, json, os, re, sys
import yaml
root = sys.argv[1]
docker = os.path.join(root, "docker")
problems = []
def load(path):
    try:
        return yaml.safe_load(open(path))
    except Exception as e:
        problems.append(f"{path}: {e}")
        return {}
compose = load(os.path.join(docker, "compose.yml"))
services = compose.get("services", {})
for name in ("signpost", "prometheus", "grafana"):
    if name not in services: problems.append(f"compose.yml: no service {name}")
# Files the stack builds from or mounts exist (paths relative to docker/).
sp = services.get("signpost", {})
build = sp.get("build", {})
context = os.path.normpath(os.path.join(docker, build.get("context", ".")))
dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
if not os.path.isfile(dockerfile): problems.append(f"compose.yml: build file {dockerfile} does not exist")
mounts = {}
for sname, s in services.items():
    for v in s.get("volumes", []):
        src, dst = (v.split(":") + [""])[:2]
        if src.startswith((".", "/")):
            path = os.path.normpath(os.path.join(docker, src))
            if not os.path.exists(path): problems.append(f"compose.yml: {sname} mounts {src}, which does not exist")
            mounts[os.path.relpath(path, docker)] = dst
        elif src not in (compose.get("volumes") or {}):
            problems.append(f"compose.yml: {sname} uses volume {src}, not declared under volumes:")
if not str(sp.get("stop_grace_period", "")).strip(): problems.append("compose.yml: signpost has no stop_grace_period")
# Dockerfile: its COPY sources exist, and Prometheus scrapes a port the image exposes.
text = open(dockerfile).read()
for m in re.finditer(r"^COPY\s+(?!--from)(?:--\S+\s+)*(\S+)\s+\S+\s*$", text, re.M):
    if not os.path.exists(os.path.join(context, m.group(1))): problems.append(f"Dockerfile: COPY {m.group(1)}: no such file")
exposed = set(re.search(r"^EXPOSE\s+(.*)$", text, re.M).group(1).split())
prom = load(os.path.join(docker, "prometheus", "prometheus.yml"))
targets = [t for job in prom.get("scrape_configs", []) for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
if not any(t.split(":")[0] == "signpost" and t.split(":")[1] in exposed for t in targets):
    problems.append(f"prometheus.yml: no target signpost:PORT with PORT in EXPOSE {sorted(exposed)} (targets {targets})")
if "prometheus/prometheus.yml" not in mounts: problems.append("compose.yml: prometheus.yml is not mounted")
# Grafana: the datasource uid is the dashboard's default; the provider reads the mounted directory.
dash = json.load(open(os.path.join(docker, "grafana", "dashboards", "signpost.json")))
default_ds = next(v["current"]["value"] for v in dash["templating"]["list"] if v.get("name") == "DS_PROMETHEUS")
sources = [d for f in glob.glob(os.path.join(docker, "grafana/provisioning/datasources/*.y*ml")) for d in load(f).get("datasources", [])]
if not any(d.get("type") == "prometheus" and d.get("uid") == default_ds for d in sources):
    problems.append(f"provisioning: no prometheus datasource with uid {default_ds!r}")
if not any(d.get("url", "").startswith("http://prometheus:") for d in sources):
    problems.append("provisioning: the datasource does not point at the prometheus service")
paths = [p.get("options", {}).get("path") for f in glob.glob(os.path.join(docker, "grafana/provisioning/dashboards/*.y*ml"))
         for p in load(f).get("providers", [])]
if mounts.get("grafana/dashboards") not in paths:
    problems.append(f"provisioning: no dashboard provider reads {mounts.get('grafana/dashboards')} (providers read {paths})")
if mounts.get("grafana/provisioning") != "/etc/grafana/provisioning":
    problems.append("compose.yml: grafana/provisioning is not mounted at /etc/grafana/provisioning")
if problems: sys.exit("\n".join(problems))
PY
pass "compose.yml, prometheus.yml and the Grafana provisioning parse and refer to files and ports that exist"
