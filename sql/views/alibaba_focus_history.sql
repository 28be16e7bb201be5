-- Every published delivery, for "as of" audits (see sql/queries/alibaba_focus_as_of.sql).
-- Rows of a delivery whose ledger row is not written yet (still being published) never show.
CREATE OR REPLACE VIEW alibaba_focus_history AS
SELECT t.*
FROM focus_alibaba_normalized AS t
JOIN alibaba_deliveries AS d
  ON
    t.yearmonth = d.yearmonth
    AND t.batch_ts = d.batch_ts
    AND coalesce(t.x_ExportSource, 'default') = coalesce(d.source, 'default')
