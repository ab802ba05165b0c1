"""The outbound side of relaywarden: signed provider clients, rate limits and follow-up actions."""
