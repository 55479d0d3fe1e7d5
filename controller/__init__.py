"""What both the operator CLI (`sovereign`) and the roles need, imported by both and importing
neither: the verified artifact cache, the SSH tunnel to a host's loopback services, the
project's paths and the errors an operator can act on."""
