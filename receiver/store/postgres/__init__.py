"""The PostgreSQL store: many replicas, one database."""
