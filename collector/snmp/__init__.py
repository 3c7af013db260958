"""SNMP: device inventory, profiles as data, the poller, counters and the trap receiver."""
