#!/usr/bin/env bash
# Known vulnerabilities in appwatch's dependencies (pip-audit against the package index's advisory data).
#
#   bash tests/fault/audit.sh            # appwatch[test] and everything it pulls in, as installed
#   AUDIT_ALL=1 bash tests/fault/audit.sh    # every package of the environment instead
#
# Exit 0: nothing known. Non-zero: a known vulnerability not ignored below, or (--strict) a
# package that could not be audited (not on the index, or the advisory service unreachable):
# an audit that could not look is not a pass.
#
# Needs pip-audit (pip install pip-audit) and network access to the configured package index's
# JSON API (or OSV with
# PIP_AUDIT_SERVICE=osv). Extra arguments go to pip-audit (e.g. --format json).
set -euo pipefail

# Each ignored vulnerability: its ID, the package, why it cannot be fixed now, and when to
# look again. An empty list is the goal.
IGNORES=(
  # --ignore-vuln GHSA-xxxx-xxxx-xxxx   # pkg X.Y: no fixed release yet; not reachable from appwatch because ...
)

PY=${PY:-python3}
SERVICE=${PIP_AUDIT_SERVICE:-pypi}
ARGS=(--strict --progress-spinner off --vulnerability-service "$SERVICE" "${IGNORES[@]}")

if [[ "${AUDIT_ALL:-}" == 1 ]]; then
  exec "$PY" -m pip_audit --skip-editable "${ARGS[@]}" "$@"
fi

reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
# the installed closure of appwatch[test], pinned: what `pip install -e .[test]` brought in
"$PY" - "$reqs" <<'PYEOF'
import re
import sys
from importlib import metadata

from packaging.requirements import Requirement

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

seen = {}  # name -> (version, extras already followed)
todo = [("appwatch", {"test"})]
while todo:
    name, extras = todo.pop()
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue  # a dependency for another platform or Python
    key = norm(dist.metadata["Name"])
    first = key not in seen
    done = set() if first else seen[key][1]
    if not first and extras <= done:
        continue
    seen[key] = (dist.version, done | extras)
    envs = ([{"extra": ""}] if first else []) + [{"extra": e} for e in extras - done]
    for spec in dist.requires or []:
        req = Requirement(spec)
        if (req.marker is None and first) or (req.marker is not None and any(req.marker.evaluate(e) for e in envs)):
            todo.append((req.name, set(req.extras)))
with open(sys.argv[1], "w") as out:
    for key, (version, _) in sorted(seen.items()):
        if key != "appwatch":  # the project itself is not on the index
            out.write(f"{key}=={version}\n")
PYEOF
echo "auditing $(wc -l <"$reqs") packages (appwatch[test] closure) against $SERVICE" >&2
"$PY" -m pip_audit -r "$reqs" --no-deps --disable-pip "${ARGS[@]}" "$@"
