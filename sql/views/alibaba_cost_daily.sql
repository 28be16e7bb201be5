-- Cost per charge day (UTC) and currency. Never summed across currencies.
CREATE OR REPLACE VIEW alibaba_cost_daily AS
SELECT
  CAST(ChargePeriodStart AS date) AS charge_date,
  BillingCurrency,
  sum(BilledCost) AS billed_cost,
  sum(EffectiveCost) AS effective_cost,
  sum(ListCost) AS list_cost,
  count(*) AS line_items
FROM alibaba_focus
GROUP BY CAST(ChargePeriodStart AS date), BillingCurrency
