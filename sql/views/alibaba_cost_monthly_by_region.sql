-- Cost per billing month, region and currency.
CREATE OR REPLACE VIEW alibaba_cost_monthly_by_region AS
SELECT
  yearmonth AS billing_month,
  RegionId,
  RegionName,
  BillingCurrency,
  sum(BilledCost) AS billed_cost,
  sum(EffectiveCost) AS effective_cost,
  sum(ListCost) AS list_cost,
  count(*) AS line_items
FROM alibaba_focus
GROUP BY yearmonth, RegionId, RegionName, BillingCurrency
