-- The current snapshot of each export source's billing month: its latest published delivery.
-- Alibaba delivers month-to-date snapshots every day (and a final one on the 2nd-4th of the next
-- month); summing them would double count, so every Alibaba view reads exactly one per month of
-- each source (Alibaba account). Two accounts' months are kept apart: neither hides the other.
-- Ledger rows written before export sources existed have no source: they are the default one.
-- The ledger is small, and joining on the partition columns lets Athena prune every other
-- delivery's partitions.
CREATE OR REPLACE VIEW alibaba_current_deliveries AS
SELECT
  coalesce(source, 'default') AS source,
  yearmonth,
  max(batch_ts) AS batch_ts
FROM alibaba_deliveries
GROUP BY coalesce(source, 'default'), yearmonth
