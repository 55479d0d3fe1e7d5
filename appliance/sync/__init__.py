"""Sovereign Sync (issue 16): documents encrypted with age on the appliance, uploaded to a
Nextcloud under opaque ids with an encrypted manifest, resumably, verified, restorable with
the operator's age identity alone."""
