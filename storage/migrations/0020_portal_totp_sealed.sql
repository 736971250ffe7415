-- TOTP secrets are kept encrypted (Fernet under opsroom's secret key, common/secrets.py), never
-- readable from the database alone. The key is not in the database, so rows written before this
-- migration are sealed by opsroom at start (admin_portal.store.seal_plain_secrets); until then
-- totp_sealed says which rows still hold a plain secret.
ALTER TABLE portal_accounts ADD COLUMN totp_sealed boolean NOT NULL DEFAULT false;
