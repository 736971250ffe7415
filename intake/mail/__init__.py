"""Mail in: IMAP mailboxes watched with IDLE (or polled), each new mail a ticket or a reply to one."""
