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
echo
echo "  agent:    http://$address:8013/health/detailed   (API docs: http://$address:8013/docs)"
echo "  broker:   $address:9092 (Kafka API)"
echo "  vault:    https://$address:8200 (CA: /var/lib/sovereign/labs/$SOVEREIGN_LAB/vault/$SOVEREIGN_LAB-1/tls/ca.crt)"
echo "            keys: /var/lib/sovereign/labs/$SOVEREIGN_LAB/vault/$SOVEREIGN_LAB-1/init-keys.json.age"
echo "            (open with the lab's operator key /var/lib/sovereign/labs/$SOVEREIGN_LAB/operator.age)"
echo "            status: .venv/bin/sovereign vault status inventory/lab.py"
echo "  shell:    .venv/bin/sovereign lab ssh $SOVEREIGN_LAB-1"
echo "  redeploy: .venv/bin/sovereign deploy inventory/lab.py"
echo "  verify:   .venv/bin/sovereign verify inventory/lab.py"
echo "  tear down: .venv/bin/sovereign lab down"
