"""wardwatch alerting: rules, incidents and their store, rosters, escalation, notifications."""
