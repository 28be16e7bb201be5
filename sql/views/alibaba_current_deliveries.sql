-- The current snapshot of each billing month: its latest published delivery.
-- Alibaba delivers month-to-date snapshots every day (and a final one on the 2nd-4th of the next
-- month); summing them would double count, so every Alibaba view reads exactly one per month.
-- The ledger is small, and joining on the partition columns lets Athena prune every other
-- delivery's partitions.
CREATE OR REPLACE VIEW alibaba_current_deliveries AS
SELECT yearmonth, max(batch_ts) AS batch_ts
FROM alibaba_deliveries
GROUP BY yearmonth
