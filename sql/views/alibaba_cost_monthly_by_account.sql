-- Cost per billing month, billing account, sub-account and currency.
CREATE OR REPLACE VIEW alibaba_cost_monthly_by_account AS
SELECT
  yearmonth AS billing_month,
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
GROUP BY yearmonth, BillingAccountId, BillingAccountName, SubAccountId, SubAccountName, BillingCurrency
