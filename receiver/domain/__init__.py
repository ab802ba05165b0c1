"""The domain of relaywarden: states, the ordering rule, and the relay declaration.

Pure types and functions, no I/O: the store, the API and the handlers all speak them.
"""
