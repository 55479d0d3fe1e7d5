#!/usr/bin/env bash
# The main job: a local sandbox appliance. Installs what it needs, boots the lab host, deploys the
# appliance to it, verifies the result and prints where to reach it. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
export SOVEREIGN_LAB="${SOVEREIGN_LAB:-lab}"
sv=.venv/bin/sovereign

$sv lab up
$sv artifacts fetch
$sv deploy inventory/lab.py
$sv verify inventory/lab.py -q

echo
echo "Sovereign Appliance lab '$SOVEREIGN_LAB' is deployed and verified:"
$sv lab status
address=$($sv lab status | awk -v h="$SOVEREIGN_LAB-1" '$1 == h {print $2}')
host_dir="/var/lib/sovereign/labs/$SOVEREIGN_LAB/vault/$SOVEREIGN_LAB-1"
echo
echo "  agent:    https://$address/health/detailed   (API docs: https://$address/docs)"
echo "            through the edge (nginx, HTTPS); every route but /health needs a token"
echo "            CA: $host_dir/tls/ca.crt"
echo "            admin token: $host_dir/agent-admin-token.json.age"
echo "            (open with: age -d -i /var/lib/sovereign/labs/$SOVEREIGN_LAB/operator.age FILE)"
echo "            e.g. curl --cacert CA -H \"Authorization: Bearer TOKEN\" https://$address/health/detailed"
echo "  broker:   127.0.0.1:9092 on the host (Kafka API; loopback only)"
echo "  vault:    https://127.0.0.1:8200 on the host, or: .venv/bin/sovereign vault status inventory/lab.py"
echo "            keys: $host_dir/init-keys.json.age (open with the same operator key)"
echo "  firewall: inbound open to SSH (22), the edge (443, 80) and PostgreSQL over TLS (5432, lab subnet)"
echo "  shell:    .venv/bin/sovereign lab ssh $SOVEREIGN_LAB-1"
echo "  redeploy: .venv/bin/sovereign deploy inventory/lab.py"
echo "  verify:   .venv/bin/sovereign verify inventory/lab.py"
echo "  tear down: .venv/bin/sovereign lab down"
