"""Alerting: rules evaluated over the agent's facts (``rules``/``evaluation``), and the
dispatcher that routes, groups, inhibits, silences and escalates what they raise
(``dispatch``). ``models`` holds the values both halves share."""
