-- Alibaba's FOCUS data, current: one delivery per export source and billing month, the latest.
-- The view analysts and the cross-provider union read. Rows typed before export sources existed
-- have no x_ExportSource: they are the default source's.
CREATE OR REPLACE VIEW alibaba_focus AS
SELECT t.*
FROM focus_alibaba_normalized AS t
JOIN alibaba_current_deliveries AS c
  ON
    t.yearmonth = c.yearmonth
    AND t.batch_ts = c.batch_ts
    AND coalesce(t.x_ExportSource, 'default') = c.source
