"""relaywarden's inbound side: callbacks in, durable task state out."""
