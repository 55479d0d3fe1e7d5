"""The local lab as an inventory: the hosts `sovereign lab up` booted (lab from $SOVEREIGN_LAB).

sovereign lab up && sovereign deploy inventory/lab.py && sovereign verify inventory/lab.py
"""

from sovereign.lab.inventory import lab_hosts

lab = lab_hosts()
