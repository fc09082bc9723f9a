"""Where studies live: the database URL, opening the database, locks, slot counts.

Depends on nothing of tuner's but the exceptions: everything above it reaches the
database through here.
"""
