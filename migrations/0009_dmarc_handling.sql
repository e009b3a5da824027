-- What the MX does with mail that fails DMARC, per hosted domain (issue "Mail you can
-- trust"): 'policy' follows the From: domain's p=, the others apply whatever it says.
-- The relays receive it with the domain in the mail directory.

ALTER TABLE mail_domains ADD COLUMN dmarc_handling TEXT NOT NULL DEFAULT 'policy'
  CHECK (dmarc_handling IN ('policy', 'reject', 'quarantine', 'tag'));
