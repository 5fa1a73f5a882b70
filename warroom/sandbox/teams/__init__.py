"""A local Microsoft Teams: the emulated client and channel service (client.py), Microsoft Graph (graph.py) and
the Bot Connector (connector.py)."""
