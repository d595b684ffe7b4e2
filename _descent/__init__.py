"""What `schedules`, `optim` and `nets` share: argument checks and dtype defaults (private).

It imports nothing of ours, so each of the three packages may use it without an import
circle: `_descent <- schedules <- optim <- nets`.
"""
