"""E-mail: a support mailbox read over IMAP (IDLE or polling), answered over SMTP."""
