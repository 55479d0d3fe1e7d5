"""Operations more than one role uses - Debian packages, systemd units, system accounts,
uploaded and templated files, artifacts from the controller's cache - each reading ONE fact
(one remote command) where pyinfra's own reads two to four, and none re-hashing what a
manifest already says."""
