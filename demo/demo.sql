-- placeholder; the lead replaces this file.
CREATE EXTENSION recon;
SELECT 1;
