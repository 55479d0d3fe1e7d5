"""A pyinfra deploy file: `sovereign deploy --dry` runs it after deploy/site.py, without `--yes`,
so it prints for each host what the site deploy would change (see sovereign/plan.py)."""

from sovereign.plan import print_host_plan

print_host_plan()
