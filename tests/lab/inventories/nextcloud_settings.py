"""What the Nextcloud lab test and its inventory (tests/lab/inventories/nextcloud.py) share."""

#: The name the edge answers Nextcloud on (the test resolves it to the lab host itself).
NEXTCLOUD_NAME = "cloud.nc.lab.test"
