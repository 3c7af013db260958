"""Notification channels, message templates, signed acknowledge/resolve links and the outbox delivery worker.

``base`` holds the ``Notifier`` protocol, ``NotifyError`` and the shared HTTP helper; one module per channel
(``webhook``, ``wecom``, ``dingtalk``, ``feishu``, ``email``, ``sms``); ``channels`` maps kind -> config and class;
``outbox`` delivers with retries and failover; ``links`` and ``link_api`` are the one-way robots' way back.
"""
