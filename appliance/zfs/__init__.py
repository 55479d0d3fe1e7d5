"""ZFS on the host: command strings and pure parsers shared by role facts and the agent."""
