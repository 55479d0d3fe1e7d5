"""ZFS on the host: command strings and pure parsers shared by role facts and the agent.

commands (what runs), then one parser per output: sizes, status (`zpool status`), properties
(`zfs get`), capabilities (usage texts), state (the combined state command, and its plain-data
round trip); errors tells an unreachable backend apart from an empty one.
"""
