"""Identity and access: accounts, tokens, sessions, roles and the one authorisation function."""
