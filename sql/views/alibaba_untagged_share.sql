-- Per billing month, promoted tag and currency: the EffectiveCost without that tag, and its share
-- of the total (NULL when the total is zero).
CREATE OR REPLACE VIEW alibaba_untagged_share AS
SELECT
  billing_month,
  tag_key,
  BillingCurrency,
  sum(effective_cost) AS total_effective_cost,
  sum(CASE WHEN tag_value IS NULL THEN effective_cost ELSE 0 END) AS untagged_effective_cost,
  CAST(sum(CASE WHEN tag_value IS NULL THEN effective_cost ELSE 0 END) AS double)
    / nullif(CAST(sum(effective_cost) AS double), 0) AS untagged_share
FROM alibaba_cost_monthly_by_tag
GROUP BY billing_month, tag_key, BillingCurrency
