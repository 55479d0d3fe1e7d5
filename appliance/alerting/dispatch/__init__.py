"""The alert dispatcher (the second half of alerting): routing, grouping, inhibition,
silences, acknowledgement and escalation behind ``Dispatcher.submit``.

Pure decisions in ``routing``, ``grouping``, ``inhibition``, ``silences``, ``escalation`` and
``view``; the database in ``store``; ``dispatcher`` puts them together with the
NotificationService; ``settings`` is ``[alerting.routing]`` (routing as code).
"""
