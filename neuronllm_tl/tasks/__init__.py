"""Tasks as multiple-choice questions (QATT) and the tasks that ship with the package."""
