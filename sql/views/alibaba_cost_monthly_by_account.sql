-- Cost per billing month, export source, billing account, sub-account and currency. Rows typed
-- before export sources existed are the default source's.
CREATE OR REPLACE VIEW alibaba_cost_monthly_by_account AS
SELECT
  yearmonth AS billing_month,
  coalesce(x_ExportSource, 'default') AS export_source,
  BillingAccountId,
  BillingAccountName,
  SubAccountId,
  SubAccountName,
  BillingCurrency,
  sum(BilledCost) AS billed_cost,
  sum(EffectiveCost) AS effective_cost,
  sum(ListCost) AS list_cost,
  count(*) AS line_items
FROM alibaba_focus
GROUP BY yearmonth, coalesce(x_ExportSource, 'default'), BillingAccountId, BillingAccountName, SubAccountId, SubAccountName, BillingCurrency
