"""SNS: AWS error codes, subscription rules, e-mail delivery to a local mailbox."""
