"""Named reports: answers made of several IR queries and a little arithmetic on their results."""
